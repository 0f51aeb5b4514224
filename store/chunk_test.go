package store

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"strings"
	"testing"

	"github.com/dgraph-io/badger/v4"
)

// countKeys counts the keys of one kind.
func countKeys(t *testing.T, s *Store, kind byte) int {
	t.Helper()
	n := 0
	err := s.view(func(tx *badger.Txn) error {
		it := tx.NewIterator(badger.IteratorOptions{Prefix: []byte{kind}})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			n++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// noLines is n random bytes without a line break: all header to the
// MIME splitter, so it is stored as one body.
func noLines(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return []byte(base64.StdEncoding.EncodeToString(b)[:n])
}

// allContent reads every message of a mailbox both ways.
func allContent(t *testing.T, s *Store, id MailboxID) [][]byte {
	t.Helper()
	ctx := context.Background()
	var out [][]byte
	err := s.MessagesWithContent(ctx, id, 1, 0, func(m *Message, c []byte) error {
		one, err := s.Content(ctx, m)
		if err != nil {
			return err
		}
		if !bytes.Equal(one, c) {
			t.Errorf("message %d: Content and MessagesWithContent differ", m.UID)
		}
		out = append(out, one)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestLargeBodyChunked: a body larger than a chunk, plain or as a MIME
// part, is stored in chunks that hold the caller's bytes until the commit
// and reads back byte for byte after the caller has reused its buffer;
// the last reference removes every chunk.
func TestLargeBodyChunked(t *testing.T) {
	t.Parallel()
	s := openTest(t, Options{})
	ctx := context.Background()
	a, _ := s.Inbox(ctx, "a@example.test")
	b, _ := s.Inbox(ctx, "b@example.test")
	plain := noLines(3*bodyChunk + 123) // four chunks, the last short
	att := make([]byte, 2*bodyChunk)
	rand.Read(att)
	mime := withAttachment("big", "see attached", att) // a part of 2.7 MiB
	want := [][]byte{bytes.Clone(plain), bytes.Clone(mime)}
	for _, body := range [][]byte{plain, mime} {
		if _, err := s.Deliver(ctx, body, []Delivery{
			{Mailbox: a.ID, NewMessage: NewMessage{Prefix: []byte("Delivered-To: a@example.test\r\n")}},
			{Mailbox: b.ID},
		}); err != nil {
			t.Fatal(err)
		}
		clear(body) // the store must not keep the caller's buffer
	}
	if n := countKeys(t, s, kindChunk); n != 4+3 {
		t.Fatalf("%d chunks stored, want 7", n)
	}
	for i, c := range allContent(t, s, a.ID) {
		if !bytes.Equal(c, append([]byte("Delivered-To: a@example.test\r\n"), want[i]...)) {
			t.Fatalf("a: message %d differs from what was delivered", i+1)
		}
	}
	for i, c := range allContent(t, s, b.ID) {
		if !bytes.Equal(c, want[i]) {
			t.Fatalf("b: message %d differs from what was delivered", i+1)
		}
	}
	st, _ := s.Stats(ctx)
	if st.Bodies != 3 || st.BodyBytes < int64(len(plain)) || st.BodyBytes > int64(len(plain)+len(mime)+1024) {
		t.Fatalf("stats = %+v", st)
	}
	if p, err := s.Check(ctx); err != nil || len(p) > 0 {
		t.Fatalf("check: %q %v", p, err)
	}
	for _, m := range []MailboxID{a.ID, b.ID} {
		uids, _ := s.UIDs(ctx, m)
		if _, err := s.StoreFlags(ctx, m, uids, FlagsAdd, Flags{Sys: FlagDeleted}, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Expunge(ctx, m, nil); err != nil {
			t.Fatal(err)
		}
	}
	if n := countKeys(t, s, kindChunk); n != 0 {
		t.Fatalf("%d chunks left after the last reference went", n)
	}
	if n := countKeys(t, s, kindBody); n != 0 {
		t.Fatalf("%d bodies left after the last reference went", n)
	}
}

// TestLargeRawBodyReadable: a large body written whole, as stores did
// before bodies were chunked, still reads back, checks clean and is
// removed by its last reference.
func TestLargeRawBodyReadable(t *testing.T) {
	t.Parallel()
	s := openTest(t, Options{})
	ctx := context.Background()
	in, _ := s.Inbox(ctx, "a@example.test")
	body := noLines(3 * bodyChunk)
	err := s.update(ctx, []MailboxID{in.ID}, func(tx *txn) error {
		next, err := tx.nextCounter(metaNextBody, 1)
		if err != nil {
			return err
		}
		id, hash := BodyID(next), sha256.Sum256(body)
		tx.Set(bodyKey(id), rawRecord(body))
		tx.Set(hashKey(hash), binary.BigEndian.AppendUint64(nil, uint64(id)))
		tx.putRef(id, refRecord{count: 1, size: uint64(len(body)), hash: hash})
		m, err := getMailbox(tx.Txn, in.ID)
		if err != nil {
			return err
		}
		return tx.addMessage(m, &Message{InternalDate: tx.s.now(), Size: int64(len(body)), Body: id}, 0)
	})
	if err != nil {
		t.Fatal(err)
	}
	if c := allContent(t, s, in.ID); len(c) != 1 || !bytes.Equal(c[0], body) {
		t.Fatal("the raw body does not read back")
	}
	if p, err := s.Check(ctx); err != nil || len(p) > 0 {
		t.Fatalf("check: %q %v", p, err)
	}
	// The same content delivered again shares the old record.
	if _, err := s.Append(ctx, in.ID, body, NewMessage{}, 0); err != nil {
		t.Fatal(err)
	}
	if st, _ := s.Stats(ctx); st.Bodies != 1 || countKeys(t, s, kindChunk) != 0 {
		t.Fatalf("stats = %+v", st)
	}
	s.StoreFlags(ctx, in.ID, []UID{1, 2}, FlagsAdd, Flags{Sys: FlagDeleted}, nil)
	if _, err := s.Expunge(ctx, in.ID, nil); err != nil {
		t.Fatal(err)
	}
	if n := countKeys(t, s, kindBody); n != 0 {
		t.Fatalf("%d bodies left", n)
	}
}

// TestRepairChunks: Check reports a missing chunk and an orphan one;
// Repair removes the orphan, and an orphan chunked body with its chunks.
func TestRepairChunks(t *testing.T) {
	t.Parallel()
	s := openTest(t, Options{})
	ctx := context.Background()
	in, _ := s.Inbox(ctx, "a@example.test")
	body := noLines(2*bodyChunk + 1)
	if _, err := s.Append(ctx, in.ID, body, NewMessage{}, 0); err != nil {
		t.Fatal(err)
	}
	msg, err := s.Message(ctx, in.ID, 1)
	if err != nil {
		t.Fatal(err)
	}
	other := bytes.Clone(body)
	other[0]++
	s.update(ctx, nil, func(tx *txn) error {
		tx.Set(chunkKey(msg.Body, 7), []byte("stray"))                   // beyond the body's chunks
		tx.refContent(sha256.Sum256(other), other, 1, false)             // orphan with its count
		tx.Set(chunkKey(BodyID(9999), 0), bytes.Repeat([]byte("x"), 10)) // no body at all
		return nil
	})
	found, err := s.Check(ctx)
	if err != nil || len(found) != 3 {
		t.Fatalf("check found %d problems: %q %v", len(found), found, err)
	}
	if _, err := s.Repair(ctx); err != nil {
		t.Fatal(err)
	}
	if p, err := s.Check(ctx); err != nil || len(p) != 0 {
		t.Fatalf("after repair: %q %v", p, err)
	}
	if n := countKeys(t, s, kindChunk); n != 3 {
		t.Fatalf("%d chunks after repair, want the message's 3", n)
	}
	// A lost chunk is reported, and the message no longer reads.
	s.update(ctx, nil, func(tx *txn) error { return tx.Delete(chunkKey(msg.Body, 1)) })
	found, _ = s.Check(ctx)
	if len(found) != 1 || !strings.Contains(found[0], "chunk 1 of 3") {
		t.Fatalf("check after losing a chunk: %q", found)
	}
	if _, err := s.Content(ctx, msg); err == nil {
		t.Fatal("content read without its chunk")
	}
}

// TestLargeInlineSegmentChunked: a multipart message whose large part is
// not split out as an attachment (a forwarded message/rfc822), next to
// one that is, is stored without a manifest holding the large part
// inline: it becomes a part of its own, in chunks.
func TestLargeInlineSegmentChunked(t *testing.T) {
	t.Parallel()
	s := openTest(t, Options{})
	ctx := context.Background()
	in, _ := s.Inbox(ctx, "a@example.test")
	inner := "From: b@example.test\r\nSubject: inner\r\n\r\n" + strings.Repeat(strings.Repeat("y", 76)+"\r\n", (3*bodyChunk)/78)
	att := make([]byte, 30<<10)
	rand.Read(att)
	msg := []byte("From: a@example.test\r\nSubject: Fwd\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b1\r\n\r\n" +
		"--b1\r\nContent-Type: message/rfc822\r\n\r\n" + inner +
		"--b1\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n" + base64.StdEncoding.EncodeToString(att) + "\r\n--b1--\r\n")
	if _, err := s.Append(ctx, in.ID, msg, NewMessage{}, 0); err != nil {
		t.Fatal(err)
	}
	if n := countKeys(t, s, kindChunk); n == 0 {
		t.Fatal("nothing stored in chunks")
	}
	err := s.view(func(tx *badger.Txn) error {
		it := tx.NewIterator(badger.IteratorOptions{Prefix: []byte{kindBody}})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			if n := it.Item().ValueSize(); n > bodyChunk {
				t.Errorf("body record %x of %d bytes", it.Item().Key(), n)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if c := allContent(t, s, in.ID); len(c) != 1 || !bytes.Equal(c[0], msg) {
		t.Fatal("the message does not read back")
	}
	if p, err := s.Check(ctx); err != nil || len(p) > 0 {
		t.Fatalf("check: %q %v", p, err)
	}
}

// TestManyChunksSplitTransactions: a batch of messages whose bodies have
// more chunks to write or delete than one Badger transaction takes is
// split, for an import, an expunge and a mailbox's purge. (Small chunks
// reach Badger's limit of about 26,000 entries with 40 MiB of messages.)
func TestManyChunksSplitTransactions(t *testing.T) {
	t.Parallel()
	s := openTest(t, Options{})
	s.chunkSize = 1 << 10
	ctx := context.Background()
	var bodies [][]byte
	var msgs []NewMessage
	for range 40 {
		bodies = append(bodies, noLines(1<<20)) // 1,024 chunks each
		msgs = append(msgs, NewMessage{Flags: Flags{Sys: FlagDeleted}})
	}
	in, _ := s.Inbox(ctx, "a@example.test")
	if err := s.AppendBatch(ctx, in.ID, bodies, msgs); err != nil {
		t.Fatalf("import: %v", err)
	}
	if n := countKeys(t, s, kindChunk); n != 40*1024 {
		t.Fatalf("%d chunks stored, want %d", n, 40*1024)
	}
	if got, err := s.Expunge(ctx, in.ID, nil); err != nil || len(got) != 40 {
		t.Fatalf("expunge: %d, %v", len(got), err)
	}
	if n := countKeys(t, s, kindChunk); n != 0 {
		t.Fatalf("%d chunks left after the expunge", n)
	}
	box, err := s.CreateMailbox(ctx, "a@example.test", "Big", CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AppendBatch(ctx, box.ID, bodies, msgs); err != nil {
		t.Fatalf("import: %v", err)
	}
	if err := s.DeleteMailbox(ctx, "a@example.test", "Big"); err != nil {
		t.Fatalf("delete mailbox: %v", err)
	}
	if n := countKeys(t, s, kindChunk); n != 0 {
		t.Fatalf("%d chunks left after the mailbox's purge", n)
	}
	if p, err := s.Check(ctx); err != nil || len(p) > 0 {
		t.Fatalf("check: %q %v", p, err)
	}
}

// TestWriteContent: a message written piece by piece is byte for byte
// what Content returns, for a raw body, a chunked one and one with parts
// stored apart.
func TestWriteContent(t *testing.T) {
	t.Parallel()
	s := openTest(t, Options{})
	s.chunkSize = 1000 // chunk small bodies
	ctx := context.Background()
	s.EnsureAccount(ctx, "a@example.test", false)
	in := mustMailbox(t, s, "a@example.test", "INBOX")
	big := strings.Repeat("chunked body line\r\n", 400)
	att := strings.Repeat("QUFBQUFBQUFB", 2000)
	parts := "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n" + att + "\r\n--b--\r\n"
	for i, body := range []string{"Subject: small\r\n\r\nx\r\n", "Subject: big\r\n\r\n" + big, parts} {
		if _, err := s.Append(ctx, in.ID, []byte(body), NewMessage{Prefix: []byte("X-Prefix: 1\r\n")}, 0); err != nil {
			t.Fatal(err)
		}
		m, _ := s.Message(ctx, in.ID, UID(i+1))
		want, _ := s.Content(ctx, m)
		var got bytes.Buffer
		if err := s.WriteContent(ctx, m, &got); err != nil || !bytes.Equal(got.Bytes(), want) || int64(got.Len()) != m.Size {
			t.Errorf("message %d: %v, %d bytes, want %d", i+1, err, got.Len(), len(want))
		}
	}
}
