package sieve

import (
	"strconv"
	"strings"
)

// Comparators (RFC 4790 via RFC 5228 §2.7.3) and match types (§2.7.1,
// RFC 5231 relational, RFC 5229 §3.2 match variables).

// foldASCII lower-cases ASCII letters only, as i;ascii-casemap does.
func foldASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if b[j] >= 'A' && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// numericKey returns the value of the leading digits, or ok=false for a
// string not starting with a digit, which i;ascii-numeric treats as
// positive infinity.
func numericKey(s string) (n uint64, digits string, ok bool) {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0, "", false
	}
	d := strings.TrimLeft(s[:i], "0")
	if d == "" {
		d = "0"
	}
	v, err := strconv.ParseUint(d, 10, 64)
	if err != nil {
		v = ^uint64(0)
	}
	return v, d, true
}

// compare orders a and b under the comparator: -1, 0, 1.
func compare(cmp, a, b string) int {
	switch cmp {
	case "i;ascii-numeric":
		_, da, oka := numericKey(a)
		_, db, okb := numericKey(b)
		switch {
		case !oka && !okb:
			return 0
		case !oka:
			return 1
		case !okb:
			return -1
		}
		if len(da) != len(db) {
			if len(da) < len(db) {
				return -1
			}
			return 1
		}
		return strings.Compare(da, db)
	case "i;ascii-casemap":
		return strings.Compare(foldASCII(a), foldASCII(b))
	}
	return strings.Compare(a, b)
}

func relation(rel string, c int) bool {
	switch rel {
	case "gt":
		return c > 0
	case "ge":
		return c >= 0
	case "lt":
		return c < 0
	case "le":
		return c <= 0
	case "eq":
		return c == 0
	}
	return c != 0 // ne
}

// globMatch matches s against a :matches pattern ('*', '?', '\' escapes)
// and returns the text each wildcard matched, taken from s as given.
// Each '*' takes as little as it can (RFC 5229 §3.2 examples: "[*] *"
// gives "acme-users" first). steps bounds the work: it is decremented per
// character compared and matching fails when it reaches zero.
func globMatch(pat, s string, fold bool, steps *int) ([]string, bool) {
	subject := s
	if fold {
		pat, subject = foldASCII(pat), foldASCII(s)
	}
	g := glob{n: len(subject), steps: steps}
	if !g.at(pat, subject) {
		return nil, false
	}
	caps := make([]string, len(g.caps))
	for i, c := range g.caps {
		caps[i] = s[c[0]:c[1]] // ASCII folding keeps byte offsets
	}
	return caps, true
}

type glob struct {
	n     int
	caps  [][2]int
	steps *int
}

func (g *glob) at(pat, s string) bool {
	for len(pat) > 0 {
		*g.steps--
		if *g.steps <= 0 {
			return false
		}
		switch pat[0] {
		case '*':
			rest := pat[1:]
			n := len(g.caps)
			start := g.n - len(s)
			for i := 0; i <= len(s); i++ {
				g.caps = append(g.caps[:n], [2]int{start, start + i})
				if g.at(rest, s[i:]) {
					return true
				}
				if *g.steps <= 0 {
					return false
				}
			}
			g.caps = g.caps[:n]
			return false
		case '?':
			if len(s) == 0 {
				return false
			}
			// '?' matches one character; in UTF-8 that is one rune.
			size := runeLen(s)
			start := g.n - len(s)
			g.caps = append(g.caps, [2]int{start, start + size})
			pat, s = pat[1:], s[size:]
			continue
		case '\\':
			if len(pat) > 1 {
				pat = pat[1:]
			}
		}
		if len(s) == 0 || s[0] != pat[0] {
			return false
		}
		pat, s = pat[1:], s[1:]
	}
	return len(s) == 0
}

func runeLen(s string) int {
	for i := range s {
		if i > 0 {
			return i
		}
	}
	return len(s)
}

// quoteWildcard escapes '*', '?' and '\' (RFC 5229 :quotewildcard).
func quoteWildcard(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '*' || c == '?' || c == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
