package smtpd

import (
	"errors"
	"io"
	"sync"
)

// readChunk is the size of the pooled buffers a message of unknown size
// is read into.
const readChunk = 256 << 10

var chunkPool = sync.Pool{New: func() any { b := make([]byte, readChunk); return &b }}

// sizeHinter is a reader that knows the size of what it carries and has
// taken that much of the receiving budget (reservingReader).
type sizeHinter interface{ sizeHint() int }

// readData reads a whole message, allocating its size once. When the
// reader knows the size MAIL announced (and the receiving budget already
// covers it), the message is read straight into a buffer of that size;
// otherwise into pooled chunks, copied into a buffer of the exact size at
// the end. (io.ReadAll doubles its buffer as it goes: for a 20 MiB message
// it allocates about 45 MiB and holds up to 32 MiB.) An announced size is
// never trusted without the budget: a client could announce the limit on
// many connections and send nothing.
func readData(r io.Reader) ([]byte, error) {
	if h, ok := r.(sizeHinter); ok && h.sizeHint() > 0 {
		buf := make([]byte, 0, h.sizeHint()+1) // +1: EOF is seen without growing
		for len(buf) < cap(buf) {
			n, err := r.Read(buf[len(buf):cap(buf)])
			buf = buf[:len(buf)+n]
			if errors.Is(err, io.EOF) {
				return buf, nil
			}
			if err != nil {
				return nil, err
			}
		}
		// Longer than announced: the rest in chunks.
		rest, err := readChunks(r)
		if err != nil {
			return nil, err
		}
		return append(buf, rest...), nil
	}
	return readChunks(r)
}

// readChunks reads r into pooled chunks and returns a copy of exactly
// what it read.
func readChunks(r io.Reader) ([]byte, error) {
	var chunks []*[]byte
	defer func() {
		for _, c := range chunks {
			chunkPool.Put(c)
		}
	}()
	total, last := 0, 0 // bytes in all, and in the last chunk
	for {
		if len(chunks) == 0 || last == readChunk {
			chunks = append(chunks, chunkPool.Get().(*[]byte))
			last = 0
		}
		c := *chunks[len(chunks)-1]
		n, err := r.Read(c[last:])
		last += n
		total += n
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	out := make([]byte, 0, total)
	for i, c := range chunks {
		if i == len(chunks)-1 {
			out = append(out, (*c)[:last]...)
		} else {
			out = append(out, (*c)...)
		}
	}
	return out, nil
}

// maxReader reads at most n bytes of r, keeping r's size hint, so that
// readData still sizes its buffer from an announced SIZE.
type maxReader struct {
	r io.Reader
	n int64
}

func (m *maxReader) Read(p []byte) (int, error) {
	if m.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > m.n {
		p = p[:m.n]
	}
	n, err := m.r.Read(p)
	m.n -= int64(n)
	return n, err
}

func (m *maxReader) sizeHint() int {
	if h, ok := m.r.(sizeHinter); ok {
		return h.sizeHint()
	}
	return 0
}
