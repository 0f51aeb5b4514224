package imapd

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"mailroom/internal/testutil"
	"mailroom/store"
)

const aliceInbox = "Other Users/alice@example.test/INBOX"

// seenSetup gives alice five unread messages in her INBOX, delegated to
// bob with "lrswi", and logs alice in.
func seenSetup(t *testing.T) (*testServer, *imapclient.Client) {
	t.Helper()
	ts := newTestServer(t)
	ts.dir.Store(teamDirectory(t))
	alice := ts.client(t, "alice@example.test", nil)
	for i := range 5 {
		appendMsg(t, alice, "INBOX", fmt.Sprintf("Subject: m%d\r\n\r\nbody %d\r\n", i+1, i+1), nil)
	}
	if err := alice.SetACL("INBOX", "bob@example.test", imap.RightModificationReplace, imap.RightSet("lrswi")).Wait(); err != nil {
		t.Fatal(err)
	}
	return ts, alice
}

func statusUnseen(t *testing.T, c *imapclient.Client, box string) uint32 {
	t.Helper()
	d, err := c.Status(box, &imap.StatusOptions{NumUnseen: true}).Wait()
	if err != nil || d.NumUnseen == nil {
		t.Fatalf("STATUS %s: %v", box, err)
	}
	return *d.NumUnseen
}

// seenOf returns the sequence numbers FETCH FLAGS shows with \Seen.
func seenOf(t *testing.T, c *imapclient.Client) []uint32 {
	t.Helper()
	msgs, err := c.Fetch(imap.SeqSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{Flags: true}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	var out []uint32
	for _, m := range msgs {
		if slices.Contains(m.Flags, imap.FlagSeen) {
			out = append(out, m.SeqNum)
		}
	}
	return out
}

func searchUnseen(t *testing.T, c *imapclient.Client) []uint32 {
	t.Helper()
	d, err := c.Search(&imap.SearchCriteria{NotFlag: []imap.Flag{imap.FlagSeen}}, nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	return d.AllSeqNums()
}

// TestPrivateSeenAssistant: alice delegates her INBOX to bob with
// private \Seen (set over METADATA, as an owner would); bob reads three
// messages; alice's STATUS UNSEEN is unchanged, bob's is lower, and his
// SEARCH UNSEEN, ESEARCH COUNT and FETCH FLAGS agree; alice marking a
// message \Seen does not change bob's view; bob's reads give the
// messages new mod-sequences (CHANGEDSINCE finds them). In a team
// mailbox (shared \Seen by default), a read by one member is seen by
// all. The store checks clean.
func TestPrivateSeenAssistant(t *testing.T) {
	t.Parallel()
	ts, alice := seenSetup(t)
	ctx := context.Background()
	private := []byte("private")
	if err := alice.SetMetadata("INBOX", map[string]*[]byte{"/shared/vendor/mailroom/seen": &private}).Wait(); err != nil {
		t.Fatalf("SETMETADATA: %v", err)
	}
	bob := ts.client(t, "bob@example.test", nil)
	sel, err := bob.Select(aliceInbox, &imap.SelectOptions{CondStore: true}).Wait()
	if err != nil {
		t.Fatal(err)
	}
	before := sel.HighestModSeq
	if _, err := bob.Fetch(imap.SeqSetNum(1, 2, 3), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{}}}).Collect(); err != nil {
		t.Fatal(err)
	}
	if n := statusUnseen(t, alice, "INBOX"); n != 5 {
		t.Errorf("alice's UNSEEN after bob read three: %d, want 5", n)
	}
	if n := statusUnseen(t, bob, aliceInbox); n != 2 {
		t.Errorf("bob's UNSEEN after reading three: %d, want 2", n)
	}
	if got := searchUnseen(t, bob); !slices.Equal(got, []uint32{4, 5}) {
		t.Errorf("bob's SEARCH UNSEEN: %v", got)
	}
	if got := seenOf(t, bob); !slices.Equal(got, []uint32{1, 2, 3}) {
		t.Errorf("bob's FETCH FLAGS \\Seen: %v", got)
	}
	d, err := bob.Search(&imap.SearchCriteria{Flag: []imap.Flag{imap.FlagSeen}}, &imap.SearchOptions{ReturnCount: true}).Wait()
	if err != nil || d.Count != 3 {
		t.Errorf("bob's ESEARCH COUNT SEEN: %+v, %v", d, err)
	}
	changed, err := bob.Fetch(imap.SeqSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{Flags: true, ChangedSince: before}).Collect()
	if err != nil || len(changed) != 3 {
		t.Errorf("bob's FETCH CHANGEDSINCE %d: %d messages, %v", before, len(changed), err)
	}

	// alice reads message 4: hers, not bob's.
	if _, err := alice.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := alice.Store(imap.SeqSetNum(4), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagSeen}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	if got := seenOf(t, alice); !slices.Equal(got, []uint32{4}) {
		t.Errorf("alice's FETCH FLAGS \\Seen: %v", got)
	}
	if got := seenOf(t, bob); !slices.Equal(got, []uint32{1, 2, 3}) {
		t.Errorf("bob's \\Seen after alice read message 4: %v", got)
	}
	if n := statusUnseen(t, bob, aliceInbox); n != 2 {
		t.Errorf("bob's UNSEEN after alice read message 4: %d, want 2", n)
	}
	// bob's STORE: \Seen is his, \Flagged everyone's; one answer with his flags.
	msgs, err := bob.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsSet, Flags: []imap.Flag{imap.FlagFlagged}}, nil).Collect()
	if err != nil || len(msgs) != 1 || strings.Join(flagNames(msgs[0].Flags), " ") != `\Flagged` {
		t.Errorf("bob's STORE 1 FLAGS (\\Flagged): %+v, %v", msgs, err)
	}
	if got := searchUnseen(t, bob); !slices.Equal(got, []uint32{1, 4, 5}) {
		t.Errorf("bob's SEARCH UNSEEN after un-seeing 1: %v", got)
	}
	m := fetchOne(t, alice, imap.SeqSetNum(1), &imap.FetchOptions{Flags: true})
	if strings.Join(flagNames(m.Flags), " ") != `\Flagged` {
		t.Errorf("alice's flags of 1: %v", m.Flags)
	}
	if n := statusUnseen(t, alice, "INBOX"); n != 4 {
		t.Errorf("alice's UNSEEN: %d, want 4", n)
	}

	// bob's APPEND with \Seen: read for bob, not for alice.
	appendMsg(t, bob, aliceInbox, "Subject: note\r\n\r\nfor you\r\n", []imap.Flag{imap.FlagSeen, imap.FlagFlagged})
	if n := statusUnseen(t, alice, "INBOX"); n != 5 {
		t.Errorf("alice's UNSEEN after bob appended a \\Seen message: %d, want 5", n)
	}
	if n := statusUnseen(t, bob, aliceInbox); n != 3 {
		t.Errorf("bob's UNSEEN after appending a \\Seen message: %d, want 3", n)
	}

	// A team mailbox keeps one \Seen: bob's read is alice's too.
	deliverTo(t, ts, "info@example.test", "Subject: order\r\n\r\nplease\r\n")
	team := "Shared/info@example.test/INBOX"
	if n := statusUnseen(t, alice, team); n != 1 {
		t.Fatalf("team UNSEEN before: %d", n)
	}
	if _, err := bob.Select(team, nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{}}}).Collect(); err != nil {
		t.Fatal(err)
	}
	if n := statusUnseen(t, alice, team); n != 0 {
		t.Errorf("team UNSEEN for alice after bob read it: %d, want 0", n)
	}
	if p, err := ts.st.Check(ctx); err != nil || len(p) > 0 {
		t.Errorf("store check: %v %v", p, err)
	}
}

func deliverTo(t *testing.T, ts *testServer, account, msg string) {
	t.Helper()
	ctx := context.Background()
	if err := ts.st.EnsureAccount(ctx, account, false); err != nil {
		t.Fatal(err)
	}
	in, err := ts.st.MailboxByName(ctx, account, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ts.st.Append(ctx, in.ID, []byte(msg), store.NewMessage{}, 0); err != nil {
		t.Fatal(err)
	}
}

// TestPrivateSeenIdle: with private \Seen (the default on a person's
// mailbox), bob's \Seen change reaches bob's other session, idling, and
// not alice's; alice's \Seen change does not show as \Seen to bob. A
// change of a shared flag afterwards reaches both, so each has heard
// everything meant for it.
func TestPrivateSeenIdle(t *testing.T) {
	t.Parallel()
	ts, alice := seenSetup(t)
	aw, aopts := newWatcher()
	aliceIdle := ts.client(t, "alice@example.test", aopts)
	bw, bopts := newWatcher()
	bobIdle := ts.client(t, "bob@example.test", bopts)
	bob := ts.client(t, "bob@example.test", nil)
	for _, s := range []struct {
		c   *imapclient.Client
		box string
	}{{aliceIdle, "INBOX"}, {bobIdle, aliceInbox}, {bob, aliceInbox}, {alice, "INBOX"}} {
		if _, err := s.c.Select(s.box, nil).Wait(); err != nil {
			t.Fatal(err)
		}
	}
	ai, err := aliceIdle.Idle()
	if err != nil {
		t.Fatal(err)
	}
	bi, err := bobIdle.Idle()
	if err != nil {
		t.Fatal(err)
	}
	setFlag := func(c *imapclient.Client, seq uint32, f imap.Flag) {
		t.Helper()
		if err := c.Store(imap.SeqSetNum(seq), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{f}}, nil).Close(); err != nil {
			t.Fatal(err)
		}
	}
	setFlag(bob, 1, imap.FlagSeen)
	bw.waitFor(t, `FETCH 1 (\Seen)`)
	setFlag(bob, 3, imap.FlagFlagged)
	if got := eventsUntil(t, aw, `FETCH 3 (\Flagged)`); len(got) != 1 {
		t.Errorf("alice heard more than the shared change: %q", got)
	}
	eventsUntil(t, bw, `FETCH 3 (\Flagged)`)
	setFlag(alice, 2, imap.FlagSeen)
	aw.waitFor(t, `FETCH 2 (\Seen)`) // alice's other session hears her read
	setFlag(alice, 4, imap.FlagFlagged)
	if got := eventsUntil(t, bw, `FETCH 4 (\Flagged)`); len(got) != 1 {
		t.Errorf("bob heard more than the shared change: %q", got)
	}
	for _, i := range []*imapclient.IdleCommand{ai, bi} {
		if err := i.Close(); err != nil {
			t.Fatal(err)
		}
		if err := i.Wait(); err != nil {
			t.Fatal(err)
		}
	}
	if got := seenOf(t, bobIdle); !slices.Equal(got, []uint32{1}) {
		t.Errorf("bob's second session's \\Seen: %v", got)
	}
	if got := seenOf(t, aliceIdle); !slices.Equal(got, []uint32{2}) {
		t.Errorf("alice's second session's \\Seen: %v", got)
	}
}

// eventsUntil waits until w has recorded want and returns every event
// recorded up to it, clearing them.
func eventsUntil(t *testing.T, w *watcher, want string) []string {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		w.mu.Lock()
		got := slices.Clone(w.events)
		if slices.Contains(got, want) {
			w.events = nil
			w.mu.Unlock()
			return got
		}
		w.mu.Unlock()
		select {
		case <-w.changed:
		case <-deadline:
			t.Fatalf("events %q, want %q among them", got, want)
		}
	}
}

// TestPythonPrivateSeen runs testdata/e2e/seen_e2e.py: the assistant
// scenario and a team mailbox's shared \Seen with imaplib.
func TestPythonPrivateSeen(t *testing.T) {
	t.Parallel()
	python := testutil.NeedPython(t)
	ts := newTestServer(t)
	ts.dir.Store(teamDirectory(t))
	if err := ts.st.EnsureAccount(context.Background(), "info@example.test", false); err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(ts.plain)
	out, err := exec.Command(python, "../testdata/e2e/seen_e2e.py", host, port).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "ok" {
		t.Fatalf("imaplib: %v\n%s", err, out)
	}
	if p, err := ts.st.Check(context.Background()); err != nil || len(p) > 0 {
		t.Errorf("store check: %v %v", p, err)
	}
}
