package mtasts

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Limits of the policy parser.
const (
	// MaxPolicyBytes bounds a policy file (RFC 8461 §3.3 asks senders to
	// stop at 64 KiB).
	MaxPolicyBytes = 64 << 10
	maxMX          = 100 // mx lines kept
	maxMaxAge      = 31557600
)

// Mode is a policy's mode (RFC 8461 §5).
type Mode string

// The modes.
const (
	Enforce Mode = "enforce"
	Testing Mode = "testing"
	None    Mode = "none"
)

// Policy is an MTA-STS policy (RFC 8461 §3.2).
type Policy struct {
	Mode   Mode
	MX     []string // patterns, lower-case: "mail.example.com", "*.example.net"
	MaxAge int      // seconds
}

// Parse reads a policy file: "key: value" lines ending in CRLF or LF.
// version, mode and max_age are required, mx too unless the mode is
// none; unknown keys are ignored.
func Parse(b []byte) (*Policy, error) {
	if len(b) > MaxPolicyBytes {
		return nil, errors.New("policy too large")
	}
	p := &Policy{MaxAge: -1}
	version := false
	for _, line := range bytes.Split(b, []byte("\n")) {
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		k, v, ok := strings.Cut(string(line), ":")
		if !ok {
			return nil, fmt.Errorf("bad line %q", line)
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch k {
		case "version":
			if v != "STSv1" {
				return nil, fmt.Errorf("unknown version %q", v)
			}
			version = true
		case "mode":
			switch Mode(v) {
			case Enforce, Testing, None:
				p.Mode = Mode(v)
			default:
				return nil, fmt.Errorf("unknown mode %q", v)
			}
		case "max_age":
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 || len(v) > 10 {
				return nil, fmt.Errorf("bad max_age %q", v)
			}
			p.MaxAge = min(n, maxMaxAge)
		case "mx":
			if len(p.MX) < maxMX {
				if !validPattern(v) {
					return nil, fmt.Errorf("bad mx %q", v)
				}
				p.MX = append(p.MX, strings.ToLower(strings.TrimSuffix(v, ".")))
			}
		}
	}
	switch {
	case !version:
		return nil, errors.New("no version")
	case p.Mode == "":
		return nil, errors.New("no mode")
	case p.MaxAge < 0:
		return nil, errors.New("no max_age")
	case p.Mode != None && len(p.MX) == 0:
		return nil, errors.New("no mx")
	}
	return p, nil
}

// validPattern accepts a host name, or one with "*." in front.
func validPattern(v string) bool {
	v = strings.TrimPrefix(v, "*.")
	if v == "" || len(v) > 253 {
		return false
	}
	for _, l := range strings.Split(strings.TrimSuffix(v, "."), ".") {
		if l == "" || len(l) > 63 {
			return false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// Match reports whether an MX host name is allowed by the policy (RFC
// 8461 §4.1): equal to a pattern, or one label in front of a "*." one.
func (p *Policy) Match(host string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for _, pat := range p.MX {
		if rest, ok := strings.CutPrefix(pat, "*."); ok {
			label, parent, found := strings.Cut(host, ".")
			if found && label != "" && parent == rest {
				return true
			}
			continue
		}
		if host == pat {
			return true
		}
	}
	return false
}
