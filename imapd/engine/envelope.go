package engine

import (
	"bufio"
	"bytes"
	"strings"

	"mailroom/imapd/part"
	"mailroom/imapd/proto"
	"mailroom/store"
)

// ENVELOPE is kept with each body once computed (store.BodyInfo), so a
// client listing a mailbox does not make the server read and parse every
// message again. A body is shared by its copies, but a copy's own
// delivery prefix is part of its header: a copy whose prefix carries an
// envelope field (submission may add Date and Message-ID there) has its
// ENVELOPE computed from its whole content instead.

// envelopeField reports whether ENVELOPE reads a header field.
func envelopeField(name string) bool {
	switch strings.ToLower(name) {
	case "date", "subject", "from", "sender", "reply-to", "to", "cc", "bcc", "in-reply-to", "message-id":
		return true
	}
	return false
}

// envelopeTag is the BodyInfo tag of an encoded ENVELOPE: it differs with
// UTF-8 (ENABLE UTF8=ACCEPT changes how 8-bit strings are written).
func (c *conn) envelopeTag() byte {
	if c.utf8 {
		return 'E'
	}
	return 'e'
}

// ownEnvelope reports whether a copy's prefix holds an envelope field.
func ownEnvelope(m *store.Message) bool {
	if len(m.Prefix) == 0 {
		return false
	}
	for _, f := range part.ParseHeader(m.Prefix, 0, len(m.Prefix)) {
		if envelopeField(f.Name) {
			return true
		}
	}
	return false
}

// encodeEnvelope returns the wire form of content's ENVELOPE, with or
// without UTF8=ACCEPT.
func encodeEnvelope(content []byte, utf8 bool) []byte {
	var buf bytes.Buffer
	w := bufio.NewWriter(&buf)
	e := proto.NewEncoder(w)
	e.UTF8 = utf8
	part.WriteEnvelope(e, part.EnvelopeOf(part.ParseHeader(content, 0, part.HeaderEnd(content, 0))))
	e.Flush()
	return buf.Bytes()
}

// recordsWithEnvelopes is records for a FETCH whose only content item is
// ENVELOPE: fn gets each record with its encoded ENVELOPE, kept ones
// read in one batch, missing ones computed and kept.
func (c *conn) recordsWithEnvelopes(uids []store.UID, fn func(*store.Message, []byte) error) error {
	const batch = 1024
	st, tag := c.srv.opts.Store, c.envelopeTag()
	for len(uids) > 0 {
		chunk := uids[:min(len(uids), batch)]
		uids = uids[len(chunk):]
		var msgs []*store.Message
		if err := st.MessagesByUID(c.ctx, c.sel.id, chunk, false, func(m *store.Message, _ []byte) error {
			c.sel.overlay(m)
			msgs = append(msgs, m)
			return nil
		}); err != nil {
			return err
		}
		var ids []store.BodyID
		for _, m := range msgs {
			if !ownEnvelope(m) {
				ids = append(ids, m.Body)
			}
		}
		kept, err := st.BodyInfo(c.ctx, ids, tag)
		if err != nil {
			return err
		}
		fresh := map[store.BodyID][]byte{}
		for _, m := range msgs {
			env, ok := kept[m.Body]
			own := ownEnvelope(m)
			if !ok || own {
				content, err := st.Content(c.ctx, m)
				if err != nil {
					continue // expunged meanwhile
				}
				env = encodeEnvelope(content, c.utf8)
				if !own {
					fresh[m.Body], kept[m.Body] = env, env
				}
			}
			if err := fn(m, env); err != nil {
				return err
			}
		}
		if len(fresh) > 0 {
			c.srv.keep(keepRequest{tag: tag, values: fresh})
		}
	}
	return nil
}

// keepRequest is derived data to keep with bodies.
type keepRequest struct {
	tag    byte
	values map[store.BodyID][]byte
}

// keep hands derived data to the server's keeper, which writes it after
// the command's answer, off the client's path; when the keeper is busy
// the data is dropped (it is computed again next time).
func (s *Server) keep(r keepRequest) {
	select {
	case s.keeping <- r:
	default:
	}
}

// keeper writes what keep hands it until the server closes.
func (s *Server) keeper() {
	defer s.keepWG.Done()
	for {
		select {
		case r := <-s.keeping:
			if err := s.opts.Store.SetBodyInfo(s.ctx, r.tag, r.values); err != nil && s.ctx.Err() == nil {
				s.log.Warn("keeping derived data", "err", err)
			}
			if s.opts.OnKept != nil {
				s.opts.OnKept()
			}
		case <-s.ctx.Done():
			return
		}
	}
}
