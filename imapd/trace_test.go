package imapd

import (
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2/imapclient"

	"mailroom/internal/testutil"
	"mailroom/internal/trace"
)

// TestTraceTranscript logs in every way a client can, with the server
// logging at trace level: the transcript has each command and reply with
// the connection id, and never a password, a SASL response or message
// content.
func TestTraceTranscript(t *testing.T) {
	t.Parallel()
	log, buf := testutil.Logger(trace.Level)
	ts := newTestServer(t, func(o *Options) { o.Logger = log })
	const body = "Subject: body-marker-7f3a\r\n\r\nhello\r\n"

	// LOGIN, an APPEND literal, LOGOUT on the plain listener.
	r := dialRaw(t, ts.plain)
	r.ok("a0 LOGIN alice@example.test password")
	r.ok(fmt.Sprintf("a1 APPEND INBOX {%d+}\r\n%s", len(body), body))
	r.ok("a2 LOGOUT")

	// AUTHENTICATE with a continuation, then with an initial response.
	sasl := base64.StdEncoding.EncodeToString([]byte("\x00bob@example.test\x00password"))
	r = dialRaw(t, ts.plain)
	if out := r.cmdTag("b0 AUTHENTICATE PLAIN", "+"); !strings.HasPrefix(out, "+") {
		t.Fatalf("AUTHENTICATE: %q", out)
	}
	if out := r.cmdTag(sasl, "b0"); !strings.Contains(out, "b0 OK") {
		t.Fatalf("AUTHENTICATE: %q", out)
	}
	r.ok("b1 LOGOUT")
	r = dialRaw(t, ts.plain)
	r.ok("c0 AUTHENTICATE PLAIN " + sasl)
	r.ok("c1 LOGOUT")

	// LOGIN with synchronizing literals.
	r = dialRaw(t, ts.plain)
	r.cmdTag("d0 LOGIN {18}", "+")
	r.cmdTag("alice@example.test {8}", "+")
	if out := r.cmdTag("password", "d0"); !strings.Contains(out, "d0 OK") {
		t.Fatalf("LOGIN with literals: %q", out)
	}
	r.ok("d1 LOGOUT")

	// After STARTTLS the transcript goes on in plaintext.
	c, err := imapclient.DialStartTLS(ts.strict, insecureTLS())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login("bob@example.test", "password").Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Logout().Wait(); err != nil {
		t.Fatal(err)
	}

	// Implicit TLS, with AUTHENTICATE and an initial response.
	c, err = imapclient.DialTLS(ts.implicit, insecureTLS())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Authenticate(plainClient("alice@example.test", "password")); err != nil {
		t.Fatal(err)
	}
	if err := c.Logout().Wait(); err != nil {
		t.Fatal(err)
	}

	got := buf.String()
	for _, want := range []string{
		`msg="C: a0 LOGIN alice@example.test [redacted]" proto=imap conn=`,
		`msg="S: a0 OK`,
		fmt.Sprintf(`msg="C: a1 APPEND INBOX {%d+}"`, len(body)),
		fmt.Sprintf(`msg="C: [%d bytes]"`, len(body)),
		`msg="C: b0 AUTHENTICATE PLAIN"`,
		`msg="C: c0 AUTHENTICATE PLAIN [redacted]"`,
		`msg="C: d0 LOGIN {18}"`,
		`msg="C: [redacted]"`,
		`msg="S: d0 OK`,
		`STARTTLS"`,
		`LOGIN \"bob@example.test\" [redacted]"`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("transcript lacks %s", want)
		}
	}
	if n := strings.Count(got, `AUTHENTICATE PLAIN [redacted]"`); n != 2 {
		t.Errorf("%d AUTHENTICATE lines with an initial response, want 2 (plain, implicit TLS)", n)
	}
	for _, secret := range []string{"password", sasl, "body-marker-7f3a"} {
		if strings.Contains(got, secret) {
			t.Errorf("transcript shows %q", secret)
		}
	}
	for _, l := range strings.Split(got, "\n") {
		if strings.Contains(l, `msg="C: `) && !strings.Contains(l, " conn=") {
			t.Errorf("transcript line without a connection id: %s", l)
		}
	}
	if t.Failed() {
		t.Log(got)
	}
}

// TestTraceOff: below trace level the connection is not wrapped.
func TestTraceOff(t *testing.T) {
	t.Parallel()
	log, buf := testutil.Logger(trace.Level + 1)
	ts := newTestServer(t, func(o *Options) { o.Logger = log })
	r := dialRaw(t, ts.plain)
	r.ok("a0 LOGIN alice@example.test password")
	r.ok("a1 LOGOUT")
	if strings.Contains(buf.String(), `msg="C: `) {
		t.Errorf("transcript at debug level:\n%s", buf.String())
	}
}
