package engine

import (
	"bufio"
	"compress/flate"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"testing"
)

// deflateClient is the client's side of COMPRESS: each command is
// compressed and sync-flushed; responses are inflated.
type deflateClient struct {
	net.Conn
	w *flate.Writer
}

func (d *deflateClient) Write(p []byte) (int, error) {
	n, err := d.w.Write(p)
	if err == nil {
		err = d.w.Flush()
	}
	return n, err
}

// compress sends COMPRESS DEFLATE and switches r to compressed streams.
func compress(t testing.TB, r *raw) {
	t.Helper()
	r.send("z1 COMPRESS DEFLATE\r\n")
	if l := r.line(); l != "z1 OK DEFLATE active" {
		t.Fatalf("COMPRESS: %q", l)
	}
	w, err := flate.NewWriter(r.c, flate.DefaultCompression)
	if err != nil {
		t.Fatal(err)
	}
	r.c = &deflateClient{Conn: r.c, w: w}
	r.br = bufio.NewReader(flate.NewReader(r.br))
}

// TestCompressDeflate: after COMPRESS both directions are raw DEFLATE;
// a second COMPRESS is NO [COMPRESSIONACTIVE]; responses arrive whole
// (every batch is flushed), also what IDLE announces and a FETCH larger
// than any buffer.
func TestCompressDeflate(t *testing.T) {
	ts := newTestServer(t)
	r := dialRaw(t, ts.plain)
	r.send("a0 COMPRESS DEFLATE\r\n")
	r.expect("a0", "BAD")
	r.send("a1 LOGIN alice@example.test password\r\n")
	if l := r.expect("a1", "OK"); !strings.Contains(l[len(l)-1], " COMPRESS=DEFLATE") {
		t.Fatalf("capabilities after login: %q", l)
	}
	r.send("a2 COMPRESS FOO\r\n")
	r.expect("a2", "BAD")
	compress(t, r)
	r.send("a3 COMPRESS DEFLATE\r\n")
	r.expect("a3", "NO [COMPRESSIONACTIVE]")
	r.send("a4 CAPABILITY\r\n")
	if l := r.expect("a4", "OK"); strings.Contains(l[0], "COMPRESS=") {
		t.Errorf("COMPRESS still offered: %q", l[0])
	}
	big := "Subject: big\r\n\r\n" + strings.Repeat("All work and no play makes Jack a dull boy.\r\n", 20000)
	r.send(fmt.Sprintf("a5 APPEND INBOX {%d}\r\n", len(big)))
	if l := r.line(); !strings.HasPrefix(l, "+ ") {
		t.Fatalf("continuation: %q", l)
	}
	r.send(big + "\r\n")
	r.expect("a5", "OK")
	r.send("a6 SELECT INBOX\r\n")
	r.expect("a6", "OK")
	r.send("a7 FETCH 1 BODY.PEEK[]\r\n")
	l := r.line()
	if want := fmt.Sprintf("* 1 FETCH (BODY[] {%d}", len(big)); l != want {
		t.Fatalf("FETCH: %q, want %q", l, want)
	}
	body := make([]byte, len(big))
	if _, err := io.ReadFull(r.br, body); err != nil || string(body) != big {
		t.Fatalf("FETCH body: %v", err)
	}
	r.expect("a7", "OK")

	r.send("a8 IDLE\r\n")
	if l := r.line(); l != "+ idling" {
		t.Fatalf("IDLE: %q", l)
	}
	other := login(t, ts, "alice@example.test")
	appendMsgs(t, other, "Subject: new\r\n\r\nhello\r\n")
	if l := r.line(); l != "* 2 EXISTS" {
		t.Fatalf("IDLE announcement: %q", l)
	}
	r.send("DONE\r\n")
	r.expect("a8", "OK")
	r.send("a9 LOGOUT\r\n")
	r.expect("a9", "OK")
}

// TestCompressAfterSTARTTLS: COMPRESS works inside TLS; STARTTLS after
// COMPRESS (reachable through UNAUTHENTICATE) is refused.
func TestCompressAfterSTARTTLS(t *testing.T) {
	ts := newTestServer(t)
	r := dialRaw(t, ts.strict)
	r.send("a1 STARTTLS\r\n")
	r.expect("a1", "OK")
	tc := tls.Client(r.c, &tls.Config{InsecureSkipVerify: true})
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	r.c, r.br = tc, bufio.NewReader(tc)
	r.send("a2 LOGIN alice@example.test password\r\n")
	r.expect("a2", "OK")
	compress(t, r)
	r.send("a3 SELECT INBOX\r\na4 NOOP\r\n")
	r.expect("a3", "OK")
	r.expect("a4", "OK")

	p := login(t, ts, "alice@example.test")
	compress(t, p)
	p.send("b1 UNAUTHENTICATE\r\nb2 STARTTLS\r\n")
	p.expect("b1", "OK")
	p.expect("b2", "BAD")
	p.send("b3 LOGIN alice@example.test password\r\nb4 NOOP\r\n")
	p.expect("b3", "OK")
	p.expect("b4", "OK")
}

// TestCompressIdleMemory: an idle compressed connection holds no flate
// writer (about 1.2 MB each) between responses, only its reader. The
// figure is the server's extra heap per idle connection over an
// uncompressed one (the clients drop their own compressors first).
func TestCompressIdleMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("opens many connections")
	}
	ts := newTestServer(t)
	const n = 40
	heap := func() int64 {
		runtime.GC()
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return int64(m.HeapAlloc)
	}
	open := func(compressed bool) []net.Conn {
		conns := make([]net.Conn, n)
		for i := range conns {
			r := login(t, ts, "bob@example.test")
			if compressed {
				compress(t, r)
			}
			r.send("i1 SELECT INBOX\r\ni2 NOOP\r\n")
			r.expect("i1", "OK")
			r.expect("i2", "OK")
			if d, ok := r.c.(*deflateClient); ok {
				conns[i] = d.Conn // the client's compressor is not counted
			} else {
				conns[i] = r.c
			}
		}
		return conns
	}
	base := heap()
	plain := open(false)
	plainCost := (heap() - base) / n
	base = heap()
	comp := open(true)
	compCost := (heap() - base) / n
	extra := compCost - plainCost
	t.Logf("heap per idle connection: plain %d B, compressed %d B (extra %d B)", plainCost, compCost, extra)
	if extra > 128<<10 {
		t.Errorf("an idle compressed connection costs %d B more than a plain one", extra)
	}
	runtime.KeepAlive(plain)
	runtime.KeepAlive(comp)
}

// partialFlushClient compresses each command as zlib's Z_PARTIAL_FLUSH
// does (isync's way): one fixed-Huffman block of literals, then an empty
// fixed block; only whole bytes are sent, the bits left over go with the
// next command. No stored block marks the end of a command.
type partialFlushClient struct {
	net.Conn
	acc uint32
	n   uint
}

func (p *partialFlushClient) bits(v uint32, n uint) {
	p.acc |= v << p.n
	p.n += n
}

func (p *partialFlushClient) flushBytes(out *[]byte) {
	for p.n >= 8 {
		if out != nil {
			*out = append(*out, byte(p.acc))
		}
		p.acc >>= 8
		p.n -= 8
	}
}

func (p *partialFlushClient) Write(b []byte) (int, error) {
	var out []byte
	emit := func(c uint32, n uint) {
		for i := int(n) - 1; i >= 0; i-- {
			p.bits(c>>uint(i)&1, 1)
			p.flushBytes(&out)
		}
	}
	header := func() { // BFINAL 0, BTYPE 01 (fixed Huffman), LSB first
		p.bits(0, 1)
		p.flushBytes(&out)
		p.bits(1, 2)
		p.flushBytes(&out)
	}
	header()
	for _, c := range b {
		if c < 144 {
			emit(0x30+uint32(c), 8)
		} else {
			emit(0x190+uint32(c)-144, 9)
		}
	}
	emit(0, 7) // end of block
	header()
	emit(0, 7) // the empty block that lets the receiver decode the first
	_, err := p.Conn.Write(out)
	return len(b), err
}

// TestCompressPartialFlush: a client that ends each command with a
// partial flush (no stored block) is answered at once.
func TestCompressPartialFlush(t *testing.T) {
	ts := newTestServer(t)
	r := login(t, ts, "alice@example.test")
	r.send("z1 COMPRESS DEFLATE\r\n")
	r.expect("z1", "OK")
	r.c = &partialFlushClient{Conn: r.c}
	r.br = bufio.NewReader(flate.NewReader(r.br))
	r.send("a1 NOOP\r\n")
	r.expect("a1", "OK")
	r.send("a2 SELECT \"INBOX\"\r\n")
	r.expect("a2", "OK [READ-WRITE]")
	r.send("a3 LOGOUT\r\n")
	r.expect("a3", "OK")
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// TestCompressRatio measures what COMPRESS saves on a typical FETCH of
// headers and bodies (each response batch starts a fresh dictionary,
// flate.BestSpeed); the figure is logged, and it must at least halve.
func TestCompressRatio(t *testing.T) {
	ts := newTestServer(t)
	r := login(t, ts, "alice@example.test")
	var msgs []string
	for i := range 20 {
		msgs = append(msgs, fmt.Sprintf("From: Bob <bob@example.test>\r\nTo: Alice <alice@example.test>\r\nSubject: weekly report %d\r\nDate: Mon, 30 Nov 2026 13:%02d:00 +0000\r\nMessage-ID: <%d@example.test>\r\n\r\n%s", i, i, i, strings.Repeat(fmt.Sprintf("Figures for week %d are in the attached sheet; nothing unusual.\r\n", i), 20)))
	}
	appendMsgs(t, r, msgs...)
	r.send("z1 COMPRESS DEFLATE\r\n")
	r.expect("z1", "OK")
	w, _ := flate.NewWriter(r.c, flate.BestSpeed)
	count := &countingReader{r: r.br}
	r.c = &deflateClient{Conn: r.c, w: w}
	r.br = bufio.NewReader(flate.NewReader(bufio.NewReader(count)))
	r.send("a1 SELECT INBOX\r\na2 FETCH 1:* (FLAGS ENVELOPE BODY.PEEK[])\r\n")
	plain := 0
	for _, l := range append(r.expect("a1", "OK"), r.expect("a2", "OK")...) {
		plain += len(l) + 2
	}
	t.Logf("FETCH of 20 messages: %d bytes, %d on the wire (%.0f%%)", plain, count.n, 100*float64(count.n)/float64(plain))
	if count.n*2 > plain {
		t.Errorf("compressed to %d of %d bytes", count.n, plain)
	}
}
