// Package metrics is Mailroom's Prometheus instrumentation: counters and
// histograms the servers feed through small observer interfaces
// (smtpd.Observer, the connection counter of cmd/mailroom's listeners),
// and a collector that reads the store's state when scraped.
//
// Decisions:
//   - github.com/prometheus/client_golang, not an exposition of our own:
//     the text format's escaping, histogram buckets, HELP/TYPE lines and
//     content negotiation (OpenMetrics) are its job, and it is what every
//     Prometheus-speaking tool expects.
//   - No global registry: serve creates one and passes it in, so tests
//     and several servers in one process never share counters.
//   - Labels have small fixed sets of values (protocols, stages, SMTP
//     enhanced codes, outbound results); never an address or a host.
//   - The store's state (queue length and oldest age, body and logical
//     bytes, Badger's LSM and value-log sizes, quota buckets) is read at
//     scrape time, one read at a time, with no cache: a scrape reads every
//     mailbox and reference record and no body, cheap at a scrape every
//     15 s or more; concurrent scrapes are bounded by the handler (4).
//   - IMAP connections are counted at the listener (cmd/mailroom wraps
//     it); IMAP logins are not counted yet: imapd has no observer hook.
package metrics
