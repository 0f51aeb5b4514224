package imapd

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"mailroom/internal/testutil"
	"mailroom/store"
)

// TestMbsyncTwoWay syncs a mailbox of a few hundred messages with mbsync
// (isync), changes both sides, syncs again and compares them.
func TestMbsyncTwoWay(t *testing.T) {
	t.Parallel()
	mbsync := testutil.NeedTool(t, "mbsync")
	ts := newTestServer(t)
	ctx := context.Background()
	const user = "alice@example.test"
	ts.st.EnsureAccount(ctx, user, true)
	box, err := ts.st.CreateMailbox(ctx, user, "Sync", store.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	const n = 300
	msg := func(id string) []byte {
		return fmt.Appendf(nil, "From: bob@example.test\r\nTo: %s\r\nSubject: message %s\r\nMessage-ID: <%s@sync.test>\r\n\r\nbody of %s\r\n", user, id, id, id)
	}
	for i := range n {
		var flags store.Flags
		if i%10 == 0 {
			flags = store.ParseFlags([]string{`\Seen`})
		}
		if _, err := ts.st.Deliver(ctx, msg(fmt.Sprint(i)), []store.Delivery{{Mailbox: box.ID, NewMessage: store.NewMessage{Flags: flags}}}); err != nil {
			t.Fatal(err)
		}
	}

	dir := t.TempDir()
	host, port, _ := net.SplitHostPort(ts.plain)
	os.MkdirAll(filepath.Join(dir, "mail"), 0o700)
	rc := filepath.Join(dir, "mbsyncrc")
	os.WriteFile(rc, fmt.Appendf(nil, `IMAPAccount mr
Host %s
Port %s
User %s
Pass password
SSLType None
AuthMechs LOGIN

IMAPStore remote
Account mr

MaildirStore local
Path %s/mail/
Inbox %s/mail/INBOX
SubFolders Verbatim

Channel sync
Far :remote:
Near :local:
Patterns Sync
Create Both
Expunge Both
SyncState *
Sync All
`, host, port, user, dir, dir), 0o600)
	run := func() {
		t.Helper()
		cctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		out, err := exec.CommandContext(cctx, mbsync, "-c", rc, "-a").CombinedOutput()
		if err != nil {
			t.Fatalf("mbsync: %v\n%s", err, out)
		}
	}
	run()
	local := filepath.Join(dir, "mail", "Sync")
	if got := readMaildir(t, local); len(got) != n {
		t.Fatalf("first sync: %d local messages, want %d", len(got), n)
	}

	// Server side: expunge 3, flag 2, deliver 2 new.
	c := ts.client(t, user, nil)
	if _, err := c.Select("Sync", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	c.Store(imap.UIDSetNum(5, 6, 7), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close()
	if _, err := c.Expunge().Collect(); err != nil {
		t.Fatal(err)
	}
	c.Store(imap.UIDSetNum(20, 21), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagFlagged}}, nil).Close()
	for _, id := range []string{"server-new-1", "server-new-2"} {
		ts.st.Deliver(ctx, msg(id), []store.Delivery{{Mailbox: box.ID}})
	}
	// Local side: mark 5 seen, delete 1, add 1.
	files := maildirFiles(t, local)
	for _, f := range files[100:105] {
		if !strings.Contains(filepath.Base(f), "S") || !strings.Contains(f, ":2,") {
			base := f
			if !strings.Contains(f, ":2,") {
				base = strings.Replace(f, "/new/", "/cur/", 1) + ":2,"
			}
			os.Rename(f, base+"S")
		}
	}
	os.Remove(files[200])
	os.WriteFile(filepath.Join(local, "new", "1700000000.local-new.host"), msg("local-new"), 0o600)
	run()

	// Both sides hold the same messages with the same flags.
	want := readMaildir(t, local)
	got := map[string]string{}
	// A new session: the old one would mix unsolicited FLAGS updates from
	// mbsync's changes into the FETCH results.
	c = ts.client(t, user, nil)
	if _, err := c.Select("Sync", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	msgs, err := c.Fetch(imap.SeqSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{Flags: true, Envelope: true}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		got[m.Envelope.MessageID] = maildirFlags(m.Flags)
	}
	if len(got) != n-3+2+1-1 {
		t.Errorf("server has %d messages, want %d", len(got), n-3+2+1-1)
	}
	if !maps.Equal(got, want) {
		for id, f := range want {
			if got[id] != f {
				t.Errorf("%s: server flags %q, local %q", id, got[id], f)
			}
		}
		for id := range got {
			if _, ok := want[id]; !ok {
				t.Errorf("%s only on the server", id)
			}
		}
	}
	for _, id := range []string{"server-new-1@sync.test", "local-new@sync.test"} {
		if _, ok := got[id]; !ok {
			t.Errorf("%s missing after sync", id)
		}
	}
}

func maildirFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	for _, sub := range []string{"cur", "new"} {
		entries, _ := os.ReadDir(filepath.Join(dir, sub))
		for _, e := range entries {
			out = append(out, filepath.Join(dir, sub, e.Name()))
		}
	}
	slices.Sort(out)
	return out
}

// readMaildir maps Message-ID to maildir flags (sorted letters).
func readMaildir(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, f := range maildirFiles(t, dir) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var id string
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() && sc.Text() != "" {
			if v, ok := strings.CutPrefix(sc.Text(), "Message-ID: <"); ok {
				id = strings.TrimSuffix(strings.TrimSpace(v), ">")
			}
		}
		flags := ""
		if i := strings.LastIndex(f, ":2,"); i >= 0 {
			flags = f[i+3:]
		}
		fl := []byte(flags)
		slices.Sort(fl)
		out[id] = string(fl)
	}
	return out
}

func maildirFlags(fs []imap.Flag) string {
	var b []byte
	for _, f := range fs {
		switch f {
		case imap.FlagSeen:
			b = append(b, 'S')
		case imap.FlagFlagged:
			b = append(b, 'F')
		case imap.FlagAnswered:
			b = append(b, 'R')
		case imap.FlagDeleted:
			b = append(b, 'T')
		case imap.FlagDraft:
			b = append(b, 'D')
		}
	}
	slices.Sort(b)
	return string(b)
}
