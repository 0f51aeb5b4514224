package engine

import (
	"strings"

	"mailroom/acl"
	"mailroom/imapd/proto"
	"mailroom/store"
)

// command is one entry of the dispatch table: the states it is allowed in
// and its handler.
type command struct {
	states state
	run    func(c *conn, cmd *proto.Command) error
	// keepNumbers: no EXPUNGE may be sent with this command's responses
	// (FETCH, STORE, SEARCH by sequence number; RFC 9051 §7.5.1).
	keepNumbers bool
	// seqNumbers: the command takes message sequence numbers, which
	// UIDONLY refuses (RFC 9586).
	seqNumbers bool
}

// lookup is the dispatch table (RFC 9051 §6): every command the engine
// serves, by name, with the states that allow it. A switch rather than a
// package-level map, so the table is code the compiler sees, not state.
func lookup(name string) (command, bool) {
	switch name {
	// Any state (§6.1).
	case "CAPABILITY":
		return command{states: anyState, run: cmdCapability}, true
	case "NOOP":
		return command{states: anyState, run: cmdNoop}, true
	case "LOGOUT":
		return command{states: anyState, run: cmdLogout}, true
	case "ID":
		return command{states: anyState, run: cmdID}, true
	// Not authenticated (§6.2).
	case "STARTTLS":
		return command{states: notAuthenticated, run: cmdStartTLS}, true
	case "LOGIN":
		return command{states: notAuthenticated, run: cmdLogin}, true
	case "AUTHENTICATE":
		return command{states: notAuthenticated, run: cmdAuthenticate}, true
	// Authenticated (§6.3).
	case "ENABLE":
		return command{states: authenticated, run: cmdEnable}, true
	case "NAMESPACE":
		return command{states: authed, run: cmdNamespace}, true
	case "NOTIFY":
		return command{states: authed, run: cmdNotify}, true
	case "UNAUTHENTICATE":
		return command{states: authed, run: cmdUnauthenticate}, true
	case "SELECT":
		return command{states: authed, run: cmdSelect}, true
	case "EXAMINE":
		return command{states: authed, run: cmdExamine}, true
	case "IDLE":
		return command{states: authed, run: cmdIdle}, true
	case "LIST":
		return command{states: authed, run: cmdList}, true
	case "LSUB":
		return command{states: authed, run: cmdLsub}, true
	case "STATUS":
		return command{states: authed, run: cmdStatus}, true
	case "CREATE":
		return command{states: authed, run: cmdCreate}, true
	case "DELETE":
		return command{states: authed, run: cmdDelete}, true
	case "RENAME":
		return command{states: authed, run: cmdRename}, true
	case "SUBSCRIBE":
		return command{states: authed, run: cmdSubscribe}, true
	case "UNSUBSCRIBE":
		return command{states: authed, run: cmdUnsubscribe}, true
	case "APPEND":
		return command{states: authed, run: cmdAppend}, true
	// RFC 9208.
	case "GETQUOTAROOT":
		return command{states: authed, run: cmdGetQuotaRoot}, true
	case "GETQUOTA":
		return command{states: authed, run: cmdGetQuota}, true
	case "SETQUOTA":
		return command{states: authed, run: cmdSetQuota}, true
	// RFC 4314.
	case "SETACL":
		return command{states: authed, run: cmdSetACL}, true
	case "DELETEACL":
		return command{states: authed, run: cmdDeleteACL}, true
	case "GETACL":
		return command{states: authed, run: cmdGetACL}, true
	case "LISTRIGHTS":
		return command{states: authed, run: cmdListRights}, true
	case "MYRIGHTS":
		return command{states: authed, run: cmdMyRights}, true
	// RFC 4978.
	case "COMPRESS":
		return command{states: authed, run: cmdCompress}, true
	// RFC 5464.
	case "GETMETADATA":
		return command{states: authed, run: cmdGetMetadata}, true
	case "SETMETADATA":
		return command{states: authed, run: cmdSetMetadata}, true
	// Selected (§6.4).
	case "CHECK":
		return command{states: selected, run: cmdNoop}, true
	case "CLOSE":
		return command{states: selected, run: cmdClose}, true
	case "UNSELECT":
		return command{states: selected, run: cmdUnselect}, true
	case "EXPUNGE":
		return command{states: selected, run: cmdExpunge}, true
	case "UID EXPUNGE":
		return command{states: selected, run: cmdUIDExpunge}, true
	case "FETCH":
		return command{states: selected, run: cmdFetch, keepNumbers: true, seqNumbers: true}, true
	case "UID FETCH":
		return command{states: selected, run: cmdUIDFetch}, true
	case "STORE":
		return command{states: selected, run: cmdStore, keepNumbers: true, seqNumbers: true}, true
	case "UID STORE":
		return command{states: selected, run: cmdUIDStore}, true
	case "SEARCH":
		return command{states: selected, run: cmdSearch, keepNumbers: true, seqNumbers: true}, true
	case "UID SEARCH":
		return command{states: selected, run: cmdUIDSearch}, true
	case "SORT":
		return command{states: selected, run: cmdSort, keepNumbers: true, seqNumbers: true}, true
	case "UID SORT":
		return command{states: selected, run: cmdUIDSort}, true
	case "CANCELUPDATE":
		return command{states: selected, run: cmdCancelUpdate}, true
	case "THREAD":
		return command{states: selected, run: cmdThread, keepNumbers: true, seqNumbers: true}, true
	case "UID THREAD":
		return command{states: selected, run: cmdUIDThread}, true
	case "COPY":
		return command{states: selected, run: cmdCopy, seqNumbers: true}, true
	case "UID COPY":
		return command{states: selected, run: cmdUIDCopy}, true
	case "MOVE":
		return command{states: selected, run: cmdMove, seqNumbers: true}, true
	case "UID MOVE":
		return command{states: selected, run: cmdUIDMove}, true
	}
	return command{}, false
}

// capabilities lists what this connection may use now (RFC 9051 §7.2.2):
// STARTTLS before TLS and login, passwords only where they are allowed.
// The list grows as command families move to the engine.
func (c *conn) capabilities() []string {
	caps := []string{"IMAP4rev1", "IMAP4rev2", "LITERAL+", "SASL-IR", "ID", "ENABLE", "IDLE", "NAMESPACE", "UNSELECT", "UIDPLUS",
		"MOVE", "ESEARCH", "SEARCHRES", "LIST-EXTENDED", "LIST-STATUS", "LIST-MYRIGHTS", "SPECIAL-USE", "CREATE-SPECIAL-USE", "CHILDREN",
		"STATUS=SIZE", "BINARY", "UNAUTHENTICATE", "UTF8=ACCEPT", "ACL", "RIGHTS=texk", "QUOTA", "QUOTA=RES-STORAGE", "QUOTA=RES-MESSAGE", "CONDSTORE", "QRESYNC", "UIDONLY", "CONTEXT=SEARCH", "CONTEXT=SORT", "NOTIFY", "OBJECTID", "SAVEDATE", "SORT", "SORT=DISPLAY", "ESORT", "MULTIAPPEND", "CATENATE", "THREAD=ORDEREDSUBJECT", "THREAD=REFERENCES", "WITHIN", "PREVIEW",
		"METADATA", "METADATA-SERVER"}
	if c.srv.opts.AppendLimit > 0 {
		caps = append(caps, "APPENDLIMIT="+formatUint(uint64(c.srv.opts.AppendLimit)))
	}
	if c.state != notAuthenticated && !c.compressed() {
		caps = append(caps, "COMPRESS=DEFLATE")
	}
	if c.state == notAuthenticated {
		if !c.secure && c.srv.opts.TLSConfig != nil {
			caps = append(caps, "STARTTLS")
		}
		if c.passwordsAllowed() {
			caps = append(caps, "AUTH=PLAIN", "AUTH=LOGIN", "AUTH="+scramMech)
		} else {
			caps = append(caps, "LOGINDISABLED")
		}
	}
	return caps
}

func (c *conn) passwordsAllowed() bool { return c.secure || c.lopts.InsecureAuth }

func cmdCapability(c *conn, cmd *proto.Command) error {
	if len(cmd.Args) > 0 {
		return syntax("CAPABILITY takes no arguments")
	}
	c.enc.Raw("* CAPABILITY ").Raw(strings.Join(c.capabilities(), " ")).CRLF()
	return nil
}

func cmdNoop(c *conn, cmd *proto.Command) error {
	if len(cmd.Args) > 0 {
		return syntax("NOOP takes no arguments")
	}
	return nil
}

func cmdLogout(c *conn, cmd *proto.Command) error {
	if len(cmd.Args) > 0 {
		return syntax("LOGOUT takes no arguments")
	}
	if c.sel != nil {
		c.deselect() // nothing of the mailbox after BYE
	}
	c.enc.Raw("* BYE Logging out").CRLF()
	c.state = loggedOut
	return nil
}

// ID limits (RFC 2971 §3.3: at most 30 pairs, keys up to 30 octets,
// values up to 1024).
const (
	maxIDPairs = 30
	maxIDValue = 1024
)

// cmdID logs what the client says it is and says what the server is
// (RFC 2971).
func cmdID(c *conn, cmd *proto.Command) error {
	if len(cmd.Args) != 1 {
		return syntax("ID takes one argument: NIL or a list")
	}
	arg := cmd.Args[0]
	if !arg.IsNil() {
		if arg.Kind != proto.List || len(arg.List)%2 != 0 || len(arg.List) > 2*maxIDPairs {
			return syntax("ID takes NIL or a list of up to 30 field-value pairs")
		}
		var attrs []any
		for i := 0; i < len(arg.List); i += 2 {
			k, ok1 := arg.List[i].String()
			v, ok2 := arg.List[i+1].String()
			if arg.List[i+1].IsNil() {
				v, ok2 = "", true
			}
			if !ok1 || !ok2 || len(k) > 30 || len(v) > maxIDValue {
				return syntax("ID fields and values are strings (or NIL values)")
			}
			attrs = append(attrs, strings.ToLower(k), v)
		}
		c.log.Debug("client id", attrs...)
	}
	c.enc.Raw(`* ID ("name" "Mailroom")`).CRLF()
	return nil
}

// cmdEnable turns on extensions that change responses (RFC 5161).
func cmdEnable(c *conn, cmd *proto.Command) error {
	if len(cmd.Args) == 0 {
		return syntax("ENABLE needs at least one capability")
	}
	var enabled []string
	for _, a := range cmd.Args {
		if a.Kind != proto.Atom {
			return syntax("ENABLE takes capability names")
		}
		switch a.Upper() {
		case "CONDSTORE":
			if !c.condstore {
				if err := c.enableCondstore(); err != nil {
					return err
				}
				enabled = append(enabled, "CONDSTORE")
			}
		case "QRESYNC":
			if !c.qresync {
				if err := c.enableQresync(); err != nil {
					return err
				}
				enabled = append(enabled, "QRESYNC")
			}
		case "IMAP4REV2":
			if !c.rev2 {
				c.rev2, c.utf8, c.enc.UTF8 = true, true, true
				enabled = append(enabled, "IMAP4rev2")
			}
		case "UIDONLY":
			if !c.uidOnly {
				c.uidOnly = true
				enabled = append(enabled, "UIDONLY")
			}
		case "UTF8=ACCEPT":
			if !c.utf8 {
				c.utf8, c.enc.UTF8 = true, true
				enabled = append(enabled, "UTF8=ACCEPT")
			}
		}
	}
	c.enc.Raw("* ENABLED")
	for _, e := range enabled {
		c.enc.SP().Raw(e)
	}
	c.enc.CRLF()
	return nil
}

// Namespace prefixes (RFC 2342): other people's mailboxes and team
// accounts' mailboxes.
const (
	otherPrefix  = acl.OtherPrefix
	sharedPrefix = acl.SharedPrefix
)

func cmdNamespace(c *conn, cmd *proto.Command) error {
	if len(cmd.Args) > 0 {
		return syntax("NAMESPACE takes no arguments")
	}
	d := string(store.Delimiter)
	c.enc.Raw(`* NAMESPACE (("" "` + d + `")) (("` + otherPrefix + `" "` + d + `")) (("` + sharedPrefix + `" "` + d + `"))`).CRLF()
	return nil
}
