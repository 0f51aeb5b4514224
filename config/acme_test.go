package config

import (
	"strings"
	"testing"
)

func TestValidateACMEAndWeb(t *testing.T) {
	base := `data_dir = "/tmp/x"
hostname = "mail.example.test"
[listeners.https]
address = ":443"
`
	for _, c := range []struct{ extra, want string }{
		{"[tls.acme]\nemail = \"a@example.test\"\n", ""},
		{"[tls]\nself_signed = true\n[tls.acme]\nemail = \"a@example.test\"\n", "tls.acme: cannot be combined"},
		{"[tls.acme]\nemail = \"not an address\"\n", "tls.acme.email"},
		{"[tls.acme]\nemail = \"a@example.test\"\ndirectory = \"http://ca.test/dir\"\n", "tls.acme.directory"},
		{"[tls.acme]\ndirectory = \"https://ca.test/dir\"\n", "tls.acme.email: must be set"},
		{"[tls.acme]\nemail = \"a@example.test\"\nrenew_before = \"2400h\"\n", "tls.acme.renew_before"},
		{"[tls]\nself_signed = true\n[web]\nmta_sts_mode = \"strict\"\n", "web.mta_sts_mode"},
		{"[tls]\nself_signed = true\n[web]\nmta_sts_max_age = \"9000h\"\n", "web.mta_sts_max_age"},
		{"[tls]\nself_signed = true\n[web]\nmetrics_username = \"p\"\n", "metrics_username and metrics_password_hash"},
		{"", "listeners.https: implicit TLS needs a certificate"},
	} {
		cfg, err := Parse([]byte(base + c.extra))
		if err != nil {
			t.Fatalf("%q: %v", c.extra, err)
		}
		err = cfg.Validate()
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%q: %v", c.extra, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%q: %v, want %q", c.extra, err, c.want)
		}
	}
}
