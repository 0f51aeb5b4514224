package metrics

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestStateCollector(t *testing.T) {
	st := State{QueueLength: 2, OldestQueued: 90 * time.Second, QuotaUse: []float64{0.1, 0.49, 0.5, 0.9, 0.99, 1, 1.5}}
	var fail bool
	c := NewStateCollector(func(context.Context) (State, error) {
		if fail {
			return State{}, errors.New("closed")
		}
		return st, nil
	}, slog.New(slog.DiscardHandler))
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	want := `
# HELP mailroom_quota_usage_accounts Accounts with a quota, by the share of it they use.
# TYPE mailroom_quota_usage_accounts gauge
mailroom_quota_usage_accounts{usage="50to80"} 1
mailroom_quota_usage_accounts{usage="80to95"} 1
mailroom_quota_usage_accounts{usage="95to100"} 1
mailroom_quota_usage_accounts{usage="full"} 2
mailroom_quota_usage_accounts{usage="lt50"} 2
# HELP mailroom_queue_oldest_age_seconds Age of the oldest message in the outbound queue; 0 when empty.
# TYPE mailroom_queue_oldest_age_seconds gauge
mailroom_queue_oldest_age_seconds 90
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "mailroom_quota_usage_accounts", "mailroom_queue_oldest_age_seconds"); err != nil {
		t.Fatal(err)
	}
	fail = true
	if err := testutil.GatherAndCompare(reg, strings.NewReader("# HELP mailroom_store_state_up 1 if the last read of the store's state succeeded.\n# TYPE mailroom_store_state_up gauge\nmailroom_store_state_up 0\n"),
		"mailroom_store_state_up", "mailroom_queue_length"); err != nil {
		t.Fatal(err)
	}
}

func TestObserverCounts(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New(reg)
	m.Received("mx", 2, 1, time.Millisecond)
	m.Received("submission", 0, 3, time.Millisecond)
	m.Outbound("deferred", time.Minute)
	m.Outbound("delivered", 2*time.Minute)
	if got := testutil.ToFloat64(m.delivered.WithLabelValues("local")); got != 2 {
		t.Errorf("local delivered %v", got)
	}
	if got := testutil.ToFloat64(m.delivered.WithLabelValues("remote")); got != 1 {
		t.Errorf("remote delivered %v", got)
	}
	if got := testutil.CollectAndCount(m.latency); got != 2 {
		t.Errorf("latency series %d", got)
	}
}
