package store

import (
	"context"
	"testing"
	"time"
)

// TestAuditLog: records read back in time order, filtered by account,
// actor and time; old ones are pruned.
func TestAuditLog(t *testing.T) {
	t.Parallel()
	s := openTest(t, Options{})
	ctx := context.Background()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	recs := []AuditRecord{
		{Time: t0, Account: "info@example.test", Actor: "bob@example.test", Action: "expunge", Mailbox: "INBOX", Detail: "3"},
		{Time: t0.Add(time.Hour), Account: "info@example.test", Actor: "carol@example.test", Action: "move-out", Mailbox: "INBOX", Detail: "4"},
		{Time: t0.Add(2 * time.Hour), Account: "alice@example.test", Actor: "bob@example.test", Action: "store", Mailbox: "INBOX", Detail: "+FLAGS (\\Seen) 1"},
	}
	if err := s.AddAudit(ctx, recs); err != nil {
		t.Fatal(err)
	}
	count := func(f AuditFilter) (n int, last AuditRecord) {
		s.AuditLog(ctx, f, func(r AuditRecord) error { n++; last = r; return nil })
		return
	}
	if n, last := count(AuditFilter{}); n != 3 || last.Action != "store" || !last.Time.Equal(t0.Add(2*time.Hour)) {
		t.Fatalf("all: %d, last %+v", n, last)
	}
	if n, _ := count(AuditFilter{Account: "INFO@example.test"}); n != 2 {
		t.Errorf("by account: %d", n)
	}
	if n, _ := count(AuditFilter{Actor: "bob@example.test", Since: t0.Add(time.Minute)}); n != 1 {
		t.Errorf("by actor since: %d", n)
	}
	if n, err := s.PruneAudit(ctx, t0.Add(90*time.Minute)); err != nil || n != 2 {
		t.Fatalf("pruned %d, %v", n, err)
	}
	if n, _ := count(AuditFilter{}); n != 1 {
		t.Errorf("after pruning: %d", n)
	}
}
