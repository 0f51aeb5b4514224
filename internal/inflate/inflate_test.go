package inflate

import (
	"bufio"
	"bytes"
	"compress/flate"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"testing"
	"time"
)

// deflate compresses chunks with compress/flate, a sync flush after
// each, as a client would send them.
func deflate(t testing.TB, level int, chunks ...[]byte) []byte {
	var buf bytes.Buffer
	w, err := flate.NewWriter(&buf, level)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range chunks {
		w.Write(c)
		w.Flush()
	}
	w.Close()
	return buf.Bytes()
}

func TestRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	random := make([]byte, 100000)
	for i := range random {
		random[i] = byte(rng.IntN(256))
	}
	text := []byte(strings.Repeat("a1 UID FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (From To Subject)])\r\n", 3000))
	for _, level := range []int{flate.NoCompression, flate.BestSpeed, flate.DefaultCompression, flate.BestCompression, flate.HuffmanOnly} {
		for _, in := range [][]byte{nil, []byte("x"), text, random, append(text, random...)} {
			z := deflate(t, level, in[:len(in)/3], in[len(in)/3:])
			got, err := io.ReadAll(NewReader(bufio.NewReader(bytes.NewReader(z))))
			if err != nil || !bytes.Equal(got, in) {
				t.Fatalf("level %d, %d bytes: got %d bytes, %v", level, len(in), len(got), err)
			}
		}
	}
}

// TestBlockEndWithoutLookahead: the end of a block is handed over before
// anything after it arrives. Here the sync flush's stored block is held
// back (as zlib's partial flush holds back part of its empty block).
func TestBlockEndWithoutLookahead(t *testing.T) {
	client, server := net.Pipe()
	defer client.Close()
	defer server.Close()
	var buf bytes.Buffer
	w, _ := flate.NewWriter(&buf, flate.DefaultCompression)
	cmd := []byte(strings.Repeat("a1 NOOP\r\n", 50))
	w.Write(cmd)
	w.Flush()
	z := buf.Bytes() // ends with the stored block's 00 00 ff ff
	go client.Write(z[:len(z)-4])
	r := NewReader(bufio.NewReader(server))
	server.SetReadDeadline(time.Now().Add(10 * time.Second))
	got := make([]byte, len(cmd))
	if _, err := io.ReadFull(r, got); err != nil || !bytes.Equal(got, cmd) {
		t.Fatalf("got %q, %v", got, err)
	}
}

func TestCorrupt(t *testing.T) {
	for _, in := range [][]byte{
		{0x07},                   // block type 3
		{0x00, 0x01, 0x00, 0x00}, // stored LEN/NLEN mismatch
		{0x03, 0x02, 0x00},       // fixed block: a match before any data
	} {
		_, err := io.ReadAll(NewReader(bufio.NewReader(bytes.NewReader(in))))
		if err == nil {
			t.Errorf("%x: no error", in)
		}
	}
}

// FuzzInflate: any input ends in data or an error, never a panic or
// unbounded output; what compress/flate wrote (flushed where the input
// says) comes back byte for byte.
func FuzzInflate(f *testing.F) {
	f.Add([]byte("a1 NOOP\r\n"), uint16(3), false)
	f.Add([]byte(strings.Repeat("x", 1000)), uint16(500), true)
	f.Add(deflate(f, flate.BestSpeed, []byte("hello hello hello")), uint16(0), true)
	f.Fuzz(func(t *testing.T, data []byte, cut uint16, raw bool) {
		if raw {
			r := NewReader(bufio.NewReader(bytes.NewReader(data)))
			io.Copy(io.Discard, io.LimitReader(r, 1<<20))
			return
		}
		c := min(int(cut), len(data))
		z := deflate(t, 1+int(cut)%9, data[:c], data[c:])
		got, err := io.ReadAll(NewReader(bufio.NewReader(bytes.NewReader(z))))
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("round trip: %d bytes back of %d, %v", len(got), len(data), err)
		}
	})
}

// BenchmarkInflate compares with compress/flate on IMAP-like text (a
// client's APPEND of a mail): the bit-at-a-time decoder is slower, and
// only the client's direction goes through it.
func BenchmarkInflate(b *testing.B) {
	var text bytes.Buffer
	for i := range 2000 {
		fmt.Fprintf(&text, "Received: from host%d.example.test by mx.example.test; Mon, 30 Nov 2026 13:%02d:00 +0000\r\nSubject: report %d\r\n\r\nLine %d of the message body, with some words in it.\r\n", i, i%60, i, i)
	}
	z := deflate(b, flate.DefaultCompression, text.Bytes())
	for _, impl := range []struct {
		name string
		new  func(io.Reader) io.Reader
	}{
		{"inflate", func(r io.Reader) io.Reader { return NewReader(bufio.NewReader(r)) }},
		{"compress-flate", func(r io.Reader) io.Reader { return flate.NewReader(r) }},
	} {
		b.Run(impl.name, func(b *testing.B) {
			b.SetBytes(int64(text.Len()))
			for b.Loop() {
				if _, err := io.Copy(io.Discard, impl.new(bytes.NewReader(z))); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Logf("compressed %d bytes to %d", text.Len(), len(z))
}
