package engine

import (
	"errors"
	"strconv"
	"strings"

	"mailroom/acl"
	"mailroom/imapd/proto"
	"mailroom/store"
)

// METADATA and METADATA-SERVER (RFC 5464): annotations on mailboxes and
// on the server, /private ones per user and /shared ones per mailbox,
// kept in the store (store/metadata.go) by mailbox id.

// Limits. RFC 5464 §4.1 asks for at least 1024 octets per value and 10
// entries per mailbox; an account's entries (its private ones anywhere
// and the shared ones of its mailboxes) share one budget, so no user can
// fill the disk with annotations (§7).
const (
	maxMetadataValue   = 16 << 10
	maxMetadataEntries = 1000
	maxMetadataBytes   = 1 << 20
	// maxEntryName bounds one entry name; RFC 5464 sets no limit.
	maxEntryName = 512
	// maxEntrySpecifiers bounds the entries one GETMETADATA names.
	maxEntrySpecifiers = 100
)

// seenEntry says whether \Seen on a mailbox is shared by everyone who
// reads it or kept per user (seen.go): "shared" or "private"; absent, the
// configuration decides. The owner or a holder of "a" sets it.
const (
	mailroomVendor = "vendor/mailroom"
	seenEntry      = acl.SeenEntry
)

// metadataLiteral refuses, before it is sent, a SETMETADATA literal that
// could not be stored: a value over the limit (RFC 5464 §4.3's
// [METADATA MAXSIZE n]).
func metadataLiteral(p proto.Pending) error {
	if p.Name == "SETMETADATA" && p.Size > maxMetadataValue {
		return &proto.Error{Tag: p.Tag, Code: metadataMaxSize(), Text: "Annotation value too large", NO: true}
	}
	return nil
}

func metadataMaxSize() string { return "METADATA MAXSIZE " + strconv.Itoa(maxMetadataValue) }

// entryName checks an entry name (RFC 5464 §3.2): "/", then components
// separated by single slashes, none empty; printable ASCII without "*"
// and "%". The first component is "private" or "shared"; a name to be
// set has at least two components, four under vendor/. It returns the
// name's scope word in lower case.
func entryName(name string, set bool) (private bool, err error) {
	if len(name) < 2 || len(name) > maxEntryName || name[0] != '/' || name[len(name)-1] == '/' || strings.Contains(name, "//") {
		return false, syntax("Invalid entry name")
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c < 0x20 || c >= 0x7f || c == '*' || c == '%' {
			return false, syntax("Invalid entry name")
		}
	}
	parts := strings.Split(strings.ToLower(name[1:]), "/")
	switch parts[0] {
	case "private":
		private = true
	case "shared":
	default:
		return false, syntax("Entry names start with /private or /shared")
	}
	if set && (len(parts) < 2 || parts[1] == "vendor" && len(parts) < 4) {
		return false, syntax("Invalid entry name")
	}
	return private, nil
}

// metadataTarget is the mailbox (or the server) a command names.
type metadataTarget struct {
	name  string // as the client wrote it; "" for the server
	place *place // nil for the server
}

func (c *conn) metadataTarget(v proto.Value) (*metadataTarget, error) {
	name, err := c.mailboxArg(v)
	if err != nil {
		return nil, err
	}
	if name == "" {
		return &metadataTarget{}, nil
	}
	p, err := c.locate(name)
	if err != nil {
		return nil, err
	}
	// RFC 5464 §3.3: "l" (locate checked it) and any of "rswip".
	if p.rights&(acl.RightRead|acl.RightSeen|acl.RightWrite|acl.RightInsert|acl.RightPost) == 0 {
		return nil, no("NOPERM", "You may not use the annotations of "+p.display)
	}
	return &metadataTarget{name: p.display, place: p}, nil
}

// scope is where entry name of the target lives: per user for /private.
func (c *conn) scope(t *metadataTarget, private bool) store.MetadataScope {
	var sc store.MetadataScope
	if t.place != nil {
		sc.Mailbox = t.place.mailbox.ID
	}
	if private {
		sc.User = c.account.Address
	}
	return sc
}

// cmdGetMetadata: GETMETADATA [options] mailbox [options] entries
// (RFC 5464 §4.2). The grammar puts the options first, the RFC's
// examples after the mailbox; both are accepted. Entries may be one name
// or a list (or, as in §4.4.1's example, several names).
func cmdGetMetadata(c *conn, cmd *proto.Command) error {
	args := cmd.Args
	var opts *proto.Value
	if len(args) > 0 && args[0].Kind == proto.List {
		opts, args = &args[0], args[1:]
	}
	if len(args) < 2 {
		return syntax("GETMETADATA takes a mailbox and entries")
	}
	mbox := args[0]
	args = args[1:]
	if opts == nil && args[0].Kind == proto.List && len(args) > 1 {
		opts, args = &args[0], args[1:]
	}
	maxSize, depth := int64(-1), 0
	if opts != nil {
		var err error
		if maxSize, depth, err = getMetadataOptions(opts.List); err != nil {
			return err
		}
	}
	var names []string
	for _, a := range args {
		items := []proto.Value{a}
		if a.Kind == proto.List {
			items = a.List
		}
		for _, it := range items {
			n, ok := it.AString()
			if !ok {
				return syntax("Expected entry names")
			}
			if _, err := entryName(n, false); err != nil {
				return err
			}
			names = append(names, n)
		}
	}
	if len(names) == 0 || len(names) > maxEntrySpecifiers {
		return syntax("GETMETADATA takes 1 to " + strconv.Itoa(maxEntrySpecifiers) + " entry names")
	}
	t, err := c.metadataTarget(mbox)
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	var found []store.MetadataEntry
	var longest int64
	for _, n := range names {
		private, _ := entryName(n, false)
		hit := false
		err := c.srv.opts.Store.GetMetadata(c.ctx, c.scope(t, private), n, depth, func(e store.MetadataEntry) error {
			hit = true
			k := strings.ToLower(e.Name)
			if seen[k] {
				return nil
			}
			seen[k] = true
			if maxSize >= 0 && int64(len(e.Value)) > maxSize {
				longest = max(longest, int64(len(e.Value)))
				return nil
			}
			found = append(found, e)
			return nil
		})
		if err != nil {
			return err
		}
		// A named entry that does not exist (nor anything below it) is
		// answered NIL, so the client learns it is absent.
		if k := strings.ToLower(n); !hit && !seen[k] && strings.Count(n, "/") > 1 {
			seen[k] = true
			found = append(found, store.MetadataEntry{Name: n})
		}
	}
	c.enc.Raw("* METADATA ")
	if t.place == nil {
		c.enc.String("")
	} else {
		c.mailboxName(t.name)
	}
	c.enc.SP().Open()
	for i, e := range found {
		if i > 0 {
			c.enc.SP()
		}
		c.enc.Atom(e.Name).SP()
		switch {
		case e.Value == nil:
			c.enc.Nil()
		case proto.HasNUL(e.Value):
			c.enc.Literal8(e.Value)
		default:
			c.enc.Bytes(e.Value)
		}
	}
	c.enc.Close().CRLF()
	if longest > 0 {
		return ok("METADATA LONGENTRIES "+strconv.FormatInt(longest, 10), "GETMETADATA completed")
	}
	return nil
}

// getMetadataOptions reads MAXSIZE n and DEPTH 0/1/infinity (RFC 5464
// §4.2.1, §4.2.2); -1 is no MAXSIZE and infinite depth.
func getMetadataOptions(list []proto.Value) (maxSize int64, depth int, err error) {
	maxSize = -1
	if len(list)%2 != 0 {
		return 0, 0, syntax("GETMETADATA options are MAXSIZE n and DEPTH d")
	}
	for i := 0; i < len(list); i += 2 {
		switch list[i].Upper() {
		case "MAXSIZE":
			n, ok := list[i+1].Number()
			if !ok {
				return 0, 0, syntax("MAXSIZE takes a number")
			}
			maxSize = int64(n)
		case "DEPTH":
			switch list[i+1].Upper() {
			case "0":
				depth = 0
			case "1":
				depth = 1
			case "INFINITY":
				depth = -1
			default:
				return 0, 0, syntax("DEPTH is 0, 1 or infinity")
			}
		default:
			return 0, 0, syntax("Unknown GETMETADATA option")
		}
	}
	return maxSize, depth, nil
}

// cmdSetMetadata: SETMETADATA mailbox (entry value ...) (RFC 5464 §4.3).
// NIL removes an entry. All are set or none. Shared server entries are
// the operator's; a mailbox's shared entries need "w" there besides the
// rights of §3.3, so a reader cannot change what every reader sees.
func cmdSetMetadata(c *conn, cmd *proto.Command) error {
	if len(cmd.Args) != 2 || cmd.Args[1].Kind != proto.List || len(cmd.Args[1].List) == 0 || len(cmd.Args[1].List)%2 != 0 {
		return syntax("SETMETADATA takes a mailbox and a list of entries and values")
	}
	list := cmd.Args[1].List
	type pending struct {
		name    string
		private bool
		value   []byte
	}
	var sets []pending
	for i := 0; i < len(list); i += 2 {
		name, ok := list[i].AString()
		if !ok {
			return syntax("Expected an entry name")
		}
		private, err := entryName(name, true)
		if err != nil {
			return err
		}
		var value []byte
		switch v := list[i+1]; {
		case v.IsNil():
		case v.Kind == proto.Quoted || v.Kind == proto.Literal:
			value = v.Bytes
			if value == nil {
				value = []byte{}
			}
		default:
			return syntax("An annotation value is a string, a literal or NIL")
		}
		if len(value) > maxMetadataValue {
			return no(metadataMaxSize(), "Annotation value too large")
		}
		sets = append(sets, pending{name, private, value})
	}
	t, err := c.metadataTarget(cmd.Args[0])
	if err != nil {
		return err
	}
	writes := make([]store.MetadataWrite, 0, len(sets))
	for _, s := range sets {
		if err := c.mayAnnotate(t, s.name, s.private, s.value); err != nil {
			return err
		}
		writes = append(writes, store.MetadataWrite{Scope: c.scope(t, s.private), Name: s.name, Value: s.value})
	}
	err = c.srv.opts.Store.SetMetadata(c.ctx, writes, store.MetadataLimits{Entries: maxMetadataEntries, Bytes: maxMetadataBytes})
	switch {
	case errors.Is(err, store.ErrMetadataTooMany):
		return no("METADATA TOOMANY", "Too many annotations")
	case errors.Is(err, store.ErrMetadataFull):
		return no("METADATA TOOMANY", "No room for more annotation data")
	}
	return err
}

// mayAnnotate checks one write of SETMETADATA beyond the entry syntax.
func (c *conn) mayAnnotate(t *metadataTarget, name string, private bool, value []byte) error {
	lower := strings.ToLower(name)
	if t.place == nil {
		if !private {
			return no("NOPERM", "Shared server annotations are set by the operator")
		}
	} else if !private && lower != seenEntry {
		if err := need(t.place, acl.RightWrite, "change shared annotations"); err != nil {
			return err
		}
	}
	scope := "/shared/"
	if private {
		scope = "/private/"
	}
	if !strings.HasPrefix(lower, scope+mailroomVendor+"/") {
		return nil
	}
	// Mailroom's own entries: only the ones it knows, with their values.
	if lower != seenEntry || t.place == nil {
		return no("CANNOT", "This annotation is reserved")
	}
	if err := need(t.place, acl.RightAdmin, "change how \\Seen is kept"); err != nil {
		return err
	}
	if value != nil && string(value) != acl.SeenShared && string(value) != acl.SeenPrivate {
		return no("CANNOT", seenEntry+" is \"shared\" (one \\Seen for everyone) or \"private\" (each user's own), or NIL")
	}
	return nil
}
