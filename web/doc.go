// Package web is Mailroom's HTTP(S) side: one router serving what mail
// clients and other mail servers fetch over HTTP, and the metrics.
//
//   - Thunderbird autoconfig: /.well-known/autoconfig/mail/config-v1.1.xml
//     and /mail/config-v1.1.xml (the autoconfig.<domain> host form),
//     ?emailaddress=… selects the domain, else the Host header does.
//   - Outlook autodiscover (the "POX" XML form): POST
//     /autodiscover/autodiscover.xml, also under /Autodiscover/.
//   - An Apple configuration profile: /apple/mail.mobileconfig?emailaddress=…
//   - The MTA-STS policy (RFC 8461): /.well-known/mta-sts.txt, answered only
//     for the host mta-sts.<local domain>.
//   - /metrics: the Prometheus exposition of the registry it is given,
//     behind HTTP basic authentication when a check is given.
//   - On plain HTTP, an ACME CA's HTTP-01 challenges when cmd/mailroom
//     passes autocert's handler (Options.HTTPChallenge).
//
// Decisions:
//   - Every document is generated from Options, which cmd/mailroom fills
//     from the listeners of the configuration: the ports clients are sent
//     to are those the server listens on, so they cannot disagree. Implicit
//     TLS (993, 465) is offered first, as RFC 8314 recommends, then
//     STARTTLS; a listener that is off is not offered.
//   - Only local domains get answers; any other domain is 404, so the
//     server never describes itself as the provider of someone else's
//     addresses.
//   - Documents are written with encoding/xml and text templates of our
//     own; no library exists for these formats that would save code.
//   - Requests have limits: header bytes, read timeouts, and an
//     autodiscover body of at most 16 KiB (the request is a few hundred
//     bytes); a bad body is 400.
//   - The profile's PayloadUUIDs are derived from the address and host
//     name, so downloading it again replaces the account rather than
//     adding a second one.
package web
