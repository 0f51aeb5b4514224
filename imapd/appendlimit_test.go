package imapd

import (
	"strings"
	"testing"
)

// TestAppendExactlyTheLimit: APPEND takes a message of exactly
// APPENDLIMIT bytes, the same inclusive limit SMTP applies (smtpd's
// TestMessageSizeLimitInclusive), and refuses one byte more.
func TestAppendExactlyTheLimit(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c := ts.client(t, "alice@example.test", nil)
	l, ok := c.Caps().AppendLimit()
	if !ok || l == nil {
		t.Fatal("no APPENDLIMIT advertised")
	}
	limit := int(*l)
	msg := "Subject: exact\r\n\r\n" + strings.Repeat("x", limit-len("Subject: exact\r\n\r\n"))
	appendMsg(t, c, "INBOX", msg, nil)
	cmd := c.Append("INBOX", int64(limit+1), nil)
	cmd.Write([]byte(msg + "y"))
	cmd.Close()
	if _, err := cmd.Wait(); err == nil {
		t.Fatal("APPEND of one byte over the limit accepted")
	}
}
