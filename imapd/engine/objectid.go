package engine

import (
	"encoding/binary"
	"hash/fnv"
	"strconv"
	"time"

	"mailroom/store"
)

// OBJECTID (RFC 8474). A MAILBOXID names a mailbox for its whole life,
// across renames: it is made from the store's mailbox ID, never reused (a
// renamed INBOX keeps its ID under the new name; the new INBOX gets a
// new one, as §4.1 wants). An EMAILID names a message's content, the same
// for its copies and after MOVE: it is made from the body the store
// keeps once and the delivery's own header prefix (two deliveries of one
// list post differ in that prefix, so they are two emails). THREADID is
// NIL: threads are not tracked (§5.2 allows it).

// mailboxID is a mailbox's MAILBOXID.
func mailboxID(id store.MailboxID) string { return "M" + strconv.FormatUint(uint64(id), 36) }

// emailID is a message's EMAILID.
func emailID(m *store.Message) string {
	s := "E" + strconv.FormatUint(uint64(m.Body), 36)
	if len(m.Prefix) > 0 {
		h := fnv.New64a()
		h.Write(m.Prefix)
		s += "_" + strconv.FormatUint(binary.BigEndian.Uint64(h.Sum(nil)), 36)
	}
	return s
}

// saveDate is a message's save date for SEARCH (RFC 8514): when it came
// into the mailbox, or, for messages stored before that was recorded,
// its internal date.
func saveDate(m *store.Message) time.Time {
	if m.SaveDate.IsZero() {
		return m.InternalDate
	}
	return m.SaveDate
}
