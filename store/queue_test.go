package store

import (
	"bytes"
	"context"
	"slices"
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
	v3 := e.encode()
	f.Add(v3)
	// The same entry in the older versions: v2 ends after the prefix, v1
	// before it.
	tail := 2 + 1 + len(e.Rcpts)*3 // Ret, EnvID, RequireTLS; per recipient Notify, ORcpt, Relayed
	v2 := append([]byte{queueRecordV2}, v3[1:len(v3)-tail]...)
	f.Add(v2)
	f.Add(append([]byte{queueRecordV1}, v2[1:len(v2)-len(e.Prefix)-1]...))
	f.Add([]byte{queueRecordV2})
	e.Ret, e.EnvID, e.RequireTLS = "HDRS", "env-1", true
	e.Rcpts[0].Notify, e.Rcpts[0].ORcpt = NotifySuccess|NotifyFailure, "rfc822;b@remote.test"
	f.Add(e.encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := decodeQueueEntry(1, b)
		if err != nil {
			return
		}
		again, err := decodeQueueEntry(1, d.encode())
		if err != nil || again.From != d.From || len(again.Rcpts) != len(d.Rcpts) || !bytes.Equal(again.Prefix, d.Prefix) ||
			again.Ret != d.Ret || again.EnvID != d.EnvID || again.RequireTLS != d.RequireTLS || !slices.Equal(again.Rcpts, d.Rcpts) {
			t.Fatalf("round trip: %+v, %v; want %+v", again, err, d)
		}
	})
}
