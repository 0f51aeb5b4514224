package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-smtp"

	"mailroom/acl"
	"mailroom/internal/testutil"
)

// TestPostmasterEveryDomain: postmaster@ each local domain, in any case,
// and the bare <postmaster> are accepted on the MX and delivered to the
// configured account, or by default to the domain's first account.
func TestPostmasterEveryDomain(t *testing.T) {
	dir := t.TempDir()
	h, _ := acl.HashPassword("password")
	cfg := fmt.Sprintf(`hostname = "mail.example.test"
data_dir = "data"
[listeners.imap]
address = "127.0.0.1:0"
allow_insecure_auth = true
[listeners.imaps]
disabled = true
[listeners.smtp]
address = "127.0.0.1:0"
[listeners.submission]
disabled = true
[listeners.submissions]
disabled = true
[[domains]]
name = "example.test"
postmaster = "bob@example.test"
[[domains]]
name = "other.test"
[[accounts]]
address = "alice@example.test"
password_hash = %[1]q
[[accounts]]
address = "bob@example.test"
password_hash = %[1]q
[[accounts]]
address = "carol@other.test"
password_hash = %[1]q
[dns]
resolver = %[2]q
`, h, testutil.NewDNS(t).Addr)
	path := filepath.Join(dir, "mailroom.toml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startServe(t, "-c", path)
	mx, imapAddr := p.listenAddr(t, "smtp"), p.listenAddr(t, "imap")
	for _, rcpt := range []string{"POSTMASTER@EXAMPLE.TEST", "postmaster", "postmaster@other.test", "PostMaster@Other.Test"} {
		c, err := smtp.Dial(mx)
		if err != nil {
			t.Fatal(err)
		}
		if err := testutil.SendMail(c, "someone@remote.test", []string{rcpt}, "From: someone@remote.test\r\nSubject: to "+rcpt+"\r\n\r\nhello\r\n"); err != nil {
			t.Errorf("RCPT TO:<%s>: %v", rcpt, err)
		}
		c.Close()
	}
	for user, want := range map[string]uint32{"bob@example.test": 2, "carol@other.test": 2, "alice@example.test": 0} {
		c, err := imapclient.DialInsecure(imapAddr, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Login(user, "password").Wait(); err != nil {
			t.Fatal(err)
		}
		st, err := c.Status("INBOX", &imap.StatusOptions{NumMessages: true}).Wait()
		if err != nil {
			t.Fatal(err)
		}
		if *st.NumMessages != want {
			t.Errorf("%s has %d messages, want %d", user, *st.NumMessages, want)
		}
		c.Close()
	}
	p.stop(t)
}

// TestDNSWithRelay: with a smarthost, `mailroom dns` does not print an
// SPF record that leaves the relay out; it says what to add.
func TestDNSWithRelay(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "mailroom.toml")
	os.WriteFile(cfg, []byte(`hostname = "mx.example.test"
data_dir = "data"
[listeners.imaps]
disabled = true
[listeners.submissions]
disabled = true
[[domains]]
name = "example.test"
[[accounts]]
address = "alice@example.test"
[outbound]
relay = "smtp.provider.test:587"
`), 0o600)
	out, err := exec.Command(binary, "dns", "-c", cfg, "-domain", "example.test").CombinedOutput()
	if err != nil {
		t.Fatalf("dns: %v\n%s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "v=spf1") && !strings.HasPrefix(line, ";") {
			t.Errorf("dns publishes an SPF record without the relay: %s", line)
		}
	}
	for _, want := range []string{"smtp.provider.test", `"v=spf1 mx RELAY-SPF -all"`, "postmaster@example.test, which is delivered to alice@example.test"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("dns output lacks %q:\n%s", want, out)
		}
	}
}
