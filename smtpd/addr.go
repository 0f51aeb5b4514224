package smtpd

import (
	"errors"
	"strings"
)

// errBadAddress is a path that is not local@domain.
var errBadAddress = errors.New("bad address syntax")

// address is an SMTP path split into its parts. The domain is lower-cased
// and has no trailing dot; the local part is as the client sent it.
type address struct {
	local, domain string
}

func (a address) String() string { return a.local + "@" + a.domain }

// parseAddress parses the mailbox of a MAIL FROM or RCPT TO path (go-smtp
// has removed the angle brackets). An RFC 5321 §4.1.1.3 source route
// ("@relay1,@relay2:user@domain") is ignored, as the RFC says servers
// should: only the final mailbox decides where mail goes, so a route can
// never make Mailroom relay. The split is at the last '@', so a quoted
// local part containing '@' ("a@b"@local) stays a local part and names no
// account; likewise "user%other@local" is just an unknown local part.
func parseAddress(path string) (address, error) {
	if strings.HasPrefix(path, "@") {
		i := strings.IndexByte(path, ':')
		if i < 0 {
			return address{}, errBadAddress
		}
		path = path[i+1:]
		// The mailbox after a route cannot begin with '@' ("@:@@0"):
		// formatted, it would read as a route itself.
		if strings.HasPrefix(path, "@") {
			return address{}, errBadAddress
		}
	}
	at := strings.LastIndexByte(path, '@')
	if at <= 0 || at == len(path)-1 || len(path) > 320 {
		return address{}, errBadAddress
	}
	local, domain := path[:at], strings.ToLower(path[at+1:])
	domain = strings.TrimSuffix(domain, ".")
	if domain == "" || strings.HasPrefix(domain, "[") && !strings.HasSuffix(domain, "]") {
		return address{}, errBadAddress
	}
	if strings.HasPrefix(domain, "[") {
		return address{local: local, domain: domain}, nil // address literal: never local
	}
	for _, label := range strings.Split(domain, ".") {
		if label == "" || len(label) > 63 {
			return address{}, errBadAddress
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r >= 0x80) {
				return address{}, errBadAddress
			}
		}
	}
	for _, r := range local {
		if r < 0x20 || r == 0x7f {
			return address{}, errBadAddress
		}
	}
	return address{local: local, domain: domain}, nil
}
