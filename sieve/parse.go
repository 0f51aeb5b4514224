package sieve

import "fmt"

// argKind is the kind of a positional or tagged argument.
type argKind int

const (
	argTag argKind = iota
	argNumber
	argStrings
)

// arg is one argument as written (RFC 5228 §2.6).
type arg struct {
	pos    Pos
	kind   argKind
	tag    string
	num    int64
	strs   []string
	isList bool // written as [..] rather than a single string
}

func (a arg) describe() string {
	switch a.kind {
	case argTag:
		return ":" + a.tag
	case argNumber:
		return "number"
	}
	if a.isList {
		return "string list"
	}
	return "string"
}

// node is a command or a test as written: name, arguments, tests, and
// for a command its block.
type node struct {
	pos   Pos
	name  string
	args  []arg
	tests []*node
	block []*node
	// hasBlock is true for a command followed by { ... }.
	hasBlock bool
}

// parser builds the syntax tree from tokens (RFC 5228 §8.2).
type parser struct {
	lx       *lexer
	tok      token
	prevEnd  Pos // just after the token before tok
	limits   *Limits
	commands int
}

func parse(src string, l *Limits) ([]*node, error) {
	if len(src) > l.MaxScriptSize {
		return nil, &SyntaxError{Pos: Pos{1, 1}, Msg: fmt.Sprintf("script larger than %d bytes", l.MaxScriptSize)}
	}
	p := &parser{lx: newLexer(src, l), limits: l}
	if err := p.advance(); err != nil {
		return nil, err
	}
	var cmds []*node
	for p.tok.kind != tokEOF {
		c, err := p.command(0)
		if err != nil {
			return nil, err
		}
		cmds = append(cmds, c)
	}
	return cmds, nil
}

func (p *parser) advance() error {
	p.prevEnd = p.lx.pos()
	t, err := p.lx.next()
	if err != nil {
		return err
	}
	p.tok = t
	return nil
}

func (p *parser) errf(pos Pos, format string, a ...any) error {
	return &SyntaxError{Pos: pos, Msg: fmt.Sprintf(format, a...)}
}

func (p *parser) count(pos Pos) error {
	p.commands++
	if p.commands > p.limits.MaxCommands {
		return p.errf(pos, "more than %d commands and tests", p.limits.MaxCommands)
	}
	return nil
}

func (p *parser) command(depth int) (*node, error) {
	if depth > p.limits.MaxNesting {
		return nil, p.errf(p.tok.pos, "blocks nested deeper than %d", p.limits.MaxNesting)
	}
	if p.tok.kind != tokIdent {
		return nil, p.errf(p.tok.pos, "expected a command, found %s", p.tok.kind)
	}
	c := &node{pos: p.tok.pos, name: p.tok.text}
	if err := p.count(c.pos); err != nil {
		return nil, err
	}
	if err := p.advance(); err != nil {
		return nil, err
	}
	if err := p.arguments(c, depth); err != nil {
		return nil, err
	}
	switch p.tok.kind {
	case tokSemicolon:
		return c, p.advance()
	case tokLBrace:
		c.hasBlock = true
		if err := p.advance(); err != nil {
			return nil, err
		}
		for p.tok.kind != tokRBrace {
			if p.tok.kind == tokEOF {
				return nil, p.errf(p.tok.pos, "missing \"}\" for the block of %s at line %d", c.name, c.pos.Line)
			}
			sub, err := p.command(depth + 1)
			if err != nil {
				return nil, err
			}
			c.block = append(c.block, sub)
		}
		return c, p.advance()
	}
	// Point just after what precedes: that is where the ";" is missing.
	return nil, p.errf(p.prevEnd, "missing \";\" or block after %s (found %s at line %d)", c.name, p.tok.kind, p.tok.pos.Line)
}

// arguments reads *argument [ test / test-list ].
func (p *parser) arguments(n *node, depth int) error {
	for {
		switch p.tok.kind {
		case tokTag:
			n.args = append(n.args, arg{pos: p.tok.pos, kind: argTag, tag: p.tok.text})
		case tokNumber:
			n.args = append(n.args, arg{pos: p.tok.pos, kind: argNumber, num: p.tok.num})
		case tokString:
			n.args = append(n.args, arg{pos: p.tok.pos, kind: argStrings, strs: []string{p.tok.text}})
		case tokLBracket:
			a, err := p.stringList()
			if err != nil {
				return err
			}
			n.args = append(n.args, a)
			continue
		case tokIdent:
			t, err := p.test(depth + 1)
			if err != nil {
				return err
			}
			n.tests = []*node{t}
			return nil
		case tokLParen:
			return p.testList(n, depth+1)
		default:
			return nil
		}
		if err := p.advance(); err != nil {
			return err
		}
	}
}

func (p *parser) stringList() (arg, error) {
	a := arg{pos: p.tok.pos, kind: argStrings, isList: true}
	if err := p.advance(); err != nil {
		return a, err
	}
	for {
		if p.tok.kind != tokString {
			return a, p.errf(p.tok.pos, "expected a string in the list, found %s", p.tok.kind)
		}
		a.strs = append(a.strs, p.tok.text)
		if len(a.strs) > p.limits.MaxListLen {
			return a, p.errf(a.pos, "string list longer than %d", p.limits.MaxListLen)
		}
		if err := p.advance(); err != nil {
			return a, err
		}
		switch p.tok.kind {
		case tokComma:
			if err := p.advance(); err != nil {
				return a, err
			}
		case tokRBracket:
			return a, p.advance()
		default:
			return a, p.errf(p.tok.pos, "expected \",\" or \"]\" in string list, found %s", p.tok.kind)
		}
	}
}

func (p *parser) test(depth int) (*node, error) {
	if depth > p.limits.MaxNesting {
		return nil, p.errf(p.tok.pos, "tests nested deeper than %d", p.limits.MaxNesting)
	}
	if p.tok.kind != tokIdent {
		return nil, p.errf(p.tok.pos, "expected a test, found %s", p.tok.kind)
	}
	t := &node{pos: p.tok.pos, name: p.tok.text}
	if err := p.count(t.pos); err != nil {
		return nil, err
	}
	if err := p.advance(); err != nil {
		return nil, err
	}
	return t, p.arguments(t, depth)
}

func (p *parser) testList(n *node, depth int) error {
	if err := p.advance(); err != nil {
		return err
	}
	for {
		t, err := p.test(depth)
		if err != nil {
			return err
		}
		n.tests = append(n.tests, t)
		switch p.tok.kind {
		case tokComma:
			if err := p.advance(); err != nil {
				return err
			}
		case tokRParen:
			return p.advance()
		default:
			return p.errf(p.tok.pos, "expected \",\" or \")\" in test list, found %s", p.tok.kind)
		}
	}
}
