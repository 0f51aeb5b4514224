package smtpd

import (
	"bufio"
	"crypto/tls"
	"encoding/base64"
	"io"
	"strings"
	"testing"
	"time"

	"mailroom/internal/testutil"
	"mailroom/internal/trace"
)

// smtpDialog sends each line on c and reads the complete reply to it.
func smtpDialog(t *testing.T, c io.ReadWriter, lines ...string) string {
	t.Helper()
	br := bufio.NewReader(c)
	var out strings.Builder
	read := func() {
		for {
			l, err := br.ReadString('\n')
			out.WriteString(l)
			if err != nil {
				t.Fatalf("after %q: %v", out.String(), err)
			}
			if len(l) < 4 || l[3] != '-' {
				return
			}
		}
	}
	read() // greeting
	for _, l := range lines {
		io.WriteString(c, l+"\r\n")
		read()
	}
	return out.String()
}

// TestTraceTranscript drives AUTH PLAIN, AUTH LOGIN and a message with
// the server logging at trace level: the transcript has the commands with
// the connection id once go-smtp has started the session, and never the password, a SASL response or the body.
func TestTraceTranscript(t *testing.T) {
	t.Parallel()
	log, buf := testutil.Logger(trace.Level)
	env := newEnv(t, 1<<20, func(o *Options) { o.Logger = log })
	plain := base64.StdEncoding.EncodeToString([]byte("\x00alice@example.test\x00password"))
	user := base64.StdEncoding.EncodeToString([]byte("alice@example.test"))
	pass := base64.StdEncoding.EncodeToString([]byte("password"))

	out := smtpDialog(t, testutil.Dial(t, env.sub, 10*time.Second),
		"EHLO client.test", "AUTH PLAIN "+plain, "MAIL FROM:<alice@example.test>", "RCPT TO:<bob@example.test>",
		"DATA", "From: alice@example.test\r\nTo: bob@example.test\r\nSubject: body-marker-7f3a\r\n\r\nhi\r\n.", "QUIT")
	if !strings.Contains(out, "235 ") || !strings.Contains(out, "250 2.0.0") {
		t.Fatalf("submission: %q", out)
	}
	out = smtpDialog(t, testutil.Dial(t, env.sub, 10*time.Second),
		"EHLO client.test", "AUTH LOGIN", user, pass, "QUIT")
	if !strings.Contains(out, "235 ") {
		t.Fatalf("AUTH LOGIN: %q", out)
	}
	// STARTTLS: the transcript stops (go-smtp terminates TLS inside).
	c := testutil.Dial(t, env.subTLS, 10*time.Second)
	smtpDialog(t, c, "EHLO client.test", "STARTTLS")
	tc := tls.Client(c, &tls.Config{InsecureSkipVerify: true})
	smtpDialog(t, struct {
		io.Reader
		io.Writer
	}{io.MultiReader(strings.NewReader("220 \r\n"), tc), tc}, "EHLO client.test", "AUTH PLAIN "+plain, "QUIT")

	got := buf.String()
	for _, want := range []string{
		`msg="C: EHLO client.test" proto=smtp remote=`,
		`msg="C: MAIL FROM:<alice@example.test>" proto=smtp conn=`,
		`msg="C: AUTH PLAIN [redacted]"`,
		`msg="S: 235 2.0.0 Authentication succeeded"`,
		`msg="C: [81 bytes of message]"`,
		`msg="C: AUTH LOGIN"`,
		`msg="C: [redacted]"`,
		`msg="C: STARTTLS"`,
		`msg="TLS handshake: the transcript ends here"`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("transcript lacks %s", want)
		}
	}
	for _, secret := range []string{"password", plain, user, pass, "body-marker-7f3a"} {
		if strings.Contains(got, secret) {
			t.Errorf("transcript shows %q", secret)
		}
	}
	// go-smtp starts a session at EHLO: lines before carry the remote
	// address only, as every line of the connection does.
	for _, l := range strings.Split(got, "\n") {
		if strings.Contains(l, `msg="C: `) && !strings.Contains(l, " remote=") {
			t.Errorf("transcript line without the remote address: %s", l)
		}
	}
	if t.Failed() {
		t.Log(got)
	}
}
