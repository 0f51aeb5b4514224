package engine

import (
	"net/url"
	"strconv"
	"strings"

	"mailroom/acl"
	"mailroom/imapd/part"
	"mailroom/imapd/proto"
	"mailroom/store"
)

// CATENATE (RFC 4469): a message APPENDed from TEXT literals and URL
// parts, each URL naming (a section of) a message the user may read:
// "/mailbox[;UIDVALIDITY=n]/;UID=n[/;SECTION=s][/;PARTIAL=o[.l]]" (RFC
// 5092, absolute path form). A URL that names nothing is NO [BADURL].

// catenate builds the message of one CATENATE list.
func (c *conn) catenate(parts []proto.Value) ([]byte, error) {
	var out []byte
	limit := c.srv.opts.AppendLimit
	for i := 0; i < len(parts); i += 2 {
		if i+1 == len(parts) {
			return nil, syntax("CATENATE parts are TEXT literal or URL string")
		}
		switch kind, v := parts[i].Upper(), parts[i+1]; {
		case kind == "TEXT" && v.Kind == proto.Literal:
			out = append(out, v.Bytes...)
		case kind == "URL":
			u, ok := v.AString()
			if !ok {
				return nil, syntax("URL takes a string")
			}
			b, err := c.urlContent(u)
			if err != nil {
				return nil, err
			}
			out = append(out, b...)
		default:
			return nil, syntax("CATENATE parts are TEXT literal or URL string")
		}
		if limit > 0 && int64(len(out)) > limit {
			return nil, no("TOOBIG", "Message larger than APPENDLIMIT")
		}
	}
	return out, nil
}

// urlContent returns what an IMAP URL names.
func (c *conn) urlContent(raw string) ([]byte, error) {
	badURL := no("BADURL "+strconv.Quote(raw), "Invalid or unknown URL")
	if !strings.HasPrefix(raw, "/") || len(raw) > 4096 {
		return nil, badURL
	}
	var mailbox string
	var uidValidity, uid uint64
	var section string
	rng := [2]int64{0, -1}
	for i, seg := range strings.Split(raw[1:], "/") {
		if i == 0 {
			name, params, _ := strings.Cut(seg, ";")
			m, err := url.PathUnescape(name)
			if err != nil || m == "" {
				return nil, badURL
			}
			mailbox = m
			if params != "" {
				k, v, _ := strings.Cut(params, "=")
				n, err := strconv.ParseUint(v, 10, 32)
				if !strings.EqualFold(k, "UIDVALIDITY") || err != nil {
					return nil, badURL
				}
				uidValidity = n
			}
			continue
		}
		k, v, ok := strings.Cut(strings.TrimPrefix(seg, ";"), "=")
		if !ok || !strings.HasPrefix(seg, ";") {
			return nil, badURL
		}
		var err error
		switch strings.ToUpper(k) {
		case "UID":
			uid, err = strconv.ParseUint(v, 10, 32)
		case "SECTION":
			section, err = url.PathUnescape(v)
		case "PARTIAL":
			o, l, hasLen := strings.Cut(v, ".")
			if rng[0], err = strconv.ParseInt(o, 10, 32); err == nil && hasLen {
				rng[1], err = strconv.ParseInt(l, 10, 32)
			}
		default:
			return nil, badURL
		}
		if err != nil {
			return nil, badURL
		}
	}
	if uid == 0 {
		return nil, badURL
	}
	name, err := decodeLenient(mailbox)
	if err != nil {
		return nil, badURL
	}
	p, err := c.locate(name)
	if err != nil || !p.rights.Has(acl.RightRead) || uidValidity != 0 && uint32(uidValidity) != p.mailbox.UIDValidity {
		return nil, badURL
	}
	m, err := c.srv.opts.Store.Message(c.ctx, p.mailbox.ID, store.UID(uid))
	if err != nil {
		return nil, badURL
	}
	content, err := c.srv.opts.Store.Content(c.ctx, m)
	if err != nil {
		return nil, err
	}
	b := content
	if section != "" {
		sec, err := parseSection(strings.ToUpper(section), false)
		if err != nil {
			return nil, badURL
		}
		var ok bool
		if b, ok = part.Extract(content, part.Parse(content), sec); !ok {
			return nil, badURL
		}
	}
	return partial(b, fetchItem{partial: rng[1] != -1 || rng[0] != 0, start: rng[0], length: rng[1]}), nil
}
