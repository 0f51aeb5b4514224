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
