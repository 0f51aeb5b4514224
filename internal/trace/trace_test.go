package trace

import (
	"bytes"
	"log/slog"
	"net"
	"strings"
	"testing"
)

// run feeds a conversation to a transcript: each step is "C:" or "S:"
// followed by the bytes that direction carries.
func run(p Protocol, steps ...string) []string {
	t := &transcript{proto: p}
	var out []string
	for _, s := range steps {
		if data, ok := strings.CutPrefix(s, "C:"); ok {
			out = append(out, t.client([]byte(data))...)
		} else {
			out = append(out, t.server([]byte(strings.TrimPrefix(s, "S:")))...)
		}
	}
	return out
}

func TestRedaction(t *testing.T) {
	tests := []struct {
		name  string
		proto Protocol
		steps []string
		want  []string
	}{
		{"imap login", IMAP, []string{"S:* OK hi\r\n", "C:a1 LOGIN alice s3cret\r\n", "S:a1 OK done\r\n"},
			[]string{"S: * OK hi", "C: a1 LOGIN alice [redacted]", "S: a1 OK done"}},
		{"imap login quoted", IMAP, []string{"C:a1 login \"al ice\" \"s3 cret\"\r\n"},
			[]string{`C: a1 login "al ice" [redacted]`}},
		{"imap login literals", IMAP, []string{"C:a1 LOGIN {5}\r\n", "S:+ go\r\n", "C:alice {6}\r\n", "S:+ go\r\n", "C:s3cret\r\n", "S:a1 OK\r\n", "C:a2 NOOP\r\n"},
			[]string{"C: a1 LOGIN {5}", "S: + go", "C: [redacted]", "C: [redacted]", "S: + go", "C: [redacted]", "C: [redacted]", "S: a1 OK", "C: a2 NOOP"}},
		{"imap authenticate", IMAP, []string{"C:a1 AUTHENTICATE PLAIN\r\n", "S:+ \r\n", "C:AGFsaWNlAHMzY3JldA==\r\n", "S:a1 OK\r\n", "C:a2 NOOP\r\n"},
			[]string{"C: a1 AUTHENTICATE PLAIN", "S: + ", "C: [redacted]", "S: a1 OK", "C: a2 NOOP"}},
		{"imap sasl-ir", IMAP, []string{"C:a1 AUTHENTICATE PLAIN AGFsaWNlAHMzY3JldA==\r\n", "S:a1 OK\r\n"},
			[]string{"C: a1 AUTHENTICATE PLAIN [redacted]", "S: a1 OK"}},
		{"imap append", IMAP, []string{"C:a1 APPEND INBOX {11+}\r\nSubject: x\n FLAGS\r\n", "S:a1 OK\r\n"},
			[]string{"C: a1 APPEND INBOX {11+}", "C: [11 bytes]", "C:  FLAGS", "S: a1 OK"}},
		{"imap refused literal", IMAP, []string{"C:a1 APPEND INBOX {99999}\r\n", "S:a1 NO [TOOBIG] no\r\n", "C:a2 LOGIN bob pw\r\n"},
			[]string{"C: a1 APPEND INBOX {99999}", "S: a1 NO [TOOBIG] no", "C: a2 LOGIN bob [redacted]"}},
		{"imap fetch literal", IMAP, []string{"S:* 1 FETCH (BODY[] {4}\r\nab", "S:cd)\r\n"},
			[]string{"S: * 1 FETCH (BODY[] {4}", "S: [4 bytes]", "S: )"}},
		{"smtp auth plain", SMTP, []string{"C:AUTH PLAIN AGFsaWNlAHMzY3JldA==\r\n", "S:235 2.7.0 ok\r\n", "C:MAIL FROM:<a@b>\r\n"},
			[]string{"C: AUTH PLAIN [redacted]", "S: 235 2.7.0 ok", "C: MAIL FROM:<a@b>"}},
		{"smtp auth login", SMTP, []string{"C:AUTH LOGIN\r\n", "S:334 VXNlcm5hbWU6\r\n", "C:YWxpY2U=\r\n", "S:334 UGFzc3dvcmQ6\r\n", "C:czNjcmV0\r\n", "S:235 ok\r\n", "C:QUIT\r\n"},
			[]string{"C: AUTH LOGIN", "S: 334 VXNlcm5hbWU6", "C: [redacted]", "S: 334 UGFzc3dvcmQ6", "C: [redacted]", "S: 235 ok", "C: QUIT"}},
		{"smtp data", SMTP, []string{"C:DATA\r\n", "S:354 go\r\n", "C:Subject: x\r\n\r\nbody\r\n..dot\r\n", "C:.\r\n", "S:250 ok\r\n"},
			[]string{"C: DATA", "S: 354 go", "C: [27 bytes of message]", "C: .", "S: 250 ok"}},
		{"smtp data refused", SMTP, []string{"C:DATA\r\n", "S:554 no\r\n", "C:AUTH PLAIN xx\r\n"},
			[]string{"C: DATA", "S: 554 no", "C: AUTH PLAIN [redacted]"}},
		{"smtp bdat", SMTP, []string{"C:BDAT 5 LAST\r\nhello", "S:250 ok\r\n"},
			[]string{"C: BDAT 5 LAST", "C: [5 bytes]", "S: 250 ok"}},
		{"smtp starttls", SMTP, []string{"S:220 hi\r\n", "C:STARTTLS\r\n", "S:220 go\r\n", "C:\x16\x03\x01garbage", "S:\x16\x03\x03"},
			[]string{"S: 220 hi", "C: STARTTLS", "S: 220 go", "TLS handshake: the transcript ends here"}},
		{"implicit tls", SMTP, []string{"C:\x16\x03\x01hello", "S:220 x\r\n"},
			[]string{"TLS handshake: no transcript of an encrypted connection"}},
		{"control characters", IMAP, []string{"C:a1 NOOP \x1b[2J\r\n"},
			[]string{`C: a1 NOOP \x1b[2J`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := run(tt.proto, tt.steps...)
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestLongLine(t *testing.T) {
	long := "a1 SEARCH " + strings.Repeat("x", 5000) + " {3}\r\n"
	got := run(IMAP, "C:"+long[:100], "C:"+long[100:], "C:abc\r\n")
	if len(got) != 3 || len(got[0]) > MaxShown+40 || !strings.HasSuffix(got[0], "… (5016 bytes)") || got[1] != "C: [3 bytes]" {
		t.Errorf("got %q", got)
	}
}

func TestOffCostsNothing(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if got := Wrap(a, IMAP, slog.New(slog.NewTextHandler(&bytes.Buffer{}, &slog.HandlerOptions{Level: slog.LevelDebug}))); got != a {
		t.Errorf("debug level: Wrap returned %T, want the connection itself", got)
	}
	if got := Wrap(a, IMAP, slog.New(slog.NewTextHandler(&bytes.Buffer{}, &slog.HandlerOptions{Level: Level}))); got == a {
		t.Error("trace level: Wrap did not wrap")
	}
}

// FuzzTranscript feeds arbitrary client and server bytes, cut anywhere:
// the transcript never panics, and keeps and shows no more than MaxShown
// bytes of a line.
func FuzzTranscript(f *testing.F) {
	f.Add([]byte("a1 APPEND INBOX {5}\r\nhello\r\n"), []byte("* OK\r\n+ go\r\na1 OK\r\n"), uint8(3), false)
	f.Add([]byte("AUTH LOGIN\r\nYWxpY2U=\r\n"), []byte("334 VXNlcm5hbWU6\r\n235 ok\r\n"), uint8(7), true)
	f.Add([]byte("DATA\r\nx\r\n.\r\n"), []byte("354 go\r\n250 ok\r\n"), uint8(1), true)
	f.Fuzz(func(t *testing.T, in, out []byte, cut uint8, smtp bool) {
		p := IMAP
		if smtp {
			p = SMTP
		}
		tr := &transcript{proto: p}
		step := int(cut%16) + 1
		var lines []string
		for i := 0; i < max(len(in), len(out)); i += step {
			if i < len(in) {
				lines = append(lines, tr.client(in[i:min(i+step, len(in))])...)
			}
			if i < len(out) {
				lines = append(lines, tr.server(out[i:min(i+step, len(out))])...)
			}
		}
		for _, l := range lines {
			if len(l) > 4*MaxShown+64 { // printable may escape each byte
				t.Fatalf("line of %d bytes shown", len(l))
			}
		}
		if len(tr.in.cur.head) > MaxShown || len(tr.out.cur.head) > MaxShown {
			t.Fatal("line buffer over MaxShown")
		}
	})
}
