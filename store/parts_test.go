package store

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// withAttachment builds a multipart message carrying att, base64-encoded.
func withAttachment(subject, text string, att []byte) []byte {
	enc := base64.StdEncoding.EncodeToString(att)
	var b strings.Builder
	fmt.Fprintf(&b, "From: a@example.test\r\nSubject: %s\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n", subject)
	fmt.Fprintf(&b, "--b1\r\nContent-Type: text/plain\r\n\r\n%s\r\n", text)
	b.WriteString("--b1\r\nContent-Type: application/pdf; name=\"report.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n")
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	b.WriteString(enc + "\r\n--b1--\r\n")
	return []byte(b.String())
}

// TestAttachmentStoredOnce: two different messages with the same 200 KB
// attachment store it once; both read back byte for byte; expunging both
// frees everything.
func TestAttachmentStoredOnce(t *testing.T) {
	t.Parallel()
	s := openTest(t, Options{})
	ctx := context.Background()
	att := make([]byte, 200<<10)
	rand.Read(att)
	m1 := withAttachment("first", "See the report.", att)
	m2 := withAttachment("Fwd: first", "Forwarding the report, see below.", att)
	in, _ := s.Inbox(ctx, "a@example.test")
	for _, m := range [][]byte{m1, m2} {
		if _, err := s.Append(ctx, in.ID, m, NewMessage{}, 0); err != nil {
			t.Fatal(err)
		}
	}
	st, _ := s.Stats(ctx)
	encoded := int64(len(base64.StdEncoding.EncodeToString(att)))
	if st.BodyBytes > encoded+encoded/10 || st.LogicalBytes < 2*encoded {
		t.Fatalf("attachment not stored once: %+v (encoded attachment %d bytes)", st, encoded)
	}
	var got [][]byte
	s.Messages(ctx, in.ID, 1, 0, func(m *Message) error {
		c, err := s.Content(ctx, m)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, c)
		return nil
	})
	if !bytes.Equal(got[0], m1) || !bytes.Equal(got[1], m2) {
		t.Fatal("messages not byte-exact")
	}
	if p, err := s.Check(ctx); err != nil || len(p) > 0 {
		t.Fatalf("check: %v %v", p, err)
	}
	// Expunge one: the attachment stays for the other.
	s.StoreFlags(ctx, in.ID, []UID{1}, FlagsAdd, ParseFlags([]string{`\Deleted`}), nil)
	s.Expunge(ctx, in.ID, nil)
	if c, err := s.Content(ctx, mustMessage(t, s, in.ID, 2)); err != nil || !bytes.Equal(c, m2) {
		t.Fatalf("second message after expunging the first: %v", err)
	}
	s.StoreFlags(ctx, in.ID, []UID{2}, FlagsAdd, ParseFlags([]string{`\Deleted`}), nil)
	s.Expunge(ctx, in.ID, nil)
	if st, _ := s.Stats(ctx); st.Bodies != 0 || st.BodyBytes != 0 {
		t.Fatalf("after expunging everything: %+v", st)
	}
	if p, err := s.Check(ctx); err != nil || len(p) > 0 {
		t.Fatalf("check: %v %v", p, err)
	}
}

func mustMessage(t *testing.T, s *Store, id MailboxID, uid UID) *Message {
	t.Helper()
	m, err := s.Message(context.Background(), id, uid)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestSamplesByteExact stores the sample corpus, with a large part added
// to each MIME sample, and reads every message back exactly.
func TestSamplesByteExact(t *testing.T) {
	t.Parallel()
	files, _ := filepath.Glob("../testdata/messages/*.eml")
	s := openTest(t, Options{})
	ctx := context.Background()
	in, _ := s.Inbox(ctx, "a@example.test")
	att := bytes.Repeat([]byte("0123456789abcdef"), 2048)
	var want [][]byte
	for _, f := range files {
		b, _ := os.ReadFile(f)
		want = append(want, b, withAttachment(filepath.Base(f), string(b), att))
	}
	for _, w := range want {
		if _, err := s.Append(ctx, in.ID, w, NewMessage{}, 0); err != nil {
			t.Fatal(err)
		}
	}
	i := 0
	s.MessagesWithContent(ctx, in.ID, 1, 0, func(m *Message, c []byte) error {
		if !bytes.Equal(c, want[i]) {
			t.Errorf("message %d not byte-exact", i)
		}
		i++
		return nil
	})
}

func FuzzSplitParts(f *testing.F) {
	files, _ := filepath.Glob("../testdata/messages/*.eml")
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add(withAttachment("x", "y", bytes.Repeat([]byte("z"), 100)))
	f.Fuzz(func(t *testing.T, msg []byte) {
		segs := splitParts(msg, 16)
		var joined []byte
		for _, sg := range segs {
			joined = append(joined, sg.data...)
		}
		if !bytes.Equal(joined, msg) {
			t.Fatalf("segments do not join to the message")
		}
	})
}
