package part

import (
	"net/mail"
	"testing"
	"time"
)

func TestParseDate(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string // RFC 3339, "" for no date
	}{
		{"Mon, 23 Nov 2026 10:00:00 +0000", "2026-11-23T10:00:00Z"},
		{"23 Nov 2026 10:00 -0130", "2026-11-23T10:00:00-01:30"},
		{" Tue, 1 Jan 2024 09:05:07 +0100 (CET)", "2024-01-01T09:05:07+01:00"},
		{"Thu, 4 jan 2024 10:00:00 +0000", "2024-01-04T10:00:00Z"},
		{"Thu, 4 Jan 24 10:00:00 GMT", "2024-01-04T10:00:00Z"}, // obsolete: through net/mail
		{"31 Feb 2024 10:00:00 +0000", ""},
		{"yesterday", ""},
		{"", ""},
	} {
		got, ok := ParseDate(tc.in)
		if tc.want == "" {
			if ok {
				t.Errorf("ParseDate(%q) = %v, want none", tc.in, got)
			}
			continue
		}
		if !ok || got.Format(time.RFC3339) != tc.want {
			t.Errorf("ParseDate(%q) = %v %v, want %s", tc.in, got, ok, tc.want)
		}
	}
}

// FuzzParseDate: the fast path never disagrees with net/mail where both
// read a date.
func FuzzParseDate(f *testing.F) {
	for _, s := range []string{"Mon, 23 Nov 2026 10:00:00 +0000", "1 Jan 2024 00:00 -1200", "Fri, 29 Feb 2024 23:59:59 +1400 (x)"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		fast, ok := fastDate(s)
		if !ok {
			return
		}
		if slow, err := mail.ParseDate(s); err == nil && !slow.Equal(fast) {
			t.Fatalf("%q: fast %v, net/mail %v", s, fast, slow)
		}
	})
}

func TestSummaryGet(t *testing.T) {
	msg := []byte("Received: x\r\nSubject: first\r\n line\r\nFrom: a@b\r\nX-Other: y\r\nTo: c@d,\r\n\te@f\r\nSubject: second\r\n\r\nbody\r\n")
	s := Summarize(msg)
	h, ok := SummaryHeader(s)
	if !ok || len(h) != 4 {
		t.Fatalf("summary %q: %v", s, h)
	}
	for _, name := range []string{"subject", "From", "TO", "X-Other", "Received", "Date"} {
		got, ok := SummaryGet(s, name)
		want, wok := h.Get(name)
		if got != want || ok != wok {
			t.Errorf("SummaryGet(%s) = %q %v; header says %q %v", name, got, ok, want, wok)
		}
	}
}
