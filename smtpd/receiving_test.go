package smtpd

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"mailroom/internal/testutil"
)

// gateQueue is an outbound queue that holds each Enqueue until released,
// reporting that it has one.
type gateQueue struct {
	entered chan struct{}
	release chan struct{}
}

func (q *gateQueue) Enqueue(ctx context.Context, _ string, _ []string, _, _ []byte) error {
	q.entered <- struct{}{}
	select {
	case <-q.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// TestReceivingBudget: while a message that takes most of the receiving
// budget is still being handled (here: held in the outbound queue), a
// second client's DATA gets 452 4.3.1 rather than being buffered; once
// the first is done, the second goes through.
func TestReceivingBudget(t *testing.T) {
	t.Parallel()
	q := &gateQueue{entered: make(chan struct{}, 1), release: make(chan struct{})}
	env := newEnv(t, 1<<20, func(o *Options) { o.MaxReceiving = 1 << 20; o.Queue = q })
	line := strings.Repeat("y", 98) + "\r\n"
	big := "From: alice@example.test\r\nSubject: first\r\n\r\n" + strings.Repeat(line, 9000) // ~900 KB

	a := dial(t, env.sub)
	if err := a.Auth(sasl.NewPlainClient("", "alice@example.test", "password")); err != nil {
		t.Fatal(err)
	}
	aDone := make(chan error, 1)
	go func() { aDone <- testutil.SendMail(a, "alice@example.test", []string{"friend@remote.test"}, big) }()
	select {
	case <-q.entered: // A's message is read; its budget is held until its reply
	case err := <-aDone:
		t.Fatalf("A ended early: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("A's message never reached the queue")
	}

	second := "Subject: second\r\n\r\n" + strings.Repeat(line, 2000) // ~200 KB
	b := dial(t, env.mx)
	// A client that announces its size is told at MAIL.
	var se *smtp.SMTPError
	if err := b.Mail("b@remote.test", &smtp.MailOptions{Size: int64(len(second))}); !errors.As(err, &se) || se.Code != 452 || se.EnhancedCode != (smtp.EnhancedCode{4, 3, 1}) {
		t.Fatalf("MAIL SIZE=%d while A holds the receiving budget: %v, want 452 4.3.1", len(second), err)
	}
	err := testutil.SendMail(b, "b@remote.test", []string{"bob@example.test"}, second)
	if !errors.As(err, &se) || se.Code != 452 || se.EnhancedCode != (smtp.EnhancedCode{4, 3, 1}) {
		t.Fatalf("B while A holds the receiving budget: %v, want 452 4.3.1", err)
	}
	if err := b.Reset(); err != nil {
		t.Fatalf("B's connection after the refusal: %v", err)
	}

	close(q.release)
	if err := <-aDone; err != nil {
		t.Fatalf("A: %v", err)
	}
	if err := testutil.SendMail(b, "b@remote.test", []string{"bob@example.test"}, second); err != nil {
		t.Fatalf("B after A finished: %v", err)
	}
	if got := inboxContents(t, env.st, "bob@example.test"); len(got) != 1 || !strings.HasSuffix(got[0], second) {
		t.Fatalf("bob got %d messages", len(got))
	}
}
