package config

import (
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Validate checks the whole configuration and returns every problem found,
// joined, each prefixed by its dotted key.
func (c *Config) Validate() error {
	v := &validator{}
	c.validateBasics(v)
	c.validateListeners(v)
	c.validateTLS(v)
	c.validateLimits(v)
	domains := c.validateDomains(v)
	c.validatePlansGroups(v)
	owners := c.validateAccounts(v, domains)
	c.validatePostmasters(v)
	c.validateShares(v, owners)
	c.validateSieve(v)
	c.validateOutbound(v)
	c.validateWeb(v)
	c.validateACME(v)
	c.validateTrust(v)
	return v.err()
}

type validator struct{ errs []error }

func (v *validator) add(key, format string, args ...any) {
	v.errs = append(v.errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
}

func (v *validator) err() error { return errors.Join(v.errs...) }

func (c *Config) validateBasics(v *validator) {
	if c.Hostname != "" && !validDomain(c.Hostname) {
		v.add("hostname", "%q is not a valid host name", c.Hostname)
	}
	if c.DataDir == "" {
		v.add("data_dir", "must be set")
	}
	switch c.Log.Level {
	case "trace", "debug", "info", "warn", "error":
	default:
		v.add("log.level", "unknown level %q (want trace, debug, info, warn or error)", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		v.add("log.format", "unknown format %q (want text or json)", c.Log.Format)
	}
}

// ListenerNames lists the listeners in a fixed order, with their config keys.
func (c *Config) ListenerNames() []string {
	return []string{"imap", "imaps", "smtp", "submission", "submissions", "lmtp", "managesieve", "http", "https"}
}

// Listener returns the named listener.
func (c *Config) Listener(name string) Listener {
	switch name {
	case "imap":
		return c.Listeners.IMAP
	case "imaps":
		return c.Listeners.IMAPS
	case "smtp":
		return c.Listeners.SMTP
	case "submission":
		return c.Listeners.Submission
	case "submissions":
		return c.Listeners.Submissions
	case "managesieve":
		return c.Listeners.ManageSieve
	case "lmtp":
		return c.Listeners.LMTP
	case "http":
		return c.Listeners.HTTP
	case "https":
		return c.Listeners.HTTPS
	}
	return Listener{}
}

func (c *Config) validateListeners(v *validator) {
	seen := map[string]string{}
	for _, name := range c.ListenerNames() {
		l := c.Listener(name)
		if !l.Enabled() {
			continue
		}
		key := "listeners." + name + ".address"
		if name == "lmtp" && strings.HasPrefix(l.Address, "unix:") {
			if strings.TrimPrefix(l.Address, "unix:") == "" {
				v.add(key, "unix socket path is empty")
			}
		} else if err := checkHostPort(l.Address); err != nil {
			v.add(key, "%v", err)
			continue
		}
		if strings.HasSuffix(l.Address, ":0") {
			continue // an ephemeral port is never shared
		}
		if other, dup := seen[l.Address]; dup {
			v.add(key, "%q is also used by listeners.%s", l.Address, other)
		}
		seen[l.Address] = name
	}
}

func checkHostPort(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not host:port", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("%q has an invalid port", addr)
	}
	if host != "" && net.ParseIP(host) == nil && !validDomain(host) {
		return fmt.Errorf("%q has an invalid host", addr)
	}
	return nil
}

func (c *Config) validateTLS(v *validator) {
	t := c.TLS
	if t.SelfSigned && (t.CertFile != "" || t.KeyFile != "") {
		v.add("tls.self_signed", "cannot be combined with tls.cert_file and tls.key_file")
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		v.add("tls", "cert_file and key_file must be set together")
	}
	checkFile(v, "tls.cert_file", t.CertFile)
	checkFile(v, "tls.key_file", t.KeyFile)
	if !t.Configured() {
		for _, name := range []string{"imaps", "submissions", "https"} {
			if c.Listener(name).Enabled() {
				v.add("listeners."+name, "implicit TLS needs a certificate: set tls.cert_file and tls.key_file, tls.self_signed = true, or disable this listener")
			}
		}
	}
}

func checkFile(v *validator, key, path string) {
	if path == "" {
		return
	}
	if _, err := os.Stat(path); err != nil {
		v.add(key, "cannot read %q: %v", path, errors.Unwrap(err))
	}
}

func (c *Config) validateLimits(v *validator) {
	l := c.Limits
	positive := map[string]int64{
		"limits.message_size":          int64(l.MessageSize),
		"limits.recipients":            int64(l.Recipients),
		"limits.connections":           int64(l.Connections),
		"limits.connections_per_ip":    int64(l.ConnectionsPerIP),
		"limits.sessions_per_account":  int64(l.SessionsPerAccount),
		"limits.mailboxes_per_account": int64(l.MailboxesPerAccount),
		"limits.idle_timeout":          int64(l.IdleTimeout),
		"limits.login_timeout":         int64(l.LoginTimeout),
		"limits.smtp_timeout":          int64(l.SMTPTimeout),
		"limits.receiving":             int64(l.Receiving),
	}
	for _, key := range sortedKeys(positive) {
		if positive[key] <= 0 {
			v.add(key, "must be greater than zero")
		}
	}
	if l.IdleTimeout > 0 && l.IdleTimeout.D() < 30*time.Minute {
		v.add("limits.idle_timeout", "%s is below the 30m that RFC 9051 §5.4 requires", l.IdleTimeout)
	}
	if l.Receiving > 0 && l.MessageSize <= MaxMessageSize && l.Receiving < l.MessageSize {
		v.add("limits.receiving", "%s is less than limits.message_size (%s): a message of that size could never be received", l.Receiving, l.MessageSize)
	}
	if l.MessageSize > MaxMessageSize {
		v.add("limits.message_size", "%s is more than the %s the store can hold", l.MessageSize, MaxMessageSize)
	}
}

func (c *Config) validateDomains(v *validator) map[string]bool {
	domains := map[string]bool{}
	for i, d := range c.Domains {
		key := fmt.Sprintf("domains[%d]", i)
		name := strings.ToLower(d.Name)
		if !validDomain(name) {
			v.add(key+".name", "%q is not a valid domain", d.Name)
			continue
		}
		if domains[name] {
			v.add(key+".name", "duplicate domain %q", d.Name)
		}
		domains[name] = true
		switch {
		case d.DKIMSelector == "" && (d.DKIMKey != "" || d.DKIMGenerate):
			v.add(key+".dkim_selector", "must be set when a DKIM key is configured")
		case d.DKIMSelector != "" && !validLabel(d.DKIMSelector):
			v.add(key+".dkim_selector", "%q is not a valid DNS label", d.DKIMSelector)
		case d.DKIMSelector != "" && d.DKIMKey == "" && !d.DKIMGenerate:
			v.add(key+".dkim_key", "must be set (or dkim_generate = true) when dkim_selector is set")
		case d.DKIMKey != "" && !d.DKIMGenerate:
			checkFile(v, key+".dkim_key", d.DKIMKey)
		}
	}
	return domains
}

func (c *Config) validatePlansGroups(v *validator) {
	for _, name := range c.PlanNames() {
		p := c.Plans[name]
		if !validName(name) {
			v.add("plans."+name, "plan name must be letters, digits, '-' or '_'")
		}
		if p.MaxGrantees < 0 {
			v.add("plans."+name+".max_grantees", "must not be negative")
		}
		if !p.Share && p.MaxGrantees > 0 {
			v.add("plans."+name+".max_grantees", "is set but share = false")
		}
	}
	for name := range c.Groups {
		if !validName(name) {
			v.add("groups."+name, "group name must be letters, digits, '-' or '_'")
		}
	}
}

// owner is what share validation needs to know of an account.
type owner struct {
	plan   string
	groups map[string]bool
}

func (c *Config) validateAccounts(v *validator, domains map[string]bool) map[string]owner {
	owners := map[string]owner{}
	used := map[string]string{} // folded address -> key that claimed it
	claim := func(key, addr string) {
		if !c.checkLocalAddress(v, key, addr, domains) {
			return
		}
		f := FoldAddress(addr)
		if prev, dup := used[f]; dup {
			v.add(key, "%q is already used by %s", addr, prev)
			return
		}
		used[f] = key
	}
	for i, a := range c.Accounts {
		key := fmt.Sprintf("accounts[%d]", i)
		claim(key+".address", a.Address)
		for j, al := range a.Aliases {
			claim(fmt.Sprintf("%s.aliases[%d]", key, j), al)
		}
		if h := a.PasswordHash; h != "" && !strings.HasPrefix(h, "$argon2id$") &&
			!(len(h) == 60 && (strings.HasPrefix(h, "$2a$") || strings.HasPrefix(h, "$2b$") || strings.HasPrefix(h, "$2y$"))) {
			v.add(key+".password_hash", "not a bcrypt or argon2id hash (make one with: mailroom hash-password)")
		}
		if h := a.SCRAMSHA256; h != "" && !strings.HasPrefix(h, "SCRAM-SHA-256$") {
			v.add(key+".scram_sha256", "not a SCRAM-SHA-256 credential (make one with: mailroom hash-password -scram)")
		}
		plan := a.Plan
		if plan == "" {
			plan = DefaultPlan
		}
		if _, ok := c.Plans[plan]; !ok {
			v.add(key+".plan", "unknown plan %q", a.Plan)
		}
		groups := map[string]bool{}
		for j, g := range a.Groups {
			if _, ok := c.Groups[g]; !ok {
				v.add(fmt.Sprintf("%s.groups[%d]", key, j), "unknown group %q", g)
			}
			groups[g] = true
		}
		owners[FoldAddress(a.Address)] = owner{plan: plan, groups: groups}
	}
	return owners
}

func (c *Config) checkLocalAddress(v *validator, key, addr string, domains map[string]bool) bool {
	at := strings.LastIndexByte(addr, '@')
	if at <= 0 || !validLocalPart(addr[:at]) || !validDomain(addr[at+1:]) {
		v.add(key, "%q is not a valid address", addr)
		return false
	}
	if d := strings.ToLower(addr[at+1:]); !domains[d] {
		v.add(key, "domain %q of %q is not in domains", d, addr)
		return false
	}
	return true
}

func (c *Config) validateShares(v *validator, owners map[string]owner) {
	grantees := map[string]map[string]bool{}
	type seenMode struct {
		index int
		mode  string
	}
	seenModes := map[string]seenMode{} // owner NUL mailbox -> the first seen given
	for i, s := range c.Shares {
		key := fmt.Sprintf("share[%d]", i)
		o, ok := owners[FoldAddress(s.Owner)]
		if !ok {
			v.add(key+".owner", "unknown account %q", s.Owner)
			continue
		}
		if plan := c.Plans[o.plan]; !plan.Share {
			v.add(key+".owner", "%s's plan %q does not allow sharing", s.Owner, o.plan)
		}
		if s.Rights == "" {
			v.add(key+".rights", "must be set, e.g. \"lrswipkxte\"")
		}
		switch s.Send {
		case "", "as", "on-behalf":
		default:
			v.add(key+".send", "unknown value %q (want as or on-behalf)", s.Send)
		}
		switch s.Seen {
		case "", "shared", "private":
			if s.Seen == "" {
				break
			}
			mk := FoldAddress(s.Owner) + "\x00" + s.Mailbox
			if prev, ok := seenModes[mk]; ok && prev.mode != s.Seen {
				v.add(key+".seen", "%q contradicts share[%d].seen %q for the same mailbox", s.Seen, prev.index, prev.mode)
			} else if !ok {
				seenModes[mk] = seenMode{i, s.Seen}
			}
		default:
			v.add(key+".seen", "unknown value %q (want shared or private)", s.Seen)
		}
		for _, r := range s.Rights {
			if !strings.ContainsRune("lrswipkxtea", r) {
				v.add(key+".rights", "unknown right %q (rights are l r s w i p k x t e a)", r)
			}
		}
		g := strings.TrimPrefix(s.Grantee, "-")
		switch {
		case g == "anyone":
		case strings.HasPrefix(g, "group:"):
			name := strings.TrimPrefix(g, "group:")
			if _, ok := c.Groups[name]; !ok {
				v.add(key+".grantee", "unknown group %q", name)
			} else if !o.groups[name] {
				v.add(key+".grantee", "%s is not in group %q; rights are granted only within the owner's groups", s.Owner, name)
			}
		default:
			ga, ok := owners[FoldAddress(g)]
			if !ok {
				v.add(key+".grantee", "unknown account %q (want an address, group:NAME or anyone)", s.Grantee)
			} else if !sharesGroup(o.groups, ga.groups) {
				v.add(key+".grantee", "%s shares no group with %s", s.Grantee, s.Owner)
			}
		}
		f := FoldAddress(s.Owner)
		if grantees[f] == nil {
			grantees[f] = map[string]bool{}
		}
		grantees[f][strings.ToLower(g)] = true
		if max := c.Plans[o.plan].MaxGrantees; max > 0 && len(grantees[f]) > max {
			v.add(key+".grantee", "%s's plan %q allows at most %d grantees; this is grantee number %d", s.Owner, o.plan, max, len(grantees[f]))
		}
	}
}

// validatePostmasters checks that each postmaster names an account or an
// alias, and that a domain's own postmaster does not contradict an account
// or alias that is postmaster@ that domain.
func (c *Config) validatePostmasters(v *validator) {
	claimed := map[string]bool{}
	for _, a := range c.Accounts {
		claimed[FoldAddress(a.Address)] = true
		for _, al := range a.Aliases {
			claimed[FoldAddress(al)] = true
		}
	}
	check := func(key, addr string) {
		if addr != "" && !claimed[FoldAddress(addr)] {
			v.add(key, "%q is not the address or alias of an account", addr)
		}
	}
	check("postmaster", c.Postmaster)
	for i, d := range c.Domains {
		key := fmt.Sprintf("domains[%d].postmaster", i)
		check(key, d.Postmaster)
		if pm := "postmaster@" + strings.ToLower(d.Name); d.Postmaster != "" && claimed[pm] {
			v.add(key, "%s is already an account or alias; set one or the other", pm)
		}
	}
}

func sharesGroup(a, b map[string]bool) bool {
	for g := range a {
		if b[g] {
			return true
		}
	}
	return false
}

func (c *Config) validateOutbound(v *validator) {
	o := c.Outbound
	if o.Relay != "" {
		if err := checkHostPort(o.Relay); err != nil {
			v.add("outbound.relay", "%v", err)
		}
	}
	if (o.RelayUsername == "") != (o.RelayPassword == "") {
		v.add("outbound", "relay_username and relay_password must be set together")
	}
	if o.RelayUsername != "" && o.Relay == "" {
		v.add("outbound.relay_username", "is set but outbound.relay is not")
	}
	switch o.RelayTLS {
	case "starttls", "implicit":
	case "none":
		if o.RelayUsername != "" {
			v.add("outbound.relay_tls", `"none" would send relay_username's password in plaintext: use "starttls" or "implicit", or a relay that needs no credentials`)
		}
	default:
		v.add("outbound.relay_tls", "unknown mode %q (want starttls, implicit or none)", o.RelayTLS)
	}
	checkFile(v, "outbound.relay_ca_file", o.RelayCAFile)
	if o.MaxAge <= 0 {
		v.add("outbound.max_age", "must be greater than zero")
	}
	if o.RetryInitial <= 0 {
		v.add("outbound.retry_initial", "must be greater than zero")
	}
	if o.Workers <= 0 {
		v.add("outbound.workers", "must be greater than zero")
	}
}

// FoldAddress returns the form of an address used to compare it: the
// domain lower-cased, and the local part too, since every mail client and
// every other server treats local parts case-insensitively.
func FoldAddress(addr string) string { return strings.ToLower(addr) }

func validDomain(d string) bool {
	d = strings.TrimSuffix(d, ".")
	if d == "" || len(d) > 253 {
		return false
	}
	for _, label := range strings.Split(d, ".") {
		if !validLabel(label) {
			return false
		}
	}
	return true
}

func validLabel(l string) bool {
	if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
		return false
	}
	for _, r := range l {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// validLocalPart accepts RFC 5322 dot-atoms, which is every local part an
// operator should configure, less '/' (the IMAP hierarchy delimiter, which
// names other users' mailboxes as Other Users/<address>/...) and '%' (the
// old source-routing separator).
func validLocalPart(l string) bool {
	if l == "" || len(l) > 64 || l[0] == '.' || l[len(l)-1] == '.' || strings.Contains(l, "..") {
		return false
	}
	for _, r := range l {
		if r > 127 || !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune(".!#$&'*+-=?^_`{|}~", r)) {
			return false
		}
	}
	return true
}

func validName(n string) bool {
	if n == "" {
		return false
	}
	for _, r := range n {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

func sortedKeys(m map[string]int64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
