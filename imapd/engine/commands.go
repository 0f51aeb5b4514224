package engine

import (
	"strings"

	"mailroom/imapd/proto"
	"mailroom/store"
)

// command is one entry of the dispatch table: the states it is allowed in
// and its handler.
type command struct {
	states state
	run    func(c *conn, cmd *proto.Command) error
}

// lookup is the dispatch table (RFC 9051 §6): every command the engine
// serves, by name, with the states that allow it. A switch rather than a
// package-level map, so the table is code the compiler sees, not state.
func lookup(name string) (command, bool) {
	switch name {
	// Any state (§6.1).
	case "CAPABILITY":
		return command{anyState, cmdCapability}, true
	case "NOOP":
		return command{anyState, cmdNoop}, true
	case "LOGOUT":
		return command{anyState, cmdLogout}, true
	case "ID":
		return command{anyState, cmdID}, true
	// Not authenticated (§6.2).
	case "STARTTLS":
		return command{notAuthenticated, cmdStartTLS}, true
	case "LOGIN":
		return command{notAuthenticated, cmdLogin}, true
	case "AUTHENTICATE":
		return command{notAuthenticated, cmdAuthenticate}, true
	// Authenticated (§6.3).
	case "ENABLE":
		return command{authenticated, cmdEnable}, true
	case "NAMESPACE":
		return command{authed, cmdNamespace}, true
	case "UNAUTHENTICATE":
		return command{authed, cmdUnauthenticate}, true
	}
	return command{}, false
}

// capabilities lists what this connection may use now (RFC 9051 §7.2.2):
// STARTTLS before TLS and login, passwords only where they are allowed.
// The list grows as command families move to the engine.
func (c *conn) capabilities() []string {
	caps := []string{"IMAP4rev1", "LITERAL+", "SASL-IR", "ID", "ENABLE", "NAMESPACE", "UNAUTHENTICATE", "UTF8=ACCEPT"}
	if c.state == notAuthenticated {
		if !c.secure && c.srv.opts.TLSConfig != nil {
			caps = append(caps, "STARTTLS")
		}
		if c.passwordsAllowed() {
			caps = append(caps, "AUTH=PLAIN", "AUTH=LOGIN")
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
	otherPrefix  = "Other Users/"
	sharedPrefix = "Shared/"
)

func cmdNamespace(c *conn, cmd *proto.Command) error {
	if len(cmd.Args) > 0 {
		return syntax("NAMESPACE takes no arguments")
	}
	d := string(store.Delimiter)
	c.enc.Raw(`* NAMESPACE (("" "` + d + `")) (("` + otherPrefix + `" "` + d + `")) (("` + sharedPrefix + `" "` + d + `"))`).CRLF()
	return nil
}
