package inbound

import (
	"bytes"
	"strings"
	"testing"
)

func TestStripAuthResults(t *testing.T) {
	msg := "Authentication-Results: mx.example.test; dkim=pass\r\n" +
		"Received: from x\r\n" +
		"authentication-results: (forged) MX.Example.Test.;\r\n\tspf=pass smtp.mailfrom=a@b\r\n" +
		"Authentication-Results: other.test; spf=fail\r\n" +
		"Authentication-Results: mx.example.test.evil; spf=pass\r\n" +
		"From: a@b.test\r\n" +
		"\r\n" +
		"Authentication-Results: mx.example.test; in the body\r\n"
	want := "Received: from x\r\n" +
		"Authentication-Results: other.test; spf=fail\r\n" +
		"Authentication-Results: mx.example.test.evil; spf=pass\r\n" +
		"From: a@b.test\r\n" +
		"\r\n" +
		"Authentication-Results: mx.example.test; in the body\r\n"
	buf := []byte(msg)
	got := StripAuthResults(buf, "mx.example.test")
	if string(got) != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
	if &got[0] != &buf[0] {
		t.Error("the message was copied")
	}
	clean := []byte("From: a@b.test\r\n\r\nbody\r\n")
	if got := StripAuthResults(clean, "mx.example.test"); !bytes.Equal(got, clean) {
		t.Errorf("a message without the field changed: %q", got)
	}
}

func TestFromDomain(t *testing.T) {
	for in, want := range map[string]string{
		"From: Alice <alice@Example.TEST>\r\n\r\n":             "example.test",
		"Subject: x\r\nfrom: =?utf-8?q?A?= <a@b.test>\r\n\r\n": "b.test",
		"From: undisclosed\r\n\r\n":                            "",
		"Subject: no from\r\n\r\nFrom: a@b.test\r\n":           "",
	} {
		if got := fromDomain([]byte(in), headerFields([]byte(in))); got != want {
			t.Errorf("fromDomain(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzStripAuthResults: removing fields never touches anything but whole
// Authentication-Results fields of the header, and leaves none of ours.
func FuzzStripAuthResults(f *testing.F) {
	f.Add([]byte("Authentication-Results: mx.example.test; dkim=pass\r\nFrom: a@b\r\n\r\nbody"))
	f.Add([]byte("authentication-results:(c)mx.example.test\n x\nX: y\n\nAuthentication-Results: mx.example.test"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		orig := string(msg)
		got := StripAuthResults(append([]byte(nil), msg...), "mx.example.test")
		if len(got) > len(orig) {
			t.Fatalf("grew: %q", got)
		}
		for _, fl := range headerFields(got) {
			if strings.EqualFold(fl.name, "Authentication-Results") && strings.EqualFold(authservIDOf(fl.value(got)), "mx.example.test") {
				t.Fatalf("field left in %q (from %q)", got, orig)
			}
		}
		// The body (after the header) is untouched.
		if i := strings.Index(orig, "\r\n\r\n"); i >= 0 && i < maxHeaderBytes && !strings.HasSuffix(string(got), orig[i+2:]) {
			t.Fatalf("body changed: %q -> %q", orig, got)
		}
	})
}
