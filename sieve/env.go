package sieve

import (
	"context"
	"errors"
	"time"
)

// HeaderField is one header field of the message, its value as it
// appears after the colon, unfolded, not yet RFC 2047-decoded.
type HeaderField struct {
	Name, Value string
}

// Message is what a script looks at. Body is called only when a body
// test runs; it returns the raw body (after the blank line).
type Message struct {
	Header []HeaderField
	Size   int64
	Body   func() ([]byte, error)
}

// Envelope is the SMTP envelope of the delivery being filtered.
type Envelope struct {
	From     string // reverse path without <>; "" for the null sender
	To       string // the recipient being delivered to
	AuthUser string // the authenticated submitter, if any
}

// Location is where include finds a script (RFC 6609 §3.2).
type Location int

const (
	Personal Location = iota
	Global
)

// ErrNotFound is what a Loader returns when a script does not exist;
// include :optional then does nothing.
var ErrNotFound = errors.New("sieve: script not found")

// Loader returns the source of a script for include.
type Loader func(ctx context.Context, loc Location, name string) (string, error)

// DuplicateChecker answers the duplicate test (RFC 7352): has this key
// been recorded for this user? Recording happens after delivery, from
// Result.Duplicates, so a failed delivery records nothing.
type DuplicateChecker func(ctx context.Context, key string) (bool, error)

// Env is everything a run needs besides the script.
type Env struct {
	Message  *Message
	Envelope Envelope
	Now      time.Time      // currentdate; zero means time.Now()
	Location *time.Location // "local" zone of the date tests; nil means UTC

	// UserAddresses are the addresses of the mailbox owner, used by
	// vacation (RFC 5230 §4.5, §4.6).
	UserAddresses []string

	Loader        Loader                                                 // nil: include fails
	Duplicate     DuplicateChecker                                       // nil: duplicate is always false
	MailboxExists func(ctx context.Context, mailbox string) bool         // nil: mailboxexists is false
	Limits        *Limits                                                // nil: DefaultLimits
	Compiled      func(ctx context.Context, src string) (*Script, error) // nil: Compile with Limits
}

// ActionKind names what an action does.
type ActionKind int

const (
	ActKeep ActionKind = iota
	ActFileinto
	ActRedirect
	ActDiscard
	ActReject
	ActEreject
	ActVacation
)

var actionNames = [...]string{"keep", "fileinto", "redirect", "discard", "reject", "ereject", "vacation"}

func (k ActionKind) String() string { return actionNames[k] }

// Action is one thing to do with the message.
type Action struct {
	Kind     ActionKind
	Mailbox  string   // fileinto; "INBOX" for keep
	Create   bool     // fileinto :create
	Flags    []string // keep and fileinto: the IMAP flags to set
	Address  string   // redirect
	Copy     bool     // redirect or fileinto :copy
	Reason   string   // reject, ereject, vacation body
	Vacation *Vacation
	Implicit bool // the implicit keep
}

// Vacation holds a vacation action's parameters (RFC 5230, RFC 6131).
// The run has already decided that the message may be answered (§4.5,
// §4.6); the caller still applies the once-per-period rule with Key.
type Vacation struct {
	To      string        // the envelope sender to answer
	Period  time.Duration // :days or :seconds; at most one reply per Period
	Subject string
	From    string
	Mime    bool
	Handle  string
	Key     string // handle plus sender, what "already answered" is tracked by
	// InReplyTo is the original Message-ID; OrigSubject its Subject.
	InReplyTo   string
	OrigSubject string
}

// Duplicate is a duplicate test's key to record once delivery succeeds.
type Duplicate struct {
	Key    string
	Period time.Duration
	Last   bool // :last: renew the period on every match
}

// Result is the outcome of a run.
type Result struct {
	Actions []Action
	// Header is the message header after editheader changes; HeaderEdited
	// says whether it differs from the original.
	Header       []HeaderField
	HeaderEdited bool
	Duplicates   []Duplicate
	// Notes say why something was skipped (a vacation not sent, ...).
	Notes []string
}

// Keeps reports whether the result stores the message in INBOX.
func (r *Result) Keeps() bool {
	for _, a := range r.Actions {
		if a.Kind == ActKeep {
			return true
		}
	}
	return false
}
