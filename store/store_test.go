package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"
)

func openTest(t *testing.T, opts Options) *Store {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	s, err := Open(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func mustMailbox(t *testing.T, s *Store, account, name string) *Mailbox {
	t.Helper()
	m, err := s.MailboxByName(context.Background(), account, name)
	if err != nil {
		t.Fatalf("mailbox %q: %v", name, err)
	}
	return m
}

func names(ms []*Mailbox) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Name)
	}
	return out
}

func TestEnsureAccountCreatesSpecialUse(t *testing.T) {
	t.Parallel()
	s := openTest(t, Options{})
	ctx := context.Background()
	for range 2 { // idempotent
		if err := s.EnsureAccount(ctx, "alice@example.test", true); err != nil {
			t.Fatal(err)
		}
	}
	ms, err := s.Mailboxes(ctx, "Alice@EXAMPLE.test") // account keys fold case
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"Archive", "Drafts", "INBOX", "Junk", "Sent", "Trash"}
	if got := names(ms); !slices.Equal(got, want) {
		t.Fatalf("mailboxes = %v, want %v", got, want)
	}
	if m := mustMailbox(t, s, "alice@example.test", "Sent"); m.SpecialUse != SpecialSent {
		t.Errorf("Sent special use = %q", m.SpecialUse)
	}
	// A team account that cannot log in gets only INBOX.
	if err := s.EnsureAccount(ctx, "info@example.test", false); err != nil {
		t.Fatal(err)
	}
	ms, _ = s.Mailboxes(ctx, "info@example.test")
	if got := names(ms); !slices.Equal(got, []string{"INBOX"}) {
		t.Fatalf("team mailboxes = %v", got)
	}
}

func TestMailboxTree(t *testing.T) {
	t.Parallel()
	s := openTest(t, Options{})
	ctx := context.Background()
	const a = "alice@example.test"
	if err := s.EnsureAccount(ctx, a, false); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name string
		do   func() error
		want error
	}{
		{"create nested makes superiors", func() error { _, err := s.CreateMailbox(ctx, a, "Work/2026/Q1", CreateOptions{}); return err }, nil},
		{"create existing", func() error { _, err := s.CreateMailbox(ctx, a, "Work", CreateOptions{}); return err }, ErrExists},
		{"create inbox any case", func() error { _, err := s.CreateMailbox(ctx, a, "inbox", CreateOptions{}); return err }, ErrExists},
		{"create trailing delimiter", func() error { _, err := s.CreateMailbox(ctx, a, "Lists/", CreateOptions{}); return err }, nil},
		{"create empty level", func() error { _, err := s.CreateMailbox(ctx, a, "a//b", CreateOptions{}); return err }, ErrBadName},
		{"create under inbox", func() error { _, err := s.CreateMailbox(ctx, a, "inbox/sub", CreateOptions{}); return err }, nil},
		{"delete inbox", func() error { return s.DeleteMailbox(ctx, a, "INBOX") }, ErrInboxDelete},
		{"delete with children", func() error { return s.DeleteMailbox(ctx, a, "Work") }, ErrHasChildren},
		{"delete missing", func() error { return s.DeleteMailbox(ctx, a, "Nope") }, ErrNoMailbox},
		{"rename into itself", func() error { return s.RenameMailbox(ctx, a, "Work", "Work/x") }, ErrRenameInside},
		{"rename onto existing", func() error { return s.RenameMailbox(ctx, a, "Work", "Lists") }, ErrExists},
		{"rename with children", func() error { return s.RenameMailbox(ctx, a, "Work", "Old/Work") }, nil},
		{"rename missing", func() error { return s.RenameMailbox(ctx, a, "Work", "X") }, ErrNoMailbox},
		{"delete leaf", func() error { return s.DeleteMailbox(ctx, a, "Old/Work/2026/Q1") }, nil},
		{"too many", func() error {
			_, err := s.CreateMailbox(ctx, a, "x/y/z", CreateOptions{MaxMailboxes: 8})
			return err
		}, ErrTooMany},
	}
	for _, st := range steps {
		if err := st.do(); !errors.Is(err, st.want) {
			t.Fatalf("%s: err = %v, want %v", st.name, err, st.want)
		}
	}
	ms, _ := s.Mailboxes(ctx, a)
	want := []string{"INBOX", "INBOX/sub", "Lists", "Old", "Old/Work", "Old/Work/2026"}
	if got := names(ms); !slices.Equal(got, want) {
		t.Fatalf("mailboxes = %v, want %v", got, want)
	}
}

func TestRenameInboxMovesMessages(t *testing.T) {
	t.Parallel()
	s := openTest(t, Options{})
	ctx := context.Background()
	const a = "alice@example.test"
	s.EnsureAccount(ctx, a, false)
	s.CreateMailbox(ctx, a, "INBOX/child", CreateOptions{})
	in := mustMailbox(t, s, a, "INBOX")
	if _, err := s.Append(ctx, in.ID, []byte("Subject: hi\r\n\r\nbody\r\n"), NewMessage{}, 0); err != nil {
		t.Fatal(err)
	}
	if err := s.RenameMailbox(ctx, a, "INBOX", "Saved"); err != nil {
		t.Fatal(err)
	}
	saved := mustMailbox(t, s, a, "Saved")
	newIn := mustMailbox(t, s, a, "INBOX")
	if saved.Messages != 1 || newIn.Messages != 0 || newIn.UIDValidity == saved.UIDValidity {
		t.Fatalf("saved=%+v inbox=%+v", saved, newIn)
	}
	mustMailbox(t, s, a, "INBOX/child") // inferiors of INBOX stay
}

func TestSubscriptions(t *testing.T) {
	t.Parallel()
	s := openTest(t, Options{})
	ctx := context.Background()
	const a = "alice@example.test"
	s.EnsureAccount(ctx, a, false)
	s.CreateMailbox(ctx, a, "Work/Sub", CreateOptions{})
	for _, n := range []string{"Work", "Work/Sub", "Ghost"} {
		if err := s.Subscribe(ctx, a, n); err != nil {
			t.Fatal(err)
		}
	}
	s.Unsubscribe(ctx, a, "Ghost")
	if err := s.RenameMailbox(ctx, a, "Work", "Job"); err != nil {
		t.Fatal(err)
	}
	subs, _ := s.Subscriptions(ctx, a)
	if !slices.Equal(subs, []string{"Job", "Job/Sub"}) {
		t.Fatalf("subscriptions = %v", subs)
	}
}

func TestMessagesLifecycle(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var changes []Change
	s := openTest(t, Options{OnChange: func(c Change) { mu.Lock(); changes = append(changes, c); mu.Unlock() }})
	ctx := context.Background()
	const a = "alice@example.test"
	s.EnsureAccount(ctx, a, true)
	in := mustMailbox(t, s, a, "INBOX")
	arch := mustMailbox(t, s, a, "Archive")
	date := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	body := []byte("From: bob@example.test\r\nSubject: one\r\n\r\nhello\r\n")
	d, err := s.Append(ctx, in.ID, body, NewMessage{Flags: ParseFlags([]string{`\Flagged`, "$Work"}), InternalDate: date, Prefix: []byte("Delivered-To: alice@example.test\r\n")}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if d.UID != 1 || d.UIDValidity != in.UIDValidity {
		t.Fatalf("delivered = %+v", d)
	}
	s.Append(ctx, in.ID, []byte("Subject: two\r\n\r\n2\r\n"), NewMessage{Flags: ParseFlags([]string{`\Seen`})}, 0)

	in = mustMailbox(t, s, a, "INBOX")
	if in.Messages != 2 || in.Unseen != 1 || in.UIDNext != 3 {
		t.Fatalf("inbox = %+v", in)
	}
	msg, err := s.Message(ctx, in.ID, 1)
	if err != nil {
		t.Fatal(err)
	}
	if !msg.InternalDate.Equal(date) || !slices.Equal(msg.Flags.Names(), []string{`\Flagged`, "$Work"}) {
		t.Fatalf("message = %+v", msg)
	}
	content, _ := s.Content(ctx, msg)
	if want := "Delivered-To: alice@example.test\r\n" + string(body); string(content) != want || msg.Size != int64(len(want)) {
		t.Fatalf("content = %q size %d", content, msg.Size)
	}

	// Flags: add \Seen to 1, remove $Work; modseq rises, unseen falls.
	ch, err := s.StoreFlags(ctx, in.ID, []UID{1, 99}, FlagsAdd, ParseFlags([]string{`\Seen`}), nil)
	if err != nil || len(ch) != 1 || ch[0].ModSeq <= msg.ModSeq {
		t.Fatalf("store flags = %+v, %v", ch, err)
	}
	s.StoreFlags(ctx, in.ID, []UID{1}, FlagsRemove, ParseFlags([]string{"$Work"}), nil)
	if in = mustMailbox(t, s, a, "INBOX"); in.Unseen != 0 {
		t.Fatalf("unseen = %d", in.Unseen)
	}

	// Copy shares the body; move expunges the source.
	cp, err := s.Copy(ctx, in.ID, []UID{1, 2}, arch.ID, 0)
	if err != nil || !slices.Equal(cp.Dest, []UID{1, 2}) {
		t.Fatalf("copy = %+v, %v", cp, err)
	}
	st, _ := s.Stats(ctx)
	if st.Messages != 4 || st.Bodies != 2 {
		t.Fatalf("stats after copy = %+v", st)
	}
	mv, err := s.Move(ctx, arch.ID, []UID{2}, in.ID, 0)
	if err != nil || !slices.Equal(mv.Dest, []UID{3}) {
		t.Fatalf("move = %+v, %v", mv, err)
	}

	// Expunge only \Deleted messages, and only those asked for.
	s.StoreFlags(ctx, in.ID, []UID{1, 2, 3}, FlagsAdd, ParseFlags([]string{`\Deleted`}), nil)
	gone, err := s.Expunge(ctx, in.ID, []UID{2, 3})
	if err != nil || !slices.Equal(gone, []UID{2, 3}) {
		t.Fatalf("uid expunge = %v, %v", gone, err)
	}
	gone, _ = s.Expunge(ctx, in.ID, nil)
	if !slices.Equal(gone, []UID{1}) {
		t.Fatalf("expunge = %v", gone)
	}
	s.StoreFlags(ctx, arch.ID, []UID{1}, FlagsAdd, ParseFlags([]string{`\Deleted`}), nil)
	s.Expunge(ctx, arch.ID, nil)
	st, _ = s.Stats(ctx)
	if st.Messages != 0 || st.Bodies != 0 || st.BodyBytes != 0 || st.LogicalBytes != 0 {
		t.Fatalf("stats after expunging all = %+v", st)
	}
	if u, _ := s.Usage(ctx, a); u != 0 {
		t.Fatalf("usage = %d", u)
	}

	mu.Lock()
	defer mu.Unlock()
	var kinds []ChangeKind
	for _, c := range changes {
		if c.Mailbox == in.ID {
			kinds = append(kinds, c.Kind)
		}
	}
	want := []ChangeKind{ChangeAppend, ChangeAppend, ChangeFlags, ChangeFlags, ChangeAppend, ChangeFlags, ChangeExpunge, ChangeExpunge}
	if !slices.Equal(kinds, want) {
		t.Fatalf("INBOX changes = %v, want %v", kinds, want)
	}
}

func TestDeliverManyOneBody(t *testing.T) {
	t.Parallel()
	s := openTest(t, Options{})
	ctx := context.Background()
	var ds []Delivery
	for i := range 50 {
		a := fmt.Sprintf("user%d@example.test", i)
		s.EnsureAccount(ctx, a, false)
		ds = append(ds, Delivery{Mailbox: mustMailbox(t, s, a, "INBOX").ID, NewMessage: NewMessage{Prefix: []byte("Delivered-To: " + a + "\r\n")}})
	}
	body := bytes.Repeat([]byte("list post line\r\n"), 1000)
	if _, err := s.Deliver(ctx, body, ds); err != nil {
		t.Fatal(err)
	}
	st, _ := s.Stats(ctx)
	if st.Messages != 50 || st.Bodies != 1 || st.BodyBytes != int64(len(body)) || st.LogicalBytes <= 50*int64(len(body)) {
		t.Fatalf("stats = %+v", st)
	}
}

func TestQuota(t *testing.T) {
	t.Parallel()
	s := openTest(t, Options{})
	ctx := context.Background()
	s.EnsureAccount(ctx, "a@example.test", false)
	in := mustMailbox(t, s, "a@example.test", "INBOX")
	body := bytes.Repeat([]byte("x"), 600)
	if _, err := s.Append(ctx, in.ID, body, NewMessage{}, 1000); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, in.ID, body, NewMessage{}, 1000); !errors.Is(err, ErrOverQuota) {
		t.Fatalf("second append: %v, want ErrOverQuota", err)
	}
	if in = mustMailbox(t, s, "a@example.test", "INBOX"); in.Messages != 1 {
		t.Fatalf("messages = %d", in.Messages)
	}
}

func TestDeleteMailboxPurges(t *testing.T) {
	t.Parallel()
	s := openTest(t, Options{})
	ctx := context.Background()
	const a = "a@example.test"
	s.EnsureAccount(ctx, a, false)
	m, _ := s.CreateMailbox(ctx, a, "Big", CreateOptions{})
	for i := range 2*purgeBatch + 5 {
		if _, err := s.Append(ctx, m.ID, fmt.Appendf(nil, "Subject: %d\r\n\r\n", i), NewMessage{}, 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DeleteMailbox(ctx, a, "Big"); err != nil {
		t.Fatal(err)
	}
	st, _ := s.Stats(ctx)
	if st.Mailboxes != 1 || st.Messages != 0 || st.Bodies != 0 {
		t.Fatalf("stats = %+v", st)
	}
	// The name is free again, with a new UIDVALIDITY.
	m2, err := s.CreateMailbox(ctx, a, "Big", CreateOptions{})
	if err != nil || m2.UIDValidity == m.UIDValidity {
		t.Fatalf("recreate = %+v, %v", m2, err)
	}
}

func TestConcurrentAppendsKeepOrder(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var seen []UID
	s := openTest(t, Options{OnChange: func(c Change) {
		mu.Lock()
		defer mu.Unlock()
		for _, m := range c.Messages {
			seen = append(seen, m.UID)
		}
	}})
	ctx := context.Background()
	s.EnsureAccount(ctx, "a@example.test", false)
	in := mustMailbox(t, s, "a@example.test", "INBOX")
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 20 {
				if _, err := s.Append(ctx, in.ID, fmt.Appendf(nil, "g%d i%d", g, i), NewMessage{}, 0); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 160 || !slices.IsSorted(seen) {
		t.Fatalf("published %d UIDs, sorted=%v", len(seen), slices.IsSorted(seen))
	}
}

func TestSecondOpenIsRefused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	openTest(t, Options{Dir: dir})
	_, err := Open(context.Background(), Options{Dir: dir})
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second open: %v, want ErrLocked", err)
	}
}

func TestNormalizeName(t *testing.T) {
	for in, want := range map[string]string{
		"inbox": "INBOX", "InBoX/Sub": "INBOX/Sub", "Work/": "Work", "Inboxes": "Inboxes",
	} {
		if got, err := NormalizeName(in); err != nil || got != want {
			t.Errorf("NormalizeName(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "/", "a//b", "/a", "a\x00b"} {
		if _, err := NormalizeName(bad); err == nil {
			t.Errorf("NormalizeName(%q) succeeded", bad)
		}
	}
}

func TestClosedStoreRefusesWork(t *testing.T) {
	t.Parallel()
	s, err := Open(context.Background(), Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	s.EnsureAccount(ctx, "a@example.test", false)
	in := mustMailbox(t, s, "a@example.test", "INBOX")
	// Close while appends are running: every append either lands or gets
	// ErrClosed, and Close returns only after those in flight finish.
	var wg sync.WaitGroup
	var landed, refused sync.Map
	for g := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				_, err := s.Append(ctx, in.ID, fmt.Appendf(nil, "g%d-%d", g, i), NewMessage{}, 0)
				if errors.Is(err, ErrClosed) {
					refused.Store(g, true)
					return
				}
				if err != nil {
					t.Errorf("append: %v", err)
					return
				}
				landed.Store(fmt.Sprint(g, i), true)
			}
		})
	}
	for n := 0; n < 20; {
		n = 0
		landed.Range(func(_, _ any) bool { n++; return true })
		runtime.Gosched()
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if _, err := s.Stats(ctx); !errors.Is(err, ErrClosed) {
		t.Fatalf("stats after close: %v", err)
	}
	if err := s.Close(); !errors.Is(err, ErrClosed) {
		t.Fatalf("second close: %v", err)
	}
}

func TestAppendBatch(t *testing.T) {
	t.Parallel()
	s := openTest(t, Options{})
	ctx := context.Background()
	s.EnsureAccount(ctx, "a@example.test", false)
	in := mustMailbox(t, s, "a@example.test", "INBOX")
	var bodies [][]byte
	var msgs []NewMessage
	for i := range 1234 {
		bodies = append(bodies, fmt.Appendf(nil, "Subject: %d\r\n\r\nbody %d\r\n", i%100, i%100))
		msgs = append(msgs, NewMessage{})
	}
	if err := s.AppendBatch(ctx, in.ID, bodies, msgs); err != nil {
		t.Fatal(err)
	}
	st, _ := s.Stats(ctx)
	if st.Messages != 1234 || st.Bodies != 100 {
		t.Fatalf("stats = %+v", st)
	}
	if p, err := s.Check(ctx); err != nil || len(p) > 0 {
		t.Fatalf("check: %v %v", p, err)
	}
}

// TestRepair damages a store the ways a bug or a lost write could, and
// checks that Check finds each and Repair fixes them all.
func TestRepair(t *testing.T) {
	t.Parallel()
	s := openTest(t, Options{})
	ctx := context.Background()
	s.EnsureAccount(ctx, "a@example.test", false)
	in := mustMailbox(t, s, "a@example.test", "INBOX")
	for i := range 3 {
		s.Append(ctx, in.ID, fmt.Appendf(nil, "Subject: %d\r\n\r\nx\r\n", i%2), NewMessage{}, 0)
	}
	if p, _ := s.Check(ctx); len(p) != 0 {
		t.Fatalf("fresh store: %v", p)
	}
	// Damage: wrong counters, wrong usage, a wrong reference count, an
	// orphan body with its count, a body without a count.
	s.update(ctx, nil, func(tx *txn) error {
		m, _ := getMailbox(tx.Txn, in.ID)
		m.Messages, m.Unseen = 7, 0
		tx.putMailbox(m)
		tx.Set(usageKey("a@example.test"), binary.BigEndian.AppendUint64(nil, 1))
		msg, _ := getMessage(tx.Txn, in.ID, 1)
		r, _, _ := getRef(tx.Txn, msg.Body)
		r.count = 9
		tx.putRef(msg.Body, r)
		orphan := []byte("orphan")
		tx.refContent(sha256.Sum256(orphan), orphan, 1, false)
		tx.Set(bodyKey(BodyID(9999)), []byte{bodyRaw, 'x'})
		return nil
	})
	found, err := s.Check(ctx)
	if err != nil || len(found) != 5 {
		t.Fatalf("check found %d problems: %q %v", len(found), found, err)
	}
	if _, err := s.Repair(ctx); err != nil {
		t.Fatal(err)
	}
	if p, err := s.Check(ctx); err != nil || len(p) != 0 {
		t.Fatalf("after repair: %q %v", p, err)
	}
	if m := mustMailbox(t, s, "a@example.test", "INBOX"); m.Messages != 3 || m.Unseen != 3 {
		t.Fatalf("counters after repair: %+v", m)
	}
	// Every message still reads back.
	s.Messages(ctx, in.ID, 1, 0, func(m *Message) error {
		if _, err := s.Content(ctx, m); err != nil {
			t.Errorf("message %d: %v", m.UID, err)
		}
		return nil
	})
}

// TestSamePostInSeparateTransactions: a list server sends each of 50
// members its own copy; they share one stored body.
func TestSamePostInSeparateTransactions(t *testing.T) {
	t.Parallel()
	s := openTest(t, Options{})
	ctx := context.Background()
	post := bytes.Repeat([]byte("list post\r\n"), 2000)
	for i := range 50 {
		a := fmt.Sprintf("member%d@example.test", i)
		in, err := s.Inbox(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Deliver(ctx, post, []Delivery{{Mailbox: in.ID, NewMessage: NewMessage{Prefix: []byte("Delivered-To: " + a + "\r\n")}}}); err != nil {
			t.Fatal(err)
		}
	}
	st, _ := s.Stats(ctx)
	if st.Messages != 50 || st.Bodies != 1 || st.BodyBytes != int64(len(post)) {
		t.Fatalf("stats = %+v", st)
	}
}

// TestCopyMoveLarge: COPY and MOVE of more messages than one transaction
// holds, and a COPY that fails part-way (the quota runs out) leaves the
// destination as it was.
func TestCopyMoveLarge(t *testing.T) {
	t.Parallel()
	s := openTest(t, Options{})
	ctx := context.Background()
	in, _ := s.Inbox(ctx, "a@example.test")
	arch, _ := s.CreateMailbox(ctx, "a@example.test", "Archive", CreateOptions{})
	trash, _ := s.CreateMailbox(ctx, "a@example.test", "Trash", CreateOptions{})
	const n = 5*copyChunk + 17
	var bodies [][]byte
	var msgs []NewMessage
	for i := range n {
		bodies = append(bodies, fmt.Appendf(nil, "Subject: %d\r\n\r\nx\r\n", i))
		msgs = append(msgs, NewMessage{})
	}
	if err := s.AppendBatch(ctx, in.ID, bodies, msgs); err != nil {
		t.Fatal(err)
	}
	uids, _ := s.UIDs(ctx, in.ID)
	cp, err := s.Copy(ctx, in.ID, uids, arch.ID, 0)
	if err != nil || len(cp.Dest) != n {
		t.Fatalf("copy: %d, %v", len(cp.Dest), err)
	}
	mv, err := s.Move(ctx, arch.ID, cp.Dest, trash.ID, 0)
	if err != nil || len(mv.Dest) != n {
		t.Fatalf("move: %v", err)
	}
	if m, _ := s.Mailbox(ctx, arch.ID); m.Messages != 0 {
		t.Fatalf("archive after move: %d", m.Messages)
	}
	// A quota that holds about three chunks: the copy fails and is undone.
	used, _ := s.Usage(ctx, "a@example.test")
	per := used / int64(2*n)
	before, _ := s.Mailbox(ctx, arch.ID)
	if _, err := s.Copy(ctx, in.ID, uids, arch.ID, used+per*int64(3*copyChunk)); !errors.Is(err, ErrOverQuota) {
		t.Fatalf("copy over quota: %v", err)
	}
	after, _ := s.Mailbox(ctx, arch.ID)
	if after.Messages != before.Messages || after.Size != before.Size {
		t.Fatalf("failed copy left %d messages (had %d)", after.Messages, before.Messages)
	}
	if p, err := s.Check(ctx); err != nil || len(p) > 0 {
		t.Fatalf("check: %v %v", p, err)
	}
}

// TestStoreFlagsIf: UNCHANGEDSINCE changes only messages not modified
// since, in the same transaction, and names the others.
func TestStoreFlagsIf(t *testing.T) {
	s := openTest(t, Options{})
	ctx := context.Background()
	s.EnsureAccount(ctx, "a@example.test", false)
	box, _ := s.Inbox(ctx, "a@example.test")
	for range 3 {
		if _, err := s.Append(ctx, box.ID, []byte("Subject: x\r\n\r\n"), NewMessage{}, 0); err != nil {
			t.Fatal(err)
		}
	}
	// The client saw everything up to message 3's append; then message 2
	// changes.
	m3, _ := s.Message(ctx, box.ID, 3)
	since := m3.ModSeq
	if _, err := s.StoreFlags(ctx, box.ID, []UID{2}, FlagsAdd, ParseFlags([]string{"$x"}), nil); err != nil {
		t.Fatal(err)
	}
	changed, modified, err := s.StoreFlagsIf(ctx, box.ID, []UID{1, 2, 3}, FlagsAdd, ParseFlags([]string{`\Seen`}), nil, &since)
	if err != nil || len(changed) != 2 || len(modified) != 1 || modified[0] != 2 {
		t.Fatalf("changed %v modified %v err %v", changed, modified, err)
	}
	if m, _ := s.Message(ctx, box.ID, 2); m.Flags.Has(`\Seen`) {
		t.Fatal("a message modified since was changed")
	}
}

// TestBodyInfo: data kept with a body is read back, goes when the body
// goes, is not written for a body already gone, and fsck finds it clean.
func TestBodyInfo(t *testing.T) {
	s := openTest(t, Options{})
	ctx := context.Background()
	s.EnsureAccount(ctx, "a@example.test", false)
	box, _ := s.Inbox(ctx, "a@example.test")
	if _, err := s.Append(ctx, box.ID, []byte("Subject: x\r\n\r\nbody\r\n"), NewMessage{}, 0); err != nil {
		t.Fatal(err)
	}
	m, _ := s.Message(ctx, box.ID, 1)
	if err := s.SetBodyInfo(ctx, 'e', map[BodyID][]byte{m.Body: []byte("envelope")}); err != nil {
		t.Fatal(err)
	}
	got, err := s.BodyInfo(ctx, []BodyID{m.Body, m.Body + 100}, 'e')
	if err != nil || string(got[m.Body]) != "envelope" || len(got) != 1 {
		t.Fatalf("BodyInfo = %v, %v", got, err)
	}
	if problems, err := s.Check(ctx); err != nil || len(problems) != 0 {
		t.Fatalf("Check: %v %v", problems, err)
	}
	s.StoreFlags(ctx, box.ID, []UID{1}, FlagsAdd, Flags{Sys: FlagDeleted}, nil)
	if _, err := s.Expunge(ctx, box.ID, nil); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.BodyInfo(ctx, []BodyID{m.Body}, 'e'); len(got) != 0 {
		t.Fatalf("info outlived its body: %v", got)
	}
	if err := s.SetBodyInfo(ctx, 'e', map[BodyID][]byte{m.Body: []byte("late")}); err != nil {
		t.Fatal(err)
	}
	if problems, err := s.Check(ctx); err != nil || len(problems) != 0 {
		t.Fatalf("Check after expunge: %v %v", problems, err)
	}
}

// TestBodyInfoRacesDeletion: info written while its body is being
// deleted never outlives the body (one of the two transactions retries).
func TestBodyInfoRacesDeletion(t *testing.T) {
	s := openTest(t, Options{})
	ctx := context.Background()
	s.EnsureAccount(ctx, "a@example.test", false)
	box, _ := s.Inbox(ctx, "a@example.test")
	for i := range 200 {
		if _, err := s.Append(ctx, box.ID, fmt.Appendf(nil, "Subject: %d\r\n\r\nx\r\n", i), NewMessage{Flags: Flags{Sys: FlagDeleted}}, 0); err != nil {
			t.Fatal(err)
		}
		m, err := s.Message(ctx, box.ID, UID(i+1))
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- s.SetBodyInfo(ctx, 'e', map[BodyID][]byte{m.Body: []byte("env")}) }()
		if _, err := s.Expunge(ctx, box.ID, nil); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if problems, err := s.Check(ctx); err != nil || len(problems) != 0 {
		t.Fatalf("Check: %v %v", problems, err)
	}
}

// TestDeliverManyMailboxes: a delivery to more mailboxes than one Badger
// transaction holds (6,000; about 2,500 fit with 8 MiB memtables) reaches
// every mailbox, with the body stored once.
func TestDeliverManyMailboxes(t *testing.T) {
	t.Parallel()
	s := openTest(t, Options{})
	ctx := context.Background()
	const n = 6000
	var ds []Delivery
	for i := range n {
		in, err := s.Inbox(ctx, fmt.Sprintf("u%d@example.test", i))
		if err != nil {
			t.Fatal(err)
		}
		ds = append(ds, Delivery{Mailbox: in.ID, NewMessage: NewMessage{Prefix: fmt.Appendf(nil, "Delivered-To: u%d@example.test\r\n", i)}})
	}
	got, err := s.Deliver(ctx, []byte("Subject: to everyone\r\n\r\nhello\r\n"), ds)
	if err != nil || len(got) != n {
		t.Fatalf("Deliver to %d mailboxes: %d delivered, %v", n, len(got), err)
	}
	for i, d := range got {
		if d.Mailbox != ds[i].Mailbox || d.UID != 1 {
			t.Fatalf("delivery %d: %+v, want mailbox %d UID 1", i, d, ds[i].Mailbox)
		}
	}
	if m, _ := s.Mailbox(ctx, ds[n-1].Mailbox); m.Messages != 1 {
		t.Fatalf("last mailbox holds %d messages", m.Messages)
	}
	if st, _ := s.Stats(ctx); st.Bodies != 1 {
		t.Fatalf("%d bodies stored, want 1", st.Bodies)
	}
	if p, err := s.Check(ctx); err != nil || len(p) > 0 {
		t.Fatalf("check: %q %v", p, err)
	}
}
