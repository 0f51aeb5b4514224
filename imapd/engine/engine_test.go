package engine

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"mailroom/acl"
	"mailroom/internal/testutil"
	"mailroom/store"
)

// testServer is an engine with a store and a directory, on a plain
// listener that allows passwords (as development does) and a strict one.
type testServer struct {
	st            *store.Store
	srv           *Server
	plain, strict string

	mu     sync.Mutex
	sleeps []time.Duration
	// derive turns on the store's delivery-time derived data
	// (DeriveBodyInfo); off, tests see the lazy path.
	derive atomic.Bool
	// onChange, if set, hears every committed change after the registry
	// (a full-text indexer).
	onChange atomic.Pointer[func(store.Change)]
}

func newTestServer(t testing.TB, tweak ...func(*Options)) *testServer {
	t.Helper()
	h, err := acl.HashPassword("password")
	if err != nil {
		t.Fatal(err)
	}
	dir, err := acl.NewDirectory([]acl.AccountSpec{
		{Address: "alice@example.test", PasswordHash: h, Plan: "team", Groups: []string{"staff"}},
		{Address: "bob@example.test", PasswordHash: h, Plan: "pro", Groups: []string{"staff"}},
	}, []acl.Plan{{Name: "pro", Share: true}, {Name: "team", Share: true, Quota: 1 << 20}}, []string{"staff"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	reg := NewRegistry()
	ts := &testServer{}
	derive := func(body []byte) []store.Derived {
		if ts.derive.Load() {
			return DeriveBodyInfo(body)
		}
		return nil
	}
	publish := func(c store.Change) {
		reg.Publish(c)
		if f := ts.onChange.Load(); f != nil {
			(*f)(c)
		}
	}
	st, err := store.Open(context.Background(), store.Options{Dir: t.TempDir(), OnChange: publish, Derive: derive})
	if err != nil {
		t.Fatal(err)
	}
	ts.st = st
	opts := Options{
		Store: st, Registry: reg, Directory: acl.NewLive(dir), Logger: slog.New(slog.DiscardHandler),
		TLSConfig: testutil.TLSConfig(t), AppendLimit: 1 << 20,
		Sleep: func(_ context.Context, d time.Duration) {
			ts.mu.Lock()
			ts.sleeps = append(ts.sleeps, d)
			ts.mu.Unlock()
		},
	}
	for _, f := range tweak {
		f(&opts)
	}
	ts.srv = New(opts)
	listen := func(lopts ListenerOptions) string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go ts.srv.Serve(ln, lopts)
		return ln.Addr().String()
	}
	ts.plain = listen(ListenerOptions{InsecureAuth: true})
	ts.strict = listen(ListenerOptions{})
	t.Cleanup(func() {
		ts.srv.Close()
		st.Close()
	})
	return ts
}

// raw is a line-level client for protocol tests.
type raw struct {
	t  testing.TB
	c  net.Conn
	br *bufio.Reader
}

func dialRaw(t testing.TB, addr string) *raw {
	t.Helper()
	c := testutil.Dial(t, addr, 10*time.Second)
	r := &raw{t: t, c: c, br: bufio.NewReader(c)}
	if g := r.line(); !strings.HasPrefix(g, "* OK [CAPABILITY ") {
		t.Fatalf("greeting %q", g)
	}
	return r
}

func (r *raw) send(s string) {
	r.t.Helper()
	if _, err := io.WriteString(r.c, s); err != nil {
		r.t.Fatalf("write: %v", err)
	}
}

func (r *raw) line() string {
	r.t.Helper()
	l, err := r.br.ReadString('\n')
	if err != nil {
		r.t.Fatalf("read: %v (after %q)", err, l)
	}
	return strings.TrimRight(l, "\r\n")
}

// until reads lines up to the tagged response of tag and returns them all.
func (r *raw) until(tag string) []string {
	r.t.Helper()
	var lines []string
	for {
		l := r.line()
		lines = append(lines, l)
		if strings.HasPrefix(l, tag+" ") {
			return lines
		}
	}
}

func (r *raw) expect(tag, prefix string) []string {
	r.t.Helper()
	lines := r.until(tag)
	if last := lines[len(lines)-1]; !strings.HasPrefix(last, tag+" "+prefix) {
		r.t.Fatalf("got %q, want %s %s…", lines, tag, prefix)
	}
	return lines
}

func TestCapabilitiesPerListener(t *testing.T) {
	ts := newTestServer(t)
	r := dialRaw(t, ts.strict)
	r.send("a1 CAPABILITY\r\n")
	caps := r.expect("a1", "OK")[0]
	if !strings.Contains(caps, " STARTTLS") || !strings.Contains(caps, " LOGINDISABLED") || strings.Contains(caps, "AUTH=PLAIN") {
		t.Errorf("strict listener: %q", caps)
	}
	r.send("a2 LOGIN alice@example.test password\r\n")
	r.expect("a2", "NO [PRIVACYREQUIRED]")

	p := dialRaw(t, ts.plain)
	p.send("a1 CAPABILITY\r\n")
	if caps := p.expect("a1", "OK")[0]; !strings.Contains(caps, "AUTH=PLAIN") {
		t.Errorf("plain listener: %q", caps)
	}
}

// TestLoginWithImapclient drives the engine with go-imap's client.
func TestLoginWithImapclient(t *testing.T) {
	ts := newTestServer(t)
	c, err := imapclient.DialInsecure(ts.plain, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	err = c.Login("alice@example.test", "wrong").Wait()
	var ie *imap.Error
	if !errors.As(err, &ie) || ie.Code != imap.ResponseCodeAuthenticationFailed {
		t.Fatalf("wrong password: %v", err)
	}
	if err := c.Login("alice@example.test", "password").Wait(); err != nil {
		t.Fatal(err)
	}
	ns, err := c.Namespace().Wait()
	if err != nil || len(ns.Other) != 1 || ns.Other[0].Prefix != "Other Users/" {
		t.Fatalf("namespace: %+v %v", ns, err)
	}
	if err := c.Logout().Wait(); err != nil {
		t.Fatal(err)
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if len(ts.sleeps) != 2 || ts.sleeps[1] == 0 {
		t.Errorf("login delays %v: the second login should wait after a failure", ts.sleeps)
	}
}

func TestAuthenticatePlain(t *testing.T) {
	ts := newTestServer(t)
	plain := func(user, pass string) string {
		return base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + pass))
	}
	r := dialRaw(t, ts.plain)
	r.send("a1 AUTHENTICATE PLAIN\r\n")
	if l := r.line(); l != "+ " {
		t.Fatalf("continuation %q", l)
	}
	r.send("*\r\n")
	r.expect("a1", "BAD")
	r.send("a2 AUTHENTICATE PLAIN " + plain("alice@example.test", "nope") + "\r\n")
	r.expect("a2", "NO [AUTHENTICATIONFAILED]")
	r.send("a3 AUTHENTICATE PLAIN\r\n")
	r.line()
	r.send(plain("alice@example.test", "password") + "\r\n")
	r.expect("a3", "OK [CAPABILITY ")
	r.send("a4 NAMESPACE\r\n")
	r.expect("a4", "OK")
}

// TestPreAuthNestingFlood is the hardening issue's crash: ID with a
// million parentheses spread over lines joined by zero-length literals,
// before login. The command is refused at the nesting limit, the flood
// that follows is answered line by line, and the server keeps serving.
func TestPreAuthNestingFlood(t *testing.T) {
	ts := newTestServer(t)
	r := dialRaw(t, ts.plain)
	var flood strings.Builder
	flood.WriteString("a1 ID ")
	for range 10000 {
		flood.WriteString(strings.Repeat("(", 100) + "{0}\r\n")
	}
	go func() {
		io.WriteString(r.c, flood.String()+"\r\nz1 NOOP\r\n")
	}()
	lines := r.until("z1")
	if !strings.HasPrefix(lines[0], "a1 BAD [LIMIT]") || lines[len(lines)-1] != "z1 OK NOOP completed" {
		t.Fatalf("first %q, last %q", lines[0], lines[len(lines)-1])
	}
	other := dialRaw(t, ts.plain)
	other.send("b1 NOOP\r\n")
	other.expect("b1", "OK")
}

// TestLongLineEndsConnection: a line over the limit is answered with BYE
// and nothing after it runs, not even what follows on the same line.
func TestLongLineEndsConnection(t *testing.T) {
	ts := newTestServer(t)
	r := dialRaw(t, ts.plain)
	go io.WriteString(r.c, "a1 ID ("+strings.Repeat("x", 70000)+"\r\na2 LOGIN alice@example.test password\r\na3 NOOP\r\n")
	if l := r.line(); !strings.HasPrefix(l, "* BYE [LIMIT]") {
		t.Fatalf("got %q, want BYE [LIMIT]", l)
	}
	if l, err := r.br.ReadString('\n'); err == nil {
		t.Fatalf("after BYE: %q", l)
	}
}

// TestRefusedBeforeLiteral: a command that is not allowed, or whose
// literal is too large, is answered at once, with no "+", and the
// connection stays in step.
func TestRefusedBeforeLiteral(t *testing.T) {
	ts := newTestServer(t)
	r := dialRaw(t, ts.plain)
	r.send("a1 SETACL {5}\r\n")
	r.expect("a1", "BAD")
	r.send("a2 ID ({100000}\r\n")
	r.expect("a2", "NO [TOOBIG]")
	r.send("a3 ID (\"name\" {4+}\r\ntest)\r\n")
	r.expect("a3", "OK")
	r.send("a4 FROBNICATE {5+}\r\nhello\r\na5 NOOP\r\n")
	r.expect("a4", "BAD")
	r.expect("a5", "OK")
}

// TestStartTLSDiscardsPipelinedPlaintext: commands sent in plain text
// right behind STARTTLS are not run over the TLS session.
func TestStartTLSDiscardsPipelinedPlaintext(t *testing.T) {
	ts := newTestServer(t)
	r := dialRaw(t, ts.strict)
	r.send("a1 STARTTLS\r\na2 LOGIN alice@example.test password\r\n")
	r.expect("a1", "OK")
	tc := tls.Client(r.c, &tls.Config{InsecureSkipVerify: true})
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	r.c, r.br = tc, bufio.NewReader(tc)
	r.send("a3 CAPABILITY\r\n")
	lines := r.expect("a3", "OK")
	if strings.Contains(strings.Join(lines, "\n"), "a2 ") {
		t.Fatalf("pipelined LOGIN ran: %q", lines)
	}
	if !strings.Contains(lines[0], "AUTH=PLAIN") || strings.Contains(lines[0], "STARTTLS") {
		t.Fatalf("capabilities after STARTTLS: %q", lines[0])
	}
	r.send("a4 LOGIN alice@example.test password\r\n")
	r.expect("a4", "OK")
}

func TestStateRules(t *testing.T) {
	ts := newTestServer(t)
	r := dialRaw(t, ts.plain)
	r.send("a1 ENABLE UTF8=ACCEPT\r\n")
	r.expect("a1", "BAD")
	r.send("a2 LOGIN alice@example.test password\r\na3 LOGIN alice@example.test password\r\n")
	r.expect("a2", "OK")
	r.expect("a3", "BAD")
	r.send("a4 ENABLE UTF8=ACCEPT X-UNKNOWN\r\n")
	if lines := r.expect("a4", "OK"); lines[0] != "* ENABLED UTF8=ACCEPT" {
		t.Fatalf("ENABLE: %q", lines)
	}
	r.send("a5 UNAUTHENTICATE\r\na6 NAMESPACE\r\n")
	r.expect("a5", "OK")
	r.expect("a6", "BAD")
	r.send("a7 LOGOUT\r\n")
	if lines := r.expect("a7", "OK"); lines[0] != "* BYE Logging out" {
		t.Fatalf("LOGOUT: %q", lines)
	}
}

// TestShutdown: Close says BYE to a connection waiting for a command and
// to one in IDLE, and returns once they are gone.
func TestShutdown(t *testing.T) {
	ts := newTestServer(t)
	waiting := dialRaw(t, ts.plain)
	idle := dialRaw(t, ts.plain)
	idle.send("i1 LOGIN alice@example.test password\r\ni2 SELECT INBOX\r\ni3 IDLE\r\n")
	idle.expect("i2", "OK")
	if l := idle.line(); l != "+ idling" {
		t.Fatalf("IDLE: %q", l)
	}
	closed := make(chan struct{})
	go func() {
		ts.srv.Close()
		close(closed)
	}()
	for _, r := range []*raw{waiting, idle} {
		if l := r.line(); !strings.HasPrefix(l, "* BYE [UNAVAILABLE]") {
			t.Errorf("got %q, want BYE [UNAVAILABLE]", l)
		}
	}
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return")
	}
}

// TestAuthenticateLogin: the LOGIN mechanism, with and without an
// initial response.
func TestAuthenticateLogin(t *testing.T) {
	ts := newTestServer(t)
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	r := dialRaw(t, ts.plain)
	r.send("a1 AUTHENTICATE LOGIN\r\n")
	if l := r.line(); l != "+ "+b64("Username:") {
		t.Fatalf("first challenge %q", l)
	}
	r.send(b64("alice@example.test") + "\r\n")
	if l := r.line(); l != "+ "+b64("Password:") {
		t.Fatalf("second challenge %q", l)
	}
	r.send(b64("wrong") + "\r\n")
	r.expect("a1", "NO [AUTHENTICATIONFAILED]")
	r.send("a2 AUTHENTICATE LOGIN " + b64("alice@example.test") + "\r\n")
	if l := r.line(); l != "+ "+b64("Password:") {
		t.Fatalf("challenge after an initial response %q", l)
	}
	r.send(b64("password") + "\r\n")
	r.expect("a2", "OK [CAPABILITY ")
}
