package imapd

import (
	"bytes"
	"slices"
	"unicode"
	"unicode/utf8"
)

// Case-insensitive matching for SEARCH (RFC 9051 §6.4.4: substring
// matching, case-insensitive; for UTF-8, by Unicode simple case folding).
// Both sides are folded once into a canonical form and compared with
// bytes.Index, so a search is linear in the size of the text whatever the
// text and the needle: the earlier byte-by-byte candidate scan rescanned
// the rest of the text for each occurrence of the needle's first letter,
// which made it quadratic.

// foldRune maps r to one representative of its simple-folding orbit: the
// smallest rune of the orbit, lower-cased when that is ASCII (so "k", "K"
// and the Kelvin sign all become "k").
func foldRune(r rune) rune {
	if r < utf8.RuneSelf {
		if 'A' <= r && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return r
	}
	least := r
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		least = min(least, f)
	}
	if least < utf8.RuneSelf && 'A' <= least && least <= 'Z' {
		least += 'a' - 'A'
	}
	return least
}

// appendFold appends the folded form of b to dst. Bytes that are not
// valid UTF-8 are copied as they are: they can only match themselves.
func appendFold(dst, b []byte) []byte {
	dst = slices.Grow(dst, len(b))
	for i := 0; i < len(b); {
		c := b[i]
		if c < utf8.RuneSelf {
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			dst = append(dst, c)
			i++
			continue
		}
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n == 1 {
			dst = append(dst, c)
		} else {
			dst = utf8.AppendRune(dst, foldRune(r))
		}
		i += n
	}
	return dst
}

// foldString returns the folded form of s.
func foldString(s string) []byte { return appendFold(nil, []byte(s)) }

// containsFold reports whether sub occurs in s, ignoring case.
func containsFold(s, sub string) bool {
	return bytes.Contains(foldString(s), foldString(sub))
}
