package part

import (
	"strings"

	"mailroom/imapd/proto"
)

// WriteEnvelope writes an ENVELOPE (RFC 9051 §7.5.2).
func WriteEnvelope(e *proto.Encoder, env *Envelope) {
	nstr := func(s *string) {
		if s == nil {
			e.Nil()
		} else {
			e.String(*s)
		}
	}
	e.Open()
	nstr(env.Date)
	e.SP()
	nstr(env.Subject)
	for _, l := range [][]Address{env.From, env.Sender, env.ReplyTo, env.To, env.Cc, env.Bcc} {
		e.SP()
		writeAddresses(e, l)
	}
	e.SP()
	nstr(env.InReplyTo)
	e.SP()
	nstr(env.MessageID)
	e.Close()
}

func writeAddresses(e *proto.Encoder, l []Address) {
	if len(l) == 0 {
		e.Nil()
		return
	}
	e.Open()
	for _, a := range l {
		e.Open()
		if a.Group {
			e.Nil().SP().Nil().SP().NString(a.Mailbox).SP().Nil()
		} else {
			e.NString(a.Name).SP().NString(a.Route).SP().NString(a.Mailbox).SP().NString(a.Host)
		}
		e.Close()
	}
	e.Close()
}

// WriteBodyStructure writes BODYSTRUCTURE (extended) or BODY (not) of
// part p of message b (RFC 9051 §7.5.2, RFC 3501 §7.4.2).
func WriteBodyStructure(e *proto.Encoder, b []byte, p *Part, extended bool) {
	e.Open()
	if len(p.Children) > 0 {
		for _, c := range p.Children {
			WriteBodyStructure(e, b, c, extended)
		}
		e.SP().String(p.Subtype)
		if extended {
			e.SP()
			writeParams(e, p.Params)
			e.SP()
			writeDisposition(e, p.Header)
			e.SP()
			writeLanguage(e, p.Header)
			e.SP()
			writeNString(e, p.Header, "Content-Location")
		}
		e.Close()
		return
	}
	e.String(p.Type).SP().String(p.Subtype).SP()
	writeParams(e, p.Params)
	e.SP()
	writeNString(e, p.Header, "Content-ID")
	e.SP()
	writeNString(e, p.Header, "Content-Description")
	e.SP().String(p.Encoding()).SP().Number(uint64(p.End - p.BodyStart))
	switch {
	case p.Message != nil:
		e.SP()
		WriteEnvelope(e, EnvelopeOf(p.Message.Header))
		e.SP()
		WriteBodyStructure(e, b, p.Message, extended)
		e.SP().Number(uint64(p.Lines))
	case p.Type == "text":
		e.SP().Number(uint64(p.Lines))
	}
	if extended {
		e.SP()
		writeNString(e, p.Header, "Content-MD5")
		e.SP()
		writeDisposition(e, p.Header)
		e.SP()
		writeLanguage(e, p.Header)
		e.SP()
		writeNString(e, p.Header, "Content-Location")
	}
	e.Close()
}

func writeParams(e *proto.Encoder, params []Param) {
	if len(params) == 0 {
		e.Nil()
		return
	}
	e.Open()
	for i, pr := range params {
		if i > 0 {
			e.SP()
		}
		e.String(pr.Name).SP().String(pr.Value)
	}
	e.Close()
}

func writeNString(e *proto.Encoder, h Header, name string) {
	if v, ok := h.Get(name); ok && v != "" {
		e.String(v)
		return
	}
	e.Nil()
}

func writeDisposition(e *proto.Encoder, h Header) {
	v, ok := h.Get("Content-Disposition")
	if !ok {
		e.Nil()
		return
	}
	value, params := parseParams(v)
	if !isToken(value) {
		e.Nil()
		return
	}
	e.Open().String(value).SP()
	writeParams(e, params)
	e.Close()
}

func writeLanguage(e *proto.Encoder, h Header) {
	v, ok := h.Get("Content-Language")
	if !ok {
		e.Nil()
		return
	}
	var tags []string
	for t := range strings.SplitSeq(stripComments(v), ",") {
		if t = strings.TrimSpace(t); t != "" {
			tags = append(tags, t)
		}
	}
	switch len(tags) {
	case 0:
		e.Nil()
	case 1:
		e.String(tags[0])
	default:
		e.Open()
		for i, t := range tags {
			if i > 0 {
				e.SP()
			}
			e.String(t)
		}
		e.Close()
	}
}
