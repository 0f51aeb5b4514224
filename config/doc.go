// Package config is Mailroom's configuration file: its schema, strict
// decoding, defaults and validation. Only cmd/mailroom imports it; it turns
// a Config into each package's own Options.
//
// Decisions recorded here:
//   - Unknown keys are errors, each named with the line it is on (the toml
//     package keeps key positions private, so lines.go finds them).
//   - Every value of the wrong type is reported at once, with its key and
//     line, with the unknown keys (decode.go: the toml package stops at the
//     first, so the offending line is blanked and the file decoded again).
//   - Validate reports every problem at once, each prefixed by its dotted
//     key, e.g. `accounts[2].plan: unknown plan "gold"`.
//   - Relative paths are relative to the configuration file's directory, so
//     a service manager's working directory does not matter.
//   - Sizes accept "25MB"-style strings (units are powers of 1024) or
//     integers; durations must be strings with a unit, because a bare 30
//     would silently be 30 nanoseconds.
//   - Plans and groups are tables keyed by name; accounts, domains and
//     shares are arrays of tables. An account without a plan gets plan
//     "default", which shares without limits unless the file defines it.
//   - Operator [[share]] grants obey the same gating as IMAP SETACL: the
//     owner's plan must allow sharing, the grantee must share a group with
//     the owner, and the plan's max_grantees counts distinct grantees (a
//     group counts once). A share's seen ("shared" or "private": how
//     \Seen is kept on the mailbox, or on all of the owner's when it
//     names none) must agree with every other share of the same owner
//     and mailbox that sets one.
//   - Configured local parts may not contain '/' (the IMAP hierarchy
//     delimiter, which names Other Users/<address>/...) or '%'.
//   - postmaster@ every local domain is delivered (RFC 5321 §4.5.1), to
//     the domain's `postmaster`, else the top-level `postmaster`, else the
//     domain's first account in the file, else the file's first account:
//     a file that names nobody still has a postmaster, and one who reads
//     that domain's mail where there is one. An account or alias that is
//     itself postmaster@<domain> takes precedence; naming a domain
//     postmaster as well is an error. Each postmaster must be an account's
//     address or alias.
//   - limits.connections_per_ip defaults to 300: one address is often a
//     whole office behind NAT, and a desktop IMAP client keeps up to 5
//     connections (Thunderbird's default) besides a phone's, so 50 people
//     need about 300. Abuse from one address is bounded by the failed-login
//     throttle rather than by a connection count that locks offices out.
//   - SIGHUP reloads everything but the listeners, data_dir, hostname,
//     log.format, admin.socket, min_free_space, limits.receiving, limits.memory,
//     limits.mapped_bodies and the SMTP message limits
//     (message_size, recipients, smtp_timeout: go-smtp reads them unlocked
//     while serving); a change to those is logged as needing a restart.
package config
