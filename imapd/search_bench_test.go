package imapd

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"mailroom/store"
)

// BenchmarkSearchBodyLarge measures SEARCH BODY and TEXT over one large
// message whose text has the needle's first letter everywhere, in lower
// case only, and not the needle itself: the shape that made matching
// quadratic (512 KiB took 4.5 s).
func BenchmarkSearchBodyLarge(b *testing.B) {
	for _, size := range []int{512 << 10, 8 << 20, 25 << 20} {
		b.Run(fmt.Sprintf("%dKiB", size>>10), func(b *testing.B) {
			ts := newTestServer(b)
			ctx := context.Background()
			const user = "alice@example.test"
			ts.st.EnsureAccount(ctx, user, true)
			box, _ := ts.st.CreateMailbox(ctx, user, "Big", store.CreateOptions{})
			line := "lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore.\r\n"
			body := "From: a@example.test\r\nSubject: big\r\n\r\n" + strings.Repeat(line, size/len(line))
			if _, err := ts.st.Append(ctx, box.ID, []byte(body), store.NewMessage{}, 0); err != nil {
				b.Fatal(err)
			}
			r := dialRaw(b, ts.plain)
			r.ok("a LOGIN " + user + " password")
			r.ok("b SELECT Big")
			b.SetBytes(int64(len(body)))
			b.ResetTimer()
			for b.Loop() {
				if out := r.ok("s SEARCH BODY tempest"); !strings.Contains(out, "* SEARCH\r\n") {
					b.Fatalf("SEARCH BODY: %q", out)
				}
				if out := r.ok("t SEARCH TEXT temporal"); !strings.Contains(out, "* SEARCH\r\n") {
					b.Fatalf("SEARCH TEXT: %q", out)
				}
			}
		})
	}
}
