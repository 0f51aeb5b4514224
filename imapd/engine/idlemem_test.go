package engine

import (
	"os"
	"runtime"
	"runtime/pprof"
	"testing"
)

// BenchmarkIdleConnectionMemory reports what one authenticated connection
// in IDLE costs the server: heap and goroutine stacks, per connection
// (the client side of the test is in the same process and is measured
// too; divide by two for an upper bound of the server's share).
func BenchmarkIdleConnectionMemory(b *testing.B) {
	ts := newTestServer(b)
	const n = 500
	var before, after runtime.MemStats
	for b.Loop() {
		runtime.GC()
		runtime.ReadMemStats(&before)
		conns := make([]*raw, 0, n)
		for i := range n {
			r := dialRaw(b, ts.plain)
			r.send("a LOGIN alice@example.test password\r\nb SELECT INBOX\r\nc IDLE\r\n")
			r.until("b")
			if l := r.line(); l != "+ idling" && l[0] != '+' {
				b.Fatalf("connection %d: %q", i, l)
			}
			conns = append(conns, r)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapInuse-before.HeapInuse)/n/1024, "heap-KiB/conn")
		b.ReportMetric(float64(after.StackInuse-before.StackInuse)/n/1024, "stack-KiB/conn")
		if f := os.Getenv("IDLE_HEAP_PROFILE"); f != "" {
			out, _ := os.Create(f)
			pprof.WriteHeapProfile(out)
			out.Close()
		}
		for _, r := range conns {
			r.c.Close()
		}
	}
}
