package sieve

import (
	"fmt"
	"strings"
)

// Script is a compiled script: checked against the extensions it
// requires, with every argument resolved to its role. A Script is
// immutable and safe for concurrent use by many runs.
type Script struct {
	cmds     []*instr
	requires map[string]bool
}

// Requires reports whether the script requires the capability.
func (s *Script) Requires(ext string) bool { return s.requires[ext] }

// value is a resolved argument.
type value struct {
	strs  []string
	num   int64
	isSet bool
}

func (v value) str() string {
	if len(v.strs) == 0 {
		return ""
	}
	return v.strs[0]
}

// instr is a compiled command or test.
type instr struct {
	pos   Pos
	name  string
	tags  map[string]value // tags present, with their values
	args  []value          // positional arguments; an absent optional one is unset
	cmp   string           // comparator name
	match string           // is, contains, matches, count, value
	rel   string           // relation for count/value
	addr  string           // address part
	index int              // :index, 0 when absent
	last  bool             // :last with :index
	tests []*instr
	block []*instr
	next  *instr // for if/elsif: the elsif or else that follows
}

func (in *instr) has(tag string) bool { _, ok := in.tags[tag]; return ok }

// Compile parses and checks a script. Errors are *SyntaxError with the
// line and column of the offending token.
func Compile(src string, l *Limits) (*Script, error) {
	if l == nil {
		l = &DefaultLimits
	}
	nodes, err := parse(src, l)
	if err != nil {
		return nil, err
	}
	c := &compiler{s: &Script{requires: map[string]bool{}}}
	cmds, err := c.block(nodes, true)
	if err != nil {
		return nil, err
	}
	c.s.cmds = cmds
	return c.s, nil
}

type compiler struct {
	s *Script
}

func errAt(p Pos, format string, a ...any) error {
	return &SyntaxError{Pos: p, Msg: fmt.Sprintf(format, a...)}
}

func (c *compiler) block(nodes []*node, top bool) ([]*instr, error) {
	var out []*instr
	requireOK := top
	var prev *instr // the last if/elsif, for chaining
	for _, n := range nodes {
		if n.name == "require" {
			if !requireOK {
				return nil, errAt(n.pos, "require must come before any other command")
			}
		} else {
			requireOK = false
		}
		in, err := c.node(n, commands)
		if err != nil {
			return nil, err
		}
		switch n.name {
		case "require":
			for _, e := range in.args[0].strs {
				if !knownExtension(e) {
					return nil, errAt(n.pos, "unsupported extension %q", e)
				}
				c.s.requires[e] = true
			}
			continue
		case "elsif", "else":
			if prev == nil {
				return nil, errAt(n.pos, "%s without a preceding if", n.name)
			}
			prev.next = in
			prev = nil
			if n.name == "elsif" {
				prev = in
			}
			continue
		case "if":
			prev = in
		default:
			prev = nil
		}
		out = append(out, in)
	}
	return out, nil
}

func (c *compiler) need(p Pos, ext, what string) error {
	if ext != "" && !c.s.requires[ext] {
		return errAt(p, "%s needs require %q", what, ext)
	}
	return nil
}

// node compiles one command (table commands) or test (table tests).
func (c *compiler) node(n *node, table map[string]cmdSpec) (*instr, error) {
	spec, ok := table[n.name]
	if !ok {
		kind := "command"
		if table["true"].isTest {
			kind = "test"
		}
		return nil, errAt(n.pos, "unknown %s %q", kind, n.name)
	}
	if err := c.need(n.pos, spec.ext, n.name); err != nil {
		return nil, err
	}
	in := &instr{pos: n.pos, name: n.name, tags: map[string]value{}, cmp: "i;ascii-casemap", match: "is", addr: "all"}
	groups := map[string]string{}
	var positional []arg
	args := n.args
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a.kind != argTag {
			positional = append(positional, a)
			continue
		}
		if len(positional) > 0 {
			return nil, errAt(a.pos, "tag :%s after positional arguments", a.tag)
		}
		ts, ok := spec.tags[a.tag]
		switch {
		case ok:
		case spec.matching && a.tag == "comparator":
			ts = tagSpec{val: vString}
		case spec.matching && matchTags[a.tag] != (tagSpec{}) || spec.matching && a.tag == "is":
			ts = matchTags[a.tag]
		case spec.addrPart && addrTags[a.tag] != (tagSpec{}):
			ts = addrTags[a.tag]
		case spec.index && a.tag == "index":
			ts = tagSpec{ext: "index", val: vNumber}
		case spec.index && a.tag == "last":
			ts = tagSpec{ext: "index"}
		default:
			return nil, errAt(a.pos, "%s does not take :%s", n.name, a.tag)
		}
		if err := c.need(a.pos, ts.ext, ":"+a.tag); err != nil {
			return nil, err
		}
		if _, dup := in.tags[a.tag]; dup {
			return nil, errAt(a.pos, ":%s given twice", a.tag)
		}
		if ts.excl != "" {
			if other, clash := groups[ts.excl]; clash {
				return nil, errAt(a.pos, ":%s conflicts with :%s", a.tag, other)
			}
			groups[ts.excl] = a.tag
		}
		v := value{isSet: true}
		if ts.val != vNone {
			if i+1 >= len(args) {
				return nil, errAt(a.pos, ":%s needs a value", a.tag)
			}
			i++
			var err error
			if v, err = c.value(args[i], ts.val, ":"+a.tag); err != nil {
				return nil, err
			}
		}
		in.tags[a.tag] = v
	}
	if err := c.resolveCommon(in, spec); err != nil {
		return nil, err
	}
	// Positional arguments, with the optional one filled in as unset.
	want := spec.pos
	if len(positional) < len(want) && len(want) > 0 {
		if spec.leadingOpt && len(positional) == len(want)-1 {
			positional = append([]arg{{kind: -1}}, positional...)
		} else if !spec.leadingOpt && want[len(want)-1].optional && len(positional) == len(want)-1 {
			positional = append(positional, arg{kind: -1})
		}
	}
	if len(positional) != len(want) {
		return nil, errAt(n.pos, "%s takes %d positional arguments, found %d", n.name, len(want), len(positional))
	}
	for i, a := range positional {
		if a.kind == -1 {
			in.args = append(in.args, value{})
			continue
		}
		v, err := c.value(a, want[i].val, n.name)
		if err != nil {
			return nil, err
		}
		in.args = append(in.args, v)
	}
	// Tests and block.
	switch {
	case spec.tests == 0 && len(n.tests) > 0:
		return nil, errAt(n.tests[0].pos, "%s takes no test", n.name)
	case spec.tests == 1 && len(n.tests) != 1:
		return nil, errAt(n.pos, "%s takes exactly one test", n.name)
	case spec.tests == -1 && len(n.tests) == 0:
		return nil, errAt(n.pos, "%s takes a list of tests", n.name)
	}
	for _, t := range n.tests {
		ti, err := c.node(t, tests)
		if err != nil {
			return nil, err
		}
		in.tests = append(in.tests, ti)
	}
	if spec.isTest {
		return in, checkTest(in)
	}
	if spec.block != n.hasBlock {
		if spec.block {
			return nil, errAt(n.pos, "%s needs a block", n.name)
		}
		return nil, errAt(n.pos, "%s takes no block", n.name)
	}
	if n.hasBlock {
		b, err := c.block(n.block, false)
		if err != nil {
			return nil, err
		}
		in.block = b
	}
	return in, c.check(in)
}

// checkTest applies the per-test rules the table cannot express.
func checkTest(in *instr) error {
	if in.name == "size" && !in.has("over") && !in.has("under") {
		return errAt(in.pos, "size needs :over or :under")
	}
	return nil
}

// resolveCommon sets the comparator, match type, address part and index
// from the tags.
func (c *compiler) resolveCommon(in *instr, spec cmdSpec) error {
	if v, ok := in.tags["comparator"]; ok {
		name := strings.ToLower(v.str())
		switch name {
		case "i;octet", "i;ascii-casemap":
		case "i;ascii-numeric":
			if err := c.need(in.pos, "comparator-i;ascii-numeric", "comparator i;ascii-numeric"); err != nil {
				return err
			}
		default:
			return errAt(in.pos, "unknown comparator %q", name)
		}
		in.cmp = name
	}
	for _, m := range []string{"is", "contains", "matches", "count", "value"} {
		if v, ok := in.tags[m]; ok && spec.matching {
			in.match = m
			if m == "count" || m == "value" {
				in.rel = strings.ToLower(v.str())
				switch in.rel {
				case "gt", "ge", "lt", "le", "eq", "ne":
				default:
					return errAt(in.pos, "bad relational operator %q", in.rel)
				}
			}
		}
	}
	if in.cmp == "i;ascii-numeric" && (in.match == "contains" || in.match == "matches") {
		return errAt(in.pos, "comparator i;ascii-numeric does not support :%s", in.match)
	}
	if spec.addrPart {
		for _, a := range []string{"all", "localpart", "domain", "user", "detail"} {
			if in.has(a) {
				in.addr = a
			}
		}
	}
	if spec.index {
		if v, ok := in.tags["index"]; ok {
			if v.num < 1 {
				return errAt(in.pos, ":index must be at least 1")
			}
			in.index = int(v.num)
		}
		if in.has("last") {
			if in.index == 0 {
				return errAt(in.pos, ":last needs :index")
			}
			in.last = true
		}
	}
	return nil
}

// value converts an argument to the kind wanted, decoding
// encoded-character sequences when the script requires them.
func (c *compiler) value(a arg, want valKind, what string) (value, error) {
	switch want {
	case vNumber:
		if a.kind != argNumber {
			return value{}, errAt(a.pos, "%s expects a number, found %s", what, a.describe())
		}
		return value{num: a.num, isSet: true}, nil
	case vString:
		if a.kind != argStrings || a.isList && len(a.strs) != 1 {
			return value{}, errAt(a.pos, "%s expects a string, found %s", what, a.describe())
		}
	case vList:
		if a.kind != argStrings {
			return value{}, errAt(a.pos, "%s expects a string list, found %s", what, a.describe())
		}
	}
	strs := a.strs
	if c.s.requires["encoded-character"] {
		strs = make([]string, len(a.strs))
		for i, s := range a.strs {
			strs[i] = decodeEncoded(s)
		}
	}
	return value{strs: strs, isSet: true}, nil
}

// check applies the per-command rules the table cannot express.
func (c *compiler) check(in *instr) error {
	switch in.name {
	case "set":
		if name := in.args[0].str(); !validVarName(name, false) {
			return errAt(in.pos, "bad variable name %q", name)
		}
	case "global":
		for _, name := range in.args[0].strs {
			if !validVarName(name, false) {
				return errAt(in.pos, "bad variable name %q", name)
			}
		}
	case "setflag", "addflag", "removeflag":
		if in.args[0].isSet && !validVarName(in.args[0].str(), false) {
			return errAt(in.pos, "bad variable name %q", in.args[0].str())
		}
	case "include":
		name := in.args[0].str()
		if name == "" || strings.ContainsRune(name, 0) {
			return errAt(in.pos, "bad script name %q", name)
		}
	}
	return nil
}

// decodeEncoded replaces ${hex:..} and ${unicode:..} (RFC 5228 §2.4.2.4);
// a malformed sequence is left as written.
func decodeEncoded(s string) string {
	if !strings.Contains(s, "${") {
		return s
	}
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		rest := s[i+2:]
		end := strings.IndexByte(rest, '}')
		colon := strings.IndexByte(rest, ':')
		if end < 0 || colon < 0 || colon > end {
			b.WriteString("${")
			s = rest
			continue
		}
		kind := strings.ToLower(strings.TrimSpace(rest[:colon]))
		decoded, ok := decodeUnits(kind, rest[colon+1:end])
		if !ok {
			b.WriteString("${")
			s = rest
			continue
		}
		b.WriteString(decoded)
		s = rest[end+1:]
	}
}

func decodeUnits(kind, body string) (string, bool) {
	var b strings.Builder
	for _, f := range strings.Fields(body) {
		var n uint64
		if len(f) > 8 {
			return "", false
		}
		for _, ch := range f {
			d := hexDigit(ch)
			if d < 0 {
				return "", false
			}
			n = n<<4 | uint64(d)
		}
		switch kind {
		case "hex":
			if len(f) > 2 {
				return "", false
			}
			b.WriteByte(byte(n))
		case "unicode":
			if n > 0x10FFFF || n >= 0xD800 && n <= 0xDFFF {
				return "", false
			}
			b.WriteRune(rune(n))
		default:
			return "", false
		}
	}
	return b.String(), true
}

func hexDigit(c rune) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}
