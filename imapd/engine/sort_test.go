package engine

import (
	"strings"
	"testing"
)

func TestBaseSubject(t *testing.T) {
	for in, want := range map[string]string{
		"a":            "a",
		"Re: a":        "a",
		"RE: Re: a":    "a",
		"Fwd: a (fwd)": "a",
		"[foo] Fwd: [bar] Re: fw: b (fWd)  (fwd)": "b",
		"Re: [FWD: c]":                "c",
		"[xyz]":                       "[xyz]",
		"[list] subject":              "subject",
		"re [x]: y":                   "y",
		"=?utf-8?q?Re=3A_caf=C3=A9?=": "café",
		"   spaced \t  out  ":         "spaced out",
	} {
		if got := baseSubject(in); got != want {
			t.Errorf("baseSubject(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestSort: SORT and UID SORT over a socket, with REVERSE, ties in
// mailbox order, a search key and the display criteria.
func TestSort(t *testing.T) {
	ts := newTestServer(t)
	a := login(t, ts, "alice@example.test")
	msgs := []string{
		"From: Zed <z@example.test>\r\nSubject: Re: beta\r\nDate: Mon, 2 Nov 2026 10:00:00 +0000\r\n\r\nx\r\n",
		"From: amy@example.test\r\nSubject: alpha\r\nDate: Sun, 1 Nov 2026 10:00:00 +0000\r\n\r\nxxxxxxxxxx\r\n",
		"From: Bob <b@example.test>\r\nSubject: [list] Fwd: alpha\r\nDate: Tue, 3 Nov 2026 10:00:00 +0000\r\n\r\nxxxxx\r\n",
	}
	appendMsgs(t, a, msgs...)
	a.send("s0 SELECT INBOX\r\n")
	a.expect("s0", "OK")
	for _, tc := range []struct{ cmd, want string }{
		{"SORT (SUBJECT) UTF-8 ALL", "* SORT 2 3 1"},
		{"SORT (REVERSE DATE) UTF-8 ALL", "* SORT 3 1 2"},
		{"SORT (SIZE) UTF-8 ALL", "* SORT 1 2 3"},
		{"SORT (FROM) UTF-8 ALL", "* SORT 2 3 1"},
		{"SORT (DISPLAYFROM) UTF-8 ALL", "* SORT 2 3 1"},
		{"SORT (SUBJECT) UTF-8 NOT FROM zed", "* SORT 2 3"},
		{"UID SORT (REVERSE SUBJECT ARRIVAL) UTF-8 ALL", "* SORT 1 2 3"},
	} {
		a.send("t " + tc.cmd + "\r\n")
		if l := a.expect("t", "OK"); l[0] != tc.want {
			t.Errorf("%s: %q, want %s", tc.cmd, l, tc.want)
		}
	}
	a.send("b1 SORT (REVERSE) UTF-8 ALL\r\nb2 SORT (COLOR) UTF-8 ALL\r\n")
	a.expect("b1", "BAD")
	if l := a.expect("b2", "BAD"); !strings.Contains(l[0], "COLOR") {
		t.Errorf("unknown criterion: %q", l)
	}
}

// TestSortDateCache: SORT (DATE) of a whole mailbox, or of \Seen and
// \Deleted searches, comes from the mailbox's date cache and agrees with
// the general sort (DATE then UID order, which SIZE keys do not change
// here), also after new mail and an expunge.
func TestSortDateCache(t *testing.T) {
	ts := newTestServer(t)
	a := login(t, ts, "alice@example.test")
	var msgs []string
	for i := range 30 {
		date := "Mon, 1 Jan 2024 10:00:00 +0000" // ties
		if i%4 != 0 {
			date = "Tue, " + itoa(2+i*7%20) + " Jan 2024 0" + itoa(i%10) + ":00:00 +0100"
		}
		msgs = append(msgs, "Date: "+date+"\r\nSubject: s\r\n\r\nx\r\n")
	}
	msgs = append(msgs, "Subject: no date\r\n\r\nx\r\n")
	appendMsgs(t, a, msgs...)
	a.send("s SELECT INBOX\r\nf STORE 3:9 +FLAGS.SILENT (\\Seen)\r\n")
	a.expect("s", "OK")
	a.expect("f", "OK")
	compare := func(round string) {
		t.Helper()
		for _, q := range []string{"(DATE) UTF-8 ALL", "(REVERSE DATE) UTF-8 ALL", "(DATE) UTF-8 UNSEEN", "(REVERSE DATE) UTF-8 SEEN UNDELETED"} {
			slow := strings.Replace(q, "DATE)", "DATE SIZE)", 1)
			a.send("q1 SORT " + q + "\r\nq2 SORT " + slow + "\r\n")
			fast, general := a.expect("q1", "OK"), a.expect("q2", "OK")
			if fast[0] != general[0] {
				t.Errorf("%s SORT %s: cache %q, general %q", round, q, fast[0], general[0])
			}
		}
	}
	compare("first")
	compare("cached")
	appendMsgs(t, a, "Date: Sun, 31 Dec 2023 00:00:00 +0000\r\n\r\nearliest\r\n")
	a.send("x STORE 2,5 +FLAGS.SILENT (\\Deleted)\r\ne EXPUNGE\r\n")
	a.expect("x", "OK")
	a.expect("e", "OK")
	compare("after changes")
	a.send("q SORT (DATE) UTF-8 ALL\r\n")
	if l := a.expect("q", "OK"); !strings.HasPrefix(l[0], "* SORT 30 ") {
		t.Errorf("the earliest message first: %q", l[0])
	}
}
