package store

import (
	"encoding/binary"
	"errors"
	"strings"
)

// Key kinds. Every key starts with one of these bytes; integers inside
// keys are big-endian so that Badger's order is numeric order.
const (
	kindMeta    byte = 0x01 // kindMeta|name -> value
	kindName    byte = 0x02 // kindName|account|0|mailbox name -> mailbox id
	kindMailbox byte = 0x03 // kindMailbox|id -> mailbox record
	kindMessage byte = 0x04 // kindMessage|mailbox id|uid -> message record
	kindBody    byte = 0x05 // kindBody|body id -> body record
	kindRef     byte = 0x06 // kindRef|body id -> reference count, size, sha256
	kindSub     byte = 0x07 // kindSub|account|0|mailbox name -> ""
	kindUsage   byte = 0x08 // kindUsage|account -> bytes used
	kindACL     byte = 0x09 // kindACL|mailbox id|identifier -> rights
	kindQueue   byte = 0x0A // kindQueue|id -> outbound queue record
	kindHash    byte = 0x0B // kindHash|sha256 -> body id
	kindChunk   byte = 0x0C // kindChunk|body id|chunk number (uint32) -> bytes of a chunked body
	kindInfo    byte = 0x0D // kindInfo|body id|tag -> data derived from the body (BodyInfo)
)

var (
	metaNextMailbox = []byte{kindMeta, 'm'}
	metaUIDValidity = []byte{kindMeta, 'v'}
	metaNextQueue   = []byte{kindMeta, 'q'}
	metaNextBody    = []byte{kindMeta, 'b'} // the last body ID, before bodySequence
	// bodySequence hands out body IDs outside transactions (a Badger
	// Sequence): a counter read and written by every transaction that
	// stores a new body made concurrent deliveries to different
	// mailboxes conflict, over and over under load.
	bodySequence = []byte{kindMeta, 'B'}
)

func accountKey(kind byte, account string) []byte {
	k := make([]byte, 0, 2+len(account))
	k = append(k, kind)
	k = append(k, strings.ToLower(account)...)
	return append(k, 0)
}

func nameKey(kind byte, account, name string) []byte {
	return append(accountKey(kind, account), name...)
}

func usageKey(account string) []byte { return accountKey(kindUsage, account) }

func mailboxKey(id MailboxID) []byte {
	return binary.BigEndian.AppendUint64([]byte{kindMailbox}, uint64(id))
}

func messagePrefix(id MailboxID) []byte {
	return binary.BigEndian.AppendUint64([]byte{kindMessage}, uint64(id))
}

func messageKey(id MailboxID, uid UID) []byte {
	return binary.BigEndian.AppendUint32(messagePrefix(id), uint32(uid))
}

func uidFromKey(k []byte) UID { return UID(binary.BigEndian.Uint32(k[9:])) }

func infoKey(id BodyID, tag byte) []byte {
	return append(binary.BigEndian.AppendUint64([]byte{kindInfo}, uint64(id)), tag)
}

func bodyKey(id BodyID) []byte  { return binary.BigEndian.AppendUint64([]byte{kindBody}, uint64(id)) }
func refKey(id BodyID) []byte   { return binary.BigEndian.AppendUint64([]byte{kindRef}, uint64(id)) }
func hashKey(h [32]byte) []byte { return append([]byte{kindHash}, h[:]...) }

func chunkKey(id BodyID, n uint32) []byte {
	return binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint64([]byte{kindChunk}, uint64(id)), n)
}

// bodyIDFromKey reads the id of a kindBody or kindRef key.
func bodyIDFromKey(k []byte) BodyID { return BodyID(binary.BigEndian.Uint64(k[1:])) }

// enc appends fields to a byte slice.
type enc struct{ b []byte }

func (e *enc) uvarint(v uint64) { e.b = binary.AppendUvarint(e.b, v) }
func (e *enc) varint(v int64)   { e.b = binary.AppendVarint(e.b, v) }
func (e *enc) byte1(v byte)     { e.b = append(e.b, v) }
func (e *enc) bytes(v []byte)   { e.uvarint(uint64(len(v))); e.b = append(e.b, v...) }
func (e *enc) str(v string)     { e.uvarint(uint64(len(v))); e.b = append(e.b, v...) }

var errCorrupt = errors.New("store: corrupt record")

// dec reads fields written by enc. The first error sticks; callers check
// err once at the end.
type dec struct {
	b   []byte
	err error
}

func (d *dec) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errCorrupt
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *dec) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = errCorrupt
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *dec) byte1() byte {
	if d.err != nil || len(d.b) < 1 {
		d.err = errCorrupt
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *dec) bytes() []byte {
	n := d.uvarint()
	if d.err != nil || uint64(len(d.b)) < n {
		d.err = errCorrupt
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *dec) str() string { return string(d.bytes()) }
