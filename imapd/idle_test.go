package imapd

import (
	"context"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"mailroom/store"
)

// watcher records what the server tells a client unilaterally.
type watcher struct {
	mu      sync.Mutex
	events  []string
	changed chan struct{}
}

func newWatcher() (*watcher, *imapclient.Options) {
	w := &watcher{changed: make(chan struct{}, 1)}
	opts := &imapclient.Options{UnilateralDataHandler: &imapclient.UnilateralDataHandler{
		Expunge: func(seq uint32) { w.add("EXPUNGE " + strconv.Itoa(int(seq))) },
		Mailbox: func(d *imapclient.UnilateralDataMailbox) {
			if d.NumMessages != nil {
				w.add("EXISTS " + strconv.Itoa(int(*d.NumMessages)))
			}
		},
		Fetch: func(m *imapclient.FetchMessageData) {
			buf, err := m.Collect()
			if err == nil {
				w.add("FETCH " + strconv.Itoa(int(buf.SeqNum)) + " " + joinFlags(buf.Flags))
			}
		},
	}}
	return w, opts
}

func joinFlags(fs []imap.Flag) string {
	names := flagNames(fs)
	s := "("
	for i, n := range names {
		if i > 0 {
			s += " "
		}
		s += n
	}
	return s + ")"
}

func (w *watcher) add(e string) {
	w.mu.Lock()
	w.events = append(w.events, e)
	w.mu.Unlock()
	select {
	case w.changed <- struct{}{}:
	default:
	}
}

// waitFor waits until the events end with want, and clears them.
func (w *watcher) waitFor(t *testing.T, want ...string) {
	t.Helper()
	w.wait(t, false, want)
}

// waitForSet is waitFor ignoring order: imapclient may run unilateral
// FETCH handlers out of the order they arrived in.
func (w *watcher) waitForSet(t *testing.T, want ...string) {
	t.Helper()
	w.wait(t, true, want)
}

func (w *watcher) wait(t *testing.T, anyOrder bool, want []string) {
	t.Helper()
	if anyOrder {
		want = slices.Clone(want)
		slices.Sort(want)
	}
	deadline := time.After(10 * time.Second)
	for {
		w.mu.Lock()
		got := slices.Clone(w.events)
		w.mu.Unlock()
		tail := got[max(0, len(got)-len(want)):]
		if anyOrder {
			tail = slices.Clone(tail)
			slices.Sort(tail)
		}
		if slices.Equal(tail, want) {
			w.mu.Lock()
			w.events = nil
			w.mu.Unlock()
			return
		}
		select {
		case <-w.changed:
		case <-deadline:
			t.Fatalf("events %q, want them to end with %q", got, want)
		}
	}
}

func TestLiveUpdatesOnNoop(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	a := ts.client(t, "alice@example.test", nil)
	w, opts := newWatcher()
	b := ts.client(t, "alice@example.test", opts)
	for range 5 {
		appendMsg(t, a, "INBOX", "Subject: x\r\n\r\nx\r\n", nil)
	}
	a.Select("INBOX", nil).Wait()
	if sel, err := b.Select("INBOX", nil).Wait(); err != nil || sel.NumMessages != 5 {
		t.Fatalf("SELECT = %+v, %v", sel, err)
	}

	appendMsg(t, a, "INBOX", "Subject: y\r\n\r\ny\r\n", nil)
	b.Noop().Wait()
	w.waitFor(t, "EXISTS 6")

	a.Store(imap.SeqSetNum(3), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagSeen}}, nil).Close()
	b.Noop().Wait()
	w.waitFor(t, `FETCH 3 (\Seen)`)

	// Expunge UIDs 2 and 4: the other session hears EXPUNGE 2 then 3
	// (the second message's number after the first went).
	a.Store(imap.UIDSetNum(2, 4), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close()
	b.Noop().Wait()
	w.waitForSet(t, `FETCH 2 (\Deleted)`, `FETCH 4 (\Deleted)`)
	if _, err := a.Expunge().Collect(); err != nil {
		t.Fatal(err)
	}
	b.Noop().Wait()
	w.waitFor(t, "EXPUNGE 2", "EXPUNGE 3")
	msgs, err := b.Fetch(imap.SeqSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{UID: true}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	var uids []imap.UID
	for _, m := range msgs {
		uids = append(uids, m.UID)
	}
	if !slices.Equal(uids, []imap.UID{1, 3, 5, 6}) {
		t.Fatalf("B's view after expunges: %v", uids)
	}
}

func TestIdleSeesDeliveries(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	w, opts := newWatcher()
	b := ts.client(t, "alice@example.test", opts)
	if _, err := b.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}

	// A change that lands after SELECT but before IDLE is announced as
	// soon as IDLE starts.
	ctx := context.Background()
	in, _ := ts.st.MailboxByName(ctx, "alice@example.test", "INBOX")
	if _, err := ts.st.Deliver(ctx, []byte("Subject: early\r\n\r\n"), []store.Delivery{{Mailbox: in.ID}}); err != nil {
		t.Fatal(err)
	}
	idle, err := b.Idle()
	if err != nil {
		t.Fatal(err)
	}
	w.waitFor(t, "EXISTS 1")

	// Delivery through the store, as SMTP does it, reaches the IDLE
	// session; so do another session's changes.
	if _, err := ts.st.Deliver(ctx, []byte("Subject: smtp\r\n\r\n"), []store.Delivery{{Mailbox: in.ID}}); err != nil {
		t.Fatal(err)
	}
	w.waitFor(t, "EXISTS 2")
	a := ts.client(t, "alice@example.test", nil)
	a.Select("INBOX", nil).Wait()
	a.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagFlagged}}, nil).Close()
	w.waitFor(t, `FETCH 1 (\Flagged)`)
	a.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close()
	w.waitFor(t, `FETCH 1 (\Deleted \Flagged)`)
	a.Expunge().Collect()
	w.waitFor(t, "EXPUNGE 1")
	if err := idle.Close(); err != nil {
		t.Fatal(err)
	}
	if err := idle.Wait(); err != nil {
		t.Fatal(err)
	}
	if b.Mailbox().NumMessages != 1 {
		t.Fatalf("after IDLE B counts %d messages", b.Mailbox().NumMessages)
	}
}

func TestOwnStoreNotEchoed(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	w, opts := newWatcher()
	a := ts.client(t, "alice@example.test", opts)
	appendMsg(t, a, "INBOX", "Subject: x\r\n\r\nx\r\n", nil)
	a.Select("INBOX", nil).Wait()
	msgs, _ := a.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagSeen}}, nil).Collect()
	if len(msgs) != 1 {
		t.Fatalf("STORE answered %d messages", len(msgs))
	}
	a.Noop().Wait()
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.events) != 0 {
		t.Fatalf("the session that stored got unilateral %q", w.events)
	}
}
