package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// TestSeenConfigAndCommand: a [[share]] seen = "shared" makes alice's
// INBOX (private by default, a person's) keep one \Seen; `mailroom acl
// seen` switches it to private through the running server, and back to
// the configured mode on the data directory once it stops; fsck stays
// clean.
func TestSeenConfigAndCommand(t *testing.T) {
	dir := t.TempDir()
	cfg := sieveConfig(t, dir, "127.0.0.1:9")
	f, err := os.OpenFile(cfg, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`[[share]]
owner = "alice@example.test"
mailbox = "INBOX"
grantee = "bob@example.test"
rights = "lrsw"
seen = "shared"
`)
	f.Close()
	run := func(args ...string) (string, error) {
		out, err := exec.Command(binary, append([]string{"acl", args[0], "-c", cfg}, args[1:]...)...).CombinedOutput()
		return strings.TrimSpace(string(out)), err
	}
	p := startServe(t, "-c", cfg)
	p.waitFor(t, 0, "mailroom started")
	addr := p.listenAddr(t, "imap")
	connect := func(user string) *imapclient.Client {
		c, err := imapclient.DialInsecure(addr, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if err := c.Login(user, "password").Wait(); err != nil {
			t.Fatal(err)
		}
		return c
	}
	alice, bob := connect("alice@example.test"), connect("bob@example.test")
	for _, s := range []string{"one", "two"} {
		msg := "Subject: " + s + "\r\n\r\n" + s + "\r\n"
		ac := alice.Append("INBOX", int64(len(msg)), nil)
		ac.Write([]byte(msg))
		ac.Close()
		if _, err := ac.Wait(); err != nil {
			t.Fatal(err)
		}
	}
	const box = "Other Users/alice@example.test/INBOX"
	unseen := func(c *imapclient.Client, name string) uint32 {
		t.Helper()
		d, err := c.Status(name, &imap.StatusOptions{NumUnseen: true}).Wait()
		if err != nil {
			t.Fatal(err)
		}
		return *d.NumUnseen
	}
	read := func(seq uint32) {
		t.Helper()
		if _, err := bob.Select(box, nil).Wait(); err != nil {
			t.Fatal(err)
		}
		if _, err := bob.Fetch(imap.SeqSetNum(seq), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{}}}).Collect(); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := run("seen", "alice@example.test", "INBOX"); err != nil || out != "alice@example.test INBOX: shared (config)" {
		t.Fatalf("acl seen: %v %s", err, out)
	}
	// acl list shows the mode beside each grant of the mailbox.
	listed := func() string {
		t.Helper()
		out, err := run("list", "alice@example.test")
		if err != nil || !strings.Contains(out, "SEEN") {
			t.Fatalf("acl list: %v\n%s", err, out)
		}
		for _, line := range strings.Split(out, "\n") {
			if f := strings.Fields(line); len(f) == 6 && f[1] == "INBOX" && f[2] == "bob@example.test" {
				return f[5]
			}
		}
		t.Fatalf("acl list has no grant of INBOX to bob:\n%s", out)
		return ""
	}
	if got := listed(); got != "shared" {
		t.Errorf("acl list: seen %q, want shared", got)
	}
	read(1)
	if n := unseen(alice, "INBOX"); n != 1 {
		t.Errorf("shared by the config: alice's UNSEEN after bob read one: %d, want 1", n)
	}
	if out, err := run("seen", "alice@example.test", "INBOX", "sometimes"); err == nil || !strings.Contains(out, "want shared, private or default") {
		t.Errorf("acl seen sometimes: %v %s", err, out)
	}
	if out, err := run("seen", "alice@example.test", "INBOX", "private"); err != nil || out != "alice@example.test INBOX: private (mailbox)" {
		t.Fatalf("acl seen private: %v %s", err, out)
	}
	if _, i := p.waitFor(t, 0, `acl changed by the operator.*op=seen`); i < 0 {
		t.Fatal("not done by the running server")
	}
	if got := listed(); got != "private" {
		t.Errorf("acl list after acl seen private: seen %q, want private", got)
	}
	read(2)
	if n := unseen(alice, "INBOX"); n != 1 {
		t.Errorf("private: alice's UNSEEN after bob read another: %d, want 1", n)
	}
	if n := unseen(bob, box); n != 1 {
		t.Errorf("private: bob's UNSEEN: %d, want 1 (he read message 2 privately)", n)
	}
	alice.Logout().Wait()
	bob.Logout().Wait()
	p.stop(t)
	if out, err := run("seen", "alice@example.test", "INBOX", "default"); err != nil || out != "alice@example.test INBOX: shared (config)" {
		t.Fatalf("acl seen default, stopped: %v %s", err, out)
	}
	if out, err := exec.Command(binary, "fsck", "-c", cfg).CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "clean" {
		t.Fatalf("fsck: %v %s", err, out)
	}
}
