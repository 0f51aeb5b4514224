package managesieve

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"mailroom/acl"
	"mailroom/internal/testutil"
	"mailroom/store"
)

type env struct {
	st     *store.Store
	sleeps chan time.Duration // login delays asked for
	addr   string             // STARTTLS required for AUTHENTICATE
	open   string             // AUTHENTICATE allowed without TLS
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, store.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	h, _ := acl.HashPassword("password")
	dir, err := acl.NewDirectory([]acl.AccountSpec{
		{Address: "alice@example.test", PasswordHash: h, Plan: "pro", Groups: []string{"staff"}},
		{Address: "bob@example.test", PasswordHash: h, Plan: "pro", Groups: []string{"staff"}},
		{Address: "info@example.test", Plan: "pro", Groups: []string{"staff"}, Team: true},
	}, []acl.Plan{{Name: "pro", Share: true}}, []string{"staff"}, []acl.Share{
		{Owner: "info@example.test", Grantee: "group:staff", Rights: "lrswipkxte"},
		{Owner: "info@example.test", Grantee: "alice@example.test", Rights: "lrswipkxtea"},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{"alice@example.test", "bob@example.test", "info@example.test"} {
		st.EnsureAccount(ctx, a, false)
	}
	e := &env{st: st, sleeps: make(chan time.Duration, 100)}
	srv := New(Options{Store: st, Directory: acl.NewLive(dir), TLSConfig: testutil.TLSConfig(t),
		Sleep: func(_ context.Context, d time.Duration) { e.sleeps <- d }})
	for _, insecure := range []bool{false, true} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go srv.Serve(ln, ListenerOptions{InsecureAuth: insecure})
		if insecure {
			e.open = ln.Addr().String()
		} else {
			e.addr = ln.Addr().String()
		}
	}
	t.Cleanup(func() { srv.Close() })
	return e
}

// client is a minimal ManageSieve client for the tests.
type client struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
}

func dial(t *testing.T, addr string) (*client, string) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c := &client{t: t, conn: conn, r: bufio.NewReader(conn)}
	return c, c.response()
}

// response reads lines up to OK, NO or BYE, with literals inlined, and
// returns them joined by "\n".
func (c *client) response() string {
	c.t.Helper()
	var lines []string
	for {
		c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		line, err := c.r.ReadString('\n')
		if err != nil {
			c.t.Fatalf("read: %v (so far %q)", err, lines)
		}
		line = strings.TrimRight(line, "\r\n")
		if strings.HasPrefix(line, "{") && strings.HasSuffix(line, "}") {
			n, _ := strconv.Atoi(line[1 : len(line)-1])
			buf := make([]byte, n)
			io.ReadFull(c.r, buf)
			c.r.ReadString('\n')
			line = string(buf)
		}
		lines = append(lines, line)
		if strings.HasPrefix(line, "OK") || strings.HasPrefix(line, "NO") || strings.HasPrefix(line, "BYE") {
			return strings.Join(lines, "\n")
		}
	}
}

func (c *client) cmd(format string, a ...any) string {
	c.t.Helper()
	fmt.Fprintf(c.conn, format+"\r\n", a...)
	return c.response()
}

func (c *client) startTLS() string {
	c.t.Helper()
	if got := c.cmd("STARTTLS"); !strings.HasPrefix(got, "OK") {
		c.t.Fatalf("STARTTLS: %s", got)
	}
	tc := tls.Client(c.conn, &tls.Config{InsecureSkipVerify: true})
	c.conn, c.r = tc, bufio.NewReader(tc)
	return c.response()
}

func plain(authz, user, pass string) string {
	return base64.StdEncoding.EncodeToString([]byte(authz + "\x00" + user + "\x00" + pass))
}

func lastLine(s string) string { return s[strings.LastIndexByte(s, '\n')+1:] }

func TestSession(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c, greeting := dial(t, e.addr)
	for _, want := range []string{`"IMPLEMENTATION" "Mailroom"`, `"SASL" ""`, `"STARTTLS"`, `"VERSION" "1.0"`, `"SIEVE" "fileinto `} {
		if !strings.Contains(greeting, want) {
			t.Errorf("greeting lacks %s:\n%s", want, greeting)
		}
	}
	if got := c.cmd(`AUTHENTICATE "PLAIN" "%s"`, plain("", "alice@example.test", "password")); !strings.HasPrefix(got, "NO (ENCRYPT-NEEDED)") {
		t.Errorf("AUTHENTICATE before TLS: %s", got)
	}
	if got := c.cmd("LISTSCRIPTS"); !strings.HasPrefix(got, "NO") {
		t.Errorf("LISTSCRIPTS before login: %s", got)
	}
	caps := c.startTLS()
	if !strings.Contains(caps, `"SASL" "PLAIN LOGIN"`) || strings.Contains(caps, "STARTTLS") {
		t.Errorf("capabilities after STARTTLS:\n%s", caps)
	}
	if got := c.cmd(`AUTHENTICATE "PLAIN" "%s"`, plain("", "alice@example.test", "wrong")); !strings.HasPrefix(got, "NO") {
		t.Errorf("bad password: %s", got)
	}
	// PLAIN with the response on its own line.
	fmt.Fprintf(c.conn, "AUTHENTICATE \"PLAIN\"\r\n")
	c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if ch, _ := c.r.ReadString('\n'); ch != "\"\"\r\n" {
		t.Fatalf("PLAIN challenge = %q", ch)
	}
	if got := c.cmd(`"%s"`, plain("", "alice@example.test", "password")); got != `OK "Logged in"` {
		t.Fatalf("AUTHENTICATE: %s", got)
	}
	script := "require \"fileinto\";\r\nif header :contains \"subject\" \"order\" { fileinto \"Orders\"; }\r\n"
	steps := []struct{ cmd, want string }{
		{`HAVESPACE "orders" 1000`, "OK"},
		{`HAVESPACE "orders" 999999999`, "NO (QUOTA/MAXSIZE)"},
		{fmt.Sprintf("PUTSCRIPT \"orders\" {%d+}\r\n%s", len(script), script), "OK"},
		{"PUTSCRIPT \"bad\" {24+}\r\nkeep;\r\nfrobnicate \"x\";\r\n", `NO "line 2, column 1: unknown command \"frobnicate\""`},
		{"CHECKSCRIPT {6+}\r\nfoo;\r\n", `NO "line 1, column 1: unknown command \"foo\""`},
		{`CHECKSCRIPT "keep;"`, "OK"},
		{`LISTSCRIPTS`, "\"orders\"\nOK"},
		{`SETACTIVE "nope"`, "NO (NONEXISTENT)"},
		{`SETACTIVE "orders"`, "OK"},
		{`LISTSCRIPTS`, "\"orders\" ACTIVE\nOK"},
		{`GETSCRIPT "orders"`, script + "\nOK"},
		{`DELETESCRIPT "orders"`, "NO (ACTIVE)"},
		{`RENAMESCRIPT "orders" "main"`, "OK"},
		{`PUTSCRIPT "other" "keep;"`, "OK"},
		{`RENAMESCRIPT "other" "main"`, "NO (ALREADYEXISTS)"},
		{`LISTSCRIPTS`, "\"main\" ACTIVE\n\"other\"\nOK"},
		{`DELETESCRIPT "other"`, "OK"},
		{`PUTSCRIPT "a/b" "keep;"`, `NO "Invalid script name"`},
		{`NOOP "tag1"`, `OK (TAG "tag1")`},
		{`FROB`, `NO "Unknown command FROB"`},
		{`GETSCRIPT`, `NO "GETSCRIPT takes 1 arguments"`},
		{`HAVESPACE "x" "y"`, `NO "HAVESPACE: argument 2 must be a number"`},
		{`UNAUTHENTICATE`, "OK"},
		{`LISTSCRIPTS`, "NO"},
	}
	for _, s := range steps {
		got := c.cmd("%s", s.cmd)
		if !strings.HasPrefix(got, s.want) {
			t.Errorf("%q:\n got %q\nwant %q", s.cmd, got, s.want)
		}
	}
	if name, _, ok, _ := e.st.ActiveSieveScript(context.Background(), "alice@example.test"); !ok || name != "main" {
		t.Errorf("alice's active script = %q %v", name, ok)
	}
	if got := c.cmd("LOGOUT"); !strings.HasPrefix(got, "OK") {
		t.Errorf("LOGOUT: %s", got)
	}
}

// TestTeamScripts: alice holds "a" on info@'s INBOX and manages its
// scripts with authzid info@; bob, without "a", is refused.
func TestTeamScripts(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c, _ := dial(t, e.open)
	if got := c.cmd(`AUTHENTICATE "PLAIN" "%s"`, plain("info@example.test", "bob@example.test", "password")); !strings.HasPrefix(got, "NO") || !strings.Contains(got, "Not authorised") {
		t.Errorf("bob as info@: %s", got)
	}
	if got := c.cmd(`AUTHENTICATE "PLAIN" "%s"`, plain("info@example.test", "alice@example.test", "password")); got != `OK "Logged in"` {
		t.Fatalf("alice as info@: %s", got)
	}
	if got := c.cmd(`CAPABILITY`); !strings.Contains(got, `"OWNER" "info@example.test"`) {
		t.Errorf("CAPABILITY: %s", got)
	}
	if got := c.cmd(`PUTSCRIPT "desk" "keep;"`); got != "OK" {
		t.Fatalf("PUTSCRIPT: %s", got)
	}
	if got, err := e.st.GetSieveScript(context.Background(), "info@example.test", "desk"); err != nil || got != "keep;" {
		t.Errorf("info@'s script = %q, %v", got, err)
	}
	if list, _ := e.st.ListSieveScripts(context.Background(), "alice@example.test"); len(list) != 0 {
		t.Errorf("alice's own scripts = %v", list)
	}
	// LOGIN works too, for the user's own scripts.
	c2, _ := dial(t, e.open)
	fmt.Fprintf(c2.conn, "AUTHENTICATE \"LOGIN\"\r\n")
	for _, answer := range []string{"bob@example.test", "password"} {
		c2.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := c2.r.ReadString('\n'); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(c2.conn, "\"%s\"\r\n", base64.StdEncoding.EncodeToString([]byte(answer)))
	}
	if got := c2.response(); got != `OK "Logged in"` {
		t.Errorf("LOGIN: %s", got)
	}
}

// TestDecoderLimits: a literal over the limit before login ends the
// connection; syntax errors are answered and the connection goes on
// until too many.
func TestDecoderLimits(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c, _ := dial(t, e.open)
	if got := c.cmd(`CAPABILITY "x`); !strings.HasPrefix(got, "NO") {
		t.Errorf("unterminated quote: %s", got)
	}
	if got := c.cmd(`NOOP`); got != `OK "Done"` {
		t.Errorf("after an error: %s", got)
	}
	if got := c.cmd("CHECKSCRIPT {100000+}"); !strings.HasPrefix(got, "BYE (QUOTA/MAXSIZE)") {
		t.Errorf("big literal before login: %s", got)
	}
	c2, _ := dial(t, e.open)
	var got string
	for range maxErrors {
		got = c2.cmd("???")
	}
	if !strings.HasPrefix(lastLine(got), "BYE") {
		t.Errorf("after %d errors: %s", maxErrors, got)
	}
	c3, _ := dial(t, e.open)
	if got := c3.cmd("NOOP %s", strings.Repeat("1", maxLine+10)); !strings.HasPrefix(got, "NO") {
		t.Errorf("long line: %s", got)
	}
}

// TestLoginThrottle: a failed login makes the next one for that name
// wait, as IMAP does (netlimit.Throttle).
func TestLoginThrottle(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c, _ := dial(t, e.open)
	if got := c.cmd(`AUTHENTICATE "PLAIN" "%s"`, plain("", "bob@example.test", "wrong")); !strings.HasPrefix(got, "NO") {
		t.Fatalf("bad password: %s", got)
	}
	if d := <-e.sleeps; d != 0 {
		t.Errorf("first attempt waited %v", d)
	}
	if got := c.cmd(`AUTHENTICATE "PLAIN" "%s"`, plain("", "bob@example.test", "password")); got != `OK "Logged in"` {
		t.Fatalf("good password: %s", got)
	}
	if d := <-e.sleeps; d < time.Second {
		t.Errorf("attempt after a failure waited %v, want at least 1s", d)
	}
}
