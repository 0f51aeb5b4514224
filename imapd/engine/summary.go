package engine

import (
	"mailroom/imapd/part"
	"mailroom/store"
)

// Summaries (part.Summarize: the header fields SORT, THREAD, ENVELOPE and
// the header SEARCH keys read) are kept with each body under summaryTag,
// written at delivery by DeriveBodyInfo, or computed at first use and
// kept for bodies stored before. A copy whose delivery prefix carries a
// summary field is summarised from its whole content instead (its
// header is then not the body's).

// summaryTag is the BodyInfo tag of a summary.
const summaryTag = 'h'

// DeriveBodyInfo computes what is kept with a new body at delivery (for
// store.Options.Derive): its summary and its ENVELOPE in the form most
// sessions use (without UTF8=ACCEPT).
func DeriveBodyInfo(body []byte) []store.Derived {
	return []store.Derived{
		{Tag: summaryTag, Value: part.Summarize(body)},
		{Tag: 'e', Value: encodeEnvelope(body, false)},
	}
}

// recordsWithSummaries is records for commands that need only the
// summary fields of each message's header: fn gets each record with
// them, from kept summaries read in batches.
func (c *conn) recordsWithSummaries(uids []store.UID, fn func(*store.Message, *msgHeader) error) error {
	const batch = 1024
	st := c.srv.opts.Store
	var msgs []*store.Message
	for len(uids) > 0 {
		chunk := uids[:min(len(uids), batch)]
		uids = uids[len(chunk):]
		msgs = msgs[:0]
		if err := st.MessagesByUID(c.ctx, c.sel.id, chunk, false, func(m *store.Message, _ []byte) error {
			c.sel.overlay(m)
			msgs = append(msgs, m)
			return nil
		}); err != nil {
			return err
		}
		ids := make([]store.BodyID, 0, len(msgs))
		for _, m := range msgs {
			ids = append(ids, m.Body)
		}
		kept, err := st.BodyInfo(c.ctx, ids, summaryTag)
		if err != nil {
			return err
		}
		fresh := map[store.BodyID][]byte{}
		for _, m := range msgs {
			own := part.HasSummaryField(m.Prefix)
			mh := &msgHeader{summary: kept[m.Body]}
			if !part.SummaryComplete(mh.summary) || own {
				content, err := st.Content(c.ctx, m)
				if err != nil {
					continue // expunged meanwhile
				}
				if _, known := kept[m.Body]; !known && !own {
					s := part.Summarize(content[len(m.Prefix):])
					fresh[m.Body], kept[m.Body] = s, s
				}
				if mh.summary = part.Summarize(content); !part.SummaryComplete(mh.summary) {
					// Too large to summarise: the header itself.
					mh.h, mh.parsed = part.ParseHeader(content, 0, part.HeaderEnd(content, 0)), true
				}
			}
			if err := fn(m, mh); err != nil {
				return err
			}
		}
		if len(fresh) > 0 {
			c.srv.keep(keepRequest{tag: summaryTag, values: fresh})
		}
	}
	return nil
}

// msgHeader is a message's header as SORT, THREAD and SEARCH read it: a
// kept summary, whose fields are found by scanning it and which is parsed
// only when a command needs all of them, or a parsed header.
type msgHeader struct {
	summary []byte
	h       part.Header
	parsed  bool
}

// Get returns the first field named name, unfolded.
func (mh *msgHeader) Get(name string) (string, bool) {
	if !mh.parsed {
		return part.SummaryGet(mh.summary, name)
	}
	return mh.h.Get(name)
}

// Header returns every field.
func (mh *msgHeader) Header() part.Header {
	if !mh.parsed {
		mh.h, _ = part.SummaryHeader(mh.summary)
		mh.parsed = true
	}
	return mh.h
}
