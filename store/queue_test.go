package store

import (
	"bytes"
	"context"
	"testing"
)

// TestEnqueuePrefixedSharesBody: a message delivered locally and queued
// with a prefix (its DKIM signature) is stored once; the queue gives back
// the prefix and the body.
func TestEnqueuePrefixedSharesBody(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openTest(t, Options{})
	in, _ := s.Inbox(ctx, "a@example.test")
	body := []byte("From: a@example.test\r\nSubject: both\r\n\r\n" + string(bytes.Repeat([]byte("z"), 10000)) + "\r\n")
	if _, err := s.Append(ctx, in.ID, body, NewMessage{}, 0); err != nil {
		t.Fatal(err)
	}
	prefix := []byte("DKIM-Signature: v=1; a=rsa-sha256; d=example.test\r\n")
	e, err := s.EnqueuePrefixed(ctx, "a@example.test", []string{"b@remote.test"}, prefix, body)
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := s.Stats(ctx); st.Bodies != 1 {
		t.Fatalf("%d bodies stored, want 1 shared", st.Bodies)
	}
	q, err := s.QueueEntries(ctx)
	if err != nil || len(q) != 1 || !bytes.Equal(q[0].Prefix, prefix) || q[0].Size != int64(len(prefix)+len(body)) {
		t.Fatalf("queue: %+v %v", q, err)
	}
	got, err := s.QueueContent(ctx, q[0])
	if err != nil || !bytes.Equal(got, append(append([]byte(nil), prefix...), body...)) {
		t.Fatalf("content: %v %q", err, got[:min(len(got), 80)])
	}
	// A record written before prefixes existed (version 1) still reads.
	e.Prefix = nil
	v2 := e.encode()
	v1 := append([]byte{queueRecordV1}, v2[1:len(v2)-1]...) // no trailing empty prefix
	old, err := decodeQueueEntry(e.ID, v1)
	if err != nil || old.From != e.From || len(old.Rcpts) != 1 || old.Prefix != nil {
		t.Fatalf("v1 record: %+v %v", old, err)
	}
}

// FuzzDecodeQueueEntry: a queue record, however damaged, decodes or fails
// cleanly; what decodes encodes back to a record that decodes the same.
func FuzzDecodeQueueEntry(f *testing.F) {
	e := &QueueEntry{ID: 7, From: "a@example.test", Attempts: 2, Size: 100, Body: 3, Prefix: []byte("DKIM-Signature: x\r\n"),
		Rcpts: []QueueRcpt{{Addr: "b@remote.test", State: RcptBounceDue, LastError: "550 no", Status: "5.1.1"}, {Addr: "c@remote.test"}}}
	v2 := e.encode()
	f.Add(v2)
	f.Add(append([]byte{queueRecordV1}, v2[1:len(v2)-len(e.Prefix)-1]...))
	f.Add([]byte{queueRecordV2})
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := decodeQueueEntry(1, b)
		if err != nil {
			return
		}
		again, err := decodeQueueEntry(1, d.encode())
		if err != nil || again.From != d.From || len(again.Rcpts) != len(d.Rcpts) || !bytes.Equal(again.Prefix, d.Prefix) {
			t.Fatalf("round trip: %+v, %v; want %+v", again, err, d)
		}
	})
}
