package main

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"mailroom/acl"
	"mailroom/config"
	"mailroom/metrics"
)

// newMetrics creates the server's registry (never the global one) with
// the Go runtime and process collectors, the servers' counters and the
// store's state.
func newMetrics(s *server) (*metrics.Metrics, http.Handler) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := metrics.New(reg)
	reg.MustRegister(metrics.NewStateCollector(s.storeState, s.log.With("component", "metrics")))
	return m, promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: nil, MaxRequestsInFlight: 4, Timeout: 30 * time.Second})
}

// storeState reads what the metrics report of the store.
func (s *server) storeState(ctx context.Context) (metrics.State, error) {
	var out metrics.State
	st, err := s.store.Stats(ctx)
	if err != nil {
		return out, err
	}
	out.BodyBytes, out.LogicalBytes, out.Messages = st.BodyBytes, st.LogicalBytes, st.Messages
	entries, err := s.store.QueueEntries(ctx)
	if err != nil {
		return out, err
	}
	out.QueueLength = len(entries)
	for _, e := range entries {
		if age := time.Since(e.Created); age > out.OldestQueued {
			out.OldestQueued = age
		}
	}
	if out.LSMBytes, out.VlogBytes, err = s.store.DBSizes(); err != nil {
		return out, err
	}
	for _, a := range s.dir.Load().Accounts() {
		if a.Plan.Quota <= 0 {
			continue
		}
		used, err := s.store.Usage(ctx, a.Address)
		if err != nil {
			return out, fmt.Errorf("usage of %s: %w", a.Address, err)
		}
		out.QuotaUse = append(out.QuotaUse, float64(used)/float64(a.Plan.Quota))
	}
	return out, nil
}

// metricsAuth returns the basic-authentication check of /metrics, nil when
// none is configured. One password hash is computed at a time, and a
// credential that passed is remembered (as a hash) until it changes, so a
// scraper costs one hash per configuration and a guesser one core at most.
func metricsAuth(cfg config.Web) (func(ctx context.Context, user, password string) bool, error) {
	if cfg.MetricsUsername == "" {
		return nil, nil
	}
	check, err := acl.PasswordChecker(cfg.MetricsPasswordHash)
	if err != nil {
		return nil, fmt.Errorf("web.metrics_password_hash: %w", err)
	}
	var mu sync.Mutex
	var good [32]byte
	var haveGood bool
	return func(_ context.Context, user, password string) bool {
		if subtle.ConstantTimeCompare([]byte(user), []byte(cfg.MetricsUsername)) != 1 {
			return false
		}
		sum := sha256.Sum256([]byte(password))
		mu.Lock()
		defer mu.Unlock()
		if haveGood && subtle.ConstantTimeCompare(sum[:], good[:]) == 1 {
			return true
		}
		if !check(password) {
			return false
		}
		good, haveGood = sum, true
		return true
	}, nil
}

// countingListener counts accepted connections for the metrics (IMAP:
// imapd has no observer of its own).
type countingListener struct {
	net.Listener
	count func()
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.count()
	}
	return c, err
}
