package smtpd

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/emersion/go-smtp"

	"mailroom/internal/testutil"
)

// BenchmarkSMTPDelivery measures messages per second accepted over MX and
// durably stored (the 250 comes after the commit), by message size and
// number of concurrent clients, each on its own connection: all to one
// mailbox (whose commits are serialized to keep change events in order),
// or each client to its own.
func BenchmarkSMTPDelivery(b *testing.B) {
	for _, size := range []int{4 << 10, 100 << 10} {
		for _, clients := range []int{1, 16} {
			for _, spread := range []bool{false, true} {
				if clients == 1 && spread {
					continue
				}
				name := fmt.Sprintf("%dKB/%dclients", size>>10, clients)
				if clients > 1 {
					name += map[bool]string{false: "/1mailbox", true: "/16mailboxes"}[spread]
				}
				benchDelivery(b, name, size, clients, spread)
			}
		}
	}
}

func benchDelivery(b *testing.B, name string, size, clients int, spread bool) {
	var client atomic.Int64
	b.Run(name, func(b *testing.B) {
		env := newEnv(b, 1<<30)
		var n atomic.Int64
		body := "From: bench@remote.test\r\nTo: alice@example.test\r\nSubject: bench\r\n\r\n" +
			strings.Repeat(strings.Repeat("x", 76)+"\r\n", size/78)
		b.SetParallelism((clients + 1) / 2) // GOMAXPROCS is 2 here; 16 clients
		b.SetBytes(int64(len(body)))
		b.RunParallel(func(pb *testing.PB) {
			c, err := smtp.Dial(env.mx)
			if err != nil {
				b.Error(err)
				return
			}
			defer c.Close()
			rcpt := "alice@example.test"
			if spread {
				rcpt = fmt.Sprintf("user%d@example.test", client.Add(1)%16)
			}
			for pb.Next() {
				// Distinct bodies: de-duplication must not flatter the figure.
				msg := fmt.Sprintf("X-Seq: %d\r\n%s", n.Add(1), body)
				if err := testutil.SendMail(c, "bench@remote.test", []string{rcpt}, msg); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	})
}
