package sieve

import (
	"net/mail"
	"strings"
)

// Address parts (RFC 5228 §2.7.4) and subaddress (RFC 5233).

// separator between user and detail (RFC 5233 §4); Mailroom uses '+'.
const separator = "+"

// parseAddresses returns the addr-specs in a header value. A value that
// does not parse as an address list is taken apart leniently so that a
// malformed header still matches what a person sees in it.
func parseAddresses(v string) []string {
	if list, err := mail.ParseAddressList(v); err == nil {
		out := make([]string, len(list))
		for i, a := range list {
			out[i] = a.Address
		}
		return out
	}
	var out []string
	for _, part := range strings.Split(v, ",") {
		part = strings.TrimSpace(part)
		if i := strings.LastIndexByte(part, '<'); i >= 0 {
			if j := strings.IndexByte(part[i:], '>'); j > 0 {
				part = part[i+1 : i+j]
			}
		}
		if part != "" {
			out = append(out, part)
		}
	}
	return out
}

// addrParts returns the wanted part of each address. :detail of an
// address without a separator yields nothing (RFC 5233 §4).
func addrParts(addrs []string, part string) []string {
	out := make([]string, 0, len(addrs))
	for _, a := range addrs {
		local, domain := a, ""
		if i := strings.LastIndexByte(a, '@'); i >= 0 {
			local, domain = a[:i], a[i+1:]
		}
		switch part {
		case "localpart":
			out = append(out, local)
		case "domain":
			out = append(out, domain)
		case "user":
			user, _, _ := strings.Cut(local, separator)
			out = append(out, user)
		case "detail":
			if _, detail, ok := strings.Cut(local, separator); ok {
				out = append(out, detail)
			}
		default:
			out = append(out, a)
		}
	}
	return out
}
