package smtpd

import (
	"context"
	"crypto/ed25519"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/dkim"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"mailroom/internal/testutil"
)

// TestSubmissionStoresReceivedBytesOnce: a submitted message to a local
// and a remote recipient is stored as the client's bytes, once; the
// fields the server adds (Received, Date, Message-ID, and the
// DKIM-Signature for the queue) live beside it in each copy, which reads
// back as before and, queued, verifies.
func TestSubmissionStoresReceivedBytesOnce(t *testing.T) {
	t.Parallel()
	signer, err := GenerateDKIMKey(filepath.Join(t.TempDir(), "dkim.pem"), "rsa")
	if err != nil {
		t.Fatal(err)
	}
	key := &DKIMKey{Domain: "example.test", Selector: "s1", Signer: signer}
	env := newEnv(t, 1<<20, func(o *Options) {
		o.Queue = NewOutbound(OutboundOptions{Store: o.Store, Directory: o.Directory, Logger: o.Logger, Hostname: o.Hostname,
			Domains: []string{"example.test"}, DKIM: map[string]*DKIMKey{"example.test": key}})
	})
	c := dial(t, env.sub)
	if err := c.Auth(sasl.NewPlainClient("", "alice@example.test", "password")); err != nil {
		t.Fatal(err)
	}
	msg := "From: Alice <alice@example.test>\r\nTo: bob@example.test, friend@remote.test\r\nSubject: both\r\n\r\nHello.\r\n"
	if err := testutil.SendMail(c, "alice@example.test", []string{"bob@example.test", "friend@remote.test"}, msg); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	got := inboxContents(t, env.st, "bob@example.test")
	if len(got) != 1 || !strings.HasSuffix(got[0], msg) {
		t.Fatalf("bob's copy: %q", got)
	}
	local, ok := strings.CutPrefix(got[0], "Return-Path: <alice@example.test>\r\nDelivered-To: bob@example.test\r\n")
	added := strings.TrimSuffix(local, msg)
	if !ok || !strings.HasPrefix(added, "Received: ") || !strings.Contains(added, "\r\nDate: ") || !strings.Contains(added, "\r\nMessage-ID: <") {
		t.Fatalf("bob's copy lacks the added fields: %q", got[0])
	}
	q, err := env.st.QueueEntries(ctx)
	if err != nil || len(q) != 1 {
		t.Fatalf("queue: %d entries, %v", len(q), err)
	}
	out, err := env.st.QueueContent(ctx, q[0])
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(out), "DKIM-Signature: ") || !strings.HasSuffix(string(out), added+msg) {
		t.Fatalf("queued copy: %q", out)
	}
	verifyDKIM(t, string(out), key)
	if st, _ := env.st.Stats(ctx); st.Bodies != 1 || st.BodyBytes != int64(len(msg)) {
		t.Fatalf("stored %d bodies of %d bytes, want the %d bytes received, once", st.Bodies, st.BodyBytes, len(msg))
	}
}

// FuzzDKIMSignature signs messages of any body and a header value with
// odd white space and folding, and checks them with go-msgauth's
// verifier: the canonicalisation written here must agree with it.
func FuzzDKIMSignature(f *testing.F) {
	for _, s := range [][2]string{
		{"x", "Hi.\r\n"},
		{"  lots \t of   space  ", "a  b\t\tc  \r\n \r\n\t\r\n"},
		{"folded\r\n\tsubject", ""},
		{"", "\r\n\r\n\r\n"},
		{"trailing ", "no final line break  "},
		{"a", " leading\r\n\ttabs\r\n\r\nend\r\n\r\n"},
	} {
		f.Add(s[0], []byte(s[1]))
	}
	_, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		f.Fatal(err)
	}
	key := &DKIMKey{Domain: "example.test", Selector: "fz", Signer: priv}
	record, err := DKIMRecord(priv)
	if err != nil {
		f.Fatal(err)
	}
	lookup := func(string) ([]string, error) { return []string{record}, nil }
	f.Fuzz(func(t *testing.T, subject string, body []byte) {
		// A header value: any bytes but line breaks, which only fold.
		subject = strings.NewReplacer("\r\n", "\r\n ", "\r", "", "\n", "").Replace(subject)
		head := []byte("Received: by test;\r\n\t" + strings.ReplaceAll(subject, "\r\n ", " ") + "\r\n")
		msg := append([]byte("From: a@example.test\r\nSubject:"+subject+"\r\nsubject: two\r\n\r\n"), normalizeLineEndings(body)...)
		sig, err := key.Signature(head, msg)
		if err != nil {
			t.Fatal(err)
		}
		signed := sig + string(head) + string(msg)
		vs, err := dkim.VerifyWithOptions(strings.NewReader(signed), &dkim.VerifyOptions{LookupTXT: lookup})
		if err != nil || len(vs) != 1 || vs[0].Err != nil {
			t.Fatalf("go-msgauth does not verify %q: %v %+v", signed, err, vs)
		}
	})
}

// TestReusedBufferKeepsStoredMessages: message buffers are reused, so
// messages of one size are sent one after the other, over submission
// (local, remote and the Sent copy of a team address) and over MX, and
// every stored and queued copy must still read back as its own message
// once the next one has been read into the same buffer.
func TestReusedBufferKeepsStoredMessages(t *testing.T) {
	t.Parallel()
	signer, err := GenerateDKIMKey(filepath.Join(t.TempDir(), "dkim.pem"), "ed25519")
	if err != nil {
		t.Fatal(err)
	}
	key := &DKIMKey{Domain: "example.test", Selector: "s1", Signer: signer}
	env := newEnv(t, 8<<20, func(o *Options) {
		o.Queue = NewOutbound(OutboundOptions{Store: o.Store, Directory: o.Directory, Logger: o.Logger, Hostname: o.Hostname,
			Domains: []string{"example.test"}, DKIM: map[string]*DKIMKey{"example.test": key}})
	})
	ctx := context.Background()
	// Large enough to be stored in chunks, one size for all.
	message := func(from string, i int) string {
		line := strings.Repeat(string(rune('a'+i)), 76) + "\r\n"
		return "From: " + from + "\r\nSubject: " + string(rune('a'+i)) + "\r\n\r\n" + strings.Repeat(line, (3<<20)/len(line))
	}
	sub := dial(t, env.sub)
	if err := sub.Auth(sasl.NewPlainClient("", "alice@example.test", "password")); err != nil {
		t.Fatal(err)
	}
	mx := dial(t, env.mx)
	var sent, received []string
	for i := range 3 {
		m := message("alice@example.test", i)
		if err := sendSized(sub, "alice@example.test", []string{"bob@example.test", "friend@remote.test"}, m); err != nil {
			t.Fatal(err)
		}
		sent = append(sent, m)
		m = message("someone@remote.test", 3+i)
		if err := sendSized(mx, "someone@remote.test", []string{"user3@example.test", "user4@example.test"}, m); err != nil {
			t.Fatal(err)
		}
		received = append(received, m)
	}
	for _, c := range []struct {
		account string
		want    []string
	}{{"bob@example.test", sent}, {"user3@example.test", received}, {"user4@example.test", received}} {
		got := inboxContents(t, env.st, c.account)
		if len(got) != len(c.want) {
			t.Fatalf("%s has %d messages, want %d", c.account, len(got), len(c.want))
		}
		for i := range got {
			if !strings.HasSuffix(got[i], c.want[i]) {
				t.Fatalf("%s: message %d is not what was sent", c.account, i+1)
			}
		}
	}
	q, err := env.st.QueueEntries(ctx)
	if err != nil || len(q) != len(sent) {
		t.Fatalf("queue: %d entries, %v", len(q), err)
	}
	for i, e := range q {
		out, err := env.st.QueueContent(ctx, e)
		if err != nil || !strings.HasSuffix(string(out), sent[i]) {
			t.Fatalf("queued message %d is not what was sent (%v)", i+1, err)
		}
		verifyDKIM(t, string(out), key)
	}
	if p, err := env.st.Check(ctx); err != nil || len(p) > 0 {
		t.Fatalf("store check: %q %v", p, err)
	}
}

// sendSized sends one message, announcing its size as mail clients do
// (so that it is read into a buffer of that size).
func sendSized(c *smtp.Client, from string, rcpts []string, msg string) error {
	if err := c.Mail(from, &smtp.MailOptions{Size: int64(len(msg))}); err != nil {
		return err
	}
	for _, r := range rcpts {
		if err := c.Rcpt(r, nil); err != nil {
			return err
		}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := io.WriteString(w, msg); err != nil {
		return err
	}
	return w.Close()
}
