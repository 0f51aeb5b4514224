package imapd

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"mailroom/store"
)

// benchMessages is the size of the large mailbox; MAILROOM_BENCH_MESSAGES
// overrides it for a quick run.
func benchMessages() int {
	if n, err := strconv.Atoi(os.Getenv("MAILROOM_BENCH_MESSAGES")); err == nil && n > 0 {
		return n
	}
	return 100_000
}

// BenchmarkLargeMailbox measures IMAP commands against one mailbox of
// 100,000 messages of about 1 KB (a fifth of them unseen), over loopback
// with imapclient. Targets (issue 3): SELECT ≤ 50 ms, UID FETCH 1:*
// (UID FLAGS) ≤ 300 ms.
func BenchmarkLargeMailbox(b *testing.B) {
	ts := newTestServer(b)
	ctx := context.Background()
	const user = "alice@example.test"
	ts.st.EnsureAccount(ctx, user, true)
	box, _ := ts.st.CreateMailbox(ctx, user, "Big", store.CreateOptions{})
	n := benchMessages()
	start := time.Now()
	words := []string{"invoice", "meeting", "lunch", "report", "holiday", "budget", "release", "travel"}
	var bodies [][]byte
	var msgs []store.NewMessage
	for i := range n {
		body := fmt.Appendf(nil, "From: sender%d@example.test\r\nTo: %s\r\nSubject: message %d about %s\r\nDate: Mon, 23 Nov 2026 10:00:00 +0000\r\nMessage-ID: <%d@bench.test>\r\n\r\n", i%500, user, i, words[i%len(words)], i)
		for len(body) < 1000 {
			body = fmt.Appendf(body, "Line of text for message %d with the word %s in it.\r\n", i, words[(i+len(body))%len(words)])
		}
		if i == n/2 {
			body = append(body, "The needle: xylophone.\r\n"...)
		}
		var f store.Flags
		if i%5 != 0 {
			f = store.ParseFlags([]string{`\Seen`})
		}
		bodies = append(bodies, body)
		msgs = append(msgs, store.NewMessage{Flags: f})
		if len(bodies) == 5000 || i == n-1 {
			if err := ts.st.AppendBatch(ctx, box.ID, bodies, msgs); err != nil {
				b.Fatal(err)
			}
			bodies, msgs = bodies[:0], msgs[:0]
		}
	}
	b.Logf("loaded %d messages in %v", n, time.Since(start).Round(time.Millisecond))
	c := ts.client(b, user, nil)

	b.Run("SELECT_first", func(b *testing.B) {
		// The first SELECT after a start: the registry has nothing kept,
		// the store's UID blocks and keyword list are read.
		for b.Loop() {
			b.StopTimer()
			ts.forget(box.ID)
			b.StartTimer()
			sel, err := c.Select("Big", nil).Wait()
			if err != nil || int(sel.NumMessages) != n {
				b.Fatalf("SELECT: %v %v", sel, err)
			}
			if err := c.Unselect().Wait(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("SELECT", func(b *testing.B) {
		for b.Loop() {
			sel, err := c.Select("Big", nil).Wait()
			if err != nil || int(sel.NumMessages) != n {
				b.Fatalf("SELECT: %v %v", sel, err)
			}
			// After UNSELECT the registry keeps the mailbox's state
			// (bounded, kept current): this is a repeated SELECT.
			if err := c.Unselect().Wait(); err != nil {
				b.Fatal(err)
			}
		}
	})
	if _, err := c.Select("Big", nil).Wait(); err != nil {
		b.Fatal(err)
	}
	// The server's side is measured with a raw connection that only
	// reads the bytes: imapclient's parsing of 100,000 responses would
	// otherwise dominate (it adds about 0.6 s).
	r := dialRaw(b, ts.plain)
	r.ok("a LOGIN " + user + " password")
	r.ok("b SELECT Big")
	b.Run("UID_FETCH_1:*_(UID_FLAGS)", func(b *testing.B) {
		for b.Loop() {
			out := r.ok("f UID FETCH 1:* (UID FLAGS)")
			if got := strings.Count("\n"+out, "\n* "); got != n {
				b.Fatalf("FETCH: %d responses", got)
			}
		}
	})
	b.Run("UID_FETCH_1:*_(UID_FLAGS)_imapclient", func(b *testing.B) {
		for b.Loop() {
			msgs, err := c.Fetch(imap.UIDSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{UID: true, Flags: true}).Collect()
			if err != nil || len(msgs) != n {
				b.Fatalf("FETCH: %d %v", len(msgs), err)
			}
		}
	})
	b.Run("FETCH_1:*_(ENVELOPE)", func(b *testing.B) {
		for b.Loop() {
			out := r.ok("e FETCH 1:* (ENVELOPE)")
			if got := strings.Count("\n"+out, "\n* "); got != n {
				b.Fatalf("FETCH ENVELOPE: %d responses", got)
			}
		}
	})
	b.Run("SEARCH_UNSEEN", func(b *testing.B) {
		for b.Loop() {
			out := r.ok("s SEARCH UNSEEN")
			if got := strings.Count(out, " "); got < (n+4)/5 {
				b.Fatalf("SEARCH UNSEEN: %d results", got)
			}
		}
	})
	b.Run("SEARCH_BODY_word", func(b *testing.B) {
		for b.Loop() {
			if out := r.ok("s SEARCH BODY xylophone"); !strings.Contains(out, "* SEARCH "+strconv.Itoa(n/2+1)+"\r\n") {
				b.Fatalf("SEARCH BODY: %q", out)
			}
		}
	})
	b.Run("SORT_(DATE)", func(b *testing.B) {
		for b.Loop() {
			if out := r.ok("o SORT (DATE) UTF-8 ALL"); strings.Count(out, " ") < n {
				b.Fatalf("SORT: %.200q", out)
			}
		}
	})
	b.Run("THREAD_REFERENCES", func(b *testing.B) {
		for b.Loop() {
			if out := r.ok("t THREAD REFERENCES UTF-8 ALL"); !strings.HasPrefix(out, "* THREAD (") {
				b.Fatalf("THREAD: %.200q", out)
			}
		}
	})
	// A client resynchronising after 10 changes: CHANGEDSINCE and
	// SELECT (QRESYNC) read the mod-sequence index, not the mailbox.
	mb, _ := ts.st.Mailbox(ctx, box.ID)
	since := strconv.FormatUint(mb.HighestModSeq, 10)
	for i := range 10 {
		ts.st.StoreFlags(ctx, box.ID, []store.UID{store.UID(1 + i*n/10)}, store.FlagsAdd, store.ParseFlags([]string{"$bench"}), nil)
	}
	b.Run("UID_FETCH_CHANGEDSINCE_10_changes", func(b *testing.B) {
		for b.Loop() {
			out := r.ok("c UID FETCH 1:* (FLAGS) (CHANGEDSINCE " + since + ")")
			if got := strings.Count("\n"+out, "\n* "); got < 10 {
				b.Fatalf("CHANGEDSINCE: %d responses: %.300q", got, out)
			}
		}
	})
	q := dialRaw(b, ts.plain)
	q.ok("a LOGIN " + user + " password")
	q.ok("e ENABLE QRESYNC")
	b.Run("SELECT_QRESYNC_10_changes", func(b *testing.B) {
		for b.Loop() {
			out := q.ok("q SELECT Big (QRESYNC (" + strconv.FormatUint(uint64(mb.UIDValidity), 10) + " " + since + "))")
			if got := strings.Count(out, " FETCH "); got != 10 {
				b.Fatalf("QRESYNC: %d FETCH: %.300q", got, out)
			}
		}
	})
	msg := []byte("From: bench@example.test\r\nSubject: appended\r\n\r\n" + string(make([]byte, 0)) + "A short appended message.\r\n")
	b.Run("APPEND", func(b *testing.B) {
		for b.Loop() {
			cmd := c.Append("Big", int64(len(msg)), nil)
			cmd.Write(msg)
			cmd.Close()
			if _, err := cmd.Wait(); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "appends/s")
	})
}
