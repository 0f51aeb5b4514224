package config

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Config is the whole configuration file.
type Config struct {
	// Hostname is the name the server announces in SMTP greetings,
	// Received headers and Message-IDs. Empty means the machine's host name.
	Hostname string `toml:"hostname"`
	// DataDir holds the Badger database, generated certificates and keys.
	DataDir string `toml:"data_dir"`
	// Postmaster is the account that receives postmaster@ of every local
	// domain without its own postmaster (see Postmasters).
	Postmaster string `toml:"postmaster"`

	Log       Log              `toml:"log"`
	Listeners Listeners        `toml:"listeners"`
	TLS       TLS              `toml:"tls"`
	Limits    Limits           `toml:"limits"`
	Domains   []Domain         `toml:"domains"`
	Plans     map[string]Plan  `toml:"plans"`
	Groups    map[string]Group `toml:"groups"`
	Accounts  []Account        `toml:"accounts"`
	Shares    []Share          `toml:"share"`
	Sieve     Sieve            `toml:"sieve"`
	Outbound  Outbound         `toml:"outbound"`
	Admin     Admin            `toml:"admin"`
	Web       Web              `toml:"web"`
	DNS       DNS              `toml:"dns"`
	Spam      Spam             `toml:"spam"`
	Audit     Audit            `toml:"audit"`
	Search    Search           `toml:"search"`
}

// Search configures SEARCH BODY and TEXT.
type Search struct {
	// FullText keeps a full-text index (in data_dir/fts); off, SEARCH
	// BODY and TEXT read the messages. Default on.
	FullText *bool `toml:"full_text"`
}

// FullTextOn reports whether the full-text index is kept.
func (s Search) FullTextOn() bool { return s.FullText == nil || *s.FullText }

// Audit configures the audit log: what anyone other than the owner does
// in someone else's mailboxes, kept in the store.
type Audit struct {
	// Retention is how long records are kept ("180d", the default; "0s"
	// means the default).
	Retention Duration `toml:"retention"`
	// Reads also records the reading of message content (off by default:
	// it is most of what a delegate does).
	Reads bool `toml:"reads"`
}

// DNS configures name resolution: MX and address lookups of the outbound
// queue, and SPF, DKIM, DMARC and DNSBL lookups of the inbound checks.
type DNS struct {
	// Resolver is host:port of the DNS server asked for everything (a
	// local validating resolver such as unbound); empty means the
	// nameservers of /etc/resolv.conf. Answers are cached either way.
	Resolver string `toml:"resolver"`
}

// Spam configures spam filtering of mail from outside (MX and LMTP).
type Spam struct {
	// Rspamd is the base URL of rspamd's normal worker, e.g.
	// "http://127.0.0.1:11333"; empty means no rspamd.
	Rspamd string `toml:"rspamd"`
	// OnError says what happens when rspamd cannot be asked: "accept"
	// (the default: the message is delivered unscanned and the failure
	// logged) or "tempfail" (451 4.7.1, the sender retries).
	OnError string `toml:"on_error"`
	// DNSBL zones are asked about the connecting address; a listed client
	// is refused (554 5.7.1).
	DNSBL []string `toml:"dnsbl"`
	// Learn is the base URL of rspamd's controller (its /learnspam and
	// /learnham), e.g. "http://127.0.0.1:11334": a message a user moves
	// into \Junk is learnt as spam, one moved out as ham. Empty: no
	// learning.
	Learn string `toml:"learn"`
	// LearnPassword is the controller's password, if it has one.
	LearnPassword string `toml:"learn_password"`
}

// Log configures the server's logs.
type Log struct {
	// Level is one of trace, debug, info, warn, error. Trace adds protocol
	// transcripts (with AUTH redacted).
	Level string `toml:"level"`
	// Format is "text" or "json".
	Format string `toml:"format"`
}

// Listeners names every network listener. A listener with Disabled set, or
// an empty Address, does not listen.
type Listeners struct {
	IMAP        Listener `toml:"imap"`
	IMAPS       Listener `toml:"imaps"`
	SMTP        Listener `toml:"smtp"`
	Submission  Listener `toml:"submission"`
	Submissions Listener `toml:"submissions"`
	ManageSieve Listener `toml:"managesieve"`
	LMTP        Listener `toml:"lmtp"`
	// HTTP and HTTPS serve client autoconfiguration, the MTA-STS policy
	// and metrics (package web). Off by default.
	HTTP  Listener `toml:"http"`
	HTTPS Listener `toml:"https"`
}

// Listener is one listening socket.
type Listener struct {
	// Address is host:port, or for LMTP also unix:/path/to/socket.
	Address string `toml:"address"`
	// Disabled turns the listener off.
	Disabled bool `toml:"disabled"`
	// AllowInsecureAuth permits passwords before TLS. For loopback
	// development only.
	AllowInsecureAuth bool `toml:"allow_insecure_auth"`
}

// Enabled reports whether the listener should listen.
func (l Listener) Enabled() bool { return !l.Disabled && l.Address != "" }

// TLS says where the certificate comes from.
type TLS struct {
	CertFile string `toml:"cert_file"`
	KeyFile  string `toml:"key_file"`
	// SelfSigned generates a self-signed certificate for Hostname once and
	// keeps it in the data directory. For development.
	SelfSigned bool `toml:"self_signed"`
	// ACME obtains and renews certificates (RFC 8555) instead.
	ACME ACME `toml:"acme"`
}

// Configured reports whether any certificate source is set.
func (t TLS) Configured() bool { return t.SelfSigned || t.CertFile != "" || t.ACME.Enabled() }

// Limits bound what one client may ask of the server.
type Limits struct {
	MessageSize         Size     `toml:"message_size"`
	Recipients          int      `toml:"recipients"`
	Connections         int      `toml:"connections"`
	ConnectionsPerIP    int      `toml:"connections_per_ip"`
	SessionsPerAccount  int      `toml:"sessions_per_account"`
	MailboxesPerAccount int      `toml:"mailboxes_per_account"`
	IdleTimeout         Duration `toml:"idle_timeout"`
	LoginTimeout        Duration `toml:"login_timeout"`
	SMTPTimeout         Duration `toml:"smtp_timeout"`
	// MinFreeSpace is the free space the data directory's filesystem
	// keeps: below it, new mail is refused (SMTP 452 4.3.1, APPEND NO)
	// rather than risk the store failing on a full disk.
	MinFreeSpace Size `toml:"min_free_space"`
	// Receiving bounds the bytes of messages being received over SMTP at
	// once, over all connections: beyond it DATA is answered 452 4.3.1
	// (try again later) and the message is not buffered. It must be at
	// least MessageSize.
	Receiving Size `toml:"receiving"`
	// Memory is a soft limit on the server's own memory (Go's memory
	// limit): near it the garbage collector works harder; it follows the
	// live heap when that needs more. 0: no limit (Go's default pacing).
	Memory Size `toml:"memory"`
	// MappedBodies bounds the message bodies the store keeps mapped into
	// the process (they count in its resident memory); beyond it their
	// pages are handed back to the kernel. 0: no bound.
	MappedBodies Size `toml:"mapped_bodies"`
}

// MaxMessageSize is the largest limits.message_size: the store holds a
// message as one value of at most store.MaxBodySize bytes, and the server
// adds header fields (Received, DKIM-Signature, …) to what it receives.
// config does not import store; a test in cmd/mailroom checks that the two
// agree.
const MaxMessageSize Size = 255 << 20

// Domain is a local mail domain.
type Domain struct {
	Name string `toml:"name"`
	// DKIMSelector names the key in DNS (<selector>._domainkey.<name>).
	// Empty: mail from this domain is not signed.
	DKIMSelector string `toml:"dkim_selector"`
	// DKIMKey is a PEM private key file (RSA or Ed25519).
	DKIMKey string `toml:"dkim_key"`
	// DKIMGenerate creates DKIMKey (or, when DKIMKey is empty, a key in the
	// data directory) on first start if it does not exist.
	DKIMGenerate bool `toml:"dkim_generate"`
	// Postmaster is the account that receives postmaster@<name>.
	Postmaster string `toml:"postmaster"`
	// UnauthenticatedFrom is what happens to mail from outside whose
	// From is in this domain and that neither passes DKIM for it nor SPF
	// for an aligned envelope domain: "reject" (the default, 550 5.7.1),
	// "junk" (delivered to \Junk) or "accept" (DMARC alone decides).
	UnauthenticatedFrom string `toml:"unauthenticated_from"`
}

// Plan is a subscription plan.
type Plan struct {
	// Share says whether holders may grant others access to their mailboxes.
	Share bool `toml:"share"`
	// MaxGrantees bounds the distinct identifiers an account may grant
	// rights to; 0 means no limit.
	MaxGrantees int `toml:"max_grantees"`
	// Quota bounds the bytes an account's mailboxes hold; 0 means no limit.
	Quota Size `toml:"quota"`
	// Messages bounds the messages an account's mailboxes hold (IMAP
	// QUOTA's MESSAGE resource); 0 means no limit.
	Messages int64 `toml:"messages"`
}

// Group is an organisation boundary: rights are granted only within groups.
type Group struct {
	Description string `toml:"description"`
}

// Account is a mailbox owner.
type Account struct {
	Address string `toml:"address"`
	// PasswordHash is a bcrypt or argon2id hash (mailroom hash-password).
	// Empty: the account cannot log in.
	PasswordHash string `toml:"password_hash"`
	// SCRAMSHA256 is a SCRAM-SHA-256 credential (mailroom hash-password
	// -scram) for IMAP AUTHENTICATE SCRAM-SHA-256. Empty: not offered to
	// this account.
	SCRAMSHA256 string   `toml:"scram_sha256"`
	Plan        string   `toml:"plan"`
	Groups      []string `toml:"groups"`
	Aliases     []string `toml:"aliases"`
	// Team shows the account's mailboxes under Shared/ rather than
	// Other Users/.
	Team bool `toml:"team"`
}

// Share is an operator-managed grant.
type Share struct {
	// Owner is the account whose mailboxes are shared.
	Owner string `toml:"owner"`
	// Mailbox is one of Owner's mailboxes; empty means all of them.
	Mailbox string `toml:"mailbox"`
	// Grantee is an address, group:NAME or anyone.
	Grantee string `toml:"grantee"`
	// Rights is an RFC 4314 rights string.
	Rights string `toml:"rights"`
	// Send is how a grantee's mail as Owner shows: "as" (the default:
	// nothing outside names the member) or "on-behalf" (a Sender: field
	// names the member).
	Send string `toml:"send"`
	// Seen is how \Seen is kept on the shared mailbox(es): "shared" (one
	// read state for everyone) or "private" (each grantee keeps their
	// own; the owner's is the message's). Empty: the mailbox's own
	// setting, else shared for a team account (or one without a
	// password), private for a person's.
	Seen string `toml:"seen"`
}

// Outbound configures delivery to remote hosts.
type Outbound struct {
	// Relay sends all remote mail through this smarthost (host:port).
	Relay         string `toml:"relay"`
	RelayUsername string `toml:"relay_username"`
	RelayPassword string `toml:"relay_password"`
	// RelayTLS secures the connection to the relay: "starttls" (the
	// default) or "implicit" (TLS from the first byte, usually port 465),
	// both requiring TLS and verifying the relay's certificate; or "none",
	// plaintext, for a relay on a trusted network, which cannot be
	// combined with relay_username: credentials never travel without TLS.
	// When TLS cannot be established, mail waits in the queue with the
	// reason (see mailroom queue) until max_age.
	RelayTLS string `toml:"relay_tls"`
	// RelayCAFile is a PEM file of CA certificates that verify the relay's
	// certificate instead of the system's roots (a private CA).
	RelayCAFile string `toml:"relay_ca_file"`
	// MaxAge is how long a message is retried before it bounces.
	MaxAge Duration `toml:"max_age"`
	// RetryInitial is the first retry delay; later ones double.
	RetryInitial Duration `toml:"retry_initial"`
	// Workers is the number of concurrent deliveries.
	Workers int `toml:"workers"`
}

// Admin configures the local administration socket.
type Admin struct {
	// Socket is a unix socket path; relative to the data directory when
	// not absolute. Empty disables it.
	Socket string `toml:"socket"`
}

// Defaults returns the configuration an empty file yields.
func Defaults() Config {
	return Config{
		DataDir: "/var/lib/mailroom",
		Log:     Log{Level: "info", Format: "text"},
		Listeners: Listeners{
			IMAP:        Listener{Address: ":143"},
			IMAPS:       Listener{Address: ":993"},
			SMTP:        Listener{Address: ":25"},
			Submission:  Listener{Address: ":587"},
			Submissions: Listener{Address: ":465"},
		},
		Limits: Limits{
			MessageSize:         25 << 20,
			Recipients:          100,
			Connections:         1000,
			ConnectionsPerIP:    300, // an office of 50 behind one NAT, ~6 connections each
			SessionsPerAccount:  50,
			MailboxesPerAccount: 1000,
			IdleTimeout:         Duration(30 * time.Minute),
			LoginTimeout:        Duration(60 * time.Second),
			SMTPTimeout:         Duration(5 * time.Minute),
			MinFreeSpace:        512 << 20,
			Receiving:           256 << 20,
			Memory:              72 << 20,
			MappedBodies:        16 << 20,
		},
		Plans: map[string]Plan{
			DefaultPlan: {Share: true},
		},
		Groups: map[string]Group{},
		Sieve:  defaultSieve(),
		Outbound: Outbound{
			RelayTLS:     "starttls",
			MaxAge:       Duration(5 * 24 * time.Hour),
			RetryInitial: Duration(5 * time.Minute),
			Workers:      4,
		},
		Admin: Admin{Socket: "admin.sock"},
		Web:   Web{MTASTSMode: "testing", MTASTSMaxAge: Duration(7 * 24 * time.Hour), Metrics: true},
		Spam:  Spam{OnError: "accept"},
	}
}

// DefaultPlan is the plan of an account that names none. It allows sharing
// with no limits unless the file defines a plan of this name itself.
const DefaultPlan = "default"

// Load reads, decodes and validates the file at path. Relative paths in
// the file are made absolute against the file's directory.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	cfg, err := Parse(data)
	if err != nil {
		return nil, err
	}
	dir, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return nil, err
	}
	cfg.resolvePaths(dir)
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// Parse decodes a TOML document strictly: every key must be known. It fills
// defaults but does not validate or resolve paths.
func Parse(data []byte) (*Config, error) {
	cfg, err := decode(data, func() Config {
		c := Defaults()
		c.Plans = map[string]Plan{} // the file's own plans; default added below
		return c
	})
	if err != nil {
		return nil, err
	}
	if _, ok := cfg.Plans[DefaultPlan]; !ok {
		cfg.Plans[DefaultPlan] = Defaults().Plans[DefaultPlan]
	}
	if cfg.Groups == nil {
		cfg.Groups = map[string]Group{}
	}
	return &cfg, nil
}

func (c *Config) resolvePaths(dir string) {
	abs := func(p *string) {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
	abs(&c.DataDir)
	abs(&c.TLS.CertFile)
	abs(&c.TLS.KeyFile)
	abs(&c.Outbound.RelayCAFile)
	abs(&c.TLS.ACME.CAFile)
	abs(&c.Sieve.Global)
	for i := range c.Domains {
		abs(&c.Domains[i].DKIMKey)
	}
	if strings.HasPrefix(c.Listeners.LMTP.Address, "unix:") {
		p := strings.TrimPrefix(c.Listeners.LMTP.Address, "unix:")
		abs(&p)
		c.Listeners.LMTP.Address = "unix:" + p
	}
}

// SetDataDir overrides the data directory (the -data flag).
func (c *Config) SetDataDir(dir string) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	c.DataDir = abs
	return nil
}

// AdminSocket returns the admin socket path, or "" when disabled.
func (c *Config) AdminSocket() string {
	if c.Admin.Socket == "" || filepath.IsAbs(c.Admin.Socket) {
		return c.Admin.Socket
	}
	return filepath.Join(c.DataDir, c.Admin.Socket)
}

// DKIMKeyPath returns where domain d's DKIM key lives.
func (c *Config) DKIMKeyPath(d Domain) string {
	if d.DKIMKey != "" {
		return d.DKIMKey
	}
	return filepath.Join(c.DataDir, "dkim", d.Name+"."+d.DKIMSelector+".pem")
}

// PlanNames returns the defined plan names, sorted.
func (c *Config) PlanNames() []string {
	names := make([]string, 0, len(c.Plans))
	for n := range c.Plans {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Postmasters says which account receives postmaster@ of each local
// domain (RFC 5321 §4.5.1 requires the address): the domain's own
// postmaster, else the top-level postmaster, else the domain's first
// account in the file, else the file's first account. A domain where
// postmaster@ is itself an account or an alias is left out, and so is
// every domain when there is no account at all. Keys are lower-case
// domains; values are account addresses (an alias given is resolved).
// The configuration must be valid.
func (c *Config) Postmasters() map[string]string {
	owner := map[string]string{} // folded address or alias -> account address
	for _, a := range c.Accounts {
		owner[FoldAddress(a.Address)] = a.Address
		for _, al := range a.Aliases {
			owner[FoldAddress(al)] = a.Address
		}
	}
	out := map[string]string{}
	for _, d := range c.Domains {
		name := strings.ToLower(d.Name)
		if _, taken := owner["postmaster@"+name]; taken {
			continue
		}
		target := owner[FoldAddress(d.Postmaster)]
		if target == "" {
			target = owner[FoldAddress(c.Postmaster)]
		}
		for _, a := range c.Accounts {
			if target != "" {
				break
			}
			if at := strings.LastIndexByte(a.Address, '@'); strings.EqualFold(a.Address[at+1:], name) {
				target = a.Address
			}
		}
		if target == "" && len(c.Accounts) > 0 {
			target = c.Accounts[0].Address
		}
		if target != "" {
			out[name] = target
		}
	}
	return out
}
