package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"

	"mailroom/internal/testutil"
)

// TestQueueShowsRelayTLSReason: with relay credentials and the default
// relay_tls ("starttls"), a smarthost that offers no STARTTLS gets nothing
// (no AUTH, no message); the mail waits, and `mailroom queue` says why.
func TestQueueShowsRelayTLSReason(t *testing.T) {
	relay := startSmarthost(t) // no TLS at all
	dir := t.TempDir()
	cfg := mailConfig(t, dir, relay.addr)
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b = []byte(strings.Replace(string(b), `relay_tls = "none"`, "relay_username = \"me\"\nrelay_password = \"secret\"", 1))
	if err := os.WriteFile(cfg, b, 0o600); err != nil {
		t.Fatal(err)
	}
	p := startServe(t, "-c", cfg)
	p.waitFor(t, 0, "mailroom started")
	c, err := smtp.Dial(p.listenAddr(t, "submission"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Auth(plainAuth("alice@example.test", "password")); err != nil {
		t.Fatal(err)
	}
	if err := testutil.SendMail(c, "alice@example.test", []string{"friend@remote.test"}, "From: alice@example.test\r\nSubject: waits\r\n\r\nx\r\n"); err != nil {
		t.Fatal(err)
	}
	p.waitFor(t, 0, `msg=deferred .*rcpt=friend@remote.test`)
	out, err := exec.Command(binary, "queue", "-c", cfg).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "waiting") || !strings.Contains(string(out), "TLS with relay") || !strings.Contains(string(out), "STARTTLS") {
		t.Fatalf("queue: %v\n%s", err, out)
	}
	relay.mu.Lock()
	n := len(relay.msgs)
	relay.mu.Unlock()
	if n != 0 {
		t.Fatalf("the relay got %d messages without TLS", n)
	}
	p.stop(t)
}
