// Package dane is the sending side of DANE for SMTP (RFC 7672): TLSA
// records of an MX host, validated by DNSSEC, say which certificate or
// issuer it must present.
//
// Decisions:
//   - DNSSEC is the resolver's job: queries go with the DO bit to the
//     configured resolver ([dns] resolver, else /etc/resolv.conf's first),
//     and an answer counts as validated only with the AD bit. Go's own
//     resolver does not expose that bit, hence github.com/miekg/dns here.
//     The resolver must be a validating one on this host (unbound): an AD
//     bit from across a network proves nothing.
//   - TLSA records are used only when the recipient domain's MX records
//     are validated too (RFC 7672 §2.2.1). Only DANE-TA(2) and DANE-EE(3)
//     are usable (§3.1.3); DANE-EE ignores names and dates (§3.1.1).
//   - With usable records the queue requires STARTTLS and a matching
//     chain, never plaintext; a failure, or a failed TLSA lookup, leaves
//     the entry waiting (4.7.10; 4.4.3 for a failed lookup) with the reason. DANE takes precedence
//     over MTA-STS (RFC 8461 §2).
package dane
