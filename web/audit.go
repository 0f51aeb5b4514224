package web

import (
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"mailroom/store"
)

// ErrUnauthorized is Options.Audit's answer to wrong credentials.
var ErrUnauthorized = errors.New("wrong credentials")

// auditMax is the most records one /audit answer holds.
const auditMax = 10000

// audit answers GET /audit[?since=RFC3339|duration][&limit=N] with the
// records the authenticated user may read, as a JSON array, oldest first.
// Credentials travel only over TLS or from loopback.
func (s *Server) audit(w http.ResponseWriter, r *http.Request) {
	o := s.opts()
	if o.Audit == nil {
		http.NotFound(w, r)
		return
	}
	remote := remoteAddr(r)
	if r.TLS == nil && !remote.Addr().Unmap().IsLoopback() {
		http.Error(w, "the audit log is served over HTTPS only", http.StatusForbidden)
		return
	}
	user, pass, ok := r.BasicAuth()
	if !ok {
		w.Header().Set("WWW-Authenticate", `Basic realm="mailroom", charset="UTF-8"`)
		http.Error(w, "authentication required", http.StatusUnauthorized)
		return
	}
	var since time.Time
	if v := r.URL.Query().Get("since"); v != "" {
		if d, err := time.ParseDuration(v); err == nil && d > 0 {
			since = time.Now().Add(-d)
		} else if t, err := time.Parse(time.RFC3339, v); err == nil {
			since = t
		} else {
			http.Error(w, "since: an RFC 3339 time or a duration such as 24h", http.StatusBadRequest)
			return
		}
	}
	limit := auditMax
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 || n > auditMax {
			http.Error(w, "limit: 1 to "+strconv.Itoa(auditMax), http.StatusBadRequest)
			return
		}
		limit = n
	}
	recs, err := o.Audit(r.Context(), net.TCPAddrFromAddrPort(remote), user, pass, since, limit)
	switch {
	case errors.Is(err, ErrUnauthorized):
		w.Header().Set("WWW-Authenticate", `Basic realm="mailroom", charset="UTF-8"`)
		http.Error(w, "authentication required", http.StatusUnauthorized)
		return
	case err != nil:
		s.log.Warn("audit log", "user", user, "err", err)
		http.Error(w, "the audit log could not be read", http.StatusInternalServerError)
		return
	}
	if recs == nil {
		recs = []store.AuditRecord{}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(recs)
}

// remoteAddr is the request's peer (the zero AddrPort when unparsable).
func remoteAddr(r *http.Request) netip.AddrPort {
	ap, _ := netip.ParseAddrPort(r.RemoteAddr)
	return ap
}
