package inbound

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// spfMaxMacroParts bounds the DIGIT transformer (RFC 7208 §7.3 asks for
// at least 127).
const spfMaxMacroParts = 128

// expand expands the macros of a domain-spec (RFC 7208 §7) for the
// current domain. The letters c, r and t belong to exp= only, which this
// evaluator does not use, so they are errors here. A result longer than
// 253 octets loses labels on the left (§7.3).
func (c *spfCheck) expand(spec, domain string) (string, error) {
	if !strings.Contains(spec, "%") {
		return strings.TrimSuffix(spec, "."), nil
	}
	var b strings.Builder
	for i := 0; i < len(spec); i++ {
		ch := spec[i]
		if ch != '%' {
			b.WriteByte(ch)
			continue
		}
		if i+1 >= len(spec) {
			return "", errors.New("macro: lone %")
		}
		i++
		switch spec[i] {
		case '%':
			b.WriteByte('%')
			continue
		case '_':
			b.WriteByte(' ')
			continue
		case '-':
			b.WriteString("%20")
			continue
		case '{':
		default:
			return "", fmt.Errorf("macro: bad %%%c", spec[i])
		}
		end := strings.IndexByte(spec[i:], '}')
		if end < 0 {
			return "", errors.New("macro: no closing brace")
		}
		v, err := c.macro(spec[i+1:i+end], domain)
		if err != nil {
			return "", err
		}
		b.WriteString(v)
		i += end
	}
	out := strings.TrimSuffix(b.String(), ".")
	for len(out) > maxDomainLen {
		dot := strings.IndexByte(out, '.')
		if dot < 0 {
			return "", errors.New("macro: expansion too long")
		}
		out = out[dot+1:]
	}
	return out, nil
}

// macro expands the inside of one %{...}: a letter, an optional number of
// parts, an optional r, and delimiters.
func (c *spfCheck) macro(m, domain string) (string, error) {
	if m == "" {
		return "", errors.New("macro: empty")
	}
	letter := m[0]
	var v string
	switch letter | 0x20 { // lower case
	case 's':
		v = c.sender
	case 'l':
		v = c.local
	case 'o':
		_, v, _ = strings.Cut(c.sender, "@")
	case 'd':
		v = domain
	case 'i':
		v = dottedForward(c.ip)
	case 'p':
		v = "unknown" // RFC 7208 §7.3 discourages validating; allowed
	case 'v':
		v = "in-addr"
		if c.ip.To4() == nil {
			v = "ip6"
		}
	case 'h':
		v = c.helo
	default:
		return "", fmt.Errorf("macro: bad letter %q", letter)
	}
	rest := m[1:]
	j := 0
	for j < len(rest) && rest[j] >= '0' && rest[j] <= '9' {
		j++
	}
	parts := 0
	if j > 0 {
		n, err := strconv.Atoi(rest[:j])
		if err != nil || n == 0 || n > spfMaxMacroParts {
			return "", errors.New("macro: bad number of parts")
		}
		parts = n
	}
	rest = rest[j:]
	reverse := false
	if rest != "" && (rest[0] == 'r' || rest[0] == 'R') {
		reverse, rest = true, rest[1:]
	}
	delims := "."
	if rest != "" {
		if strings.Trim(rest, ".-+,/_=") != "" {
			return "", errors.New("macro: bad delimiter")
		}
		delims = rest
	}
	if parts > 0 || reverse || delims != "." {
		labels := strings.FieldsFunc(v, func(r rune) bool { return strings.ContainsRune(delims, r) })
		if reverse {
			slices.Reverse(labels)
		}
		if parts > 0 && parts < len(labels) {
			labels = labels[len(labels)-parts:]
		}
		v = strings.Join(labels, ".")
	}
	if letter >= 'A' && letter <= 'Z' {
		v = url.PathEscape(v)
	}
	return v, nil
}
