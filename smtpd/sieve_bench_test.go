package smtpd

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/emersion/go-smtp"

	"mailroom/internal/testutil"
)

// benchScript is a 20-rule script of the kind people write: header,
// address and size tests, most not matching, a few filing with flags.
func benchScript() string {
	var b strings.Builder
	b.WriteString(`require ["fileinto", "mailbox", "imap4flags", "variables", "relational", "comparator-i;ascii-numeric", "envelope", "subaddress"];` + "\n")
	for i := range 16 {
		fmt.Fprintf(&b, "if header :contains \"subject\" \"project-%d\" { fileinto :create \"Projects/%d\"; stop; }\n", i, i)
	}
	b.WriteString(`if address :domain :is "from" ["spam.example", "junk.example"] { discard; stop; }
if header :value "ge" :comparator "i;ascii-numeric" "x-spam-score" "5" { fileinto :create "Junk"; stop; }
if envelope :detail "to" "lists" { fileinto :create "Lists"; stop; }
if header :matches "subject" "*bench*" { addflag "$Bench"; }
`)
	return b.String()
}

// BenchmarkSieveDelivery compares the delivery rate over MX with a
// 20-rule script on the recipient's account against none (sub-benchmarks
// noscript and 20rules, 4 KB messages, one client).
func BenchmarkSieveDelivery(b *testing.B) {
	for _, withScript := range []bool{false, true} {
		name := map[bool]string{false: "noscript", true: "20rules"}[withScript]
		b.Run(name, func(b *testing.B) {
			env := newEnv(b, 1<<30)
			if withScript {
				ctx := context.Background()
				if err := env.st.PutSieveScript(ctx, "alice@example.test", "rules", benchScript()); err != nil {
					b.Fatal(err)
				}
				if err := env.st.SetActiveSieveScript(ctx, "alice@example.test", "rules"); err != nil {
					b.Fatal(err)
				}
			}
			body := "From: bench@remote.test\r\nTo: alice@example.test\r\nSubject: a bench message\r\n\r\n" +
				strings.Repeat(strings.Repeat("x", 76)+"\r\n", 4096/78)
			c, err := smtp.Dial(env.mx)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			var n atomic.Int64
			b.ResetTimer()
			for b.Loop() {
				msg := fmt.Sprintf("X-Seq: %d\r\n%s", n.Add(1), body)
				if err := testutil.SendMail(c, "bench@remote.test", []string{"alice@example.test"}, msg); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}
