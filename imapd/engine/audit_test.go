package engine

import (
	"strings"
	"sync"
	"testing"

	"mailroom/store"
)

// TestAuditHooks: what a delegate does in another's mailboxes is told to
// the audit log, what the owner does is not; reads only when asked.
func TestAuditHooks(t *testing.T) {
	var mu sync.Mutex
	var got []string
	ts := newTestServer(t, func(o *Options) {
		o.AuditReads = true
		o.Audit = func(r store.AuditRecord) {
			mu.Lock()
			got = append(got, r.Actor+" "+r.Action+" "+r.Account+"/"+r.Mailbox)
			mu.Unlock()
		}
	})
	a := login(t, ts, "alice@example.test")
	appendMsgs(t, a, "Subject: 1\r\n\r\nx\r\n", "Subject: 2\r\n\r\nx\r\n")
	a.send("a1 SETACL INBOX bob@example.test lrswipkxte\r\na2 SELECT INBOX\r\na3 STORE 1 +FLAGS (\\Seen)\r\n")
	a.expect("a1", "OK")
	a.expect("a2", "OK")
	a.expect("a3", "OK")
	b := login(t, ts, "bob@example.test")
	shared := `"Other Users/alice@example.test/INBOX"`
	b.send("b1 SELECT " + shared + "\r\nb2 FETCH 1 BODY.PEEK[]\r\nb3 STORE 2 +FLAGS (\\Flagged \\Deleted)\r\nb4 COPY 1 INBOX\r\nb5 EXPUNGE\r\n" +
		"b6 CREATE \"Other Users/alice@example.test/INBOX/Sub\"\r\nb7 APPEND " + shared + " {9+}\r\nS: x\r\n\r\n\r\n")
	for _, tag := range []string{"b1", "b2", "b3", "b4", "b5", "b6", "b7"} {
		b.expect(tag, "OK")
	}
	mu.Lock()
	defer mu.Unlock()
	want := []string{
		"bob@example.test read alice@example.test/INBOX",
		"bob@example.test store alice@example.test/INBOX",
		"bob@example.test copy-out alice@example.test/INBOX",
		"bob@example.test expunge alice@example.test/INBOX",
		"bob@example.test create alice@example.test/INBOX/Sub",
		"bob@example.test append alice@example.test/INBOX",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("audit:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
