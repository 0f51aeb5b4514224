package store

import (
	"errors"
	"slices"
	"strings"
	"time"
)

// Sentinel errors. Protocol packages translate them at their edge.
var (
	ErrNoMailbox    = errors.New("no such mailbox")
	ErrExists       = errors.New("mailbox already exists")
	ErrHasChildren  = errors.New("mailbox has children")
	ErrInboxDelete  = errors.New("INBOX cannot be deleted")
	ErrBadName      = errors.New("invalid mailbox name")
	ErrNoMessage    = errors.New("no such message")
	ErrOverQuota    = errors.New("quota exceeded")
	ErrTooMany      = errors.New("too many mailboxes")
	ErrLocked       = errors.New("data directory is in use by another process")
	ErrTooLarge     = errors.New("message too large")
	ErrRenameInside = errors.New("cannot rename a mailbox into itself")
	// ErrNoSpace: the data directory's filesystem is below the free-space
	// reserve; nothing that adds content is written until it recovers.
	ErrNoSpace = errors.New("storage is full")
)

// Delimiter separates hierarchy levels in mailbox names.
const Delimiter = '/'

// Inbox is the canonical name of every account's inbox.
const Inbox = "INBOX"

// MailboxID identifies a mailbox for its whole life; it survives renames.
type MailboxID uint64

// UID is a message's unique identifier within its mailbox.
type UID uint32

// BodyID numbers a stored body. Bodies are found by content through an
// index of their SHA-256 (kindBodyHash), so records that refer to a body
// carry a short number rather than the 32-byte hash.
type BodyID uint64

// Special-use attributes (RFC 6154) of the mailboxes every login account
// gets on first use.
const (
	SpecialSent    = `\Sent`
	SpecialDrafts  = `\Drafts`
	SpecialTrash   = `\Trash`
	SpecialJunk    = `\Junk`
	SpecialArchive = `\Archive`
)

// DefaultMailboxes are created for each login account on first use.
var defaultMailboxes = []struct{ name, use string }{
	{"Sent", SpecialSent},
	{"Drafts", SpecialDrafts},
	{"Trash", SpecialTrash},
	{"Junk", SpecialJunk},
	{"Archive", SpecialArchive},
}

// Mailbox is a mailbox's state.
type Mailbox struct {
	ID            MailboxID
	Account       string
	Name          string
	SpecialUse    string
	UIDValidity   uint32
	UIDNext       UID
	HighestModSeq uint64
	Messages      uint32
	Unseen        uint32
	Size          int64 // logical bytes of its messages
	deleted       bool
}

// Flag bits for the system flags; keywords are kept by name.
type SysFlags uint8

const (
	FlagSeen SysFlags = 1 << iota
	FlagAnswered
	FlagFlagged
	FlagDeleted
	FlagDraft
)

var sysFlagNames = []struct {
	bit  SysFlags
	name string
}{
	{FlagSeen, `\Seen`}, {FlagAnswered, `\Answered`}, {FlagFlagged, `\Flagged`},
	{FlagDeleted, `\Deleted`}, {FlagDraft, `\Draft`},
}

// Flags is a message's flag set.
type Flags struct {
	Sys      SysFlags
	Keywords []string // sorted, no duplicates, no system flags
}

// ParseFlags builds a flag set from names such as `\Seen` and `$Forwarded`.
// System flag names are matched case-insensitively; \Recent is ignored.
func ParseFlags(names []string) Flags {
	var f Flags
	for _, n := range names {
		f.add(n)
	}
	return f
}

func (f *Flags) add(name string) {
	for _, s := range sysFlagNames {
		if strings.EqualFold(name, s.name) {
			f.Sys |= s.bit
			return
		}
	}
	if strings.HasPrefix(name, `\`) {
		return // \Recent and unknown system flags are not stored
	}
	i, found := slices.BinarySearch(f.Keywords, name)
	if !found {
		f.Keywords = slices.Insert(f.Keywords, i, name)
	}
}

// Names returns the flags as IMAP-style names, system flags first.
func (f Flags) Names() []string {
	out := make([]string, 0, 5+len(f.Keywords))
	for _, s := range sysFlagNames {
		if f.Sys&s.bit != 0 {
			out = append(out, s.name)
		}
	}
	return append(out, f.Keywords...)
}

// Has reports whether the named flag is set.
func (f Flags) Has(name string) bool {
	for _, s := range sysFlagNames {
		if strings.EqualFold(name, s.name) {
			return f.Sys&s.bit != 0
		}
	}
	_, found := slices.BinarySearch(f.Keywords, name)
	return found
}

// FlagOp says how StoreFlags combines flags.
type FlagOp int

const (
	FlagsSet FlagOp = iota
	FlagsAdd
	FlagsRemove
)

func (f Flags) apply(op FlagOp, g Flags) Flags {
	switch op {
	case FlagsSet:
		return Flags{Sys: g.Sys, Keywords: slices.Clone(g.Keywords)}
	case FlagsAdd:
		out := Flags{Sys: f.Sys | g.Sys, Keywords: slices.Clone(f.Keywords)}
		for _, k := range g.Keywords {
			out.add(k)
		}
		return out
	default:
		out := Flags{Sys: f.Sys &^ g.Sys}
		for _, k := range f.Keywords {
			if !slices.Contains(g.Keywords, k) {
				out.Keywords = append(out.Keywords, k)
			}
		}
		return out
	}
}

func (f Flags) equal(g Flags) bool {
	return f.Sys == g.Sys && slices.Equal(f.Keywords, g.Keywords)
}

// Message is a message's record in one mailbox. Its content is Prefix
// followed by the body Body; Size counts both.
type Message struct {
	UID          UID
	Flags        Flags
	InternalDate time.Time
	ModSeq       uint64
	Size         int64
	Body         BodyID
	// Prefix holds this delivery's own header lines (Return-Path,
	// Delivered-To, Received), kept out of the shared body.
	Prefix []byte
	// SaveDate is when the message came into this mailbox (delivery,
	// APPEND, COPY or MOVE; RFC 8514); zero for messages stored before it
	// was recorded.
	SaveDate time.Time
}

// NewMessage is a message to append or deliver.
type NewMessage struct {
	Flags        Flags
	InternalDate time.Time
	Prefix       []byte
	// SeenBy, for AppendMany: the user appending it to a mailbox where
	// they keep a private \Seen (seen.go); a \Seen in Flags is then
	// theirs, not the record's.
	SeenBy string
}

// Change is published after a commit, once per mailbox it touched, in the
// mailbox's commit order.
type Change struct {
	Mailbox MailboxID
	ModSeq  uint64
	Kind    ChangeKind
	// Messages: appended messages (ChangeAppend) or their new flags
	// (ChangeFlags; ChangeSeen: as User sees them).
	Messages []Message
	// User: whose private \Seen changed (ChangeSeen), lower case.
	User string
	// SeenOnly: a ChangeFlags whose messages changed only \Seen in their
	// records; a reader keeping a private \Seen sees nothing new in it.
	SeenOnly bool
	// UIDs: expunged messages (ChangeExpunge), ascending.
	UIDs []UID
	// Origin is the value the writer attached with WithOrigin, if any.
	Origin any
}

// ChangeKind says what a Change is.
type ChangeKind int

const (
	ChangeAppend ChangeKind = iota
	ChangeFlags
	ChangeExpunge
	// ChangeDeleted: the mailbox was deleted (or INBOX renamed away).
	ChangeDeleted
	// ChangeSeen: User's private \Seen of Messages changed (seen.go);
	// nobody else's view of them did.
	ChangeSeen
)

// NormalizeName returns the canonical form of a mailbox name: "INBOX" in
// any case, as the whole name or as its first level, becomes "INBOX"; a
// trailing delimiter is dropped. It returns ErrBadName for empty levels.
func NormalizeName(name string) (string, error) {
	name = strings.TrimSuffix(name, string(Delimiter))
	if name == "" || strings.Contains(name, "//") || strings.HasPrefix(name, "/") {
		return "", ErrBadName
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return "", ErrBadName
		}
	}
	first, rest, hasRest := strings.Cut(name, string(Delimiter))
	if strings.EqualFold(first, Inbox) {
		if hasRest {
			return Inbox + string(Delimiter) + rest, nil
		}
		return Inbox, nil
	}
	return name, nil
}
