package smtpd

import (
	"io"
	"sync"

	"github.com/emersion/go-smtp"
)

// receiveStep is how much of the receiving budget a message takes at a
// time while it arrives.
const receiveStep = 64 << 10

// errReceivingFull answers DATA when the messages being received over all
// connections already hold Options.MaxReceiving bytes. The rest of the
// message is read and dropped, not kept.
var errReceivingFull = smtpErr(452, smtp.EnhancedCode{4, 3, 1}, "Too much mail arriving at once, try again later")

// budget bounds the bytes of messages being received at once, over all
// connections. A message holds its share from its first byte until its
// reply has been decided (it is stored and queued by then).
type budget struct {
	mu        sync.Mutex
	max, used int64
}

// take reserves n bytes if they fit, without waiting.
func (b *budget) take(n int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.used+n > b.max {
		return false
	}
	b.used += n
	return true
}

// fits reports whether n bytes would fit now (MAIL SIZE=, so that the
// client is told before it sends); a nil budget takes anything.
func (b *budget) fits(n int) bool {
	if b == nil {
		return true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used+int64(n) <= b.max
}

func (b *budget) release(n int64) {
	b.mu.Lock()
	b.used -= n
	b.mu.Unlock()
}

// reserve returns r reading against the server's receiving budget, and the
// func that gives back what the message took.
func (s *session) reserve(r io.Reader) (io.Reader, func()) {
	b := s.srv.receiving
	if b == nil {
		return r, func() {}
	}
	rr := &reservingReader{r: r, b: b}
	// The size MAIL announced is taken at once, if the budget has it, and
	// then sizes the buffer the message is read into (see readData).
	if h := int64(s.sizeHint); h > 0 && (s.srv.opts.MaxMessageBytes <= 0 || h <= s.srv.opts.MaxMessageBytes) {
		steps := (h + receiveStep - 1) / receiveStep * receiveStep
		if b.take(steps) {
			rr.held, rr.hint = steps, int(h)
		}
	}
	return rr, func() { b.release(rr.held) }
}

// reservingReader takes budget ahead of the bytes it reads and fails with
// errReceivingFull when none is left.
type reservingReader struct {
	r          io.Reader
	b          *budget
	read, held int64
	full       bool
	hint       int // announced size, covered by held; 0 if none
}

// sizeHint is the announced size the budget already covers.
func (r *reservingReader) sizeHint() int { return r.hint }

func (r *reservingReader) Read(p []byte) (int, error) {
	if r.full {
		return 0, errReceivingFull
	}
	n, err := r.r.Read(p)
	r.read += int64(n)
	for r.read > r.held {
		if !r.b.take(receiveStep) {
			r.full = true
			return n, errReceivingFull
		}
		r.held += receiveStep
	}
	return n, err
}
