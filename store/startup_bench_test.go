package store

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"
)

// BenchmarkStartup measures opening a data directory that holds 1,000,000
// messages (MAILROOM_BENCH_STARTUP_MESSAGES overrides the count) spread
// over 100 accounts, and answering a first mailbox lookup. Loading the
// directory is not timed.
func BenchmarkStartup(b *testing.B) {
	n := 1_000_000
	if v, err := strconv.Atoi(os.Getenv("MAILROOM_BENCH_STARTUP_MESSAGES")); err == nil && v > 0 {
		n = v
	}
	dir := b.TempDir()
	ctx := context.Background()
	s, err := Open(ctx, Options{Dir: dir})
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	per := n / 100
	for a := range 100 {
		in, err := s.Inbox(ctx, fmt.Sprintf("user%d@example.test", a))
		if err != nil {
			b.Fatal(err)
		}
		bodies := make([][]byte, 0, per)
		msgs := make([]NewMessage, 0, per)
		for i := range per {
			bodies = append(bodies, fmt.Appendf(nil, "Subject: %d/%d\r\n\r\nshort body %d\r\n", a, i, i))
			msgs = append(msgs, NewMessage{})
		}
		if err := s.AppendBatch(ctx, in.ID, bodies, msgs); err != nil {
			b.Fatal(err)
		}
	}
	s.Close()
	b.Logf("loaded %d messages in %v", n, time.Since(start).Round(time.Second))
	for b.Loop() {
		s, err := Open(ctx, Options{Dir: dir})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.MailboxByName(ctx, "user42@example.test", Inbox); err != nil {
			b.Fatal(err)
		}
		s.Close()
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms_to_open")
}
