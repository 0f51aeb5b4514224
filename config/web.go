package config

import (
	"strings"
	"time"
)

// Web configures what the HTTP(S) listeners serve (package web).
type Web struct {
	// MTASTSMode is the RFC 8461 policy mode served at
	// mta-sts.<domain>/.well-known/mta-sts.txt: "testing", "enforce", or
	// "none" (the policy tells senders to stop applying a previous one).
	MTASTSMode string `toml:"mta_sts_mode"`
	// MTASTSMaxAge is how long senders may cache the policy.
	MTASTSMaxAge Duration `toml:"mta_sts_max_age"`
	// Metrics serves the Prometheus exposition at /metrics.
	Metrics bool `toml:"metrics"`
	// MetricsUsername and MetricsPasswordHash, when set, require HTTP
	// basic authentication for /metrics (the hash from mailroom
	// hash-password).
	MetricsUsername     string `toml:"metrics_username"`
	MetricsPasswordHash string `toml:"metrics_password_hash"`
}

func (c *Config) validateWeb(v *validator) {
	w := c.Web
	switch w.MTASTSMode {
	case "testing", "enforce", "none":
	default:
		v.add("web.mta_sts_mode", "unknown mode %q (want testing, enforce or none)", w.MTASTSMode)
	}
	// RFC 8461 §3.2: max_age is at most 31557600 seconds (about a year).
	if w.MTASTSMaxAge.D() <= 0 || w.MTASTSMaxAge.D() > 31557600*time.Second {
		v.add("web.mta_sts_max_age", "%s is not between 1s and one year (RFC 8461 §3.2)", w.MTASTSMaxAge)
	}
	if (w.MetricsUsername == "") != (w.MetricsPasswordHash == "") {
		v.add("web", "metrics_username and metrics_password_hash must be set together")
	}
	if w.MetricsPasswordHash != "" && !strings.HasPrefix(w.MetricsPasswordHash, "$") {
		v.add("web.metrics_password_hash", "is not a password hash (use mailroom hash-password)")
	}
}
