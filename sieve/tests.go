package sieve

import (
	"fmt"
	"mime"
	"strconv"
	"strings"

	"github.com/emersion/go-message/charset"
)

// Tests (RFC 5228 §5 and the extensions' tests).

func (in *interp) test(f *frame, t *instr) (bool, error) {
	if err := in.step(t.pos); err != nil {
		return false, err
	}
	switch t.name {
	case "true":
		return true, nil
	case "false":
		return false, nil
	case "not":
		ok, err := in.test(f, t.tests[0])
		return !ok, err
	case "allof", "anyof":
		want := t.name == "anyof"
		for _, sub := range t.tests {
			ok, err := in.test(f, sub)
			if err != nil {
				return false, err
			}
			if ok == want {
				return want, nil
			}
		}
		return !want, nil
	case "size":
		var size int64
		if in.env.Message != nil {
			size = in.env.Message.Size
		}
		if t.has("over") {
			return size > t.args[0].num, nil
		}
		return size < t.args[0].num, nil
	case "exists":
		for _, name := range in.expandList(f, t.args[0].strs) {
			if len(in.headerValues(name, false)) == 0 {
				return false, nil
			}
		}
		return true, nil
	case "header":
		var values []string
		for _, name := range in.expandList(f, t.args[0].strs) {
			values = append(values, pickIndex(in.headerValues(name, true), t)...)
		}
		return in.matchValues(f, t, values, t.args[1].strs)
	case "address":
		var values []string
		for _, name := range in.expandList(f, t.args[0].strs) {
			var addrs []string
			for _, v := range pickIndex(in.headerValues(name, true), t) {
				addrs = append(addrs, parseAddresses(v)...)
			}
			values = append(values, addrParts(addrs, t.addr)...)
		}
		return in.matchValues(f, t, values, t.args[1].strs)
	case "envelope":
		var values []string
		for _, part := range in.expandList(f, t.args[0].strs) {
			switch strings.ToLower(part) {
			case "from":
				values = append(values, addrParts([]string{in.env.Envelope.From}, t.addr)...)
			case "to":
				values = append(values, addrParts([]string{in.env.Envelope.To}, t.addr)...)
			case "auth":
				if in.env.Envelope.AuthUser != "" {
					values = append(values, addrParts([]string{in.env.Envelope.AuthUser}, t.addr)...)
				}
			}
		}
		return in.matchValues(f, t, values, t.args[1].strs)
	case "string":
		values := in.expandList(f, t.args[0].strs)
		if t.match == "count" { // RFC 5229 §5: :count counts non-empty strings
			var nonEmpty []string
			for _, v := range values {
				if v != "" {
					nonEmpty = append(nonEmpty, v)
				}
			}
			values = nonEmpty
		}
		return in.matchValues(f, t, values, t.args[1].strs)
	case "hasflag":
		var flags []string
		if t.args[0].isSet {
			for _, name := range t.args[0].strs {
				flags = append(flags, strings.Fields(in.lookup(f, name))...)
			}
		} else {
			flags = strings.Fields(in.flags)
		}
		var keys []string
		for _, k := range in.expandList(f, t.args[1].strs) {
			keys = append(keys, strings.Fields(k)...)
		}
		return in.matchRaw(f, t, flags, keys)
	case "body":
		return in.bodyTest(f, t)
	case "date", "currentdate":
		return in.dateTest(f, t)
	case "mailboxexists":
		if in.env.MailboxExists == nil {
			return false, nil
		}
		for _, m := range in.expandList(f, t.args[0].strs) {
			if !in.env.MailboxExists(in.ctx, m) {
				return false, nil
			}
		}
		return true, nil
	case "duplicate":
		return in.duplicate(f, t)
	}
	return false, &RuntimeError{Pos: t.pos, Msg: "unknown test " + t.name}
}

// matchValues expands the keys and matches.
func (in *interp) matchValues(f *frame, t *instr, values, keys []string) (bool, error) {
	return in.matchRaw(f, t, values, in.expandList(f, keys))
}

// matchRaw applies the test's match type and comparator: true when any
// value matches any key. A successful :matches sets the match variables.
func (in *interp) matchRaw(f *frame, t *instr, values, keys []string) (bool, error) {
	if t.match == "count" {
		n := strconv.Itoa(len(values))
		for _, k := range keys {
			if err := in.step(t.pos); err != nil {
				return false, err
			}
			if relation(t.rel, compare("i;ascii-numeric", n, k)) {
				return true, nil
			}
		}
		return false, nil
	}
	fold := t.cmp == "i;ascii-casemap"
	for _, v := range values {
		for _, k := range keys {
			if err := in.step(t.pos); err != nil {
				return false, err
			}
			switch t.match {
			case "is":
				if compare(t.cmp, v, k) == 0 {
					return true, nil
				}
			case "value":
				if relation(t.rel, compare(t.cmp, v, k)) {
					return true, nil
				}
			case "contains":
				hay, needle := v, k
				if fold {
					hay, needle = foldASCII(v), foldASCII(k)
				}
				in.steps += len(hay) / 64
				if strings.Contains(hay, needle) {
					return true, nil
				}
			case "matches":
				budget := in.lim.MaxSteps - in.steps
				before := budget
				caps, ok := globMatch(k, v, fold, &budget)
				in.steps += before - budget
				if budget <= 0 {
					return false, &RuntimeError{Pos: t.pos, Msg: fmt.Sprintf("more than %d steps", in.lim.MaxSteps), Err: ErrLimit}
				}
				if ok {
					if f.s.requires["variables"] {
						f.match = append([]string{v}, caps...)
					}
					return true, nil
				}
			}
		}
	}
	return false, nil
}

var wordDecoder = &mime.WordDecoder{CharsetReader: charset.Reader}

// headerValues returns the values of the named field, in order, decoded
// from RFC 2047 when decode is set, leading and trailing space removed.
func (in *interp) headerValues(name string, decode bool) []string {
	var out []string
	for _, h := range in.header {
		if !strings.EqualFold(h.Name, name) {
			continue
		}
		v := strings.TrimSpace(h.Value)
		if decode {
			if d, err := wordDecoder.DecodeHeader(v); err == nil {
				v = d
			}
		}
		out = append(out, v)
	}
	return out
}

// pickIndex applies :index/:last (RFC 5260 §6).
func pickIndex(values []string, t *instr) []string {
	if t.index == 0 {
		return values
	}
	i := t.index - 1
	if t.last {
		i = len(values) - t.index
	}
	if i < 0 || i >= len(values) {
		return nil
	}
	return values[i : i+1]
}
