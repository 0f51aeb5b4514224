package part

import "strings"

// MaxAddresses bounds the addresses read from one header field.
const MaxAddresses = 1000

// Address is one element of an ENVELOPE address list (RFC 9051 §7.5.2):
// a mailbox, or a group marker. A group starts with an Address whose Host
// is empty and Mailbox the group's name, and ends with one whose Mailbox
// and Host are both empty (Group marks both).
type Address struct {
	Name, Route, Mailbox, Host string
	Group                      bool
}

// Envelope is the ENVELOPE of a message, each value as written in the
// header (unfolded; encoded words are not decoded, as RFC 9051 asks).
// Nil strings and lists are absent fields.
type Envelope struct {
	Date, Subject, InReplyTo, MessageID *string
	From, Sender, ReplyTo, To, Cc, Bcc  []Address
}

// EnvelopeOf builds the ENVELOPE of a header. Sender and Reply-To default
// to From when absent or empty (RFC 9051 §7.5.2).
func EnvelopeOf(h Header) *Envelope {
	str := func(name string) *string {
		if v, ok := h.Get(name); ok {
			return &v
		}
		return nil
	}
	list := func(name string) []Address {
		v, ok := h.Get(name)
		if !ok {
			return nil
		}
		return ParseAddressList(v)
	}
	e := &Envelope{
		Date: str("Date"), Subject: str("Subject"), InReplyTo: str("In-Reply-To"), MessageID: str("Message-ID"),
		From: list("From"), Sender: list("Sender"), ReplyTo: list("Reply-To"),
		To: list("To"), Cc: list("Cc"), Bcc: list("Bcc"),
	}
	if len(e.Sender) == 0 {
		e.Sender = e.From
	}
	if len(e.ReplyTo) == 0 {
		e.ReplyTo = e.From
	}
	return e
}

// Missing parts of an address are filled with these, as other IMAP
// servers do, so a client never sees a mailbox that reads as a group
// marker.
const (
	MissingMailbox = "MISSING_MAILBOX"
	MissingDomain  = "MISSING_DOMAIN"
)

// token kinds of the address lexer
const (
	tAtom = iota
	tQuoted
	tSpecial
)

type token struct {
	kind int
	text string
}

// lexAddresses splits an address header value into atoms, quoted strings
// and specials, collecting comments separately: the last comment after a
// mailbox with no display name becomes its name, as readers show it.
type addrLexer struct {
	toks []token
	text []string // for each token, the comment right after it ("" none)
}

func lexAddresses(s string) *addrLexer {
	l := &addrLexer{}
	lastComment := ""
	flushComment := func() {
		if lastComment != "" && len(l.toks) > 0 {
			l.text[len(l.toks)-1] = lastComment
		}
		lastComment = ""
	}
	for i := 0; i < len(s) && len(l.toks) < 4*MaxAddresses; {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			i++
		case c == '(':
			depth := 0
			var b strings.Builder
			for ; i < len(s); i++ {
				ch := s[i]
				if ch == '\\' && i+1 < len(s) {
					i++
					b.WriteByte(s[i])
					continue
				}
				if ch == '(' {
					depth++
					if depth == 1 {
						continue
					}
				}
				if ch == ')' {
					depth--
					if depth == 0 {
						i++
						break
					}
				}
				b.WriteByte(ch)
			}
			lastComment = strings.TrimSpace(b.String())
			flushComment()
		case c == '"':
			var b strings.Builder
			i++
			for i < len(s) && s[i] != '"' {
				if s[i] == '\\' && i+1 < len(s) {
					i++
				}
				b.WriteByte(s[i])
				i++
			}
			i++
			l.add(token{tQuoted, b.String()})
		case strings.IndexByte("<>@,;:[]", c) >= 0:
			l.add(token{tSpecial, string(c)})
			i++
		default:
			j := i
			// "." is part of atoms: dot-atoms and obsolete phrases.
			for j < len(s) && strings.IndexByte(" \t\r\n()\"<>@,;:[]", s[j]) < 0 {
				j++
			}
			l.add(token{tAtom, s[i:j]})
			i = j
		}
	}
	return l
}

func (l *addrLexer) add(t token) {
	l.toks = append(l.toks, t)
	l.text = append(l.text, "")
}

// ParseAddressList parses an address list (RFC 5322 §3.4, with the
// obsolete forms of §4.4: routes, missing parts, empty elements) into
// ENVELOPE addresses. It never fails: what cannot be read is skipped.
func ParseAddressList(s string) []Address {
	l := lexAddresses(s)
	p := &addrParser{l: l}
	var out []Address
	for p.i < len(l.toks) && len(out) < MaxAddresses {
		if p.special(",") || p.special(";") {
			p.i++
			continue
		}
		start := p.i
		out = p.element(out, false)
		if p.i == start {
			p.i++ // never stall
		}
	}
	return out
}

type addrParser struct {
	l *addrLexer
	i int
}

func (p *addrParser) special(s string) bool {
	return p.i < len(p.l.toks) && p.l.toks[p.i].kind == tSpecial && p.l.toks[p.i].text == s
}

// phrase reads words (atoms, with the dots obsolete phrases allow, and
// quoted strings) up to a special.
func (p *addrParser) phrase() (words []string) {
	for p.i < len(p.l.toks) {
		t := p.l.toks[p.i]
		if t.kind == tSpecial {
			break
		}
		words = append(words, t.text)
		p.i++
	}
	return words
}

// element reads one mailbox or group at p.i.
func (p *addrParser) element(out []Address, inGroup bool) []Address {
	start := p.i
	words := p.phrase()
	switch {
	case p.special(":") && !inGroup:
		// A group: name ":" [mailbox-list] ";"
		p.i++
		out = append(out, Address{Mailbox: strings.Join(words, " "), Group: true})
		for p.i < len(p.l.toks) && !p.special(";") && len(out) < MaxAddresses {
			if p.special(",") {
				p.i++
				continue
			}
			before := p.i
			out = p.element(out, true)
			if p.i == before {
				p.i++
			}
		}
		if p.special(";") {
			p.i++
		}
		return append(out, Address{Group: true})
	case p.special("<"):
		p.i++
		a := p.angle()
		a.Name = joinPhrase(words)
		if a.Name == "" {
			a.Name = p.commentAfter(p.i - 1)
		}
		return append(out, a)
	default:
		// An addr-spec: the words so far are the local part.
		p.i = start
		a := p.addrSpec()
		if p.i > start {
			a.Name = p.commentAfter(p.i - 1)
		}
		if p.i == start {
			return out
		}
		return append(out, a)
	}
}

// angle reads "[route ':'] addr-spec '>'" after "<".
func (p *addrParser) angle() Address {
	var route []string
	for p.special("@") || p.special(",") {
		if p.special(",") {
			p.i++
			continue
		}
		p.i++
		route = append(route, "@"+p.domain())
	}
	if len(route) > 0 && p.special(":") {
		p.i++
	}
	a := p.addrSpec()
	a.Route = strings.Join(route, ",")
	for p.i < len(p.l.toks) && !p.special(">") {
		p.i++
	}
	if p.special(">") {
		p.i++
	}
	return a
}

// addrSpec reads "local-part ['@' domain]".
func (p *addrParser) addrSpec() Address {
	var local strings.Builder
	for p.i < len(p.l.toks) {
		t := p.l.toks[p.i]
		if t.kind == tSpecial {
			break
		}
		local.WriteString(t.text)
		p.i++
	}
	a := Address{Mailbox: local.String()}
	if p.special("@") {
		p.i++
		a.Host = p.domain()
	}
	if a.Mailbox == "" {
		a.Mailbox = MissingMailbox
	}
	if a.Host == "" {
		a.Host = MissingDomain
	}
	return a
}

// domain reads a domain: dot-atoms or a domain literal.
func (p *addrParser) domain() string {
	var b strings.Builder
	if p.special("[") {
		for p.i < len(p.l.toks) && !p.special("]") {
			b.WriteString(p.l.toks[p.i].text)
			p.i++
		}
		if p.special("]") {
			b.WriteString("]")
			p.i++
		}
		return b.String()
	}
	for p.i < len(p.l.toks) {
		t := p.l.toks[p.i]
		if t.kind == tSpecial {
			break
		}
		b.WriteString(t.text)
		p.i++
	}
	return b.String()
}

func (p *addrParser) commentAfter(i int) string {
	if i >= 0 && i < len(p.l.text) {
		return p.l.text[i]
	}
	return ""
}

func joinPhrase(words []string) string { return strings.Join(words, " ") }
