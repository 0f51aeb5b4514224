package main

import (
	"context"
	"log/slog"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"time"

	"mailroom/config"
)

// The server's own memory ([limits] memory): Go's garbage collector lets
// the heap grow to twice what is live before it collects, and under load
// the live heap jumps for a moment (Badger building a table while a new
// memtable fills, a batch of the full-text index), so resident memory
// peaks far above what the server needs. A soft limit (Go's memory
// limit) makes the collector work harder near it instead. It is soft in
// both senses: Go never fails an allocation for it, and when the data
// the server really holds comes near the limit, the limit follows
// (memoryPolicy), so a large installation is not made to collect
// continually. GOMEMLIMIT in the environment takes precedence.

// memoryCheckInterval is how often the live heap is compared with the
// limit.
const memoryCheckInterval = 2 * time.Second

// memorySustained is how many checks in a row the live heap must be near
// the limit (or far under it) before the limit moves: the live heap jumps
// for a second or two when Badger flushes a memtable, and following
// those jumps would undo the limit.
const memorySustained = 5

// memoryPolicy moves the limit with the live heap.
type memoryPolicy struct {
	configured, current int64
	near, far           int // checks in a row near the limit / far under it
}

// next is the limit after a check that found live bytes live: at least
// the configured limit; raised to twice the live heap (Go's own pacing)
// once the live heap has stayed past three quarters of the limit for
// memorySustained checks, and lowered back toward the configured one once
// it has stayed under a quarter as long.
func (p *memoryPolicy) next(live int64) int64 {
	switch {
	case live > p.current/4*3:
		p.near, p.far = p.near+1, 0
	case live < p.current/4 && p.current > p.configured:
		p.near, p.far = 0, p.far+1
	default:
		p.near, p.far = 0, 0
	}
	if p.near >= memorySustained || p.far >= memorySustained {
		p.near, p.far = 0, 0
		p.current = max(p.configured, 2*live)
	}
	return p.current
}

// limitMemory applies the configured limit (bytes; 0: none) until ctx
// ends, following the live heap as memoryPolicy says.
func limitMemory(ctx context.Context, configured int64, log *slog.Logger) {
	if configured <= 0 || os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	p := &memoryPolicy{configured: configured, current: configured}
	debug.SetMemoryLimit(configured)
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	go func() {
		t := time.NewTicker(memoryCheckInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			metrics.Read(sample)
			if sample[0].Value.Kind() != metrics.KindUint64 {
				return
			}
			live := int64(sample[0].Value.Uint64())
			current := p.current
			next := p.next(live)
			if next == current {
				continue
			}
			if next > current {
				log.Info("memory limit raised: the live heap needs more than limits.memory", "live_bytes", live, "limit_bytes", next, "configured_bytes", configured)
			} else {
				log.Info("memory limit lowered", "live_bytes", live, "limit_bytes", next)
			}
			debug.SetMemoryLimit(next)
		}
	}()
}

// mappedBudget is store.Options.MappedBudget for [limits] mapped_bodies:
// 0 in the file means no bound.
func mappedBudget(cfg *config.Config) int64 {
	if cfg.Limits.MappedBodies == 0 {
		return -1
	}
	return int64(cfg.Limits.MappedBodies)
}
