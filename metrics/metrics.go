package metrics

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

const namespace = "mailroom"

// Metrics holds the counters the servers feed. It implements
// smtpd.Observer.
type Metrics struct {
	connections *prometheus.CounterVec
	logins      *prometheus.CounterVec
	received    *prometheus.CounterVec
	delivered   *prometheus.CounterVec
	rejected    *prometheus.CounterVec
	latency     *prometheus.HistogramVec
	outbound    *prometheus.CounterVec
}

// New registers the counters with reg.
func New(reg prometheus.Registerer) *Metrics {
	f := func(c prometheus.Collector) { reg.MustRegister(c) }
	m := &Metrics{
		connections: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "connections_total",
			Help: "Client connections accepted, by protocol."}, []string{"protocol"}),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "logins_total",
			Help: "Login attempts, by protocol and result (ok, failed)."}, []string{"protocol", "result"}),
		received: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "messages_received_total",
			Help: "Messages accepted, by protocol."}, []string{"protocol"}),
		delivered: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "messages_delivered_total",
			Help: "Message copies delivered: local (to a mailbox) or remote (accepted by the remote host)."}, []string{"destination"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "messages_rejected_total",
			Help: "Transaction commands refused, by protocol, stage (mail, rcpt, data) and enhanced status code."},
			[]string{"protocol", "stage", "reason"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: namespace, Name: "delivery_latency_seconds",
			Help:    "Local: from the start of DATA to the reply, message durable. Remote: from queueing to acceptance by the remote host.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 4 * 3600, 24 * 3600}},
			[]string{"destination"}),
		outbound: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "outbound_attempts_total",
			Help: "Delivery attempts to remote recipients, by result (delivered, deferred, bounced, expired)."}, []string{"result"}),
	}
	f(m.connections)
	f(m.logins)
	f(m.received)
	f(m.delivered)
	f(m.rejected)
	f(m.latency)
	f(m.outbound)
	return m
}

// Connection counts a client connection.
func (m *Metrics) Connection(protocol string) { m.connections.WithLabelValues(protocol).Inc() }

// Login counts a login attempt.
func (m *Metrics) Login(protocol string, ok bool) {
	result := "failed"
	if ok {
		result = "ok"
	}
	m.logins.WithLabelValues(protocol, result).Inc()
}

// Received counts an accepted message with its local copies.
func (m *Metrics) Received(protocol string, local, remote int, took time.Duration) {
	m.received.WithLabelValues(protocol).Inc()
	if local > 0 {
		m.delivered.WithLabelValues("local").Add(float64(local))
		m.latency.WithLabelValues("local").Observe(took.Seconds())
	}
}

// Rejected counts a refused command.
func (m *Metrics) Rejected(protocol, stage, reason string) {
	m.rejected.WithLabelValues(protocol, stage, reason).Inc()
}

// Outbound counts a remote delivery attempt.
func (m *Metrics) Outbound(result string, queued time.Duration) {
	m.outbound.WithLabelValues(result).Inc()
	if result == "delivered" {
		m.delivered.WithLabelValues("remote").Inc()
		m.latency.WithLabelValues("remote").Observe(queued.Seconds())
	}
}

// State is what the store holds at one moment (see Source).
type State struct {
	QueueLength  int
	OldestQueued time.Duration // 0 with an empty queue
	BodyBytes    int64
	LogicalBytes int64
	Messages     int
	LSMBytes     int64
	VlogBytes    int64
	// QuotaUse lists, for each account with a quota, used/quota.
	QuotaUse []float64
}

// Source reads the state; cmd/mailroom gives one over the store and the
// directory.
type Source func(ctx context.Context) (State, error)

// StateCollector exposes a Source as gauges, read at scrape time.
type StateCollector struct {
	src Source
	log *slog.Logger

	mu sync.Mutex // one read at a time, however many scrapers

	queueLen, queueOldest, body, logical, messages, lsm, vlog, quota, up *prometheus.Desc
}

// NewStateCollector returns a collector over src.
func NewStateCollector(src Source, log *slog.Logger) *StateCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(namespace, "", name), help, labels, nil)
	}
	return &StateCollector{src: src, log: log,
		queueLen:    d("queue_length", "Messages in the outbound queue."),
		queueOldest: d("queue_oldest_age_seconds", "Age of the oldest message in the outbound queue; 0 when empty."),
		body:        d("store_body_bytes", "Bytes message bodies take as stored, each once."),
		logical:     d("store_logical_bytes", "Bytes messages take as clients see them, every copy in full."),
		messages:    d("store_messages", "Messages in all mailboxes."),
		lsm:         d("badger_lsm_bytes", "Badger's estimate of its LSM tree on disk."),
		vlog:        d("badger_vlog_bytes", "Badger's estimate of its value log on disk."),
		quota:       d("quota_usage_accounts", "Accounts with a quota, by the share of it they use.", "usage"),
		up:          d("store_state_up", "1 if the last read of the store's state succeeded."),
	}
}

// Describe implements prometheus.Collector.
func (c *StateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.queueLen, c.queueOldest, c.body, c.logical, c.messages, c.lsm, c.vlog, c.quota, c.up} {
		ch <- d
	}
}

// quotaBuckets are the upper bounds of the usage buckets, as labels.
var quotaBuckets = []struct {
	max   float64
	label string
}{{0.5, "lt50"}, {0.8, "50to80"}, {0.95, "80to95"}, {1, "95to100"}}

// Collect implements prometheus.Collector.
func (c *StateCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	st, err := c.src(ctx)
	cancel()
	c.mu.Unlock()
	if err != nil {
		c.log.Warn("metrics: reading the store's state", "err", err)
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 1)
	g := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	g(c.queueLen, float64(st.QueueLength))
	g(c.queueOldest, st.OldestQueued.Seconds())
	g(c.body, float64(st.BodyBytes))
	g(c.logical, float64(st.LogicalBytes))
	g(c.messages, float64(st.Messages))
	g(c.lsm, float64(st.LSMBytes))
	g(c.vlog, float64(st.VlogBytes))
	counts := make([]int, len(quotaBuckets)+1)
	for _, u := range st.QuotaUse {
		i := 0
		for i < len(quotaBuckets) && u >= quotaBuckets[i].max {
			i++
		}
		counts[i]++
	}
	for i, b := range quotaBuckets {
		g(c.quota, float64(counts[i]), b.label)
	}
	g(c.quota, float64(counts[len(quotaBuckets)]), "full")
}
