package smtpd

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// BenchmarkSubmissionMemory submits a 20 MiB message (a base64
// attachment) to five recipients, two local and three remote, through the
// real submission listener: received, checked, DKIM-signed, delivered to
// the INBOXes and queued. alloc-B/msg-B is the heap allocated in the
// whole process per byte of the message, averaged over b.N messages: the
// received copy is the only allocation of the message's size, and its
// buffer is reused, so the first message costs about 1.2 (its buffer's
// size class) and the next ones about 0.05. peak-heap-MiB is the most
// the heap held above its level before the run (sampled every ms).
//
//	go test -run '^$' -bench Memory -benchtime 5x ./smtpd
//	GOGC=20 go test -run '^$' -bench Memory -benchtime 5x ./smtpd
func BenchmarkSubmissionMemory(b *testing.B) {
	dir := b.TempDir()
	signer, err := GenerateDKIMKey(filepath.Join(dir, "dkim.pem"), "rsa")
	if err != nil {
		b.Fatal(err)
	}
	var out *Outbound
	env := newEnv(b, 64<<20, func(o *Options) {
		out = NewOutbound(OutboundOptions{Store: o.Store, Directory: o.Directory, Logger: o.Logger, Hostname: o.Hostname,
			Domains: []string{"example.test"}, DKIM: map[string]*DKIMKey{"example.test": {Domain: "example.test", Selector: "s1", Signer: signer}}})
		o.Queue = out
		o.MaxReceiving = 256 << 20 // the default
	})
	c, err := smtp.Dial(env.sub)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	if err := c.Auth(sasl.NewPlainClient("", "alice@example.test", "password")); err != nil {
		b.Fatal(err)
	}
	rcpts := []string{"alice@example.test", "bob@example.test", "x@remote.test", "y@remote.test", "z@far.test"}
	benchMemory(b, c, "alice@example.test", rcpts)
	if q, _ := env.st.QueueEntries(context.Background()); len(q) != b.N {
		b.Fatalf("%d queued, want %d", len(q), b.N)
	}
}

// BenchmarkInboundMemory sends the message of BenchmarkSubmissionMemory
// from outside over MX to five local recipients: received, checked and
// delivered to five INBOXes in one transaction.
func BenchmarkInboundMemory(b *testing.B) {
	env := newEnv(b, 64<<20, func(o *Options) {
		o.MaxReceiving = 256 << 20 // the default
	})
	c, err := smtp.Dial(env.mx)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	rcpts := []string{"alice@example.test", "bob@example.test", "user0@example.test", "user1@example.test", "user2@example.test"}
	benchMemory(b, c, "someone@remote.test", rcpts)
	inbox, err := env.st.Inbox(context.Background(), "user2@example.test")
	if err != nil {
		b.Fatal(err)
	}
	if uids, err := env.st.UIDs(context.Background(), inbox.ID); err != nil || len(uids) != b.N {
		b.Fatalf("%d delivered (%v), want %d", len(uids), err, b.N)
	}
}

// benchMemory sends b.N distinct 20 MiB messages on c and reports the
// heap allocated per message byte and the heap's sampled peak.
func benchMemory(b *testing.B, c *smtp.Client, from string, rcpts []string) {
	raw := make([]byte, 15<<20)
	rand.Read(raw)
	enc := base64.StdEncoding.EncodeToString(raw)
	var att strings.Builder
	for len(enc) > 76 {
		att.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	att.WriteString(enc + "\r\n")
	body := "From: " + from + "\r\nTo: bob@example.test\r\nSubject: big\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=b1\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n" +
		"--b1\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n" + att.String() + "--b1--\r\n"
	// One buffer, its sequence number rewritten in place in the header and
	// in the attachment (distinct messages and parts: no de-duplication),
	// so the client allocates nothing.
	msg := []byte("X-Seq: 00000000\r\n" + body)
	inPart := bytes.Index(msg, []byte("base64\r\n\r\n")) + 12
	send := func(i int) error {
		seq := fmt.Sprintf("%08d", i)
		copy(msg[7:15], seq)
		copy(msg[inPart:], seq) // digits are base64 too
		// Announce the size, as mail clients do (RFC 1870).
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
		if _, err := w.Write(msg); err != nil {
			return err
		}
		return w.Close()
	}
	b.SetBytes(int64(len(msg)))
	// The heap's peak over the run, above what it held before, sampled.
	runtime.GC()
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(sample)
	base := sample[0].Value.Uint64()
	stop, sampled := make(chan struct{}), make(chan uint64)
	go func() {
		var peak uint64
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				sampled <- peak
				return
			case <-t.C:
				metrics.Read(s)
				peak = max(peak, s[0].Value.Uint64())
			}
		}
	}()
	b.ResetTimer()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := range b.N {
		if err := send(i); err != nil {
			b.Fatal(err)
		}
	}
	runtime.ReadMemStats(&after)
	b.StopTimer()
	close(stop)
	if peak := <-sampled; peak > base {
		b.ReportMetric(float64(peak-base)/(1<<20), "peak-heap-MiB")
	}
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/float64(b.N)/float64(len(msg)), "alloc-B/msg-B")
}
