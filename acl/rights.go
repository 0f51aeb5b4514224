package acl

import (
	"fmt"
	"strings"
)

// Rights is a set of RFC 4314 rights.
type Rights uint16

// The RFC 4314 §2.1 rights.
const (
	RightLookup    Rights = 1 << iota // l: mailbox is visible to LIST/LSUB, SUBSCRIBE
	RightRead                         // r: SELECT, FETCH, SEARCH, COPY from, STATUS
	RightSeen                         // s: keep \Seen across sessions
	RightWrite                        // w: flags other than \Seen and \Deleted
	RightInsert                       // i: APPEND, COPY into
	RightPost                         // p: send mail to the mailbox (and send-as, here)
	RightCreate                       // k: CREATE children, RENAME into
	RightDelete                       // x: DELETE, RENAME away
	RightDeleteMsg                    // t: set/clear \Deleted
	RightExpunge                      // e: EXPUNGE
	RightAdmin                        // a: SETACL, DELETEACL, GETACL, LISTRIGHTS
)

// AllRights is what an owner holds on its own mailboxes.
const AllRights = RightLookup | RightRead | RightSeen | RightWrite | RightInsert | RightPost |
	RightCreate | RightDelete | RightDeleteMsg | RightExpunge | RightAdmin

const rightLetters = "lrswipkxtea"

// ParseRights parses a rights string such as "lrs". The obsolete RFC 2086
// letters are mapped as RFC 4314 §2.1.1 says: "c" to "k", "d" to "xte".
func ParseRights(s string) (Rights, error) {
	var r Rights
	for _, c := range s {
		switch c {
		case 'c':
			r |= RightCreate
			continue
		case 'd':
			r |= RightDelete | RightDeleteMsg | RightExpunge
			continue
		}
		i := strings.IndexRune(rightLetters, c)
		if i < 0 {
			return 0, fmt.Errorf("unknown right %q", c)
		}
		r |= 1 << i
	}
	return r, nil
}

// String returns the rights in RFC 4314 order, e.g. "lrswipkxtea".
func (r Rights) String() string {
	var b strings.Builder
	for i := range len(rightLetters) {
		if r&(1<<i) != 0 {
			b.WriteByte(rightLetters[i])
		}
	}
	return b.String()
}

// Has reports whether r holds every right in want.
func (r Rights) Has(want Rights) bool { return r&want == want }
