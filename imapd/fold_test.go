package imapd

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// containsFoldSlow is the definition: some substring of s equals sub
// under Unicode simple folding (strings.EqualFold).
func containsFoldSlow(s, sub string) bool {
	if sub == "" {
		return true
	}
	for i := 0; i < len(s); {
		for j := i; j < len(s); {
			_, n := utf8.DecodeRuneInString(s[j:])
			j += n
			if strings.EqualFold(s[i:j], sub) {
				return true
			}
		}
		_, n := utf8.DecodeRuneInString(s[i:])
		i += n
	}
	return false
}

// FuzzContainsFold checks SEARCH's folding matcher against the
// definition, on valid UTF-8.
func FuzzContainsFold(f *testing.F) {
	for _, seed := range [][2]string{
		{"The TEMPEST came", "tempest"}, {"5 \u212aelvin", "5 kelvin"}, {"Stra\u00dfe", "STRASSE"},
		{"\u017ftop", "STOP"}, {"\u00c9t\u00e9", "\u00e9T\u00c9"}, {"\u03a3\u03c3\u03c2", "\u03c3\u03c3\u03c3"}, {"abc", ""},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, s, sub string) {
		if !utf8.ValidString(s) || !utf8.ValidString(sub) || len(s) > 256 || len(sub) > 32 {
			return
		}
		if got, want := containsFold(s, sub), containsFoldSlow(s, sub); got != want {
			t.Fatalf("containsFold(%q, %q) = %v, want %v", s, sub, got, want)
		}
	})
}
