package main

import (
	"context"
	"log/slog"
	"runtime/debug"
	"testing"
)

// TestMemoryPolicy: the limit stays at the configured value while the
// live heap is small or near it only for a moment (a memtable flush),
// follows a live heap that stays near it (twice the live heap), and comes
// back down when that falls for as long, never below the configured value.
func TestMemoryPolicy(t *testing.T) {
	const MiB = 1 << 20
	p := &memoryPolicy{configured: 80 * MiB, current: 80 * MiB}
	check := func(live, want int64) {
		t.Helper()
		if got := p.next(live * MiB); got != want*MiB {
			t.Fatalf("live %d MiB: limit %d MiB, want %d MiB", live, got/MiB, want)
		}
	}
	check(30, 80)
	for range memorySustained - 1 { // a spike: kept
		check(70, 80)
	}
	check(40, 80)
	for range memorySustained - 1 {
		check(70, 80)
	}
	check(75, 150) // sustained: twice the live heap
	for range memorySustained {
		check(100, 150) // between a quarter and three quarters: kept
	}
	for range memorySustained - 1 {
		check(20, 150)
	}
	check(30, 80) // far under for long: back, not below the configured
	for range 2 * memorySustained {
		check(5, 80) // already at the configured limit
	}
}

// TestLimitMemoryApplies: serve sets Go's memory limit from limits.memory,
// and leaves it alone when GOMEMLIMIT is set or the setting is 0.
func TestLimitMemoryApplies(t *testing.T) {
	old := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(old) })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	t.Setenv("GOMEMLIMIT", "")
	limitMemory(ctx, 0, slog.Default())
	if got := debug.SetMemoryLimit(-1); got != old {
		t.Errorf("memory 0 set the limit to %d", got)
	}
	limitMemory(ctx, 123<<20, slog.Default())
	if got := debug.SetMemoryLimit(-1); got != 123<<20 {
		t.Errorf("limit %d, want %d", got, 123<<20)
	}
	debug.SetMemoryLimit(old)
	t.Setenv("GOMEMLIMIT", "1GiB")
	limitMemory(ctx, 64<<20, slog.Default())
	if got := debug.SetMemoryLimit(-1); got != old {
		t.Errorf("with GOMEMLIMIT set, the limit became %d", got)
	}
}
