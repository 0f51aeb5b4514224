package imapd

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"

	"mailroom/acl"
	"mailroom/internal/testutil"
	"mailroom/store"
)

// testServer is a store, a directory and an IMAP server listening on
// 127.0.0.1: a plain listener that allows insecure auth (as development
// does), a strict one, and an implicit-TLS one.
type testServer struct {
	st                      *store.Store
	srv                     *Server
	reg                     *Registry
	dir                     *acl.Live
	plain, strict, implicit string

	mu     sync.Mutex
	sleeps []time.Duration
}

func testDirectory(t testing.TB) *acl.Directory {
	t.Helper()
	h, err := acl.HashPassword("password")
	if err != nil {
		t.Fatal(err)
	}
	dir, err := acl.NewDirectory([]acl.AccountSpec{
		{Address: "alice@example.test", PasswordHash: h, Plan: "pro", Groups: []string{"staff"}, Aliases: []string{"a.liddell@example.test"}},
		{Address: "bob@example.test", PasswordHash: h, Plan: "free", Groups: []string{"staff"}},
		{Address: "info@example.test", Plan: "pro", Groups: []string{"staff"}, Team: true},
		{Address: "small@example.test", PasswordHash: h, Plan: "small"},
	}, []acl.Plan{{Name: "free"}, {Name: "pro", Share: true}, {Name: "small", Quota: 200}}, []string{"staff"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

func newTestServer(t testing.TB, tweak ...func(*Options)) *testServer {
	t.Helper()
	reg := NewRegistry()
	st, err := store.Open(context.Background(), store.Options{Dir: t.TempDir(), OnChange: reg.Publish, Derive: DeriveBodyInfo})
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{st: st, reg: reg, dir: acl.NewLive(testDirectory(t))}
	opts := Options{
		Store: st, Registry: reg, Directory: ts.dir, Logger: slog.New(slog.DiscardHandler),
		TLSConfig: testutil.TLSConfig(t), AppendLimit: 1 << 20, MaxMailboxes: 100,
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
	listen := func(lopts ListenerOptions, implicit bool) string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		if implicit {
			ln = tls.NewListener(ln, opts.TLSConfig)
		}
		go ts.srv.Serve(ln, lopts)
		return ln.Addr().String()
	}
	ts.plain = listen(ListenerOptions{InsecureAuth: true}, false)
	ts.strict = listen(ListenerOptions{}, false)
	ts.implicit = listen(ListenerOptions{}, true)
	t.Cleanup(func() {
		ts.srv.Close()
		st.Close()
	})
	return ts
}

// client logs in on the plain listener.
func (ts *testServer) client(t testing.TB, user string, opts *imapclient.Options) *imapclient.Client {
	t.Helper()
	c, err := imapclient.DialInsecure(ts.plain, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Login(user, "password").Wait(); err != nil {
		t.Fatalf("login %s: %v", user, err)
	}
	return c
}

func insecureTLS() *imapclient.Options {
	return &imapclient.Options{TLSConfig: &tls.Config{InsecureSkipVerify: true}}
}

// respCode returns the response code of an IMAP error.
func respCode(err error) imap.ResponseCode {
	var ie *imap.Error
	if errors.As(err, &ie) {
		return ie.Code
	}
	return ""
}

func TestCapabilities(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c, err := imapclient.DialInsecure(ts.plain, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	caps, err := c.Capability().Wait()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []imap.Cap{"IMAP4rev1", "IMAP4rev2", "STARTTLS", "AUTH=PLAIN", "SASL-IR", "ID"} {
		if !caps.Has(want) {
			t.Errorf("before login: no %s in %v", want, caps)
		}
	}
	if err := c.Login("alice@example.test", "password").Wait(); err != nil {
		t.Fatal(err)
	}
	caps, _ = c.Capability().Wait()
	for _, want := range []string{"IMAP4rev1", "IMAP4rev2", "SASL-IR", "ID", "ENABLE", "NAMESPACE", "UNSELECT",
		"UIDPLUS", "ESEARCH", "SEARCHRES", "IDLE", "LIST-EXTENDED", "LIST-STATUS", "SPECIAL-USE", "MOVE",
		"LITERAL+", "STATUS=SIZE", "CHILDREN", "APPENDLIMIT=1048576"} {
		if !caps.Has(imap.Cap(want)) {
			t.Errorf("after login: no %s in %v", want, caps)
		}
	}
	if caps.Has("STARTTLS") || caps.Has("LOGINDISABLED") {
		t.Errorf("after login: %v", caps)
	}
	id, err := c.ID(&imap.IDData{Name: "test"}).Wait()
	if err != nil || id.Name != "Mailroom" {
		t.Fatalf("ID = %+v, %v", id, err)
	}
}

func TestLoginNeedsTLS(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)

	// The strict listener refuses passwords in the clear...
	c, err := imapclient.DialInsecure(ts.strict, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	caps, _ := c.Capability().Wait()
	if !caps.Has("LOGINDISABLED") || !caps.Has("STARTTLS") || caps.Has("AUTH=PLAIN") {
		t.Errorf("strict listener before TLS: %v", caps)
	}
	err = c.Login("alice@example.test", "password").Wait()
	if respCode(err) != imap.ResponseCodePrivacyRequired {
		t.Fatalf("LOGIN before TLS: %v", err)
	}
	if c.State() != imap.ConnStateNotAuthenticated {
		t.Fatal("logged in without TLS")
	}

	// ...and accepts them after STARTTLS, by address or alias.
	c, err = imapclient.DialStartTLS(ts.strict, insecureTLS())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	caps, _ = c.Capability().Wait()
	if caps.Has("STARTTLS") || caps.Has("LOGINDISABLED") || !caps.Has("AUTH=PLAIN") {
		t.Errorf("after STARTTLS: %v", caps)
	}
	if err := c.Login("A.Liddell@Example.TEST", "password").Wait(); err != nil {
		t.Fatalf("LOGIN by alias after STARTTLS: %v", err)
	}
	if err := c.Noop().Wait(); err != nil {
		t.Fatal(err)
	}

	// Implicit TLS, with AUTHENTICATE PLAIN.
	c, err = imapclient.DialTLS(ts.implicit, insecureTLS())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Authenticate(plainClient("bob@example.test", "password")); err != nil {
		t.Fatalf("AUTHENTICATE over implicit TLS: %v", err)
	}
}

func TestLoginFailures(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	try := func(user, pass string) error {
		c, err := imapclient.DialInsecure(ts.plain, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.Login(user, pass).Wait()
	}
	// Unknown account, wrong password, account without a password: the
	// same answer.
	for _, tc := range [][2]string{{"nobody@example.test", "password"}, {"alice@example.test", "wrong"}, {"info@example.test", ""}} {
		if err := try(tc[0], tc[1]); respCode(err) != imap.ResponseCodeAuthenticationFailed {
			t.Errorf("login %s: %v", tc[0], err)
		}
	}
	// A failure slows the next attempt for that name from this address
	// (TestLoginDelayNAT has the rest), not the other names.
	try("alice@example.test", "wrong")
	ts.mu.Lock()
	got := append([]time.Duration(nil), ts.sleeps...)
	ts.mu.Unlock()
	want := []time.Duration{0, 0, 0, time.Second}
	if len(got) != 4 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] || got[3] != want[3] {
		t.Fatalf("delays = %v, want %v", got, want)
	}
	if err := try("bob@example.test", "password"); err != nil {
		t.Fatal(err)
	}
	ts.mu.Lock()
	if d := ts.sleeps[len(ts.sleeps)-1]; d != 0 {
		t.Errorf("bob delayed %v by others' failures from this address", d)
	}
	ts.mu.Unlock()
}

func TestConnectionLimits(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, func(o *Options) {
		o.MaxConnectionsPerIP = 2
		o.MaxSessionsPerAccount = 1
	})
	a := ts.client(t, "alice@example.test", nil)
	// The second session of alice is refused.
	c2, err := imapclient.DialInsecure(ts.plain, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if err := c2.Login("alice@example.test", "password").Wait(); respCode(err) != imap.ResponseCodeLimit {
		t.Fatalf("second session: %v", err)
	}
	// A third connection from 127.0.0.1 gets BYE at once.
	raw := testutil.Dial(t, ts.plain, 10*time.Second)
	greeting, _ := io.ReadAll(raw)
	if !strings.HasPrefix(string(greeting), "* BYE [UNAVAILABLE]") {
		t.Fatalf("third connection got %q", greeting)
	}
	// Logging out frees the slots.
	a.Logout().Wait()
	c2.Logout().Wait()
	<-a.Closed()
	<-c2.Closed()
	ts.client(t, "alice@example.test", nil)
}

func TestLoginTimeout(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, func(o *Options) { o.LoginTimeout = 200 * time.Millisecond })
	raw := testutil.Dial(t, ts.plain, 20*time.Second)
	// The server closes the connection by itself; ReadAll returns at EOF.
	if _, err := io.ReadAll(raw); err != nil {
		t.Fatalf("connection not closed by the server: %v", err)
	}
}

func TestIdleTimeout(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, func(o *Options) { o.IdleTimeout = 300 * time.Millisecond })
	c := ts.client(t, "alice@example.test", nil)
	select {
	case <-c.Closed():
	case <-time.After(20 * time.Second):
		t.Fatal("idle authenticated connection not closed")
	}
}

func TestBadInput(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	raw := testutil.Dial(t, ts.plain, 20*time.Second)
	io.WriteString(raw, "a1 ID (\"unterminated\r\na2 ID NIL\r\na3 FROB\r\n")
	buf := make([]byte, 4096)
	var got string
	for !strings.Contains(got, "a3 ") {
		n, err := raw.Read(buf)
		if err != nil {
			t.Fatalf("after %q: %v", got, err)
		}
		got += string(buf[:n])
	}
	for _, want := range []string{"a1 BAD", "a2 OK", "a3 BAD"} {
		if !strings.Contains(got, want) {
			t.Errorf("no %q in %q", want, got)
		}
	}
}

// plainClient is a SASL PLAIN client.
func plainClient(user, pass string) sasl.Client { return sasl.NewPlainClient("", user, pass) }

// TestRefusedLiteralKeepsConnection sends an APPEND over the limit, once
// with a synchronizing literal (the client waits and sends nothing) and
// once with LITERAL+ (the client sends it anyway): both are refused with
// TOOBIG and the next command on the connection works.
func TestRefusedLiteralKeepsConnection(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	raw := testutil.Dial(t, ts.plain, 20*time.Second)
	big := strings.Repeat("x", 1<<20+1)
	io.WriteString(raw, "a0 LOGIN alice@example.test password\r\n"+
		"a1 APPEND INBOX {1048577}\r\n"+
		"a2 APPEND INBOX {1048577+}\r\n"+big+"\r\n"+
		"a3 APPEND INBOX (\\Seen) {11+}\r\nSubject: x\n\r\n"+
		"a4 LOGOUT\r\n")
	out, _ := io.ReadAll(raw)
	for _, want := range []string{"a1 NO [TOOBIG]", "a2 NO [TOOBIG]", "a3 OK [APPENDUID", "a4 OK"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("no %q in %q", want, out)
		}
	}
}

// rawConn speaks IMAP line by line, for what imapclient cannot send.
type rawConn struct {
	t  testing.TB
	c  net.Conn
	br *bufio.Reader
}

func dialRaw(t testing.TB, addr string) *rawConn {
	t.Helper()
	c := testutil.Dial(t, addr, 10*time.Minute)
	r := &rawConn{t: t, c: c, br: bufio.NewReader(c)}
	r.br.ReadString('\n') // greeting
	return r
}

// forget drops what the registry keeps of an unselected mailbox, as a
// restart would.
func (ts *testServer) forget(id store.MailboxID) { ts.reg.Forget(id) }

// cmd sends one command line (its tag is the first word) and returns
// everything up to and including the tagged response.
func (r *rawConn) cmd(line string) string {
	r.t.Helper()
	return r.cmdTag(line, strings.Fields(line)[0])
}

// cmdTag sends a line (a command, or a continuation such as a SASL
// response) and reads up to the tagged response for tag.
func (r *rawConn) cmdTag(line, tag string) string {
	r.t.Helper()
	if _, err := io.WriteString(r.c, line+"\r\n"); err != nil {
		r.t.Fatal(err)
	}
	var out strings.Builder
	for {
		l, err := r.br.ReadString('\n')
		if n, ok := literalAnnounced(l); ok {
			lit := make([]byte, n)
			if _, err := io.ReadFull(r.br, lit); err != nil {
				r.t.Fatal(err)
			}
			l += string(lit)
		}
		out.WriteString(l)
		if err != nil {
			r.t.Fatalf("%s: %v after %q", line, err, out.String())
		}
		if strings.HasPrefix(l, tag+" ") {
			return out.String()
		}
	}
}

// literalAnnounced reports whether a response line ends with a literal
// ({n} or ~{n}) and its size.
func literalAnnounced(l string) (int, bool) {
	if !strings.HasSuffix(strings.TrimRight(l, "\r\n"), "}") {
		return 0, false // most lines: no need for the regexp, which would dominate benchmarks
	}
	m := literalAtEndRE.FindStringSubmatch(l)
	if m == nil {
		return 0, false
	}
	n, err := strconv.Atoi(m[1])
	return n, err == nil
}

var literalAtEndRE = regexp.MustCompile(`~?\{(\d{1,9})\}\r?\n$`)

// ok is cmd that requires a tagged OK.
func (r *rawConn) ok(line string) string {
	r.t.Helper()
	out := r.cmd(line)
	tag := strings.Fields(line)[0]
	if !strings.Contains(out, "\r\n"+tag+" OK") && !strings.HasPrefix(out, tag+" OK") {
		r.t.Fatalf("%s: %q", line, out)
	}
	return out
}

// TestPythonImaplib runs testdata/e2e/imaplib_e2e.py, a client nobody
// here wrote, against the strict listener (it does STARTTLS first).
func TestPythonImaplib(t *testing.T) {
	t.Parallel()
	python := testutil.NeedPython(t)
	ts := newTestServer(t)
	host, port, _ := net.SplitHostPort(ts.strict)
	out, err := exec.Command(python, "../testdata/e2e/imaplib_e2e.py", host, port, "alice@example.test", "password").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "ok" {
		t.Fatalf("imaplib: %v\n%s", err, out)
	}
}

// TestPythonQresyncSort runs testdata/e2e/qresync_e2e.py: imaplib sorts,
// then resynchronises with QRESYNC after another client's changes.
func TestPythonQresyncSort(t *testing.T) {
	t.Parallel()
	python := testutil.NeedPython(t)
	ts := newTestServer(t)
	host, port, _ := net.SplitHostPort(ts.plain)
	out, err := exec.Command(python, "../testdata/e2e/qresync_e2e.py", host, port, "alice@example.test", "password").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "ok" {
		t.Fatalf("imaplib: %v\n%s", err, out)
	}
}

// TestUnauthenticate: UNAUTHENTICATE (RFC 8437) returns to the
// not-authenticated state, frees the session slot, and a new LOGIN works.
func TestUnauthenticate(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, func(o *Options) { o.MaxSessionsPerAccount = 1 })
	c := ts.client(t, "alice@example.test", nil)
	c.Select("INBOX", nil).Wait()
	if err := c.Unauthenticate().Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Status("INBOX", &imap.StatusOptions{NumMessages: true}).Wait(); err == nil {
		t.Fatal("STATUS after UNAUTHENTICATE succeeded")
	}
	// alice's only slot is free again: another connection may log in.
	ts.client(t, "alice@example.test", nil)
	if err := c.Login("bob@example.test", "password").Wait(); err != nil {
		t.Fatalf("LOGIN after UNAUTHENTICATE: %v", err)
	}
}

// TestSlowDripCutOff: a client that sends one byte at a time never gets
// past the login timeout, however steadily it drips, and other clients
// are served meanwhile.
func TestSlowDripCutOff(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, func(o *Options) { o.LoginTimeout = 500 * time.Millisecond })
	raw := testutil.Dial(t, ts.plain, 30*time.Second)
	closed := make(chan struct{})
	go func() {
		io.ReadAll(raw) // returns when the server closes the connection
		close(closed)
	}()
	drip := time.NewTicker(50 * time.Millisecond) // the slow client's pace
	defer drip.Stop()
	cmd := []byte("a1 LOGIN alice@example.test password\r\n")
	other := ts.client(t, "bob@example.test", nil) // served while the drip goes on
	if err := other.Noop().Wait(); err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		select {
		case <-closed:
			if i >= len(cmd) {
				t.Fatalf("the server read the whole command (%d bytes) before cutting off", i)
			}
			return
		case <-drip.C:
			if i < len(cmd) {
				raw.Write(cmd[i : i+1])
			}
		case <-time.After(20 * time.Second):
			t.Fatal("dripping client not cut off")
		}
	}
}

// TestLongLineRefused: a command line longer than the limit is refused
// with BYE [LIMIT] before it is buffered whole.
func TestLongLineRefused(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	raw := testutil.Dial(t, ts.plain, 30*time.Second)
	go raw.Write([]byte("a1 LOGIN " + strings.Repeat("x", 1<<20) + " password\r\n"))
	out, _ := io.ReadAll(raw)
	if !strings.Contains(string(out), "* BYE [LIMIT]") {
		t.Fatalf("got %q", out[:min(len(out), 200)])
	}
}
