package proto

import (
	"errors"
	"strconv"
	"strings"
)

// Star stands for "*" in a range: the largest number in use (RFC 9051
// §9, seq-number).
const Star = 0

// Range is one element of a sequence set, Start ≤ Stop once "*" is
// resolved. Either end may be Star.
type Range struct{ Start, Stop uint32 }

// NumSet is a parsed sequence set (message numbers or UIDs, as the
// command says). It is kept as written; callers resolve "*" against their
// view.
type NumSet []Range

// ErrBadSet is a sequence set that does not parse or has too many ranges.
var ErrBadSet = errors.New("invalid sequence set")

// ParseNumSet parses a sequence set: comma-separated numbers and ranges,
// "*" for the largest, at most MaxSetRanges ranges. Zero is not a
// message number.
func ParseNumSet(s string) (NumSet, error) {
	if s == "" || strings.Count(s, ",") >= MaxSetRanges {
		return nil, ErrBadSet
	}
	var set NumSet
	for part := range strings.SplitSeq(s, ",") {
		lo, hi, isRange := strings.Cut(part, ":")
		a, err := parseSeqNumber(lo)
		if err != nil {
			return nil, err
		}
		b := a
		if isRange {
			if b, err = parseSeqNumber(hi); err != nil {
				return nil, err
			}
		}
		if a != Star && b != Star && a > b {
			a, b = b, a // "5:1" is "1:5" (RFC 9051 §9)
		}
		set = append(set, Range{a, b})
	}
	return set, nil
}

func parseSeqNumber(s string) (uint32, error) {
	if s == "*" {
		return Star, nil
	}
	if s == "" || len(s) > 10 || s[0] == '0' {
		return 0, ErrBadSet
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, ErrBadSet
		}
	}
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, ErrBadSet
	}
	return uint32(n), nil
}

// Resolve returns the set's ranges with "*" replaced by max and each range
// ordered; with max 0 (an empty mailbox) a range with "*" matches
// nothing.
func (s NumSet) Resolve(max uint32) []Range {
	out := make([]Range, 0, len(s))
	for _, r := range s {
		a, b := r.Start, r.Stop
		if max == 0 && (a == Star || b == Star) {
			continue // nothing is in use
		}
		if a == Star {
			a = max
		}
		if b == Star {
			b = max
		}
		if a > b {
			a, b = b, a
		}
		out = append(out, Range{a, b})
	}
	return out
}

// Contains reports whether n is in the set, "*" being max.
func (s NumSet) Contains(n, max uint32) bool {
	for _, r := range s.Resolve(max) {
		if n >= r.Start && n <= r.Stop {
			return true
		}
	}
	return false
}

// String writes the set back in IMAP syntax.
func (s NumSet) String() string {
	var b strings.Builder
	num := func(n uint32) {
		if n == Star {
			b.WriteByte('*')
		} else {
			b.WriteString(strconv.FormatUint(uint64(n), 10))
		}
	}
	for i, r := range s {
		if i > 0 {
			b.WriteByte(',')
		}
		num(r.Start)
		if r.Stop != r.Start {
			b.WriteByte(':')
			num(r.Stop)
		}
	}
	return b.String()
}
