// Package inbound decides whether mail from outside (the MX and LMTP
// listeners; never authenticated submission) is what it claims to be, and
// what to do with it: SPF (RFC 7208), DKIM (RFC 6376), DMARC (RFC 7489), a
// spam filter (rspamd) and DNS blocklists (RFC 5782). The verdict is
// recorded in an Authentication-Results field (RFC 8601) that smtpd puts
// in each copy's header prefix.
//
// Decisions:
//
//   - One resolver (NewResolver, [dns] resolver) for every lookup, the
//     outbound queue's MX and addresses included, so an operator points
//     everything at a local validating unbound, and tests at
//     testutil.DNS on loopback. With an address set it is our own small
//     client on miekg/dns (dnscache.go) that keeps answers, positive and
//     negative, for their TTL (at most an hour; RFC 2308 for negative
//     ones, 5 minutes without an SOA), up to 10,000 names: a stream of
//     mail from one sender costs no lookup after the first. Go's resolver
//     has no cache and hides TTLs. Without an address it is Go's
//     resolver on /etc/resolv.conf, uncached. Either way "no such record"
//     (an answer) and SERVFAIL or a timeout (a 4xx) are told apart, which
//     is all the checks need.
//   - SPF is evaluated here (spf.go, spfmacro.go): blitiri.com.ar/go/spf
//     is not served by our module proxy. check_host() follows RFC 7208
//     §4-§7 with its limits: 10 terms that query DNS (include, a, mx,
//     ptr, exists, redirect), 2 void lookups, 10 MX names, 10 PTR names;
//     plus ours: a record of at most 4096 bytes and 100 terms, a
//     macro's DIGIT transformer at most 128. exp= is ignored (we never
//     send the explanation), %{p} is "unknown" as §7.3 allows. Only the
//     MAIL FROM identity is checked (postmaster@HELO for the null
//     sender), which is what DMARC uses.
//   - DKIM: go-msgauth verifies every signature (at most 10), each
//     reported in Authentication-Results with its d= and i=.
//   - DMARC: go-msgauth parses the record (looked up at the From domain,
//     then at its organisational domain from the public suffix list
//     compiled into golang.org/x/net/publicsuffix); alignment (relaxed or
//     strict, adkim/aspf), sp= and pct= are evaluated here. A failing
//     p=reject is refused (550 5.7.1), p=quarantine goes to the
//     recipient's \Junk. When no aligned check passed and one that could
//     have failed temporarily, or the record lookup itself did, the
//     answer is 451 4.4.3: the sender retries, nobody gets a bounce.
//   - A From in a local domain from outside must be authenticated for
//     that domain (DKIM pass, or SPF pass for an aligned envelope
//     domain), whatever its DMARC record says: nobody outside writes as
//     us, even while the operator has not published p=reject. Per domain
//     ([[domains]] unauthenticated_from): reject (default), junk, accept.
//   - Authentication-Results fields that claim this host's authserv-id
//     (the host name) are removed from the incoming header (RFC 8601 §5)
//     after the checks. The store keeps one body for all recipients and a
//     per-copy prefix; the fields are cut out of the received message in
//     its own buffer (bytes after them moved down once), so nothing is
//     copied per recipient and nothing at all when there is no such field,
//     the usual case. Our own field goes in each copy's prefix.
//   - The actions combine, most severe wins: reject > tempfail > junk >
//     accept. rspamd is asked only when the authentication checks have
//     not already refused the message; its action maps to reject (550
//     5.7.1), soft reject and greylist (451 4.7.1), add header and rewrite
//     subject (\Junk, X-Spam: Yes); its X-Spamd-Result goes in the
//     prefix. rspamd unreachable: accept and log, or 451 with on_error =
//     "tempfail". A DNSBL listing is 554 5.7.1; a zone that does not
//     answer is skipped (logged), never a refusal.
//   - When they run: SPF and the DNSBL need only the envelope, so smtpd
//     begins them (Checker.Begin) at a transaction's first accepted local
//     recipient and they run while the client sends the message; RSET
//     or the end of the transaction stops them. DKIM and the DMARC record
//     lookup need the message and run beside each other after DATA, DKIM
//     on the session's goroutine. With one client sending 4 KB messages
//     this took checks-on delivery from ~80% to ~89% of checks-off
//     (BENCH.md, BenchmarkInboundChecks).
//   - LMTP gets the same checks as the MX; behind a front MTA the client
//     address is that MTA's, so SPF sees it: such a front should be in the
//     sender domains' view only when it does the checks itself.
//   - Learning: the IMAP engine reports each message a user moves or
//     copies into \Junk (spam) or out of it, not into Trash (ham)
//     (engine Options.OnJunk); serve queues them (64 at most, dropped and
//     logged beyond) for one worker that posts them with Learner to
//     rspamd's controller ([spam] learn, learn_password). Training never
//     holds an IMAP command up.
package inbound
