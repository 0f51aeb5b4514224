package web

import (
	"context"
	"net"
	"net/http/httptest"
	"testing"
	"time"

	"mailroom/store"
)

// TestAuditOnlyOverTLS: credentials for /audit are refused over plain
// HTTP from anywhere but loopback, before they are checked.
func TestAuditOnlyOverTLS(t *testing.T) {
	asked := 0
	s := New(Options{Audit: func(context.Context, net.Addr, string, string, time.Time, int) ([]store.AuditRecord, error) {
		asked++
		return nil, nil
	}})
	for _, c := range []struct {
		remote string
		want   int
	}{{"192.0.2.1:4000", 403}, {"[2001:db8::1]:4000", 403}, {"127.0.0.1:4000", 200}, {"[::1]:4000", 200}} {
		r := httptest.NewRequest("GET", "/audit", nil)
		r.RemoteAddr = c.remote
		r.SetBasicAuth("alice@example.test", "pw")
		w := httptest.NewRecorder()
		s.Handler().ServeHTTP(w, r)
		if w.Code != c.want {
			t.Errorf("%s: %d, want %d", c.remote, w.Code, c.want)
		}
	}
	if asked != 2 {
		t.Errorf("credentials checked %d times, want 2", asked)
	}
}
