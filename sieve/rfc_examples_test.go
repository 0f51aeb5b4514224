package sieve

import (
	"context"
	"testing"
)

// The RFCs' own examples, written as tests: each script follows the
// example in the section named, against a message made to exercise it.

func TestRFCExamples(t *testing.T) {
	mimeMsg := "From: boss@example.com\r\nTo: roadrunner@acme.example.com\r\nSubject: plan\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\nThe missile coordinates are attached.\r\n" +
		"--B\r\nContent-Type: audio/mp3\r\nContent-Transfer-Encoding: base64\r\n\r\nSUQz\r\n--B--\r\n"
	runCases(t, []runCase{
		// RFC 3894 §4: fileinto :copy keeps the implicit keep.
		{name: "3894 copy", script: `require ["copy", "fileinto"];
fileinto :copy "incoming";`, want: "fileinto incoming :copy; keep (implicit)"},
		// RFC 5173 §6: the three body examples.
		{name: "5173 raw", msg: "Subject: x\r\n\r\nMAKE MONEY FAST now\r\n", script: `require "body";
if body :raw :contains "MAKE MONEY FAST" { discard; }`, want: ""},
		{name: "5173 content text", msg: mimeMsg, script: `require ["body", "fileinto"];
if body :content "text" :contains ["missile", "coordinates"] { fileinto "secrets"; }`, want: "fileinto secrets"},
		{name: "5173 content audio", msg: mimeMsg, script: `require ["body", "fileinto"];
if body :content "audio/mp3" :contains "" { fileinto "jukebox"; }`, want: "fileinto jukebox"},
		// RFC 5229 §3.2 and §4: variables in fileinto, and set.
		{name: "5229 set and use", script: `require ["variables", "fileinto"];
set "honorific" "Mr";
set "first_name" "Wile";
set "last_name" "Coyote";
set "vacation" text:
Dear ${HONORIFIC} ${last_name},
I'm out, please leave a message after the meep.
.
;
if string :contains "${vacation}" "Dear Mr Coyote" { fileinto "${first_name}"; }`, want: "fileinto Wile"},
		// RFC 5230 §4.x: vacation with :days, :addresses, :subject.
		{name: "5230 vacation", script: `require "vacation";
if header :contains "subject" "cyrus" {
  vacation :days 7 :subject "I'm away" :addresses ["roadrunner@acme.example.com", "rr@acme.example.com"] "I'm out -- send mail to foobar@example.com";
} else {
  vacation "I'm out -- call me at +1 304 555 0123";
}`, want: "vacation I'm out -- call me at +1 304 555 0123; keep (implicit)"},
		// RFC 5231 §7: relational on X-Priority.
		{name: "5231 priority", msg: "X-Priority: 1\r\n\r\n", script: `require ["relational", "comparator-i;ascii-numeric", "fileinto"];
if header :value "lt" :comparator "i;ascii-numeric" ["x-priority"] ["3"] { fileinto "Priority"; }`, want: "fileinto Priority"},
		// RFC 5232 §7: flags set on keep and fileinto.
		{name: "5232 flags", msg: "From: boss@frobnitzm.example.edu\r\nSubject: Re: nothing\r\n\r\n", script: `require ["imap4flags", "fileinto", "variables"];
if header :contains "from" "boss@frobnitzm.example.edu" {
  setflag "flagvar" "\\Flagged";
  fileinto :flags "${flagvar}" "INBOX.From Boss";
}
if header :contains "subject" "nothing" {
  addflag "\\Deleted";
}`, want: `fileinto INBOX.From Boss [\Flagged]`},
		// RFC 5233 §5: detail into a folder.
		{name: "5233 detail", script: `require ["envelope", "subaddress", "fileinto"];
if envelope :detail "to" "mta-filters" { fileinto "inbox.filter"; }`,
			env: func(e *Env) { e.Envelope.To = "ken+mta-filters@example.org" }, want: "fileinto inbox.filter"},
		// RFC 5260 §4.3 / §5.2: work hours and a dated vacation.
		{name: "5260 originalzone", script: `require ["date", "relational", "fileinto"];
if allof(header :is "from" "boss@example.com",
         date :value "ge" :originalzone "date" "hour" "09",
         date :value "lt" :originalzone "date" "hour" "17") { fileinto "urgent"; }`,
			msg: "From: boss@example.com\r\nDate: Tue, 1 Apr 1997 09:06:31 -0800\r\n\r\n", want: "fileinto urgent"},
		{name: "5260 currentdate range", script: `require ["date", "relational", "vacation"];
if allof(currentdate :value "ge" "date" "2026-11-01", currentdate :value "le" "date" "2026-12-07") {
  vacation :days 7 "I'm away until December 8.";
}`, want: "vacation I'm away until December 8.; keep (implicit)"},
		// RFC 5293 §8: tag a header, then act on it.
		{name: "5293 editheader", script: `require ["editheader", "fileinto"];
addheader "X-Source" "sieve";
if header :is "X-Source" "sieve" { fileinto "tagged"; }`, want: "fileinto tagged"},
		// RFC 5429 §2.1/§2.2.
		{name: "5429 reject", script: `require ["reject"];
if size :over 100K { reject "Your message is too big."; }
if header :contains "from" "coyote@desert.example.org" { reject text:
I am not taking mail from you, and I don't
want your birdseed, either!
.
; }`, want: "reject I am not taking mail from you, and I don't\r\nwant your birdseed, either!\r\n"},
		{name: "5429 ereject", script: `require ["ereject"]; if address :domain "from" "desert.example.org" { ereject "No coyotes here."; }`, want: "ereject No coyotes here."},
		// RFC 5490 §3.
		{name: "5490 mailboxexists", script: `require ["fileinto", "mailbox"];
if mailboxexists "Partners" { fileinto "Partners"; } else { fileinto :create "Partners"; }`, want: "fileinto Partners :create"},
		// RFC 6609 §5: a global script included, return and once.
		{name: "6609 include", script: `require ["include"];
include :personal "always_allow";
include :global "spam_tests";`, env: func(e *Env) {
			e.Loader = func(_ context.Context, loc Location, name string) (string, error) {
				if loc == Personal && name == "always_allow" {
					return `if address :is "from" "boss@example.com" { keep; stop; }`, nil
				}
				if loc == Global && name == "spam_tests" {
					return `require ["fileinto", "include"]; if header :contains "subject" "version" { fileinto "spam"; return; } discard;`, nil
				}
				return "", ErrNotFound
			}
		}, want: "fileinto spam"},
		// RFC 7352 §3.4: duplicate by a header, with a handle.
		{name: "7352 header handle", msg: "X-Event-ID: 1234\r\n\r\n", script: `require ["duplicate", "fileinto"];
if duplicate :header "X-Event-ID" :handle "notifier" { discard; }`,
			env: func(e *Env) { e.Duplicate = func(context.Context, string) (bool, error) { return true, nil } }, want: ""},
	})
}
