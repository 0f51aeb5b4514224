package main

import (
	"encoding/json"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"mailroom/store"
)

// TestAuditCommand: what bob does in the team mailbox (a flag change, an
// expunge) is in `mailroom audit`, read from the running server and from
// the data directory after it stops, filtered by user; the owner-side
// and alice's own actions are not there.
// bobInTeamInbox has bob append a customer mail to info@'s INBOX,
// select it and set flag on the message: what the audit log records of a
// team member. The client stays logged in, the mailbox selected.
func bobInTeamInbox(t *testing.T, addr string, flag imap.Flag) *imapclient.Client {
	t.Helper()
	c, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Login("bob@example.test", "password").Wait(); err != nil {
		t.Fatal(err)
	}
	team := "Shared/info@example.test/INBOX"
	msg := "Subject: customer\r\n\r\nhello\r\n"
	ac := c.Append(team, int64(len(msg)), nil)
	ac.Write([]byte(msg))
	ac.Close()
	if _, err := ac.Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Select(team, nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{flag}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestAuditCommand(t *testing.T) {
	dir := t.TempDir()
	cfg := sieveConfig(t, dir, "127.0.0.1:9")
	p := startServe(t, "-c", cfg)
	p.waitFor(t, 0, "mailroom started")
	c := bobInTeamInbox(t, p.listenAddr(t, "imap"), imap.FlagDeleted)
	if err := c.Expunge().Close(); err != nil {
		t.Fatal(err)
	}
	c.Logout().Wait()
	// The running server stores what is pending before it answers.
	read := func() []store.AuditRecord {
		t.Helper()
		b, err := exec.Command(binary, "audit", "-c", cfg, "-user", "bob@example.test", "-json").Output()
		if err != nil {
			t.Fatalf("audit: %v", err)
		}
		var out []store.AuditRecord
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			var r store.AuditRecord
			if line != "" && json.Unmarshal([]byte(line), &r) == nil {
				out = append(out, r)
			}
		}
		return out
	}
	got := read()
	var actions []string
	for _, r := range got {
		if r.Account != "info@example.test" || r.Actor != "bob@example.test" {
			t.Errorf("record %+v", r)
		}
		actions = append(actions, r.Action)
	}
	if strings.Join(actions, " ") != "append store expunge" {
		t.Fatalf("audit of bob: %q (%+v)", actions, got)
	}
	p.stop(t)
	if after := read(); len(after) != 3 {
		t.Errorf("from the data directory: %+v", after)
	}
}

// TestMailboxCommand: an operator shapes a team account's folders with
// `mailroom mailbox`, through the running server and on the data
// directory; a new folder inherits its parent's rights.
func TestMailboxCommand(t *testing.T) {
	dir := t.TempDir()
	cfg := sieveConfig(t, dir, "127.0.0.1:9")
	run := func(args ...string) (string, error) {
		out, err := exec.Command(binary, append([]string{"mailbox"}, append(args[:1], append([]string{"-c", cfg}, args[1:]...)...)...)...).CombinedOutput()
		return string(out), err
	}
	p := startServe(t, "-c", cfg)
	p.waitFor(t, 0, "mailroom started")
	for _, args := range [][]string{
		{"create", "info@example.test", "Orders"},
		{"create", "-special", `\Flagged`, "info@example.test", "Important"},
		{"rename", "info@example.test", "Orders", "Orders 2026"},
	} {
		if out, err := run(args...); err != nil || strings.TrimSpace(out) != "ok" {
			t.Fatalf("%v: %v %s", args, err, out)
		}
	}
	if _, i := p.waitFor(t, 0, `mailbox changed by the operator.*op=rename`); i < 0 {
		t.Fatal("not done by the running server")
	}
	// bob sees the new folder (the account-wide share applies to it).
	c, err := imapclient.DialInsecure(p.listenAddr(t, "imap"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Login("bob@example.test", "password").Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Select("Shared/info@example.test/Orders 2026", nil).Wait(); err != nil {
		t.Errorf("bob cannot select the new folder: %v", err)
	}
	c.Logout().Wait()
	c.Close()
	if out, err := run("delete", "bob@example.test", "Nope"); err == nil {
		t.Errorf("delete of a missing mailbox: %s", out)
	}
	p.stop(t)
	out, err := run("list", "info@example.test")
	if err != nil || !regexp.MustCompile(`(?m)^Orders 2026 `).MatchString(out) || !regexp.MustCompile(`(?m)^Important +\\Flagged `).MatchString(out) ||
		!regexp.MustCompile(`(?m)^Sent +\\Sent `).MatchString(out) {
		t.Fatalf("list: %v\n%s", err, out)
	}
	if out, err := run("list", "nobody@example.test"); err == nil {
		t.Errorf("list of an unknown account: %s", out)
	}
}
