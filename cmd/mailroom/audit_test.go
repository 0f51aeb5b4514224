package main

import (
	"encoding/json"
	"os/exec"
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
func TestAuditCommand(t *testing.T) {
	dir := t.TempDir()
	cfg := sieveConfig(t, dir, "127.0.0.1:9")
	p := startServe(t, "-c", cfg)
	p.waitFor(t, 0, "mailroom started")
	c, err := imapclient.DialInsecure(p.listenAddr(t, "imap"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
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
	if err := c.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
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
