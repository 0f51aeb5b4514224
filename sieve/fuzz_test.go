package sieve

import (
	"context"
	"testing"
	"time"
)

// FuzzParse compiles arbitrary scripts and runs those that compile: no
// panic, and every error is a *SyntaxError with a position in the input.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`require ["fileinto","variables"]; if header :matches "Subject" "[*] *" { fileinto "${1}"; }`,
		"require \"vacation\"; vacation :days 1 text:\nback soon\n.\n;",
		`if anyof (size :over 1M, not exists "From") { discard; } elsif true { keep; } else { stop; }`,
		`require ["imap4flags","relational","comparator-i;ascii-numeric"]; if header :count "ge" :comparator "i;ascii-numeric" "received" "3" { addflag "\\Seen"; }`,
		`require ["encoded-character","editheader","index"]; addheader "X-A" "${hex:41}"; deleteheader :index 1 :last "X-A";`,
		"/* c */ # c\n",
	} {
		f.Add(s)
	}
	lim := DefaultLimits
	lim.MaxSteps = 5000
	msg := ParseMessage([]byte(sampleMsg))
	f.Fuzz(func(t *testing.T, src string) {
		s, err := Compile(src, &lim)
		if err != nil {
			se, ok := err.(*SyntaxError)
			if !ok {
				t.Fatalf("error %T %v is not a *SyntaxError", err, err)
			}
			if se.Pos.Line < 1 || se.Pos.Col < 1 {
				t.Fatalf("bad position %v", se.Pos)
			}
			return
		}
		res, _ := Run(context.Background(), s, &Env{Message: msg, Limits: &lim, Now: time.Unix(0, 0)})
		if res == nil {
			t.Fatal("nil result")
		}
	})
}
