package sieve

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"strings"

	"github.com/emersion/go-message"
)

// The body test (RFC 5173).

func (in *interp) bodyTest(f *frame, t *instr) (bool, error) {
	if in.env.Message == nil || in.env.Message.Body == nil {
		return in.matchValues(f, t, nil, t.args[0].strs)
	}
	raw, err := in.env.Message.Body()
	if err != nil {
		return false, &RuntimeError{Pos: t.pos, Msg: "reading the body", Err: err}
	}
	if len(raw) > in.lim.MaxBodyBytes {
		raw = raw[:in.lim.MaxBodyBytes]
	}
	in.steps += len(raw) / 256
	if t.has("raw") {
		return in.matchValues(f, t, []string{string(raw)}, t.args[0].strs)
	}
	types := []string{"text"}
	if c, ok := t.tags["content"]; ok {
		types = in.expandList(f, c.strs)
	}
	var parts []string
	var hdr bytes.Buffer
	for _, h := range in.header {
		if strings.EqualFold(h.Name, "Content-Type") || strings.EqualFold(h.Name, "Content-Transfer-Encoding") {
			fmt.Fprintf(&hdr, "%s: %s\r\n", h.Name, h.Value)
		}
	}
	hdr.WriteString("\r\n")
	ent, err := message.Read(io.MultiReader(&hdr, bytes.NewReader(raw)))
	if err != nil && ent == nil {
		// Not parsable as MIME: the whole body is one text part.
		return in.matchValues(f, t, []string{string(raw)}, t.args[0].strs)
	}
	budget := in.lim.MaxBodyBytes
	walkErr := ent.Walk(func(_ []int, e *message.Entity, err error) error {
		if err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err) {
			return nil
		}
		ct, _, _ := mime.ParseMediaType(e.Header.Get("Content-Type"))
		if ct == "" {
			ct = "text/plain"
		}
		if strings.HasPrefix(ct, "multipart/") && !t.has("content") {
			return nil
		}
		if !contentMatches(ct, types) {
			return nil
		}
		if strings.HasPrefix(ct, "multipart/") {
			// RFC 5173 §5.2: a multipart's prologue and epilogue; we
			// match nothing for them.
			return nil
		}
		data, rerr := io.ReadAll(io.LimitReader(e.Body, int64(budget)))
		if rerr != nil {
			return nil
		}
		budget -= len(data)
		text := string(data)
		if ct == "text/html" && !t.has("content") {
			text = stripTags(text)
		}
		parts = append(parts, text)
		if budget <= 0 {
			return errStopWalk
		}
		return nil
	})
	if walkErr != nil && !errors.Is(walkErr, errStopWalk) {
		return false, &RuntimeError{Pos: t.pos, Msg: "reading the body", Err: walkErr}
	}
	return in.matchValues(f, t, parts, t.args[0].strs)
}

var errStopWalk = errors.New("body budget spent")

// contentMatches: "" matches every type; "text" a top-level type;
// "text/plain" an exact type (RFC 5173 §5.2).
func contentMatches(ct string, types []string) bool {
	for _, want := range types {
		want = strings.ToLower(strings.TrimSpace(want))
		switch {
		case want == "":
			return true
		case strings.Contains(want, "/"):
			if ct == want {
				return true
			}
		default:
			if top, _, _ := strings.Cut(ct, "/"); top == want {
				return true
			}
		}
	}
	return false
}

// stripTags turns HTML into its text for :text (RFC 5173 §5.3 leaves the
// conversion to the implementation).
func stripTags(s string) string {
	var b strings.Builder
	in := false
	for _, r := range s {
		switch {
		case r == '<':
			in = true
		case r == '>':
			in = false
			b.WriteByte(' ')
		case !in:
			b.WriteRune(r)
		}
	}
	return b.String()
}
