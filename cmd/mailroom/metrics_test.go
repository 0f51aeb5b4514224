package main

import (
	"bufio"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"mailroom/acl"
	"mailroom/internal/testutil"
)

// scrape fetches /metrics with basic authentication and parses it with
// Prometheus' own text parser.
func scrape(t *testing.T, base, user, pass string) map[string]*dto.MetricFamily {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/metrics", nil)
	req.SetBasicAuth(user, pass)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("/metrics: %s", resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	return fams
}

// value returns the value of the sample of family name whose labels
// include want, or -1 when there is none.
func value(fams map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	f := fams[name]
	if f == nil {
		return -1
	}
next:
	for _, m := range f.Metric {
		got := map[string]string{}
		for _, l := range m.Label {
			got[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if got[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	return -1
}

// TestMetricsMoveAfterDelivery: /metrics parses, needs its password, and
// its counters move with a delivery, a refused recipient and a failed
// login; the store's gauges follow.
func TestMetricsMoveAfterDelivery(t *testing.T) {
	dir := t.TempDir()
	hash, err := acl.HashPassword("pw")
	if err != nil {
		t.Fatal(err)
	}
	path := writeConfig(t, dir, hash, `
[listeners.http]
address = "127.0.0.1:0"
[web]
metrics_username = "prom"
metrics_password_hash = "`+hash+`"
`)
	// writeConfig disables smtp and submission; enable them on :0.
	appendListener := regexp.MustCompile(`\[listeners.smtp\]\ndisabled = true\n\[listeners.submission\]\ndisabled = true`)
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text = appendListener.ReplaceAll(text, []byte("[listeners.smtp]\naddress = \"127.0.0.1:0\"\n[listeners.submission]\naddress = \"127.0.0.1:0\"\nallow_insecure_auth = true"))
	if err := os.WriteFile(path, text, 0o600); err != nil {
		t.Fatal(err)
	}
	p := startServe(t, "-c", path)
	p.waitFor(t, 0, "mailroom started")
	base := "http://" + p.listenAddr(t, "http")
	smtpAddr, subAddr := p.listenAddr(t, "smtp"), p.listenAddr(t, "submission")

	// Without the password: 401.
	if resp, err := http.Get(base + "/metrics"); err != nil || resp.StatusCode != 401 {
		t.Fatalf("no credentials: %v %v", resp, err)
	}
	before := scrape(t, base, "prom", "pw")
	if v := value(before, "mailroom_messages_received_total", map[string]string{"protocol": "mx"}); v > 0 {
		t.Fatalf("received before any mail: %v", v)
	}

	c, err := smtp.Dial(smtpAddr)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Mail("someone@remote.test", nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("nobody@example.test", nil); err == nil {
		t.Fatal("unknown recipient accepted")
	}
	if err := c.Rcpt("dave@example.test", nil); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("Subject: counted\r\n\r\nhello\r\n"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	c.Quit()
	sc, err := smtp.Dial(subAddr)
	if err != nil {
		t.Fatal(err)
	}
	if err := sc.Auth(sasl.NewPlainClient("", "dave@example.test", "wrong")); err == nil {
		t.Fatal("wrong password accepted")
	}
	sc.Close()
	// An IMAP connection, counted once its greeting is read (accepted),
	// with a failed and a successful login.
	ic := testutil.Dial(t, p.listenAddr(t, "imap"), 10*time.Second)
	ir := bufio.NewReader(ic)
	if greeting, err := ir.ReadString('\n'); err != nil || !strings.HasPrefix(greeting, "* OK") {
		t.Fatalf("IMAP greeting %q: %v", greeting, err)
	}
	for _, l := range []struct{ cmd, want string }{
		{"a LOGIN dave@example.test wrong\r\n", "a NO"},
		{"b LOGIN dave@example.test pw\r\n", "b OK"},
	} {
		ic.Write([]byte(l.cmd))
		for {
			line, err := ir.ReadString('\n')
			if err != nil {
				t.Fatalf("%s: %v", l.cmd, err)
			}
			if line[0] != '*' {
				if !strings.HasPrefix(line, l.want) {
					t.Fatalf("%s: %q", l.cmd, line)
				}
				break
			}
		}
	}
	ic.Close()

	after := scrape(t, base, "prom", "pw")
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"mailroom_messages_received_total", map[string]string{"protocol": "mx"}, 1},
		{"mailroom_messages_delivered_total", map[string]string{"destination": "local"}, 1},
		{"mailroom_delivery_latency_seconds", map[string]string{"destination": "local"}, 1},
		{"mailroom_messages_rejected_total", map[string]string{"protocol": "mx", "stage": "rcpt", "reason": "5.1.1"}, 1},
		{"mailroom_logins_total", map[string]string{"protocol": "submission", "result": "failed"}, 1},
		{"mailroom_connections_total", map[string]string{"protocol": "mx"}, 1},
		{"mailroom_connections_total", map[string]string{"protocol": "imap"}, 1},
		{"mailroom_logins_total", map[string]string{"protocol": "imap", "result": "failed"}, 1},
		{"mailroom_logins_total", map[string]string{"protocol": "imap", "result": "ok"}, 1},
		{"mailroom_queue_length", nil, 0},
		{"mailroom_store_state_up", nil, 1},
	} {
		if got := value(after, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if got := value(after, "mailroom_store_messages", nil); got != 1 {
		t.Errorf("store_messages = %v, want 1", got)
	}
	if value(after, "mailroom_store_body_bytes", nil) <= 0 || value(after, "mailroom_store_logical_bytes", nil) <= 0 {
		t.Error("store byte gauges did not move")
	}
	for _, name := range []string{"mailroom_store_body_bytes", "mailroom_store_logical_bytes", "mailroom_badger_lsm_bytes",
		"mailroom_badger_vlog_bytes", "mailroom_queue_oldest_age_seconds", "mailroom_quota_usage_accounts", "go_goroutines"} {
		if value(after, name, nil) < 0 {
			t.Errorf("%s missing", name)
		}
	}
	p.stop(t)
}
