package engine

import (
	"bufio"
	"bytes"
	"compress/flate"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"sync"
	"syscall"

	"mailroom/imapd/proto"
	"mailroom/internal/inflate"
)

// COMPRESS=DEFLATE (RFC 4978): after the tagged OK both directions are
// raw DEFLATE (RFC 1951, no zlib header) above TLS.
//
// Memory: a compress/flate writer holds about 1.2 MB (its hash tables are
// arrays inside it, whatever the level), far more than an idle
// connection may cost. So a connection holds no writer between response
// batches: it takes one from the server's pool when it starts writing,
// and at the flush that ends the batch makes a sync flush (the client can
// decode everything sent) and gives the writer back, reset. Raw DEFLATE
// has no header, so blocks from a fresh writer simply continue the
// stream; the price is that each batch starts with an empty dictionary.
//
// Reading uses internal/inflate, not compress/flate: that one returns
// data only at a sync flush (an empty stored block), and a client that
// ends each command with zlib's Z_PARTIAL_FLUSH (isync does) would wait
// forever for the answer (klauspost/compress's partial-block mode reads
// ten bits past a block's end, which have not come either).
//
// The reading side cannot do the same (the client's compressor refers
// back into earlier data), so an idle compressed connection costs its
// inflater's 32 KiB window and a 4 KiB input buffer.

// compressLevel is flate.BestSpeed: a writer's reset is then cheap, and
// RFC 4978 §4 finds the fastest zlib level compresses IMAP responses to
// 25-40%.
const compressLevel = flate.BestSpeed

// cmdCompress: COMPRESS DEFLATE. Once per connection; a second is NO
// [COMPRESSIONACTIVE]. Allowed once authenticated (RFC 4978 lets the
// server choose), in plain text or over TLS.
func cmdCompress(c *conn, cmd *proto.Command) error {
	if len(cmd.Args) != 1 || cmd.Args[0].Kind != proto.Atom {
		return syntax("COMPRESS takes a mechanism name")
	}
	if c.compressed() {
		return no("COMPRESSIONACTIVE", "DEFLATE is already active")
	}
	if !cmd.Args[0].IsAtom("DEFLATE") {
		return syntax("Unknown compression mechanism")
	}
	c.status(cmd.Tag, "OK", "", "DEFLATE active")
	if err := c.enc.Flush(); err != nil {
		return errReplied
	}
	// The client sends nothing more before it sees the OK (RFC 4978 §3);
	// anything already read is taken as compressed, as it must be.
	var pending []byte
	if n := c.br.Buffered(); n > 0 {
		pending = make([]byte, n)
		io.ReadFull(c.br, pending)
	}
	dc := newDeflateConn(c.nc, pending, &c.srv.deflaters)
	c.setStreams(dc)
	c.enc.Sync = dc.Flush
	c.log.Debug("compression on")
	return errReplied
}

// compressed reports whether COMPRESS is active.
func (c *conn) compressed() bool {
	_, ok := c.nc.(*deflateConn)
	return ok
}

// deflateConn is a connection whose two directions are compressed. Read
// and Write may run at once (IDLE reads while announcing); each side has
// its own state.
type deflateConn struct {
	net.Conn
	r    *inflate.Reader
	pool *sync.Pool
	w    *flate.Writer // between Write and Flush only
}

var _ net.Conn = (*deflateConn)(nil)

func newDeflateConn(nc net.Conn, pending []byte, pool *sync.Pool) *deflateConn {
	var src io.Reader = nc
	if len(pending) > 0 {
		src = io.MultiReader(bytes.NewReader(pending), nc)
	}
	return &deflateConn{Conn: nc, r: inflate.NewReader(bufio.NewReaderSize(src, readBuffer)), pool: pool}
}

func (d *deflateConn) Read(p []byte) (int, error) { return d.r.Read(p) }

func (d *deflateConn) Write(p []byte) (int, error) {
	if d.w == nil {
		if w, ok := d.pool.Get().(*flate.Writer); ok {
			w.Reset(d.Conn)
			d.w = w
		} else {
			w, err := flate.NewWriter(d.Conn, compressLevel)
			if err != nil {
				return 0, err
			}
			d.w = w
		}
	}
	return d.w.Write(p)
}

// Flush ends a batch: a sync flush, so the client can decode all of it,
// and the writer goes back to the pool.
func (d *deflateConn) Flush() error {
	if d.w == nil {
		return nil
	}
	err := d.w.Flush()
	d.release()
	return err
}

func (d *deflateConn) release() {
	d.w.Reset(io.Discard) // holds no reference to this connection
	d.pool.Put(d.w)
	d.w = nil
}

func (d *deflateConn) Close() error {
	if d.w != nil {
		d.release()
	}
	return d.Conn.Close()
}

// SyscallConn gives the socket to hangup.Watch, through TLS and the
// connection-slot wrapper.
func (d *deflateConn) SyscallConn() (syscall.RawConn, error) {
	nc := d.Conn
	for range 4 {
		switch v := nc.(type) {
		case *releaseConn:
			nc = v.Conn
		case *tls.Conn:
			nc = v.NetConn()
		case syscall.Conn:
			return v.SyscallConn()
		default:
			return nil, errors.ErrUnsupported
		}
	}
	return nil, errors.ErrUnsupported
}
