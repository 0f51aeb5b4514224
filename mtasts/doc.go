// Package mtasts is the sending side of SMTP MTA Strict Transport Security
// (RFC 8461): a recipient domain publishes, through a TXT record and a
// policy file served over HTTPS with a valid certificate, which MX hosts
// it has and that they must be reached over TLS with a certificate valid
// for their name.
//
// Decisions:
//   - Policies are cached in memory per domain for their max_age and
//     refreshed when the TXT record's id changes; a failed lookup or fetch
//     keeps a fresh cached policy, or else means no policy (RFC 8461
//     §5.1), so an unreachable policy server never stops mail that was
//     not protected before. The cache does not survive a restart: the
//     first delivery after one fetches again.
//   - Redirects are not followed and the file must be text/plain, at most
//     64 KiB (§3.3).
//   - The queue (smtpd) enforces it: in enforce mode only MX hosts the
//     policy names are tried, over STARTTLS with a verified certificate,
//     never in plaintext; a delivery that cannot meet that waits (4.7.10)
//     with the reason as its last error, shown by `mailroom queue`.
//     In testing mode violations are logged and mail goes as before.
package mtasts
