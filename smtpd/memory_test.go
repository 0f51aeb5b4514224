package smtpd

import (
	"context"
	"crypto/ed25519"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/dkim"
	"github.com/emersion/go-sasl"

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
