package smtpd

import (
	"bytes"
	"io"
	"testing"
	"testing/iotest"
)

// TestReadData: readData returns exactly what was sent, whatever the
// size relative to its chunks and however the reader splits it.
func TestReadData(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 1, readChunk - 1, readChunk, readChunk + 1, 3*readChunk + 17} {
		want := bytes.Repeat([]byte("0123456789abcdef"), n/16+1)[:n]
		short := want[:min(n, 4096)]
		for _, c := range []struct {
			r    io.Reader
			want []byte
		}{
			{bytes.NewReader(want), want},
			{iotest.HalfReader(bytes.NewReader(want)), want},
			{iotest.OneByteReader(bytes.NewReader(short)), short},
		} {
			got, buf, err := readData(c.r)
			if err != nil || !bytes.Equal(got, c.want) {
				t.Fatalf("n=%d: got %d bytes, %v; want %d", n, len(got), err, len(c.want))
			}
			putBuf(buf)
		}
	}
	// With an announced size: exact, shorter, or longer than announced.
	msg := bytes.Repeat([]byte("x"), 3*readChunk+5)
	for _, hint := range []int{len(msg), len(msg) + 100, len(msg) - 1, 10} {
		got, buf, err := readData(hinted{bytes.NewReader(msg), hint})
		if err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("hint %d: got %d bytes, %v", hint, len(got), err)
		}
		putBuf(buf)
	}
	if _, _, err := readData(iotest.ErrReader(io.ErrUnexpectedEOF)); err != io.ErrUnexpectedEOF {
		t.Fatalf("error not passed on: %v", err)
	}
}

// TestBufClass: a message buffer is the smallest class that holds the
// message, at most a quarter larger than it.
func TestBufClass(t *testing.T) {
	t.Parallel()
	prev := 0
	for _, n := range []int{0, 1, 64 << 10, 64<<10 + 1, 80 << 10, 80<<10 + 1, 20<<20 + 1, 256 << 20, 1<<30 + 3<<28} {
		class, size, ok := bufClass(n)
		if !ok || size < n || (n > 64<<10 && size > n+n/4) || class < prev {
			t.Fatalf("bufClass(%d) = %d, %d, %v", n, class, size, ok)
		}
		prev = class
		b := getBuf(n)
		if len(*b) != size {
			t.Fatalf("getBuf(%d) has %d bytes, want %d", n, len(*b), size)
		}
	}
	if _, _, ok := bufClass(1<<31 + 1); ok {
		t.Fatal("a class beyond the largest")
	}
}

type hinted struct {
	io.Reader
	n int
}

func (h hinted) sizeHint() int { return h.n }
