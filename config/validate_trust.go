package config

import (
	"fmt"
	"net/url"
)

// validateTrust checks [dns], [spam] and each domain's
// unauthenticated_from.
func (c *Config) validateTrust(v *validator) {
	if r := c.DNS.Resolver; r != "" {
		if err := checkHostPort(r); err != nil {
			v.add("dns.resolver", "%v", err)
		}
	}
	for _, kv := range [][2]string{{"spam.rspamd", c.Spam.Rspamd}, {"spam.learn", c.Spam.Learn}} {
		key, r := kv[0], kv[1]
		if r == "" {
			continue
		}
		u, err := url.Parse(r)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			v.add(key, "%q is not an http:// or https:// URL", r)
		}
	}
	switch c.Spam.OnError {
	case "accept", "tempfail":
	default:
		v.add("spam.on_error", "unknown value %q (want accept or tempfail)", c.Spam.OnError)
	}
	for i, z := range c.Spam.DNSBL {
		if !validDomain(z) {
			v.add(fmt.Sprintf("spam.dnsbl[%d]", i), "%q is not a DNS zone", z)
		}
	}
	for i, d := range c.Domains {
		switch d.UnauthenticatedFrom {
		case "", "reject", "junk", "accept":
		default:
			v.add(fmt.Sprintf("domains[%d].unauthenticated_from", i), "unknown value %q (want reject, junk or accept)", d.UnauthenticatedFrom)
		}
	}
}
