package fts

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"mailroom/store"
)

// newIndexer opens a store (closed with the test) and an index in dir,
// the store's changes noted by the Indexer it returns, not yet running.
func newIndexer(t *testing.T, dir string) (*store.Store, *Index, *Indexer) {
	t.Helper()
	var ix *Indexer
	st, err := store.Open(context.Background(), store.Options{Dir: filepath.Join(dir, "data"), OnChange: func(c store.Change) {
		if ix != nil {
			ix.Note(c)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	idx, err := Open(filepath.Join(dir, "fts"))
	if err != nil {
		t.Fatal(err)
	}
	ix = NewIndexer(idx, st, slog.New(slog.NewTextHandler(io.Discard, nil)))
	return st, idx, ix
}

// TestIndexer: messages are indexed from the store's changes in the
// background; words and word starts are found per mailbox; expunged
// messages and deleted mailboxes leave the index; the watermark tells how
// far it is complete; a reopened index keeps it all.
func TestIndexer(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, idx, ix := newIndexer(t, dir)
	indexed := make(chan struct{}, 100)
	ix.OnIndexed = func() { indexed <- struct{}{} }
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { ix.Run(runCtx); close(done) }()

	st.EnsureAccount(ctx, "a@example.test", true)
	in, _ := st.Inbox(ctx, "a@example.test")
	arch, _ := st.MailboxByName(ctx, "a@example.test", "Archive")
	for _, m := range []string{
		"Subject: Quarterly budget\r\n\r\nThe xylophone arrives Monday.\r\n",
		"Subject: =?utf-8?q?R=C3=A9union?=\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nCaf=E9 au lait\r\n",
		"Subject: lunch\r\n\r\nnothing here\r\n",
		"Subject: pi\r\n\r\nIt is 3.14, don't round; e-mail me.\r\n",
	} {
		if _, err := st.Append(ctx, in.ID, []byte(m), store.NewMessage{}, 0); err != nil {
			t.Fatal(err)
		}
	}
	st.Append(ctx, arch.ID, []byte("Subject: budget too\r\n\r\nxylophone\r\n"), store.NewMessage{}, 0)
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.After(10 * time.Second)
		for !cond() {
			select {
			case <-indexed:
			case <-deadline:
				t.Fatalf("timed out waiting for %s", what)
			}
		}
	}
	wm := func(id store.MailboxID) store.UID { u, _ := idx.Watermark(id); return u }
	waitFor("INBOX indexed", func() bool { return wm(in.ID) == 4 && wm(arch.ID) == 1 })

	for _, tc := range []struct {
		words string
		want  []store.UID
	}{
		{"xylophone", []store.UID{1}},
		{"XYLO", []store.UID{1}},          // the start of a word
		{"ylophone", nil},                 // inside a word: not found
		{"café", []store.UID{2}},          // decoded from quoted-printable Latin-1
		{"réunion", []store.UID{2}},       // from the encoded subject
		{"budget monday", []store.UID{1}}, // every word
		{"budget lunch", nil},
		{"14", []store.UID{4}},      // split as a query is: "3.14" is 3 and 14
		{"3.14", []store.UID{4}},    // the query split the same way
		{"t round", []store.UID{4}}, // "don't"
		{"mail me", []store.UID{4}}, // "e-mail"
	} {
		got, _, ok, err := idx.Candidates(ctx, in.ID, Words(tc.words))
		slices.Sort(got)
		if err != nil || !ok || !slices.Equal(got, tc.want) {
			t.Errorf("Candidates(%q) = %v %v %v, want %v", tc.words, got, ok, err, tc.want)
		}
	}
	if _, _, ok, _ := idx.Candidates(ctx, in.ID, Words("!!")); ok {
		t.Error("no words should not be a lookup")
	}

	// Expunge and mailbox deletion leave the index.
	st.StoreFlags(ctx, in.ID, []store.UID{1}, store.FlagsAdd, store.Flags{Sys: store.FlagDeleted}, nil)
	st.Expunge(ctx, in.ID, nil)
	st.DeleteMailbox(ctx, "a@example.test", "Archive")
	waitFor("removals", func() bool {
		a, _, _, _ := idx.Candidates(ctx, in.ID, Words("xylophone"))
		b, _, _, _ := idx.Candidates(ctx, arch.ID, Words("xylophone"))
		return len(a) == 0 && len(b) == 0 && wm(arch.ID) == 0
	})
	stop()
	<-done

	// Reopened, the index has what it had.
	idx.Close()
	idx, err := Open(filepath.Join(dir, "fts"))
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	if got, wmk, ok, _ := idx.Candidates(ctx, in.ID, Words("café")); !ok || wmk != 4 || !slices.Equal(got, []store.UID{2}) {
		t.Errorf("after reopening: %v %d %v", got, wmk, ok)
	}
}

// TestOldIndexRebuilt: an index made another way (no or another version)
// is deleted at Open, so the indexer builds it again from the store.
func TestOldIndexRebuilt(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "fts")
	idx, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	b := idx.idx.NewBatch()
	b.SetInternal(watermarkKey(1), []byte("7"))
	b.DeleteInternal(versionKey)
	if err := idx.idx.Batch(b); err != nil {
		t.Fatal(err)
	}
	if wm, _ := idx.Watermark(1); wm != 7 {
		t.Fatalf("watermark %d", wm)
	}
	idx.Close()
	idx, err = Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	if wm, err := idx.Watermark(1); err != nil || wm != 0 {
		t.Fatalf("after reopening an index of another version: watermark %d, %v", wm, err)
	}
}

// TestIndexerBatchText: a batch stops once it holds batchText bytes of
// text, so large messages are indexed a few at a time (bleve holds a
// batch's analysed words in memory) and all of them in the end.
func TestIndexerBatchText(t *testing.T) {
	ctx := context.Background()
	st, idx, ix := newIndexer(t, t.TempDir())
	defer idx.Close()
	in, _ := st.Inbox(ctx, "a@example.test")
	ix.Settle = 0
	batches := make(chan struct{}, 100)
	ix.OnIndexed = func() { batches <- struct{}{} }

	// Four messages of 3/4 of batchText each, stored before the indexer
	// runs: two batches of two.
	var bodies [][]byte
	for i := range 4 {
		text := strings.Repeat(fmt.Sprintf("word%d ", i), batchText*3/4/6)
		bodies = append(bodies, []byte("Subject: big\r\n\r\n"+text+"\r\n"))
	}
	if err := st.AppendBatch(ctx, in.ID, bodies, make([]store.NewMessage, len(bodies))); err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	go ix.Run(runCtx)
	n := 0
	deadline := time.After(30 * time.Second)
	for {
		if u, _ := idx.Watermark(in.ID); u == 4 {
			break
		}
		select {
		case <-batches:
			n++
		case <-deadline:
			t.Fatal("not indexed")
		}
	}
	if n < 2 {
		t.Fatalf("four messages of %d KB each indexed in %d batch(es), want two or more", batchText*3/4>>10, n)
	}
	for i := range 4 {
		if got, _, ok, err := idx.Candidates(ctx, in.ID, Words(fmt.Sprintf("word%d", i))); err != nil || !ok || len(got) != 1 {
			t.Errorf("word%d: %v %v %v", i, got, ok, err)
		}
	}
}
