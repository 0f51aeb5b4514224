package smtpd

import (
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"mailroom/inbound"
	"mailroom/internal/testutil"
)

// BenchmarkInboundChecks measures MX delivery of one DKIM-signed 4 KB
// message (RSA-2048), by 1 and 16 clients to one mailbox, with the inbound
// checks off and on: SPF, DKIM, DMARC and one DNSBL zone, asking the fake
// DNS on loopback through the caching resolver of [dns] resolver (so, as
// with a stream of mail from one sender, after the first message the
// answers come from the cache for their TTL). cpu-µs/msg is the whole
// process's CPU time per message (server, client, fake DNS): on a busy
// machine it says more than the rate.
//
// One mailbox: concurrent deliveries to different mailboxes currently
// meet Badger transaction conflicts in the store (451 after 100 retries),
// with or without the checks (see the report of #13).
func BenchmarkInboundChecks(b *testing.B) {
	for _, clients := range []int{1, 16} {
		for _, on := range []bool{false, true} {
			benchChecks(b, clients, on)
		}
	}
}

func benchChecks(b *testing.B, clients int, on bool) {
	b.Run(fmt.Sprintf("%dclients/%s", clients, map[bool]string{false: "off", true: "on"}[on]), func(b *testing.B) {
		plain := "From: bench@remote.test\r\nTo: alice@example.test\r\nSubject: bench\r\nMessage-ID: <bench@remote.test>\r\n\r\n" +
			strings.Repeat(strings.Repeat("x", 76)+"\r\n", (4<<10)/78)
		// The same signed message both ways; off, nobody checks it.
		e := newTrustEnv(b, func(o *inbound.Options) { o.DNSBL = []string{"bl.test"} })
		key, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			b.Fatal(err)
		}
		rec, _ := DKIMRecord(key)
		e.dns.TXT("sel._domainkey.remote.test", rec)
		e.dns.TXT("remote.test", "v=spf1 ip4:127.0.0.1 -all")
		e.dns.TXT("_dmarc.remote.test", "v=DMARC1; p=reject")
		signed, err := (&DKIMKey{Domain: "remote.test", Selector: "sel", Signer: key}).Sign([]byte(plain))
		if err != nil {
			b.Fatal(err)
		}
		env, body := e.testEnv, string(signed)
		if !on {
			env = newEnv(b, 0) // as newTrustEnv, without the checks
		}
		var n atomic.Int64
		cpu0 := cpuTime()
		b.ResetTimer()
		b.SetParallelism((clients + 1) / 2) // GOMAXPROCS is 2 here
		b.SetBytes(int64(len(body)))
		b.RunParallel(func(pb *testing.PB) {
			c, err := smtp.Dial(env.mx)
			if err != nil {
				b.Error(err)
				return
			}
			defer c.Close()
			const rcpt = "alice@example.test"
			for pb.Next() {
				// Distinct bodies for the store; X-Seq is not signed.
				msg := fmt.Sprintf("X-Seq: %d\r\n%s", n.Add(1), body)
				if err := testutil.SendMail(c, "bench@remote.test", []string{rcpt}, msg); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		// CPU time of the whole process (server, client and fake DNS)
		// per message: what the checks cost, less disturbed than the
		// rate by other work on the machine.
		b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/msg")
	})
}

// cpuTime is the user and system time the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
