package sieve

import (
	"fmt"
	"strings"
)

// addheader and deleteheader (RFC 5293).

// protectedHeader: fields a script may not change (RFC 5293 §9 asks to
// protect trace fields; Auto-Submitted guards vacation loops).
func protectedHeader(name string) bool {
	switch strings.ToLower(name) {
	case "received", "auto-submitted", "return-path":
		return true
	}
	return false
}

func validFieldName(name string) bool {
	if name == "" || len(name) > 997 {
		return false
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c <= ' ' || c >= 127 || c == ':' {
			return false
		}
	}
	return true
}

func (in *interp) edit(pos Pos) error {
	in.res.HeaderEdited = true
	in.edits++
	if in.edits > in.lim.MaxHeaderEdits {
		return &RuntimeError{Pos: pos, Msg: fmt.Sprintf("more than %d header edits", in.lim.MaxHeaderEdits), Err: ErrLimit}
	}
	return nil
}

func (in *interp) addHeader(f *frame, c *instr) error {
	name := in.expand(f, c.args[0].str())
	val := in.expand(f, c.args[1].str())
	if !validFieldName(name) {
		return &RuntimeError{Pos: c.pos, Msg: fmt.Sprintf("addheader: bad field name %q", name)}
	}
	if protectedHeader(name) {
		return nil // silently ignored, as §5 allows
	}
	val = strings.NewReplacer("\r", " ", "\n", " ").Replace(val)
	if err := in.edit(c.pos); err != nil {
		return err
	}
	h := HeaderField{Name: name, Value: " " + encodeHeaderValue(val)}
	if c.has("last") {
		in.header = append(in.header, h)
	} else {
		in.header = append([]HeaderField{h}, in.header...)
	}
	return nil
}

func (in *interp) deleteHeader(f *frame, c *instr) error {
	name := in.expand(f, c.args[0].str())
	if !validFieldName(name) {
		return &RuntimeError{Pos: c.pos, Msg: fmt.Sprintf("deleteheader: bad field name %q", name)}
	}
	if protectedHeader(name) {
		return nil
	}
	// Positions of the fields with this name, then the one :index picks.
	var idx []int
	for i, h := range in.header {
		if strings.EqualFold(h.Name, name) {
			idx = append(idx, i)
		}
	}
	if c.index > 0 {
		i := c.index - 1
		if c.last {
			i = len(idx) - c.index
		}
		if i < 0 || i >= len(idx) {
			return nil
		}
		idx = idx[i : i+1]
	}
	drop := map[int]bool{}
	for _, i := range idx {
		if c.args[1].isSet {
			v := strings.TrimSpace(in.header[i].Value)
			if d, err := wordDecoder.DecodeHeader(v); err == nil {
				v = d
			}
			ok, err := in.matchValues(f, c, []string{v}, c.args[1].strs)
			if err != nil {
				return err
			}
			if !ok {
				continue
			}
		}
		drop[i] = true
	}
	if len(drop) == 0 {
		return nil
	}
	if err := in.edit(c.pos); err != nil {
		return err
	}
	kept := in.header[:0:0]
	for i, h := range in.header {
		if !drop[i] {
			kept = append(kept, h)
		}
	}
	in.header = kept
	return nil
}

// encodeHeaderValue RFC 2047-encodes a value that is not ASCII.
func encodeHeaderValue(v string) string {
	for i := 0; i < len(v); i++ {
		if v[i] >= 0x80 {
			return mimeQ.Encode("utf-8", v)
		}
	}
	return v
}
