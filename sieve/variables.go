package sieve

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Variables (RFC 5229) and the imap4flags commands (RFC 5232), which
// keep their state in variables.

// validVarName: identifier, optionally namespaced with dots; numbers are
// match variables and only allowed when match is true.
func validVarName(name string, match bool) bool {
	if name == "" {
		return false
	}
	if match {
		if _, err := strconv.Atoi(name); err == nil {
			return true
		}
	}
	for _, part := range strings.Split(name, ".") {
		if part == "" || !isIdentStart(part[0]) {
			return false
		}
		for i := 1; i < len(part); i++ {
			if !isIdentChar(part[i]) {
				return false
			}
		}
	}
	return true
}

// lookup returns a variable's value; an unset one is "".
func (in *interp) lookup(f *frame, name string) string {
	name = strings.ToLower(name)
	if n, err := strconv.Atoi(name); err == nil {
		if n < len(f.match) {
			return f.match[n]
		}
		return ""
	}
	if g, ok := strings.CutPrefix(name, "global."); ok {
		return in.globalVars[g]
	}
	if f.globals[name] {
		return in.globalVars[name]
	}
	return f.vars[name]
}

func (in *interp) store(f *frame, pos Pos, name, v string) error {
	name = strings.ToLower(name)
	if len(v) > in.lim.MaxVariableLen {
		i := in.lim.MaxVariableLen
		for i > 0 && !utf8.RuneStart(v[i]) {
			i--
		}
		v = v[:i]
	}
	m := f.vars
	if g, ok := strings.CutPrefix(name, "global."); ok {
		name, m = g, in.globalVars
	} else if f.globals[name] {
		m = in.globalVars
	}
	if _, exists := m[name]; !exists {
		in.nvars++
		if in.nvars > in.lim.MaxVariables {
			return &RuntimeError{Pos: pos, Msg: fmt.Sprintf("more than %d variables", in.lim.MaxVariables), Err: ErrLimit}
		}
	}
	m[name] = v
	return nil
}

// expand replaces ${name} references when the script requires variables
// (RFC 5229 §3). A reference that is not a valid name stays as written.
func (in *interp) expand(f *frame, s string) string {
	if !f.s.requires["variables"] || !strings.Contains(s, "${") {
		return s
	}
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			break
		}
		b.WriteString(s[:i])
		end := strings.IndexByte(s[i+2:], '}')
		if end < 0 {
			b.WriteString(s[i:])
			break
		}
		name := s[i+2 : i+2+end]
		if validVarName(name, true) {
			b.WriteString(in.lookup(f, name))
			s = s[i+3+end:]
		} else {
			b.WriteString("${")
			s = s[i+2:]
		}
		if b.Len() > in.lim.MaxStringLen {
			break
		}
	}
	out := b.String()
	if len(out) > in.lim.MaxStringLen {
		out = out[:in.lim.MaxStringLen]
	}
	return out
}

func (in *interp) expandList(f *frame, l []string) []string {
	if !f.s.requires["variables"] {
		return l
	}
	out := make([]string, len(l))
	for i, s := range l {
		out[i] = in.expand(f, s)
	}
	return out
}

// set applies the modifiers highest precedence first (RFC 5229 §4.1).
func (in *interp) set(f *frame, c *instr) error {
	v := in.expand(f, c.args[1].str())
	switch {
	case c.has("lower"):
		v = strings.ToLower(v)
	case c.has("upper"):
		v = strings.ToUpper(v)
	}
	if v != "" {
		r, size := utf8.DecodeRuneInString(v)
		switch {
		case c.has("lowerfirst"):
			v = strings.ToLower(string(r)) + v[size:]
		case c.has("upperfirst"):
			v = strings.ToUpper(string(r)) + v[size:]
		}
	}
	if c.has("quotewildcard") {
		v = quoteWildcard(v)
	}
	if c.has("length") {
		v = strconv.Itoa(utf8.RuneCountInString(v))
	}
	return in.store(f, c.pos, c.args[0].str(), v)
}

// splitFlags turns a flag string into a list with duplicates removed,
// compared without case (RFC 5232 §3).
func splitFlags(s string) []string {
	var out []string
	seen := map[string]bool{}
	for _, fl := range strings.Fields(s) {
		k := strings.ToLower(fl)
		if !seen[k] {
			seen[k] = true
			out = append(out, fl)
		}
	}
	return out
}

func (in *interp) flagCommand(f *frame, c *instr) error {
	list := strings.Join(in.expandList(f, c.args[1].strs), " ")
	cur := in.flags
	varName := ""
	if c.args[0].isSet {
		varName = c.args[0].str()
		cur = in.lookup(f, varName)
	}
	var next []string
	switch c.name {
	case "setflag":
		next = splitFlags(list)
	case "addflag":
		next = splitFlags(cur + " " + list)
	case "removeflag":
		drop := map[string]bool{}
		for _, fl := range strings.Fields(list) {
			drop[strings.ToLower(fl)] = true
		}
		for _, fl := range splitFlags(cur) {
			if !drop[strings.ToLower(fl)] {
				next = append(next, fl)
			}
		}
	}
	v := strings.Join(next, " ")
	if varName != "" {
		return in.store(f, c.pos, varName, v)
	}
	in.flags = v
	return nil
}
