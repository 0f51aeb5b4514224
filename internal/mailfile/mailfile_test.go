package mailfile

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func TestMboxRoundTrip(t *testing.T) {
	msgs := [][]byte{
		[]byte("Subject: one\nStatus: RO\nX-Status: AF\nX-Keywords: Work $Label1\n\nFrom here on\n>From there\n"),
		[]byte("Subject: two\n\nbody\n\n"),
		[]byte("Subject: three\n\n"),
	}
	date := time.Date(2024, 3, 9, 8, 7, 6, 0, time.UTC)
	var file bytes.Buffer
	for _, m := range msgs {
		if err := WriteMboxMessage(&file, m, date); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Contains(file.Bytes(), []byte("\n>From here on\n>>From there\n")) || !bytes.HasPrefix(file.Bytes(), []byte("From MAILER-DAEMON Sat Mar  9 08:07:06 2024\n")) {
		t.Fatalf("mbox:\n%s", file.Bytes())
	}
	var got []MboxMessage
	if err := ScanMbox(bytes.NewReader(file.Bytes()), 1<<20, func(m MboxMessage) error { got = append(got, m); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(msgs) {
		t.Fatalf("%d messages, want %d", len(got), len(msgs))
	}
	for i, m := range got {
		b, err := ReadMboxMessage(bytes.NewReader(file.Bytes()), m)
		if err != nil || !bytes.Equal(b, msgs[i]) || !m.Date.Equal(date) {
			t.Errorf("message %d: %q %v %v, want %q", i, b, m.Date, err, msgs[i])
		}
	}
	want := []string{`\Seen`, `\Answered`, `\Flagged`, "Work", "$Label1"}
	if !slices.Equal(got[0].Flags, want) {
		t.Errorf("flags %v, want %v", got[0].Flags, want)
	}
}

func TestMaildirRoundTrip(t *testing.T) {
	root := t.TempDir()
	date := time.Unix(1700000000, 0)
	for _, f := range []struct{ mailbox, body string }{{"INBOX", "a\n"}, {"Archive/2024", "b\n"}, {"Entwürfe", "c\n"}} {
		w, err := NewMaildirWriter(root, f.mailbox)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Write([]byte(f.body), []string{`\Seen`, "Work", `\Flagged`, "$Forwarded"}, date, "1"); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(filepath.Join(root, ".Entw&APw-rfe", "cur")); err != nil {
		t.Fatal("folder name not in modified UTF-7:", err)
	}
	folders, err := ReadMaildir(root, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]Message{}
	for _, f := range folders {
		if len(f.Messages) != 1 {
			t.Fatalf("%s: %d messages", f.Name, len(f.Messages))
		}
		names[f.Name] = f.Messages[0]
	}
	for name, body := range map[string]string{"INBOX": "a\n", "Archive/2024": "b\n", "Entwürfe": "c\n"} {
		m, ok := names[name]
		if !ok {
			t.Fatalf("no folder %s in %v", name, names)
		}
		b, err := m.Read()
		flags := slices.Sorted(slices.Values(m.Flags))
		if err != nil || string(b) != body || !m.Date.Equal(date) || !slices.Equal(flags, []string{"$Forwarded", "Work", `\Flagged`, `\Seen`}) {
			t.Errorf("%s: %q %v %v %v", name, b, m.Date, flags, err)
		}
	}
}

func TestLineEndings(t *testing.T) {
	if got := string(ToCRLF([]byte("a\nb\r\nc\n"))); got != "a\r\nb\r\nc\r\n" {
		t.Errorf("ToCRLF: %q", got)
	}
	if got := string(ToLF([]byte("a\r\nb\r\n"))); got != "a\nb\n" {
		t.Errorf("ToLF: %q", got)
	}
}

// FuzzMbox: any file scans without a panic, every message found lies
// within it; and messages written with WriteMboxMessage read back whole.
func FuzzMbox(f *testing.F) {
	f.Add([]byte("From a Mon Jan  2 15:04:05 2006\nSubject: x\n\nFrom b\n>From c\n\nFrom d Mon Jan  2 15:04:05 2006\n\n"), []byte("Subject: y\n\n>>From z\n"))
	f.Add([]byte("junk\nFrom \n"), []byte(""))
	f.Fuzz(func(t *testing.T, file, msg []byte) {
		err := ScanMbox(bytes.NewReader(file), 1<<20, func(m MboxMessage) error {
			if m.Offset < 0 || m.Length < 0 || m.Offset+m.Length > int64(len(file)) {
				t.Fatalf("message at %d+%d outside a file of %d", m.Offset, m.Length, len(file))
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		// Round trip: a message ends with a newline in an mbox.
		msg = ToLF(msg)
		msg = bytes.ReplaceAll(msg, []byte("\r"), nil)
		if len(msg) == 0 || msg[len(msg)-1] != '\n' {
			msg = append(msg, '\n')
		}
		var out bytes.Buffer
		WriteMboxMessage(&out, msg, time.Unix(0, 0))
		WriteMboxMessage(&out, msg, time.Unix(0, 0))
		var got [][]byte
		ScanMbox(bytes.NewReader(out.Bytes()), 1<<20, func(m MboxMessage) error {
			b, err := ReadMboxMessage(bytes.NewReader(out.Bytes()), m)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, b)
			return nil
		})
		if len(got) != 2 || !bytes.Equal(got[0], msg) || !bytes.Equal(got[1], msg) {
			t.Fatalf("wrote %q twice, read %q", msg, got)
		}
	})
}
