package sieve

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

const sampleMsg = "From: Coyote <coyote@desert.example.org>\r\n" +
	"To: roadrunner@acme.example.com, ops+alerts@acme.example.com\r\n" +
	"Cc: \"Wile\" <wile@acme.example.com>\r\n" +
	"Subject: [acme-users] [fwd] version 1.0 is out\r\n" +
	"Date: Tue, 1 Apr 1997 09:06:31 -0800\r\n" +
	"Message-ID: <1234@desert.example.org>\r\n" +
	"X-Caffeine: C8H10N4O2\r\n" +
	"Received: from a by b; Tue, 1 Apr 1997 09:06:31 -0800\r\n" +
	"Received: from c by d; Tue, 1 Apr 1997 08:00:00 -0800\r\n" +
	"\r\n" +
	"I've got some great birdseed over here at my place.\r\nWant to buy it? Order now.\r\n"

// summary renders actions compactly for comparison.
func summary(r *Result) string {
	var out []string
	for _, a := range r.Actions {
		s := a.Kind.String()
		switch a.Kind {
		case ActKeep:
		case ActFileinto:
			s += " " + a.Mailbox
			if a.Create {
				s += " :create"
			}
		case ActRedirect:
			s += " " + a.Address
		case ActReject, ActEreject:
			s += " " + a.Reason
		case ActVacation:
			s += " " + a.Reason
		}
		if a.Copy {
			s += " :copy"
		}
		if len(a.Flags) > 0 {
			s += " [" + strings.Join(a.Flags, " ") + "]"
		}
		if a.Implicit {
			s += " (implicit)"
		}
		out = append(out, s)
	}
	return strings.Join(out, "; ")
}

type runCase struct {
	name   string
	script string
	msg    string // default sampleMsg
	env    func(*Env)
	want   string // summary of actions
	err    string // substring of the run error; want then holds the fallback
}

func runCases(t *testing.T, cases []runCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Compile(tc.script, nil)
			if err != nil {
				t.Fatalf("compile: %v", err)
			}
			msg := tc.msg
			if msg == "" {
				msg = sampleMsg
			}
			env := &Env{
				Message:       ParseMessage([]byte(msg)),
				Envelope:      Envelope{From: "coyote@desert.example.org", To: "roadrunner@acme.example.com"},
				Now:           time.Date(2026, 11, 30, 13, 0, 0, 0, time.UTC),
				UserAddresses: []string{"roadrunner@acme.example.com"},
			}
			if tc.env != nil {
				tc.env(env)
			}
			res, err := Run(context.Background(), s, env)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("run error = %v, want %q", err, tc.err)
				}
			} else if err != nil {
				t.Fatalf("run: %v", err)
			}
			if got := summary(res); got != tc.want {
				t.Errorf("actions = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestCore(t *testing.T) {
	runCases(t, []runCase{
		{name: "empty script keeps", script: "", want: "keep (implicit)"},
		{name: "discard", script: "discard;", want: ""},
		{name: "discard then keep", script: "discard; keep;", want: "keep"},
		{name: "stop", script: "stop; discard;", want: "keep (implicit)"},
		{name: "header is casemap", script: `if header :is "x-caffeine" "c8h10n4o2" { discard; }`, want: ""},
		{name: "header octet", script: `if header :comparator "i;octet" :is "x-caffeine" "c8h10n4o2" { discard; }`, want: "keep (implicit)"},
		{name: "header contains", script: `if header :contains ["from","cc"] "coyote" { discard; }`, want: ""},
		{name: "header matches", script: `if header :matches "Subject" "*version ?.0*" { discard; }`, want: ""},
		{name: "exists", script: `if exists ["From","Date"] { discard; }`, want: ""},
		{name: "exists missing", script: `if exists ["From","X-Nope"] { discard; }`, want: "keep (implicit)"},
		{name: "size over", script: `if size :over 100 { discard; }`, want: ""},
		{name: "size under K", script: `if size :under 1K { discard; }`, want: ""},
		{name: "not allof anyof", script: `if not allof (true, anyof (false, false)) { discard; }`, want: ""},
		{name: "elsif else", script: "if false { discard; } elsif false { stop; } else { keep; }", want: "keep"},
		{name: "address domain", script: `if address :domain :is "from" "DESERT.example.org" { discard; }`, want: ""},
		{name: "address localpart", script: `if address :localpart :is "cc" "wile" { discard; }`, want: ""},
		{name: "address all list", script: `if address :all :is "to" "ops+alerts@acme.example.com" { discard; }`, want: ""},
		{name: "redirect", script: `redirect "a@example.net";`, want: "redirect a@example.net"},
		{name: "redirect twice is once", script: `redirect "a@example.net"; redirect "A@example.net";`, want: "redirect a@example.net"},
		{name: "redirect bad address", script: `redirect "not an address";`, want: "keep (implicit)", err: "invalid address"},
		// RFC 5228 §2.10.2: keep cancels nothing and fileinto cancels the implicit keep.
		{name: "keep and fileinto", script: "require \"fileinto\"; keep; fileinto \"A\";", want: "keep; fileinto A"},
		{name: "fileinto INBOX is keep", script: "require \"fileinto\"; keep; fileinto \"inbox\";", want: "keep"},
		// RFC 5228 §6: the example of a full script.
		{name: "rfc5228 section 6 example", script: `
require "fileinto";
if header :is "Sender" "owner-ietf-mtgs@example.org" {
  fileinto "INBOX.ietf-mtgs";
} elsif address :is :all ["To", "Cc"] "roadrunner@acme.example.com" {
  fileinto "INBOX.personal";
} elsif size :over 100K {
  discard;
}`, want: "fileinto INBOX.personal"},
	})
}

func TestMatchVariables(t *testing.T) {
	// RFC 5229 §3.2 examples.
	runCases(t, []runCase{
		{name: "subject brackets", script: `require ["variables","fileinto"];
if header :matches "Subject" "[*] *" { fileinto "${1}/${2}"; }`, want: "fileinto acme-users/[fwd] version 1.0 is out"},
		{name: "double star", script: `require ["variables","fileinto"];
if address :matches ["To","Cc"] ["coyote@**.com", "roadrunner@**.com"] { fileinto "x${1}x-${2}-${0}"; }`,
			want: "fileinto xx-acme.example-roadrunner@acme.example.com"},
		{name: "list-id", msg: "List-ID: Acme users <acme-users.acme.example.com>\r\n\r\nx", script: `require ["variables","fileinto"];
if header :matches "List-ID" "*<*@*" { fileinto "INBOX.lists.${2}"; stop; }
if header :matches "List-ID" "*<*.*" { fileinto "lists.${2}"; }`, want: "fileinto lists.acme-users"},
		{name: "set modifiers", script: `require ["variables","fileinto"];
set "a" "juMBlEd lETteRS"; set :lower "b" "${a}"; set :upperfirst "c" "${b}"; set :length "d" "${a}";
set :upper :lowerfirst "e" "${a}"; set :quotewildcard "f" "a*b?c\\d";
fileinto "${b}|${c}|${d}|${e}|${f}";`, want: `fileinto jumbled letters|Jumbled letters|15|jUMBLED LETTERS|a\*b\?c\\d`},
		{name: "string test", script: `require ["variables","relational"];
set "a" "x"; if string :count "eq" ["${a}", "", "y"] "2" { discard; }`, want: ""},
		{name: "unknown variable empty", script: `require ["variables","fileinto"]; fileinto "a${nope}b${1}c${no-t}";`, want: "fileinto abc${no-t}"},
		{name: "case of captures kept", script: `require ["variables","fileinto"];
if header :matches "From" "*<*@*" { fileinto "${2}"; }`, want: "fileinto coyote"},
	})
}

func TestFileintoMailboxImap4flags(t *testing.T) {
	runCases(t, []runCase{
		{name: "create", script: `require ["fileinto","mailbox"]; fileinto :create "Orders";`, want: "fileinto Orders :create"},
		{name: "copy keeps", script: `require ["fileinto","copy"]; fileinto :copy "A";`, want: "fileinto A :copy; keep (implicit)"},
		{name: "redirect copy", script: `require "copy"; redirect :copy "x@example.net";`, want: "redirect x@example.net :copy; keep (implicit)"},
		{name: "mailboxexists", script: `require ["fileinto","mailbox"]; if mailboxexists "Orders" { fileinto "Orders"; }`,
			env:  func(e *Env) { e.MailboxExists = func(_ context.Context, m string) bool { return m == "Orders" } },
			want: "fileinto Orders"},
		{name: "flags arg", script: `require ["fileinto","imap4flags"]; fileinto :flags ["\\Flagged", "$Order"] "Orders";`, want: `fileinto Orders [\Flagged $Order]`},
		{name: "internal flags to implicit keep", script: `require "imap4flags"; setflag "\\Seen"; addflag ["\\Flagged", "\\seen"]; removeflag "\\Seen";`, want: `keep [\Flagged] (implicit)`},
		// RFC 5232 §7 example, reduced.
		{name: "hasflag", script: `require ["imap4flags","fileinto"];
addflag "flagvar" ["\\Deleted", "\\Answered"];
if hasflag :contains "flagvar" "Deleted" { fileinto :flags "${flagvar}" "X"; }`, want: "fileinto X [${flagvar}]"},
		{name: "hasflag with variables", script: `require ["imap4flags","fileinto","variables"];
addflag "flagvar" ["\\Deleted", "\\Answered"];
if hasflag :is "flagvar" "\\answered" { fileinto :flags "${flagvar}" "X"; }`, want: `fileinto X [\Deleted \Answered]`},
		{name: "hasflag count", script: `require ["imap4flags","relational"]; setflag "a b c"; if hasflag :count "ge" "3" { discard; }`, want: ""},
		{name: "flags at keep time", script: `require "imap4flags"; addflag "a"; keep; addflag "b";`, want: "keep [a b]"},
	})
}

func TestEnvelopeSubaddress(t *testing.T) {
	runCases(t, []runCase{
		{name: "envelope from", script: `require "envelope"; if envelope :domain :is "from" "desert.example.org" { discard; }`, want: ""},
		{name: "envelope to detail", script: `require ["envelope","subaddress","fileinto","variables"];
if envelope :detail :matches "to" "*" { fileinto "lists/${1}"; }`,
			env: func(e *Env) { e.Envelope.To = "ken+sieve@example.org" }, want: "fileinto lists/sieve"},
		{name: "user", script: `require ["envelope","subaddress"]; if envelope :user "to" "ken" { discard; }`,
			env: func(e *Env) { e.Envelope.To = "ken+sieve@example.org" }, want: ""},
		{name: "no detail no match", script: `require ["envelope","subaddress"]; if envelope :detail :matches "to" "*" { discard; }`, want: "keep (implicit)"},
		{name: "null sender", script: `require "envelope"; if envelope :is "from" "" { discard; }`,
			env: func(e *Env) { e.Envelope.From = "" }, want: ""},
	})
}

func TestRelationalNumeric(t *testing.T) {
	runCases(t, []runCase{
		// RFC 5231 §6 examples.
		{name: "count received", script: `require ["relational","comparator-i;ascii-numeric"];
if header :count "ge" :comparator "i;ascii-numeric" "received" "2" { discard; }`, want: ""},
		{name: "count to cc", script: `require ["relational","comparator-i;ascii-numeric"];
if address :count "ge" :comparator "i;ascii-numeric" ["to", "cc"] ["4"] { discard; }`, want: "keep (implicit)"},
		{name: "value gt", script: `require ["relational","comparator-i;ascii-numeric"];
if header :value "gt" :comparator "i;ascii-numeric" "x-priority" "3" { discard; }`,
			msg: "X-Priority: 10\r\n\r\n", want: ""},
		{name: "numeric non-digit is infinity", script: `require ["relational","comparator-i;ascii-numeric"];
if header :value "lt" :comparator "i;ascii-numeric" "x-priority" "3" { discard; }`,
			msg: "X-Priority: high\r\n\r\n", want: "keep (implicit)"},
		{name: "numeric is", script: `require "comparator-i;ascii-numeric";
if header :is :comparator "i;ascii-numeric" "x-n" "007" { discard; }`, msg: "X-N: 7 dwarves\r\n\r\n", want: ""},
		{name: "value casemap", script: `require "relational"; if header :value "lt" "subject" "b" { discard; }`, msg: "Subject: Apple\r\n\r\n", want: ""},
	})
}

func TestBody(t *testing.T) {
	mime := "From: a@b.example\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=XX\r\n\r\n" +
		"--XX\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nPlease send the invoice =E2=82=AC 20\r\n" +
		"--XX\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\nTUFHSUM=\r\n--XX--\r\n"
	runCases(t, []runCase{
		{name: "text default", script: `require "body"; if body :contains "birdseed" { discard; }`, want: ""},
		{name: "text decodes qp", msg: mime, script: `require "body"; if body :contains "invoice € 20" { discard; }`, want: ""},
		{name: "raw does not decode", msg: mime, script: `require "body"; if body :raw :contains "invoice € 20" { discard; }`, want: "keep (implicit)"},
		{name: "raw sees encoding", msg: mime, script: `require "body"; if body :raw :contains "=E2=82=AC" { discard; }`, want: ""},
		{name: "text skips binary", msg: mime, script: `require "body"; if body :text :contains "MAGIC" { discard; }`, want: "keep (implicit)"},
		{name: "content application", msg: mime, script: `require "body"; if body :content "application" :contains "MAGIC" { discard; }`, want: ""},
		{name: "content exact", msg: mime, script: `require "body"; if body :content "text/html" :contains "invoice" { discard; }`, want: "keep (implicit)"},
	})
}

func TestDateIndex(t *testing.T) {
	runCases(t, []runCase{
		{name: "date year", script: `require "date"; if date :is "date" "year" "1997" { discard; }`, want: ""},
		{name: "date zone", script: `require "date"; if date :zone "+0000" "date" "hour" "17" { discard; }`, want: ""},
		{name: "originalzone", script: `require "date"; if date :originalzone "date" "hour" "09" { discard; }`, want: ""},
		{name: "bad zone false", script: `require "date"; if date :zone "bogus" "date" "year" "1997" { discard; }`, want: "keep (implicit)"},
		{name: "currentdate", script: `require ["date","relational"]; if allof(currentdate :value "ge" "date" "2026-11-01", currentdate :is "weekday" "1") { discard; }`, want: ""},
		{name: "currentdate julian", script: `require "date"; if currentdate :is "julian" "61374" { discard; }`, want: ""},
		{name: "received index last", script: `require ["date","index"]; if date :index 1 :last :zone "-0800" "received" "hour" "08" { discard; }`, want: ""},
		{name: "header index", script: `require "index"; if header :index 2 :contains "received" "from c" { discard; }`, want: ""},
		{name: "header index out of range", script: `require "index"; if header :index 3 :contains "received" "from" { discard; }`, want: "keep (implicit)"},
		// RFC 5260 §7 example: vacation-like dates with variables.
		{name: "date into variable", script: `require ["date","variables","fileinto"];
if currentdate :matches "date" "*" { set "d" "${1}"; } fileinto "${d}";`, want: "fileinto 2026-11-30"},
	})
}

func TestVacation(t *testing.T) {
	vac := `require "vacation"; vacation :days 3 :subject "Away" "I'm out";`
	runCases(t, []runCase{
		{name: "answers", script: vac, want: "vacation I'm out; keep (implicit)"},
		{name: "seconds", script: `require ["vacation","vacation-seconds"]; vacation :seconds 0 "x";`, want: "vacation x; keep (implicit)"},
		{name: "null sender", script: vac, env: func(e *Env) { e.Envelope.From = "" }, want: "keep (implicit)"},
		{name: "own address", script: vac, env: func(e *Env) { e.Envelope.From = "roadrunner@acme.example.com" }, want: "keep (implicit)"},
		{name: "list", script: vac, msg: "To: roadrunner@acme.example.com\r\nList-Id: <x.example>\r\n\r\n", want: "keep (implicit)"},
		{name: "precedence bulk", script: vac, msg: "To: roadrunner@acme.example.com\r\nPrecedence: bulk\r\n\r\n", want: "keep (implicit)"},
		{name: "auto-submitted", script: vac, msg: "To: roadrunner@acme.example.com\r\nAuto-Submitted: auto-replied\r\n\r\n", want: "keep (implicit)"},
		{name: "auto-submitted no", script: vac, msg: "To: roadrunner@acme.example.com\r\nAuto-Submitted: no\r\n\r\n", want: "vacation I'm out; keep (implicit)"},
		{name: "not a recipient", script: vac, msg: "To: someone@else.example\r\n\r\n", want: "keep (implicit)"},
		{name: "addresses", script: `require "vacation"; vacation :addresses "someone@else.example" "x";`, msg: "To: someone@else.example\r\n\r\n", want: "vacation x; keep (implicit)"},
		{name: "with reject is an error", script: `require ["vacation","reject"]; vacation "x"; reject "no";`, want: "keep (implicit)", err: "cannot be combined"},
	})
	s, err := Compile(`require "vacation"; vacation :days 2 :from "info@acme.example.com" :subject "Re: ${x}" :handle "h" "Thanks";`, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Run(context.Background(), s, &Env{Message: ParseMessage([]byte(sampleMsg)), Envelope: Envelope{From: "Coyote@desert.example.org"}, UserAddresses: []string{"roadrunner@acme.example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	v := res.Actions[0].Vacation
	if v.Period != 48*time.Hour || v.From != "info@acme.example.com" || v.Key != "h\x00coyote@desert.example.org" || v.InReplyTo != "<1234@desert.example.org>" || v.To != "Coyote@desert.example.org" {
		t.Errorf("vacation = %+v", v)
	}
}

func TestReject(t *testing.T) {
	runCases(t, []runCase{
		{name: "reject", script: `require "reject"; reject "go away";`, want: "reject go away"},
		{name: "ereject", script: `require "ereject"; ereject "no";`, want: "ereject no"},
		{name: "two rejects", script: `require "reject"; reject "a"; reject "b";`, want: "keep (implicit)", err: "cannot be combined"},
		{name: "reject after fileinto", script: `require ["reject","fileinto"]; fileinto "x"; reject "b";`, want: "keep (implicit)", err: "cannot be combined with fileinto"},
		{name: "keep after ereject", script: `require "ereject"; ereject "b"; keep;`, want: "keep (implicit)", err: "keep cannot be combined"},
		{name: "reject with discard", script: `require "reject"; discard; reject "no";`, want: "reject no"},
	})
}

func TestEditheader(t *testing.T) {
	cases := []struct {
		name, script string
		want         []string // header names and values after, "Name:value"
	}{
		{"add first", `require "editheader"; addheader "X-Sieve" "yes";`, []string{"X-Sieve: yes", "From: a", "X-A: 1", "X-A: 2", "Received: r"}},
		{"add last", `require "editheader"; addheader :last "X-Sieve" "yes";`, []string{"From: a", "X-A: 1", "X-A: 2", "Received: r", "X-Sieve: yes"}},
		{"delete all", `require "editheader"; deleteheader "x-a";`, []string{"From: a", "Received: r"}},
		{"delete index last", `require ["editheader","index"]; deleteheader :index 1 :last "x-a";`, []string{"From: a", "X-A: 1", "Received: r"}},
		{"delete by value", `require "editheader"; deleteheader :is "x-a" "2";`, []string{"From: a", "X-A: 1", "Received: r"}},
		{"received protected", `require "editheader"; deleteheader "received"; addheader "Received" "x";`, []string{"From: a", "X-A: 1", "X-A: 2", "Received: r"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Compile(tc.script, nil)
			if err != nil {
				t.Fatal(err)
			}
			res, err := Run(context.Background(), s, &Env{Message: ParseMessage([]byte("From: a\r\nX-A: 1\r\nX-A: 2\r\nReceived: r\r\n\r\nbody"))})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, h := range res.Header {
				got = append(got, h.Name+":"+h.Value)
			}
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Errorf("header = %q, want %q", got, tc.want)
			}
		})
	}
	// Tests see the edited header.
	runCases(t, []runCase{
		{name: "tests see edits", script: `require "editheader"; addheader "X-Tag" "spam"; if header :is "x-tag" "spam" { discard; }`, want: ""},
	})
}

func TestInclude(t *testing.T) {
	scripts := map[string]string{
		"p/orders": `require "fileinto"; if header :contains "subject" "version" { fileinto "Orders"; }`,
		"g/spam":   `require ["include","variables"]; global "verdict"; set "verdict" "spam"; return; discard;`,
		"p/loop":   `require "include"; include "loop";`,
		"p/bad":    `frobnicate;`,
	}
	loader := func(_ context.Context, loc Location, name string) (string, error) {
		k := "p/" + name
		if loc == Global {
			k = "g/" + name
		}
		if s, ok := scripts[k]; ok {
			return s, nil
		}
		return "", ErrNotFound
	}
	withLoader := func(e *Env) { e.Loader = loader }
	runCases(t, []runCase{
		{name: "personal", script: `require "include"; include "orders";`, env: withLoader, want: "fileinto Orders"},
		{name: "global variables and return", script: `require ["include","variables","fileinto"]; include :global "spam"; global "verdict"; fileinto "${verdict}";`, env: withLoader, want: "fileinto spam"},
		{name: "not global stays local", script: `require ["include","variables","fileinto"]; include :global "spam"; fileinto "x${verdict}";`, env: withLoader, want: "fileinto x"},
		{name: "optional missing", script: `require "include"; include :optional "nope";`, env: withLoader, want: "keep (implicit)"},
		{name: "missing", script: `require "include"; include "nope";`, env: withLoader, want: "keep (implicit)", err: "not found"},
		{name: "recursion limited", script: `require "include"; include "loop";`, env: withLoader, want: "keep (implicit)", err: "nested deeper"},
		{name: "broken included", script: `require "include"; include "bad";`, env: withLoader, want: "keep (implicit)", err: "unknown command"},
		{name: "once", script: `require ["include","fileinto"]; include :once "orders"; include :once "orders";`, env: withLoader, want: "fileinto Orders"},
	})
}

func TestDuplicate(t *testing.T) {
	seen := map[string]bool{}
	check := func(_ context.Context, k string) (bool, error) { return seen[k], nil }
	s, err := Compile(`require "duplicate"; if duplicate { discard; }`, nil)
	if err != nil {
		t.Fatal(err)
	}
	env := &Env{Message: ParseMessage([]byte(sampleMsg)), Duplicate: check}
	r1, _ := Run(context.Background(), s, env)
	if summary(r1) != "keep (implicit)" || len(r1.Duplicates) != 1 {
		t.Fatalf("first: %s %v", summary(r1), r1.Duplicates)
	}
	seen[r1.Duplicates[0].Key] = true
	r2, _ := Run(context.Background(), s, env)
	if summary(r2) != "" {
		t.Fatalf("second: %s", summary(r2))
	}
	runCases(t, []runCase{
		{name: "uniqueid and handle", script: `require ["duplicate","variables"]; if duplicate :handle "a" :uniqueid "x" :seconds 60 { discard; }`,
			env: func(e *Env) {
				e.Duplicate = func(_ context.Context, k string) (bool, error) { return true, nil }
			}, want: ""},
		{name: "no message-id", script: `require "duplicate"; if duplicate { discard; }`, msg: "From: a\r\n\r\n", want: "keep (implicit)"},
		{name: "tracker error", script: `require "duplicate"; if duplicate { discard; }`,
			env: func(e *Env) {
				e.Duplicate = func(context.Context, string) (bool, error) { return false, errors.New("disk") }
			}, want: "keep (implicit)", err: "disk"},
	})
}

func TestEncodedCharacter(t *testing.T) {
	runCases(t, []runCase{
		// RFC 5228 §2.4.2.4 examples.
		{name: "hex", script: `require ["encoded-character","fileinto"]; fileinto "${hex:40}${hex: 40 }${HEX:400}${hex:4${hex:30}}";`, want: "fileinto @@${HEX:400}${hex:40}"},
		{name: "unicode", script: `require ["encoded-character","fileinto"]; fileinto "${unicode:40}${Unicode:263a}x";`, want: "fileinto @☺x"},
		{name: "without require", script: `require "fileinto"; fileinto "${hex:40}";`, want: "fileinto ${hex:40}"},
	})
}

func TestLimits(t *testing.T) {
	lim := DefaultLimits
	lim.MaxSteps = 50
	lim.MaxActions = 2
	runCases(t, []runCase{
		{name: "steps", script: `require "variables"; if string :matches "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab" "*a*a*a*a*a*a*a*a*a*a*c" { discard; }`,
			env: func(e *Env) { e.Limits = &lim }, want: "keep (implicit)", err: "steps"},
		{name: "actions", script: `require "fileinto"; fileinto "a"; fileinto "b"; fileinto "c";`,
			env: func(e *Env) { e.Limits = &lim }, want: "keep (implicit)", err: "actions"},
		{name: "redirects", script: `redirect "a@x.example"; redirect "b@x.example"; redirect "c@x.example"; redirect "d@x.example"; redirect "e@x.example";`,
			want: "keep (implicit)", err: "redirects"},
	})
}

func TestCompileErrors(t *testing.T) {
	small := DefaultLimits
	small.MaxNesting = 3
	small.MaxListLen = 2
	small.MaxCommands = 8
	small.MaxStringLen = 8
	small.MaxScriptSize = 200
	cases := []struct {
		script string
		lim    *Limits
		want   string
	}{
		{"frobnicate;", nil, `line 1, column 1: unknown command "frobnicate"`},
		{"keep;\nfileinto \"x\";", nil, `line 2, column 1: fileinto needs require "fileinto"`},
		{"require \"nope\";", nil, `unsupported extension "nope"`},
		{"keep;\nrequire \"fileinto\";", nil, "line 2, column 1: require must come before"},
		{"if true { keep;", nil, `missing "}"`},
		{"keep", nil, `line 1, column 5: missing ";" or block after keep (found end of script`},
		{"if true {\n  fileinto \"A\"\n}", nil, `line 2, column 15: missing ";" or block after fileinto (found "}" at line 3)`},
		{"if header :is \"a\" { keep; }", nil, "header takes 2 positional arguments"},
		{"if size 10 { keep; }", nil, "size needs :over or :under"},
		{"if header :is :contains \"a\" \"b\" { keep; }", nil, ":contains conflicts with :is"},
		{"if header :count \"gt\" \"a\" \"b\" { keep; }", nil, `:count needs require "relational"`},
		{"if header :comparator \"i;ascii-numeric\" \"a\" \"b\" { keep; }", nil, `needs require "comparator-i;ascii-numeric"`},
		{"if header :comparator \"x;y\" \"a\" \"b\" { keep; }", nil, `unknown comparator`},
		{"require \"variables\"; set \"a-b\" \"x\";", nil, `bad variable name`},
		{"else { keep; }", nil, "else without a preceding if"},
		{"\"x\";", nil, "expected a command"},
		{"keep; /* open", nil, "unterminated comment"},
		{"redirect \"abc", nil, "unterminated string"},
		{"redirect text:\nabc\n", nil, "unterminated multi-line"},
		{"if size :over 99999999999999999999 { keep; }", nil, "number too large"},
		{"if true { if true { if true { if true { keep; } } } }", &small, "nested deeper than 3"},
		{"require [\"a\",\"b\",\"c\"];", &small, "longer than 2"},
		{"keep; keep; keep; keep; keep; keep; keep; keep; keep;", &small, "more than 8 commands"},
		{"redirect \"aaaaaaaaaaaaa\";", &small, "longer than 8 bytes"},
		{strings.Repeat("# comment\n", 30), &small, "larger than 200 bytes"},
		{"if header :index 0 \"a\" \"b\" { keep; }", nil, `:index needs require "index"`},
		{"require \"index\"; if header :last \"a\" \"b\" { keep; }", nil, ":last needs :index"},
	}
	for _, tc := range cases {
		_, err := Compile(tc.script, tc.lim)
		var se *SyntaxError
		if !errors.As(err, &se) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Compile(%q) = %v, want %q", tc.script, err, tc.want)
		}
	}
}

func TestLexer(t *testing.T) {
	s, err := Compile("require [\"fileinto\"]; # comment\n/* block\ncomment */ fileinto text: # c\nline one\n..dot\n.\n;\nredirect \"a\\\"b\\\\c@x.example\";", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.cmds[0].args[0].str(); got != "line one\r\n.dot\r\n" {
		t.Errorf("multi-line = %q", got)
	}
	if got := s.cmds[1].args[0].str(); got != `a"b\c@x.example` {
		t.Errorf("quoted = %q", got)
	}
}

func TestCapability(t *testing.T) {
	c := Capability()
	for _, e := range []string{"fileinto", "imap4flags", "vacation-seconds", "comparator-i;ascii-numeric", "editheader", "duplicate", "include"} {
		if !strings.Contains(" "+c+" ", " "+e+" ") {
			t.Errorf("capability %q lacks %s", c, e)
		}
	}
	// Every extension listed compiles when required.
	for _, e := range extensions {
		if _, err := Compile(fmt.Sprintf("require %q;", e), nil); err != nil {
			t.Errorf("require %s: %v", e, err)
		}
	}
}
