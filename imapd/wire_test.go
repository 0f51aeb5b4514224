package imapd

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"mailroom/internal/testutil"
)

// These tests drive the listener over a raw socket with what a hostile or
// broken client sends, and check the answers on the wire. They hold for
// any implementation behind the listener.

// readUntil reads lines from br until one starts with prefix, and returns
// them all; it fails the test at EOF or on the connection's deadline.
func readUntil(t *testing.T, br *bufio.Reader, prefix string) string {
	t.Helper()
	var out strings.Builder
	for {
		l, err := br.ReadString('\n')
		out.WriteString(l)
		if err != nil {
			t.Fatalf("waiting for %q: %v after %q", prefix, err, tail(out.String()))
		}
		if strings.HasPrefix(l, prefix) {
			return out.String()
		}
	}
}

func tail(s string) string {
	if len(s) > 300 {
		return "..." + s[len(s)-300:]
	}
	return s
}

// noopWorks checks that a fresh connection is served.
func noopWorks(t *testing.T, addr string) {
	t.Helper()
	r := dialRaw(t, addr)
	r.ok("n1 NOOP")
}

// TestDeepNestingPreAuth: ID with parentheses nested ever deeper, spread
// over lines joined by empty literals, before login. The server refuses
// it with BAD long before go-imap's own depth (1000) and goes on serving
// the connection; it never grants literal after literal as the nesting
// grows.
func TestDeepNestingPreAuth(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	r := dialRaw(t, ts.plain)
	const perLine = 50
	io.WriteString(r.c, "a1 ID")
	for depth := perLine; ; depth += perLine {
		// Each line opens more lists; its first element is an empty
		// string, so the next line starts with SP and the next list.
		io.WriteString(r.c, " "+strings.Repeat("(", perLine)+"{0}\r\n")
		l, err := r.br.ReadString('\n')
		if err != nil {
			t.Fatalf("after %d parentheses: %v", depth, err)
		}
		if strings.HasPrefix(l, "a1 BAD") {
			break
		}
		if !strings.HasPrefix(l, "+") {
			t.Fatalf("after %d parentheses: %q", depth, l)
		}
		if depth >= 1000 {
			t.Fatalf("still reading a command nested %d deep", depth)
		}
	}
	r.ok("a2 NOOP")
	noopWorks(t, ts.plain)
}

// TestDeepNestingFlood: the crash input of issue #10 (three million
// nested parentheses over lines joined by zero-length non-synchronizing
// literals; the parser recursed once per parenthesis and overflowed Go's
// 1 GB stack, killing the process) sent in one go before login is
// answered BAD, and both that connection and a new one go on.
func TestDeepNestingFlood(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	for _, cmd := range []string{"ID", "SETACL"} {
		r := dialRaw(t, ts.plain)
		line := " " + strings.Repeat("(", 1000) + "{0+}\r\n"
		go func() {
			w := bufio.NewWriterSize(r.c, 64<<10)
			w.WriteString("a1 " + cmd)
			for range 3000 {
				w.WriteString(line)
			}
			w.WriteString(")\r\na2 NOOP\r\n")
			w.Flush()
		}()
		out := readUntil(t, r.br, "a2 ")
		if !strings.Contains(out, "a1 BAD") || !strings.Contains(out, "a2 OK") {
			t.Fatalf("%s: got %q", cmd, tail(out))
		}
		noopWorks(t, ts.plain)
	}
}

// TestAuthCommandsRefusedBeforeLogin: before login, ACL commands (and
// every command that needs a login) are refused at once, without the
// server asking for their literals or reading their arguments.
func TestAuthCommandsRefusedBeforeLogin(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	r := dialRaw(t, ts.plain)
	for _, cmd := range []string{"GETACL", "SETACL", "MYRIGHTS", "SELECT", "CREATE", "SEARCH"} {
		io.WriteString(r.c, "a1 "+cmd+" {3}\r\n")
		l, err := r.br.ReadString('\n')
		if err != nil || !strings.HasPrefix(l, "a1 BAD") {
			t.Fatalf("%s before login: %q, %v", cmd, l, err)
		}
	}
	out := r.cmd("a2 GETACL " + strings.Repeat("(", 5000) + ")")
	if !strings.HasPrefix(out, "a2 BAD") {
		t.Fatalf("deep GETACL before login: %q", out)
	}
	r.ok("a3 NOOP")
}

// TestOverlongLineRunsNothing: a command line over the limit ends the
// connection with BYE [LIMIT], and nothing of that line, nor of what
// follows it, is executed.
func TestOverlongLineRunsNothing(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	raw := testutil.Dial(t, ts.plain, time.Minute)
	br := bufio.NewReader(raw)
	br.ReadString('\n')
	io.WriteString(raw, "a0 LOGIN alice@example.test password\r\n")
	readUntil(t, br, "a0 OK")
	// The padding is made of short words, so that any piece of it read
	// as a line would be a command.
	pad := strings.Repeat("x ", 60<<10)
	go io.WriteString(raw, "a1 NOOP "+pad+"\r\nA1 CREATE hidden\r\nA2 CREATE hidden2\r\n")
	out, _ := io.ReadAll(br)
	i := strings.Index(string(out), "* BYE [LIMIT]")
	if i < 0 {
		t.Fatalf("no BYE [LIMIT] in %q", tail(string(out)))
	}
	if rest := string(out[i:]); strings.Count(rest, "\n") != 1 {
		t.Errorf("output after BYE: %q", tail(rest))
	}
	c := ts.client(t, "alice@example.test", nil)
	boxes, err := c.List("", "hidden*", nil).Collect()
	if err != nil || len(boxes) != 0 {
		t.Fatalf("after BYE, mailboxes %v were created (%v)", boxes, err)
	}
}

// TestOversizedArgumentLiteral: a literal over the limit for a command
// other than APPEND's message is refused at once with a tagged NO
// [TOOBIG], without "+"; a non-synchronizing one (RFC 7888) is read,
// thrown away and refused; the connection stays in step either way.
func TestOversizedArgumentLiteral(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	r := dialRaw(t, ts.plain)
	r.ok("a0 LOGIN alice@example.test password")
	r.ok("a1 SELECT INBOX")
	const n = 100000
	for _, cmd := range []string{"CREATE", "SELECT", "SEARCH SUBJECT", "APPEND", "LOGIN", "ID (\"name\""} {
		io.WriteString(r.c, fmt.Sprintf("b1 %s {%d}\r\n", cmd, n))
		l, err := r.br.ReadString('\n')
		if err != nil || !(strings.HasPrefix(l, "b1 NO [TOOBIG]") || strings.HasPrefix(l, "b1 BAD")) {
			t.Fatalf("%s with a %d-byte literal: %q, %v", cmd, n, l, err)
		}
		out := r.cmd(fmt.Sprintf("b2 %s {%d+}\r\n%s", cmd, n, strings.Repeat("y", n)))
		if !strings.Contains(out, "b2 NO [TOOBIG]") && !strings.Contains(out, "b2 BAD") {
			t.Fatalf("%s with a %d-byte LITERAL+: %q", cmd, n, out)
		}
		r.ok("b3 NOOP")
	}
	// Within the limit, literals work as before.
	r.ok("c1 CREATE {5}\r\nsmall")
	r.ok("c2 SEARCH SUBJECT {1+}\r\nx SUBJECT {1}\r\nx")
}

// TestParseErrorsAreBad: what go-imap's parser refuses, or what is over
// the limits, is answered BAD, never NO [SERVERBUG], and the connection
// goes on.
func TestParseErrorsAreBad(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	r := dialRaw(t, ts.plain)
	r.ok("a0 LOGIN alice@example.test password")
	r.ok("a1 APPEND INBOX {12}\r\nSubject: x\r\n")
	r.ok("a2 SELECT INBOX")
	var ranges []string
	for i := range 4000 {
		ranges = append(ranges, fmt.Sprintf("%d:%d", 2*i+1, 2*i+2))
	}
	for _, tc := range []struct{ name, cmd, want string }{
		{"3000-deep SEARCH", "SEARCH " + strings.Repeat("(", 3000) + "ALL" + strings.Repeat(")", 3000), "BAD"},
		{"SEARCH nested past the limit", "SEARCH " + strings.Repeat("(", 150) + "ALL" + strings.Repeat(")", 150), "BAD"},
		{"deep FETCH section", "FETCH 1 BODY[HEADER.FIELDS " + strings.Repeat("(", 2000) + ")]", "BAD"},
		{"long FETCH part path", "FETCH 1 BODY.PEEK[" + strings.Repeat("1.", 5000) + "1]", "OK"},
		{"deep APPEND flags", "APPEND INBOX " + strings.Repeat("(", 2000) + " {1}", "BAD"},
		{"deep ID", "ID " + strings.Repeat("(", 2000) + "NIL" + strings.Repeat(")", 2000), "BAD"},
		{"deep SETACL", "SETACL INBOX bob@example.test " + strings.Repeat("(", 2000), "BAD"},
		{"4000-range set in FETCH", "FETCH " + strings.Join(ranges, ",") + " FLAGS", "OK"},
		{"4000-range set in SEARCH", "SEARCH " + strings.Join(ranges, ","), "OK"},
		{"invalid modified UTF-7 in CREATE", "CREATE &Jjo", "BAD"},
		{"non-canonical modified UTF-7 in SELECT", `SELECT "&AGE-"`, "BAD"},
		{"unknown SEARCH key", "SEARCH FOO", "BAD"},
		{"bad SEARCH date", "SEARCH SINCE 99-Foo-2020", "BAD"},
		{"bad SEARCH set", "SEARCH 1:x", "BAD"},
		{"sequence number zero", "FETCH 0 FLAGS", "BAD"},
		{"unterminated quoted string", `SEARCH SUBJECT "abc`, "BAD"},
	} {
		out := r.cmd("t " + tc.cmd)
		last := out[strings.LastIndex(strings.TrimSuffix(out, "\r\n"), "\n")+1:]
		if !strings.HasPrefix(last, "t "+tc.want) {
			t.Errorf("%s: got %q, want %s", tc.name, tail(out), tc.want)
		}
		if tc.want != "OK" {
			r.ok("n NOOP")
		}
	}
	r.ok("n SELECT INBOX")
}

// TestCapabilityTextInMessage: a message whose Subject reads like a
// CAPABILITY response code is served as it is: go-imap's own client
// fetches its envelope, and the bytes on the wire are the message's.
func TestCapabilityTextInMessage(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	const subject = "[CAPABILITY oops] * CAPABILITY IMAP4rev1 AUTH=PLAIN"
	msg := "From: a@example.test\r\nSubject: " + subject + "\r\n\r\n* OK [CAPABILITY IMAP4rev1] hi\r\n"
	c := ts.client(t, "alice@example.test", nil)
	app := c.Append("INBOX", int64(len(msg)), nil)
	io.WriteString(app, msg)
	app.Close()
	if _, err := app.Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	msgs, err := c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{Envelope: true,
		BodySection: []*imap.FetchItemBodySection{{Peek: true}}}).Collect()
	if err != nil || len(msgs) != 1 {
		t.Fatalf("FETCH: %v, %v", msgs, err)
	}
	if got := msgs[0].Envelope.Subject; got != subject {
		t.Errorf("subject = %q", got)
	}
	for _, b := range msgs[0].BodySection {
		if string(b.Bytes) != msg {
			t.Errorf("body = %q", b.Bytes)
		}
	}
	// The raw response too: the subject is exactly as stored.
	r := dialRaw(t, ts.plain)
	r.ok("a LOGIN alice@example.test password")
	r.ok("b SELECT INBOX")
	if out := r.ok("c FETCH 1 ENVELOPE"); !strings.Contains(out, subject) {
		t.Errorf("ENVELOPE on the wire: %q", out)
	}
}

// TestUnknownCommandBeforeLoginEnds: an unknown command before login
// still ends the connection (against cross-protocol attacks such as an
// HTTP request sent to the IMAP port), without its literal being asked for.
func TestUnknownCommandBeforeLoginEnds(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	r := dialRaw(t, ts.plain)
	io.WriteString(r.c, "POST / HTTP/1.1 {5}\r\nHost: x\r\n")
	out, _ := io.ReadAll(r.br)
	if !strings.Contains(string(out), "* BYE") || strings.Contains(string(out), "+ ") {
		t.Fatalf("got %q", out)
	}
}

// TestManyLiteralsHideNothing: a command of thousands of empty
// literals (each asked for with "+") followed by a long last line, sized
// so that go-imap's decoder (which counts 51,200 bytes of lines, each
// "{0}" it sees as "{0+}") would stop in the middle of that line and read
// the rest as a new command. Nothing of it may run.
func TestManyLiteralsHideNothing(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	r := dialRaw(t, ts.plain)
	r.ok("a0 LOGIN alice@example.test password")
	r.ok("a1 SELECT INBOX")
	const parts = 3000
	io.WriteString(r.c, "a2 SEARCH SUBJECT {0}\r\n")
	counted := len("a2 SEARCH SUBJECT {0+}\r\n")
	answered := false
	for range parts {
		l, err := r.br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(l, "+") {
			answered = true // refused early: fine
			break
		}
		io.WriteString(r.c, " SUBJECT {0}\r\n")
		counted += len(" SUBJECT {0+}\r\n")
	}
	if !answered {
		if l, err := r.br.ReadString('\n'); err != nil || !strings.HasPrefix(l, "+") {
			t.Fatalf("last literal: %q, %v", l, err)
		}
		pad := strings.Repeat("x", 51201-counted-len(" SUBJECT "))
		io.WriteString(r.c, " SUBJECT "+pad+"A9 CREATE hidden\r\n")
		readUntil(t, r.br, "")
	}
	r.c.SetReadDeadline(time.Now().Add(time.Minute))
	io.WriteString(r.c, "a3 LOGOUT\r\n")
	io.ReadAll(r.br) // up to the server's close, after BYE
	c := ts.client(t, "alice@example.test", nil)
	boxes, err := c.List("", "hidden", nil).Collect()
	if err != nil || len(boxes) != 0 {
		t.Fatalf("mailboxes %v were created (%v)", boxes, err)
	}
}

// TestAppendTrailingJunkAnswered: go-imap stored an APPENDed message and
// then answered nothing at all if the line after it held more than CRLF.
// The client must get an answer, and the next command runs: the junk is
// a syntax error (BAD), so nothing is stored.
func TestAppendTrailingJunkAnswered(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	r := dialRaw(t, ts.plain)
	r.ok("a0 LOGIN alice@example.test password")
	r.c.SetDeadline(time.Now().Add(time.Minute)) // a hang fails, not waits
	io.WriteString(r.c, "a1 APPEND INBOX {12+}\r\nSubject: x\r\n junk\r\n")
	if l := readUntil(t, r.br, "a1 "); !strings.Contains(l, "a1 BAD") {
		t.Fatalf("APPEND with trailing junk: %q", l)
	}
	r.ok("a2 NOOP")
	out := r.ok("a3 STATUS INBOX (MESSAGES)")
	if !strings.Contains(out, "MESSAGES 0") {
		t.Fatalf("STATUS: %q", out)
	}
}
