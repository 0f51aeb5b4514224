package engine

import "mailroom/store"

// UIDONLY (RFC 9586): once a client enables it, it names messages by UID
// only and the server never sends a message sequence number. Commands
// taking sequence numbers (FETCH, STORE, SEARCH, SORT, THREAD, COPY,
// MOVE), a SEARCH key that is a sequence set, and QRESYNC's sequence
// match data are refused with BAD [UIDREQUIRED]; FETCH responses become
// "* uid UIDFETCH (...)", which carries the UID item only when the client
// asked for it; expunges are announced with VANISHED; SELECT sends no
// [UNSEEN n]. The session still keeps its UID list (EXISTS counts it),
// so nothing else changes.

// errUIDRequired answers a use of sequence numbers under UIDONLY.
func errUIDRequired(what string) *Response {
	return bad("UIDREQUIRED", what+" uses message sequence numbers, which UIDONLY does not allow; use UIDs")
}

// fetchStart writes the start of a FETCH response for the message with
// sequence number seq and UID uid: "* seq FETCH (", or "* uid UIDFETCH ("
// under UIDONLY. It reports whether the UID is already told.
func (c *conn) fetchStart(seq uint32, uid store.UID) bool {
	if c.uidOnly {
		c.enc.Raw("* ").Number(uint64(uid)).Raw(" UIDFETCH (")
		return true
	}
	c.enc.Raw("* ").Number(uint64(seq)).Raw(" FETCH (")
	return false
}
