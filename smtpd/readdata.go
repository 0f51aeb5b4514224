package smtpd

import (
	"errors"
	"io"
	"sync"
	"weak"
)

// readChunk is the size of the pooled buffers a message of unknown size
// is read into.
const readChunk = 256 << 10

var chunkPool = sync.Pool{New: func() any { b := make([]byte, readChunk); return &b }}

// sizeHinter is a reader that knows the size of what it carries and has
// taken that much of the receiving budget (reservingReader).
type sizeHinter interface{ sizeHint() int }

// readData reads a whole message into a message buffer (getBuf), which
// the caller gives back with putBuf when nothing refers to the message
// any more. When the reader knows the size MAIL announced (and the
// receiving budget already covers it), the message is read straight into
// a buffer of that size; otherwise into pooled chunks, copied into a
// buffer of its size at the end. (io.ReadAll doubles its buffer as it
// goes: for a 20 MiB message it allocates about 45 MiB and holds up to
// 32 MiB.) An announced size is never trusted without the budget: a
// client could announce the limit on many connections and send nothing.
func readData(r io.Reader) ([]byte, *[]byte, error) {
	if h, ok := r.(sizeHinter); ok && h.sizeHint() > 0 {
		bp := getBuf(h.sizeHint() + 1) // +1: EOF is seen without growing
		buf := (*bp)[:0]
		for len(buf) < cap(buf) {
			n, err := r.Read(buf[len(buf):cap(buf)])
			buf = buf[:len(buf)+n]
			if errors.Is(err, io.EOF) {
				return buf, bp, nil
			}
			if err != nil {
				putBuf(bp)
				return nil, nil, err
			}
		}
		// Longer than announced: the rest in chunks, then all of it in a
		// buffer of its size.
		defer putBuf(bp)
		return readChunks(r, buf)
	}
	return readChunks(r, nil)
}

// readChunks reads r into pooled chunks and returns first followed by
// what it read, in a message buffer of that size.
func readChunks(r io.Reader, first []byte) ([]byte, *[]byte, error) {
	var chunks []*[]byte
	defer func() {
		for _, c := range chunks {
			chunkPool.Put(c)
		}
	}()
	total, last := len(first), 0 // bytes in all, and in the last chunk
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
			return nil, nil, err
		}
	}
	bp := getBuf(total)
	out := append((*bp)[:0], first...)
	for i, c := range chunks {
		if i == len(chunks)-1 {
			out = append(out, (*c)[:last]...)
		} else {
			out = append(out, (*c)...)
		}
	}
	return out, bp, nil
}

// Message buffers are reused: each message read would otherwise be
// garbage of its size once answered, and the collector lets garbage
// grow to about the size of the live heap before it runs, so a 20 MiB
// message left the heap 40 MiB or more above where it started (60–85 MiB
// at the default GOGC). A buffer goes back once the message is stored
// and queued: the store and the queue keep nothing of it after their
// calls return (Badger copies values into its log at commit). Buffers
// come in size classes four to a doubling (2^k, 1.25, 1.5 and 1.75 times
// it), so one is at most a quarter larger than its message. Free buffers
// are held through weak pointers, one list per class shared by all
// connections: the next message of the class takes one, and the next
// garbage collection frees those that nothing took, so an idle server
// holds none. (sync.Pool keeps one object per processor where other
// processors cannot take it: two connections took two 24 MiB buffers.)
const (
	minBufShift = 16 // smallest class: 64 KiB
	maxBufShift = 30 // largest class: 1.75 GiB, beyond any message size
	maxFreeBufs = 64 // free buffers listed per class, at most
)

var msgBufs [(maxBufShift - minBufShift + 1) * 4]struct {
	mu   sync.Mutex
	free []weak.Pointer[[]byte]
}

// bufClass returns the index and size of the smallest class of at least
// n bytes; ok is false when n is larger than every class.
func bufClass(n int) (class, size int, ok bool) {
	for k := minBufShift; k <= maxBufShift; k++ {
		for q := range 4 {
			size := 1<<k + q<<(k-2)
			if size >= n {
				return (k-minBufShift)*4 + q, size, true
			}
		}
	}
	return 0, 0, false
}

// getBuf returns a buffer of at least n bytes (its length is its
// capacity), reused when a free one is still there.
func getBuf(n int) *[]byte {
	class, size, ok := bufClass(n)
	if !ok {
		b := make([]byte, n)
		return &b
	}
	l := &msgBufs[class]
	l.mu.Lock()
	for len(l.free) > 0 {
		b := l.free[len(l.free)-1].Value()
		l.free = l.free[:len(l.free)-1]
		if b != nil {
			l.mu.Unlock()
			return b
		}
	}
	l.mu.Unlock()
	b := make([]byte, size)
	return &b
}

// putBuf gives back a buffer from getBuf (nil is ignored). Nothing may
// refer to its bytes afterwards.
func putBuf(b *[]byte) {
	if b == nil {
		return
	}
	*b = (*b)[:cap(*b)]
	class, size, ok := bufClass(len(*b))
	if !ok || size != len(*b) {
		return
	}
	l := &msgBufs[class]
	l.mu.Lock()
	if len(l.free) < maxFreeBufs {
		l.free = append(l.free, weak.Make(b))
	}
	l.mu.Unlock()
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
