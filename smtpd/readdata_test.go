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
			got, err := readData(c.r)
			if err != nil || !bytes.Equal(got, c.want) {
				t.Fatalf("n=%d: got %d bytes, %v; want %d", n, len(got), err, len(c.want))
			}
		}
	}
	if _, err := readData(iotest.ErrReader(io.ErrUnexpectedEOF)); err != io.ErrUnexpectedEOF {
		t.Fatalf("error not passed on: %v", err)
	}
}
