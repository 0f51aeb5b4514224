package sieve

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

// BenchmarkRun is one run of a 20-rule script against a message, the
// script compiled once as delivery caches it.
func BenchmarkRun(b *testing.B) {
	var src strings.Builder
	src.WriteString(`require ["fileinto", "imap4flags", "relational", "comparator-i;ascii-numeric"];` + "\n")
	for i := range 17 {
		fmt.Fprintf(&src, "if header :contains \"subject\" \"project-%d\" { fileinto \"Projects/%d\"; stop; }\n", i, i)
	}
	src.WriteString(`if address :domain :is "from" ["spam.example", "junk.example"] { discard; stop; }
if header :value "ge" :comparator "i;ascii-numeric" "x-spam-score" "5" { fileinto "Junk"; stop; }
if header :matches "subject" "*version*" { addflag "$Release"; }
`)
	s, err := Compile(src.String(), nil)
	if err != nil {
		b.Fatal(err)
	}
	env := &Env{Message: ParseMessage([]byte(sampleMsg)), Envelope: Envelope{From: "a@b.example", To: "c@d.example"}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Run(context.Background(), s, env); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCompile compiles the RFC 5228 §6 example.
func BenchmarkCompile(b *testing.B) {
	src := `require "fileinto";
if header :is "Sender" "owner-ietf-mtgs@example.org" { fileinto "INBOX.ietf-mtgs"; }
elsif address :is :all ["To", "Cc"] "roadrunner@acme.example.com" { fileinto "INBOX.personal"; }
elsif size :over 100K { discard; }`
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Compile(src, nil); err != nil {
			b.Fatal(err)
		}
	}
}
