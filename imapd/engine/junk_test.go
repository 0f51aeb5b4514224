package engine

import (
	"strings"
	"sync"
	"testing"
)

// TestJunkLearning: moving or copying a message into Junk reports it as
// spam to the spam filter, out of Junk (not into Trash) as not spam, each
// with its content; other moves report nothing.
func TestJunkLearning(t *testing.T) {
	var mu sync.Mutex
	var got []string
	ts := newTestServer(t, func(o *Options) {
		o.OnJunk = func(content []byte, spam bool) {
			mu.Lock()
			defer mu.Unlock()
			subj := strings.SplitN(string(content), "\r\n", 2)[0]
			if spam {
				got = append(got, "spam "+subj)
			} else {
				got = append(got, "ham "+subj)
			}
		}
	})
	a := login(t, ts, "alice@example.test")
	appendMsgs(t, a, "Subject: one\r\n\r\nx\r\n", "Subject: two\r\n\r\nx\r\n", "Subject: three\r\n\r\nx\r\n")
	a.send("s SELECT INBOX\r\nm1 MOVE 1 Junk\r\nm2 MOVE 1 Archive\r\n")
	a.expect("s", "OK")
	a.expect("m1", "OK")
	a.expect("m2", "OK")
	a.send("j SELECT Junk\r\nm3 COPY 1 INBOX\r\nm4 MOVE 1 Trash\r\n")
	a.expect("j", "OK")
	a.expect("m3", "OK")
	a.expect("m4", "OK")
	mu.Lock()
	defer mu.Unlock()
	want := []string{"spam Subject: one", "ham Subject: one"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("reported %q, want %q", got, want)
	}
}
