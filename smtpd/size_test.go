package smtpd

import (
	"bufio"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"mailroom/internal/testutil"
)

// TestMessageSizeLimitInclusive: a message of exactly the limit is
// accepted by DATA and BDAT, one byte more is refused with 552 5.3.4, and
// a declared SIZE is held to the same limit.
func TestMessageSizeLimitInclusive(t *testing.T) {
	t.Parallel()
	const limit = 1000
	env := newEnv(t, limit)
	msgOf := func(n int) string {
		h := "Subject: size\r\n\r\n"
		return h + strings.Repeat("x", n-len(h)-2) + "\r\n"
	}
	if len(msgOf(limit)) != limit {
		t.Fatal("msgOf is wrong")
	}
	if err := testutil.SendMail(dial(t, env.mx), "s@remote.test", []string{"alice@example.test"}, msgOf(limit)); err != nil {
		t.Errorf("DATA of exactly the limit: %v", err)
	}
	if got := code(testutil.SendMail(dial(t, env.mx), "s@remote.test", []string{"alice@example.test"}, msgOf(limit+1))); got != "552 5.3.4" {
		t.Errorf("DATA one byte over: %s", got)
	}
	c := dial(t, env.mx)
	if err := c.Mail("s@remote.test", &smtp.MailOptions{Size: limit}); err != nil {
		t.Errorf("MAIL SIZE=limit: %v", err)
	}
	c = dial(t, env.mx)
	if got := code(c.Mail("s@remote.test", &smtp.MailOptions{Size: limit + 1})); got != "552 5.3.4" {
		t.Errorf("MAIL SIZE=limit+1: %s", got)
	}

	bdat := func(msg string) string {
		conn := testutil.Dial(t, env.mx, 30*time.Second)
		r := bufio.NewReader(conn)
		// reply returns the code and enhanced code of the next reply.
		reply := func() string {
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					t.Fatalf("reading a reply: %v", err)
				}
				if len(l) < 4 || l[3] != '-' {
					return l[:min(len(l), 9)]
				}
			}
		}
		reply() // greeting
		for _, cmd := range []string{"EHLO client.test", "MAIL FROM:<s@remote.test>", "RCPT TO:<alice@example.test>"} {
			fmt.Fprintf(conn, "%s\r\n", cmd)
			if got := reply(); got[0] != '2' {
				t.Fatalf("%s: %s", cmd, got)
			}
		}
		half := len(msg) / 2
		fmt.Fprintf(conn, "BDAT %d\r\n%s", half, msg[:half])
		if got := reply(); got[0] != '2' {
			return got
		}
		fmt.Fprintf(conn, "BDAT %d LAST\r\n%s", len(msg)-half, msg[half:])
		return reply()
	}
	if got := bdat(msgOf(limit)); got != "250 2.0.0" {
		t.Errorf("BDAT of exactly the limit: %q", got)
	}
	if got := bdat(msgOf(limit + 1)); got != "552 5.3.4" {
		t.Errorf("BDAT one byte over: %q", got)
	}
	if n := len(inboxContents(t, env.st, "alice@example.test")); n != 2 {
		t.Errorf("alice has %d messages, want the 2 of exactly the limit", n)
	}
}
