package imapd

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"mailroom/acl"
	"mailroom/store"
)

// TestRightsMatrix checks each RFC 4314 right against the commands that
// need it (RFC 4314 §4), as the owner, as a grantee holding the right, as a
// grantee holding every right but it, and as a user of another group that
// even has a stored entry (granted before they left the group).
//
// Grantees always hold "l" unless "l" is the right under test: without it
// the mailbox does not exist for them (docs/architecture.md), so nothing else could
// be observed. Rights that act on a selected mailbox come with "r", which
// SELECT needs. "p" is SMTP send-as, tested in smtpd.
func TestRightsMatrix(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ts.dir.Store(teamDirectory(t))
	ctx := context.Background()
	alice := ts.client(t, "alice@example.test", nil)

	type probe struct {
		right string
		// run tries the command on the owner's mailbox named by display
		// (owner's name box) and reports whether it took effect.
		run func(t *testing.T, c *imapclient.Client, display, box string) bool
	}
	msg := "Subject: m\r\n\r\nbody\r\n"
	flagged := func(box string, f imap.Flag) bool {
		m, _ := ts.st.MailboxByName(ctx, "alice@example.test", box)
		var has bool
		ts.st.Messages(ctx, m.ID, 1, 1, func(msg *store.Message) error { has = msg.Flags.Has(string(f)); return nil })
		if f == imap.FlagSeen {
			// alice's mailboxes keep \Seen per user: a grantee's is theirs.
			for _, u := range []string{"bob@example.test", "carol@other.test"} {
				seen, _ := ts.st.SeenUIDs(ctx, m.ID, u)
				has = has || len(seen) > 0
			}
		}
		return has
	}
	storeProbe := func(f imap.Flag) func(*testing.T, *imapclient.Client, string, string) bool {
		return func(t *testing.T, c *imapclient.Client, display, box string) bool {
			if _, err := c.Select(display, nil).Wait(); err != nil {
				return false
			}
			c.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{f}}, nil).Close()
			return flagged(box, f)
		}
	}
	probes := []probe{
		{"l", func(t *testing.T, c *imapclient.Client, display, box string) bool {
			items, _ := c.List("", display, nil).Collect()
			return len(items) == 1
		}},
		{"r", func(t *testing.T, c *imapclient.Client, display, box string) bool {
			_, err1 := c.Status(display, &imap.StatusOptions{NumMessages: true}).Wait()
			_, err2 := c.Select(display, &imap.SelectOptions{ReadOnly: true}).Wait()
			if err1 != nil || err2 != nil {
				return false
			}
			msgs, err3 := c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{Envelope: true}).Collect()
			_, err4 := c.Search(&imap.SearchCriteria{}, nil).Wait()
			return err3 == nil && len(msgs) == 1 && err4 == nil
		}},
		{"s", storeProbe(imap.FlagSeen)},
		{"w", storeProbe(imap.FlagFlagged)},
		{"t", storeProbe(imap.FlagDeleted)},
		{"e", func(t *testing.T, c *imapclient.Client, display, box string) bool {
			ts.st.StoreFlags(ctx, mustBox(t, ts.st, box).ID, []store.UID{1}, store.FlagsAdd, store.ParseFlags([]string{`\Deleted`}), nil)
			if _, err := c.Select(display, nil).Wait(); err != nil {
				return false
			}
			c.Expunge().Collect()
			return mustBox(t, ts.st, box).Messages == 0
		}},
		{"i", func(t *testing.T, c *imapclient.Client, display, box string) bool {
			cmd := c.Append(display, int64(len(msg)), nil)
			cmd.Write([]byte(msg))
			cmd.Close()
			_, err := cmd.Wait()
			return err == nil && mustBox(t, ts.st, box).Messages == 2
		}},
		{"k", func(t *testing.T, c *imapclient.Client, display, box string) bool {
			return c.Create(display+"/child", nil).Wait() == nil
		}},
		{"x", func(t *testing.T, c *imapclient.Client, display, box string) bool {
			return c.Delete(display).Wait() == nil
		}},
		{"a", func(t *testing.T, c *imapclient.Client, display, box string) bool {
			_, err := c.GetACL(display).Wait()
			return err == nil
		}},
	}
	all, _ := acl.ParseRights("lrswipkxtea")
	n := 0
	for _, p := range probes {
		right, _ := acl.ParseRights(p.right)
		base, _ := acl.ParseRights("l")
		if strings.Contains("swte", p.right) {
			base, _ = acl.ParseRights("lr")
		}
		without := all &^ right
		if p.right != "l" && p.right != "r" {
			without |= base
		}
		for _, who := range []struct {
			name   string
			user   string
			rights acl.Rights
			want   bool
		}{
			{"owner", "alice@example.test", 0, true},
			{"grantee with " + p.right, "bob@example.test", base | right, true},
			{"grantee without " + p.right, "bob@example.test", without, false},
			{"other group", "carol@other.test", all, false},
		} {
			n++
			box := fmt.Sprintf("M%d", n)
			if err := alice.Create(box, nil).Wait(); err != nil {
				t.Fatal(err)
			}
			appendMsg(t, alice, box, msg, nil)
			if who.rights != 0 {
				// Stored directly: carol's entry could not be granted now.
				ts.st.SetACL(ctx, mustBox(t, ts.st, box).ID, who.user, who.rights.String())
			}
			display := box
			if who.user != "alice@example.test" {
				display = "Other Users/alice@example.test/" + box
			}
			c := ts.client(t, who.user, nil)
			if got := p.run(t, c, display, box); got != who.want {
				t.Errorf("right %s, %s (%s): took effect = %v, want %v", p.right, who.name, who.rights, got, who.want)
			}
			c.Logout().Wait()
		}
	}
	// A mailbox without l answers like a missing one, whatever else is held.
	m := mustBox(t, ts.st, "M1")
	ts.st.SetACL(ctx, m.ID, "bob@example.test", "rswipkxtea")
	bob := ts.client(t, "bob@example.test", nil)
	_, errHidden := bob.Status("Other Users/alice@example.test/M1", &imap.StatusOptions{NumMessages: true}).Wait()
	_, errMissing := bob.Status("Other Users/alice@example.test/Nope", &imap.StatusOptions{NumMessages: true}).Wait()
	if errHidden == nil || errHidden.Error() != errMissing.Error() {
		t.Errorf("without l: %v; missing: %v", errHidden, errMissing)
	}
	if names := list(t, bob, "", "*", nil); slices.ContainsFunc(names, func(s string) bool { return strings.Contains(s, "/M1 ") }) {
		t.Errorf("LIST shows a mailbox without l: %q", names)
	}
}

func mustBox(t *testing.T, st *store.Store, name string) *store.Mailbox {
	t.Helper()
	m, err := st.MailboxByName(context.Background(), "alice@example.test", name)
	if err != nil {
		t.Fatal(err)
	}
	return m
}
