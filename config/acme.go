package config

import (
	"net/mail"
	"net/url"
	"time"
)

// ACME is where certificates come from when the server gets them itself
// (RFC 8555, e.g. Let's Encrypt): for hostname and the autoconfig.,
// autodiscover. and mta-sts. names of every domain, by TLS-ALPN-01 on
// the HTTPS listener or HTTP-01 on the HTTP one, kept in data_dir/acme
// and renewed in the background.
type ACME struct {
	// Email is the account's contact; setting it turns ACME on.
	Email string `toml:"email"`
	// Directory is the CA's directory URL; empty: Let's Encrypt.
	Directory string `toml:"directory"`
	// CAFile is a PEM file of CA certificates that verify the ACME
	// server's own HTTPS (a private CA); empty: the system's roots.
	CAFile string `toml:"ca_file"`
	// RenewBefore is how long before expiry a certificate is renewed;
	// 0: 30 days (less for short-lived certificates).
	RenewBefore Duration `toml:"renew_before"`
}

// Enabled reports whether ACME is configured.
func (a ACME) Enabled() bool { return a.Email != "" }

func (c *Config) validateACME(v *validator) {
	a := c.TLS.ACME
	if !a.Enabled() {
		if a.Directory != "" || a.CAFile != "" || a.RenewBefore != 0 {
			v.add("tls.acme.email", "must be set to use ACME")
		}
		return
	}
	if _, err := mail.ParseAddress(a.Email); err != nil {
		v.add("tls.acme.email", "%q is not an email address", a.Email)
	}
	if a.Directory != "" {
		if u, err := url.Parse(a.Directory); err != nil || u.Scheme != "https" || u.Host == "" {
			v.add("tls.acme.directory", "%q is not an https URL", a.Directory)
		}
	}
	checkFile(v, "tls.acme.ca_file", a.CAFile)
	if a.RenewBefore < 0 || a.RenewBefore.D() > 90*24*time.Hour {
		v.add("tls.acme.renew_before", "%s is not between 0 and 90 days", a.RenewBefore)
	}
	if c.TLS.SelfSigned || c.TLS.CertFile != "" {
		v.add("tls.acme", "cannot be combined with tls.cert_file or tls.self_signed")
	}
	if c.Hostname == "" {
		v.add("hostname", "must be set with ACME: it is the name certificates are issued for")
	}
	if !c.Listener("https").Enabled() && !c.Listener("http").Enabled() {
		v.add("tls.acme", "needs [listeners.https] (TLS-ALPN-01, port 443) or [listeners.http] (HTTP-01, port 80) for the CA's challenges")
	}
}
