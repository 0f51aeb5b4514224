package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-smtp"

	"mailroom/acl"
	"mailroom/internal/testutil"
)

// sieveConfig is a whole server on loopback port 0 with ManageSieve on,
// a team mailbox info@ that alice administers (she holds "a") and bob
// only works in, and remote mail relayed to relay.
func sieveConfig(t *testing.T, dir, relay string) string {
	t.Helper()
	h, _ := acl.HashPassword("password")
	cfg := fmt.Sprintf(`hostname = "mail.example.test"
data_dir = "data"
[tls]
self_signed = true
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
[listeners.managesieve]
address = "127.0.0.1:0"
[[domains]]
name = "example.test"
dkim_selector = "dev"
dkim_generate = true
[groups.staff]
[[accounts]]
address = "alice@example.test"
password_hash = %q
groups = ["staff"]
[[accounts]]
address = "bob@example.test"
password_hash = %q
groups = ["staff"]
[[accounts]]
address = "info@example.test"
groups = ["staff"]
team = true
[[share]]
owner = "info@example.test"
grantee = "alice@example.test"
rights = "lrswipkxtea"
[[share]]
owner = "info@example.test"
grantee = "bob@example.test"
rights = "lrswipkxte"
[outbound]
relay = %q
relay_tls = "none"
`, h, h, relay)
	path := filepath.Join(dir, "mailroom.toml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// sieveConnect runs Debian's sieve-connect with the password on fd 3.
func sieveConnect(t *testing.T, tool, addr, user, authz string, args ...string) (string, error) {
	t.Helper()
	host, port, _ := strings.Cut(addr, ":")
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	w.WriteString("password\n")
	w.Close()
	defer r.Close()
	all := []string{"--server", host, "--port", port, "--user", user, "--passwordfd", "3", "--notlsverify", "--authmech", "PLAIN"}
	if authz != "" {
		all = append(all, "--authzid", authz)
	}
	cmd := exec.Command(tool, append(all, args...)...)
	cmd.ExtraFiles = []*os.File{r}
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir()) // no ~/.sieve-connectrc
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestSieveConnectEndToEnd: alice uploads, activates and lists info@'s
// script with sieve-connect (authorization identity info@, she holds
// "a"); bob, without "a", is refused. Then mail to info@: an order is
// filed in Orders with a flag (checked with Python's imaplib as alice),
// the customer gets one DKIM-signed vacation reply through the queue, and
// a list post gets none.
func TestSieveConnectEndToEnd(t *testing.T) {
	tool := testutil.NeedTool(t, "sieve-connect")
	python := testutil.NeedPython(t)
	relay := startSmarthost(t)
	dir := t.TempDir()
	p := startServe(t, "-c", sieveConfig(t, dir, relay.addr))
	ms := p.listenAddr(t, "managesieve")
	imapAddr := p.listenAddr(t, "imap")
	mx := p.listenAddr(t, "smtp")

	script := filepath.Join(dir, "desk.sieve")
	os.WriteFile(script, []byte(`require ["fileinto", "mailbox", "imap4flags", "vacation"];
if header :contains "subject" "Order" {
  fileinto :create :flags "$Order" "Orders";
}
vacation :days 7 :subject "Thanks for your message" "We will answer within a day.";
`), 0o600)
	broken := filepath.Join(dir, "broken.sieve")
	os.WriteFile(broken, []byte("require \"fileinto\";\nfileinto;\n"), 0o600)

	if out, err := sieveConnect(t, tool, ms, "alice@example.test", "info@example.test", "--localsieve", broken, "--remotesieve", "desk", "--upload"); err == nil || !strings.Contains(out, "line 2") {
		t.Errorf("uploading a broken script: %v\n%s", err, out)
	}
	if out, err := sieveConnect(t, tool, ms, "alice@example.test", "info@example.test", "--localsieve", script, "--remotesieve", "desk", "--upload"); err != nil {
		t.Fatalf("upload: %v\n%s", err, out)
	}
	if out, err := sieveConnect(t, tool, ms, "alice@example.test", "info@example.test", "--remotesieve", "desk", "--activate"); err != nil {
		t.Fatalf("activate: %v\n%s", err, out)
	}
	out, err := sieveConnect(t, tool, ms, "alice@example.test", "info@example.test", "--list")
	if err != nil || !strings.Contains(out, "desk") || !strings.Contains(out, "ACTIVE") && !strings.Contains(out, "<- active") {
		t.Fatalf("list: %v\n%s", err, out)
	}
	if out, err := sieveConnect(t, tool, ms, "bob@example.test", "info@example.test", "--list"); err == nil {
		t.Errorf("bob, without \"a\", listed info@'s scripts:\n%s", out)
	}

	send := func(from, msg string) {
		t.Helper()
		c, err := smtp.Dial(mx)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := testutil.SendMail(c, from, []string{"info@example.test"}, msg); err != nil {
			t.Fatal(err)
		}
	}
	order := "From: customer@remote.test\r\nTo: info@example.test\r\nSubject: Order 42\r\nMessage-ID: <order42@remote.test>\r\n\r\nThree please.\r\n"
	send("customer@remote.test", order)
	send("customer@remote.test", strings.Replace(order, "Order 42", "Order 43", 1))
	send("owner-announce@lists.test", "From: news@lists.test\r\nTo: info@example.test\r\nList-Id: <announce.lists.test>\r\nSubject: News\r\n\r\nNews.\r\n")
	p.waitFor(t, 0, `sieve: vacation reply queued`)

	check := `
import imaplib, sys
c = imaplib.IMAP4(sys.argv[1], int(sys.argv[2]))
c.login("alice@example.test", "password")
typ, _ = c.select('"Shared/info@example.test/Orders"', readonly=True)
assert typ == "OK", typ
typ, data = c.search(None, "KEYWORD", "$Order")
orders = len(data[0].split())
c.select('"Shared/info@example.test/INBOX"', readonly=True)
typ, data = c.search(None, "ALL")
print(orders, len(data[0].split()))
`
	host, port, _ := strings.Cut(imapAddr, ":")
	got, err := exec.Command(python, "-c", check, host, port).CombinedOutput()
	if err != nil || strings.TrimSpace(string(got)) != "2 1" {
		t.Fatalf("imaplib (Orders with $Order, INBOX): %v\n%s", err, got)
	}

	select {
	case <-relay.got:
	case <-time.After(30 * time.Second):
		t.Fatal("no vacation reply reached the smarthost")
	}
	relay.mu.Lock()
	msgs := append([]string(nil), relay.msgs...)
	relay.mu.Unlock()
	if len(msgs) != 1 {
		t.Fatalf("%d messages relayed, want one vacation reply", len(msgs))
	}
	reply := msgs[0]
	for _, want := range []string{"DKIM-Signature: ", "d=example.test", "Auto-Submitted: auto-replied", "From: info@example.test", "To: <customer@remote.test>", "In-Reply-To: <order42@remote.test>", "We will answer within a day."} {
		if !strings.Contains(reply, want) {
			t.Errorf("vacation reply lacks %q:\n%s", want, reply)
		}
	}
	p.stop(t)
}

// TestSieveCommand: `mailroom sieve check|put|activate|list|get` through
// the admin socket of a running server (the script takes effect at the
// next delivery), and on the data directory when it is stopped.
func TestSieveCommand(t *testing.T) {
	relay := startSmarthost(t)
	dir := t.TempDir()
	cfg := sieveConfig(t, dir, relay.addr)
	run := func(args ...string) (string, error) {
		t.Helper()
		all := append([]string{"sieve", args[0]}, args[1:]...)
		if args[0] != "check" {
			all = append([]string{"sieve", args[0], "-c", cfg}, args[1:]...)
		}
		out, err := exec.Command(binary, all...).CombinedOutput()
		return string(out), err
	}
	good := filepath.Join(dir, "good.sieve")
	os.WriteFile(good, []byte("require [\"fileinto\", \"mailbox\"];\nfileinto :create \"Filed\";\n"), 0o600)
	bad := filepath.Join(dir, "bad.sieve")
	os.WriteFile(bad, []byte("keep;\nif true { stop;\n"), 0o600)
	if out, err := run("check", good); err != nil || strings.TrimSpace(out) != "ok" {
		t.Fatalf("check good: %v %s", err, out)
	}
	if out, err := run("check", bad); err == nil || !strings.Contains(out, "line 3, column 1") {
		t.Fatalf("check bad: %v %s", err, out)
	}

	p := startServe(t, "-c", cfg)
	p.waitFor(t, 0, "mailroom started")
	if out, err := run("put", "bob@example.test", "main", bad); err == nil || !strings.Contains(out, "line 3") {
		t.Errorf("put bad: %v %s", err, out)
	}
	for _, args := range [][]string{{"put", "bob@example.test", "main", good}, {"activate", "bob@example.test", "main"}} {
		if out, err := run(args...); err != nil || strings.TrimSpace(out) != "ok" {
			t.Fatalf("%v: %v %s", args, err, out)
		}
	}
	if _, i := p.waitFor(t, 0, `sieve changed by the operator.*op=activate`); i < 0 {
		t.Fatal("not done by the running server")
	}
	if out, err := run("list", "bob@example.test"); err != nil || strings.TrimSpace(out) != "main\tactive" {
		t.Fatalf("list: %v %q", err, out)
	}
	if out, err := run("get", "bob@example.test", "main"); err != nil || !strings.Contains(out, `fileinto :create "Filed"`) {
		t.Fatalf("get: %v %s", err, out)
	}
	c, err := smtp.Dial(p.listenAddr(t, "smtp"))
	if err != nil {
		t.Fatal(err)
	}
	if err := testutil.SendMail(c, "x@remote.test", []string{"bob@example.test"}, "Subject: hi\r\n\r\nhi\r\n"); err != nil {
		t.Fatal(err)
	}
	c.Close()
	p.stop(t)
	out, err := exec.Command(binary, "stats", "-c", cfg).Output()
	if err != nil || !strings.Contains(string(out), `"messages": 1`) || !strings.Contains(string(out), `"mailboxes": 9`) { // Filed was created; the team account has its six
		t.Fatalf("stats: %v %s", err, out)
	}
	// Stopped: on the data directory.
	if out, err := run("activate", "bob@example.test"); err != nil {
		t.Fatalf("deactivate while stopped: %v %s", err, out)
	}
	if out, err := run("list", "bob@example.test"); err != nil || strings.TrimSpace(out) != "main" {
		t.Fatalf("list after deactivate: %v %q", err, out)
	}
}

// TestSieveReload: [sieve] global follows SIGHUP; a global script that
// does not compile is refused at reload, naming it, and the running one
// stays.
func TestSieveReload(t *testing.T) {
	relay := startSmarthost(t)
	dir := t.TempDir()
	cfg := sieveConfig(t, dir, relay.addr)
	base, _ := os.ReadFile(cfg)
	for name, box := range map[string]string{"one.sieve": "One", "two.sieve": "Two"} {
		os.WriteFile(filepath.Join(dir, name), []byte(`require ["fileinto", "mailbox"]; fileinto :create "`+box+`";`), 0o600)
	}
	os.WriteFile(filepath.Join(dir, "broken.sieve"), []byte("fileinto;"), 0o600)
	setGlobal := func(name string) {
		t.Helper()
		if err := os.WriteFile(cfg, append(append([]byte(nil), base...), fmt.Sprintf("[sieve]\nglobal = %q\n", name)...), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	setGlobal("one.sieve")
	p := startServe(t, "-c", cfg)
	mx, imapAddr := p.listenAddr(t, "smtp"), p.listenAddr(t, "imap")
	send := func() {
		t.Helper()
		c, err := smtp.Dial(mx)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := testutil.SendMail(c, "x@remote.test", []string{"bob@example.test"}, "Subject: hi\r\n\r\nhi\r\n"); err != nil {
			t.Fatal(err)
		}
	}
	count := func(mailbox string) uint32 {
		t.Helper()
		c, err := imapclient.DialInsecure(imapAddr, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.Login("bob@example.test", "password").Wait(); err != nil {
			t.Fatal(err)
		}
		d, err := c.Status(mailbox, &imap.StatusOptions{NumMessages: true}).Wait()
		if err != nil {
			return 0
		}
		return *d.NumMessages
	}
	send()
	setGlobal("broken.sieve")
	p.cmd.Process.Signal(syscall.SIGHUP)
	_, at := p.waitFor(t, 0, `reload failed.*sieve.global: broken.sieve: line 1`)
	send()
	setGlobal("two.sieve")
	p.cmd.Process.Signal(syscall.SIGHUP)
	p.waitFor(t, at, "configuration reloaded")
	send()
	if one, two := count("One"), count("Two"); one != 2 || two != 1 {
		t.Errorf("One has %d messages, Two %d; want 2 and 1", one, two)
	}
	p.stop(t)
}
