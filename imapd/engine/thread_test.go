package engine

import "testing"

// TestThread: both algorithms over a socket, with a reply chain, a
// message whose parent is missing (a dummy), and subject merging.
func TestThread(t *testing.T) {
	ts := newTestServer(t)
	a := login(t, ts, "alice@example.test")
	msgs := []string{
		"Message-ID: <1@x>\r\nSubject: plan\r\nDate: Mon, 2 Nov 2026 10:00:00 +0000\r\n\r\n",
		"Message-ID: <2@x>\r\nIn-Reply-To: <1@x>\r\nSubject: Re: plan\r\nDate: Mon, 2 Nov 2026 11:00:00 +0000\r\n\r\n",
		"Message-ID: <3@x>\r\nSubject: other\r\nDate: Mon, 2 Nov 2026 09:00:00 +0000\r\n\r\n",
		"Message-ID: <4@x>\r\nReferences: <1@x> <2@x>\r\nSubject: Re: plan\r\nDate: Mon, 2 Nov 2026 12:00:00 +0000\r\n\r\n",
		"Message-ID: <5@x>\r\nReferences: <1@x>\r\nSubject: Re: plan\r\nDate: Mon, 2 Nov 2026 13:00:00 +0000\r\n\r\n",
		"Message-ID: <6@x>\r\nReferences: <gone@x>\r\nSubject: Re: other\r\nDate: Mon, 2 Nov 2026 14:00:00 +0000\r\n\r\n",
	}
	appendMsgs(t, a, msgs...)
	a.send("s SELECT INBOX\r\n")
	a.expect("s", "OK")
	for _, tc := range []struct{ cmd, want string }{
		{"THREAD ORDEREDSUBJECT UTF-8 ALL", "* THREAD (3 6)(1 (2)(4)(5))"},
		{"THREAD REFERENCES UTF-8 ALL", "* THREAD (3 6)(1 (2 4)(5))"},
		{"UID THREAD REFERENCES UTF-8 NOT SUBJECT other", "* THREAD (1 (2 4)(5))"},
	} {
		a.send("t " + tc.cmd + "\r\n")
		if l := a.expect("t", "OK"); l[0] != tc.want {
			t.Errorf("%s: %q, want %s", tc.cmd, l, tc.want)
		}
	}
	a.send("b THREAD COLOR UTF-8 ALL\r\n")
	a.expect("b", "BAD")
}
