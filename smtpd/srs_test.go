package smtpd

import (
	"strings"
	"testing"
	"time"
)

func TestSRS(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	fwd := srsForward(secret, "a=b+c@Remote.example", "example.test", now)
	local, domain, _ := strings.Cut(fwd, "@")
	if domain != "example.test" || !strings.HasPrefix(local, "SRS0=") || !strings.HasSuffix(local, "=Remote.example=a=b+c") {
		t.Fatalf("forward = %q", fwd)
	}
	cases := []struct {
		name  string
		local string
		at    time.Time
		want  string
	}{
		{"same day", local, now, "a=b+c@Remote.example"},
		{"upper-cased by a relay", strings.ToUpper(local), now, "A=B+C@REMOTE.EXAMPLE"},
		{"three weeks later", local, now.Add(srsMaxAge * 24 * time.Hour), "a=b+c@Remote.example"},
		{"too old", local, now.Add((srsMaxAge + 1) * 24 * time.Hour), ""},
		{"tampered address", strings.Replace(local, "=a=b", "=x=b", 1), now, ""},
		{"tampered hash", "SRS0=aaaa" + local[9:], now, ""},
		{"not srs", "bob", now, ""},
		{"too few parts", "SRS0=abcd=AA=x", now, ""},
	}
	for _, tc := range cases {
		got, ok := srsReverse(secret, tc.local, tc.at)
		if ok != (tc.want != "") || got != tc.want {
			t.Errorf("%s: srsReverse(%q) = %q, %v; want %q", tc.name, tc.local, got, ok, tc.want)
		}
	}
	if got := srsForward(secret, "", "example.test", now); got != "" {
		t.Errorf("null sender rewritten to %q", got)
	}
	if _, ok := srsReverse([]byte("another secret.................."), local, now); ok {
		t.Error("accepted under another secret")
	}
}
