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

// readData reads a whole message, allocating its size once: into pooled
// chunks, copied into a buffer of the exact size at the end. (io.ReadAll
// doubles its buffer as it goes: for a 20 MiB message it allocates about
// 45 MiB and holds up to 32 MiB.) The size MAIL announces is not used to
// size a buffer: a client could announce the limit on many connections
// and send nothing, holding memory the receiving budget does not see.
func readData(r io.Reader) ([]byte, error) {
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
