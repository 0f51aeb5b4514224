package store

import (
	"bytes"
	"context"
	"testing"

	"mailroom/imapd/part"
)

// scanPieces runs headerScan over b cut at the given offsets and returns
// how many bytes it kept.
func scanPieces(b []byte, cuts ...int) int {
	var h headerScan
	n, from := 0, 0
	for _, c := range append(cuts, len(b)) {
		if c < from || c > len(b) {
			continue
		}
		if !h.done {
			n += h.feed(b[from:c])
		}
		from = c
	}
	return n
}

// TestHeaderScan: the header's end found piece by piece is where
// part.HeaderEnd finds it in the whole, wherever the pieces are cut.
func TestHeaderScan(t *testing.T) {
	for _, m := range []string{
		"Subject: a\r\n\r\nbody\r\n",
		"Subject: a\n\nbody\n",
		"\r\nno header\r\n",
		"\nno header",
		"Subject: a\r\nFrom: b\r\n", // no body: all header
		"Subject: a\r\n\rx\r\n\r\nbody",
		"Subject: a\r\n\r\r\n\r\nbody",
		"Subject: a\r",
		"",
		"X: 1\r\n continued\r\n\r\n\r\n",
	} {
		b := []byte(m)
		want := part.HeaderEnd(b, 0)
		for i := 0; i <= len(b); i++ {
			for j := i; j <= len(b); j++ {
				if got := scanPieces(b, i, j); got != want {
					t.Errorf("%q cut at %d and %d: header of %d bytes, want %d", m, i, j, got, want)
				}
			}
		}
	}
}

func FuzzHeaderScan(f *testing.F) {
	f.Add([]byte("Subject: a\r\n\r\nbody"), 3, 13)
	f.Add([]byte("\r\n"), 1, 1)
	f.Fuzz(func(t *testing.T, b []byte, i, j int) {
		if want, got := part.HeaderEnd(b, 0), scanPieces(b, i, j); got != want {
			t.Fatalf("%q cut at %d and %d: %d, want %d", b, i, j, got, want)
		}
	})
}

// TestMessageHeadersByUID: each message comes with its content up to the
// end of its header, the delivery's prefix included, whether its body is
// stored whole, in chunks or as parts; the contents stay valid after fn
// returns, one after another in the arena.
func TestMessageHeadersByUID(t *testing.T) {
	t.Parallel()
	s := openTest(t, Options{})
	ctx := context.Background()
	in, _ := s.Inbox(ctx, "a@example.test")
	att := bytes.Repeat([]byte("attachment "), bodyChunk/4)
	bodies := [][]byte{
		[]byte("Subject: small\r\n\r\nbody\r\n"),
		append([]byte("Subject: chunked\r\nX-Long: "+string(bytes.Repeat([]byte("y"), 300))+"\r\n\r\n"), noLines(3*bodyChunk)...),
		withAttachment("parts", "see attached", att),
		[]byte("Subject: no body\r\n"),
		[]byte("\r\nno header\r\n"),
	}
	prefix := []byte("Delivered-To: a@example.test\r\n")
	for _, b := range bodies {
		if _, err := s.Deliver(ctx, bytes.Clone(b), []Delivery{{Mailbox: in.ID, NewMessage: NewMessage{Prefix: prefix}}}); err != nil {
			t.Fatal(err)
		}
	}
	uids, _ := s.UIDs(ctx, in.ID)
	var got [][]byte
	arena, err := s.MessageHeadersByUID(ctx, in.ID, uids, nil, func(m *Message, c []byte) error {
		got = append(got, c)
		return nil
	})
	if err != nil || len(got) != len(bodies) {
		t.Fatalf("%d headers, %v", len(got), err)
	}
	total := 0
	for i, b := range bodies {
		whole := append(bytes.Clone(prefix), b...)
		want := whole[:part.HeaderEnd(whole, 0)]
		if !bytes.Equal(got[i], want) {
			t.Errorf("message %d: %q, want %q", i+1, got[i], want)
		}
		total += len(want)
	}
	if len(arena) != total {
		t.Errorf("arena holds %d bytes, want the %d of the headers", len(arena), total)
	}
}
