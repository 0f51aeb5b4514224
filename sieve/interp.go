package sieve

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// RuntimeError is an error while running a script: a limit reached, an
// include that failed, a conflict between actions. The message is then
// kept in INBOX (RFC 5228 §2.10.6).
type RuntimeError struct {
	Pos Pos
	Msg string
	Err error
}

func (e *RuntimeError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("line %d: %s: %v", e.Pos.Line, e.Msg, e.Err)
	}
	return fmt.Sprintf("line %d: %s", e.Pos.Line, e.Msg)
}

func (e *RuntimeError) Unwrap() error { return e.Err }

// ErrLimit is wrapped by every RuntimeError caused by a limit.
var ErrLimit = errors.New("limit reached")

type ctrl int

const (
	ctrlNext ctrl = iota
	ctrlStop
	ctrlReturn
)

// frame is one script being run: the top one or an included one. Each
// has its own variables (RFC 6609 §3.4) except those declared global.
type frame struct {
	s       *Script
	vars    map[string]string
	globals map[string]bool
	match   []string
}

// interp is the state of one run.
type interp struct {
	ctx        context.Context
	env        *Env
	lim        *Limits
	steps      int
	res        Result
	flags      string // imap4flags internal variable
	header     []HeaderField
	cancelKeep bool
	globalVars map[string]string
	nvars      int
	onceDone   map[string]bool
	includes   int
	depth      int
	actions    int
	edits      int
	redirects  int
	rejected   bool
	vacation   bool
	now        time.Time
}

// Run runs a compiled script against a message. On error the result
// holds only the implicit keep, and the error says why.
func Run(ctx context.Context, s *Script, env *Env) (*Result, error) {
	lim := env.Limits
	if lim == nil {
		lim = &DefaultLimits
	}
	in := &interp{
		ctx: ctx, env: env, lim: lim,
		globalVars: map[string]string{},
		onceDone:   map[string]bool{},
		now:        env.Now,
	}
	if in.now.IsZero() {
		in.now = time.Now()
	}
	if env.Message != nil {
		in.header = append([]HeaderField(nil), env.Message.Header...)
	}
	f := &frame{s: s, vars: map[string]string{}, globals: map[string]bool{}}
	if _, err := in.exec(f, s.cmds); err != nil {
		return &Result{Actions: []Action{{Kind: ActKeep, Mailbox: "INBOX", Implicit: true}}, Header: env.headerOrNil()}, err
	}
	if !in.cancelKeep {
		in.addAction(Action{Kind: ActKeep, Mailbox: "INBOX", Flags: splitFlags(in.flags), Implicit: true})
	}
	in.res.Header = in.header
	return &in.res, nil
}

func (e *Env) headerOrNil() []HeaderField {
	if e.Message == nil {
		return nil
	}
	return e.Message.Header
}

func (in *interp) step(p Pos) error {
	in.steps++
	if in.steps > in.lim.MaxSteps {
		return &RuntimeError{Pos: p, Msg: fmt.Sprintf("more than %d steps", in.lim.MaxSteps), Err: ErrLimit}
	}
	if in.steps&1023 == 0 {
		if err := in.ctx.Err(); err != nil {
			return &RuntimeError{Pos: p, Msg: "cancelled", Err: err}
		}
	}
	return nil
}

func (in *interp) exec(f *frame, cmds []*instr) (ctrl, error) {
	for _, c := range cmds {
		if err := in.step(c.pos); err != nil {
			return ctrlStop, err
		}
		r, err := in.command(f, c)
		if err != nil || r != ctrlNext {
			return r, err
		}
	}
	return ctrlNext, nil
}

func (in *interp) command(f *frame, c *instr) (ctrl, error) {
	switch c.name {
	case "if":
		for b := c; b != nil; b = b.next {
			if b.name == "else" {
				return in.exec(f, b.block)
			}
			ok, err := in.test(f, b.tests[0])
			if err != nil {
				return ctrlStop, err
			}
			if ok {
				return in.exec(f, b.block)
			}
		}
		return ctrlNext, nil
	case "stop":
		return ctrlStop, nil
	case "return":
		return ctrlReturn, nil
	case "keep":
		flags := in.flags
		if c.has("flags") {
			flags = strings.Join(in.expandList(f, c.tags["flags"].strs), " ")
		}
		return ctrlNext, in.act(c, Action{Kind: ActKeep, Mailbox: "INBOX", Flags: splitFlags(flags)})
	case "discard":
		in.cancelKeep = true
		return ctrlNext, nil
	case "fileinto":
		flags := in.flags
		if c.has("flags") {
			flags = strings.Join(in.expandList(f, c.tags["flags"].strs), " ")
		}
		mbox := in.expand(f, c.args[0].str())
		if mbox == "" {
			return ctrlStop, &RuntimeError{Pos: c.pos, Msg: "fileinto with an empty mailbox name"}
		}
		if !c.has("copy") {
			in.cancelKeep = true
		}
		return ctrlNext, in.act(c, Action{Kind: ActFileinto, Mailbox: mbox, Create: c.has("create"), Flags: splitFlags(flags), Copy: c.has("copy")})
	case "redirect":
		addr := strings.TrimSpace(in.expand(f, c.args[0].str()))
		if !validRedirect(addr) {
			return ctrlStop, &RuntimeError{Pos: c.pos, Msg: fmt.Sprintf("redirect to an invalid address %q", addr)}
		}
		in.redirects++
		if in.redirects > in.lim.MaxRedirects {
			return ctrlStop, &RuntimeError{Pos: c.pos, Msg: fmt.Sprintf("more than %d redirects", in.lim.MaxRedirects), Err: ErrLimit}
		}
		if !c.has("copy") {
			in.cancelKeep = true
		}
		return ctrlNext, in.act(c, Action{Kind: ActRedirect, Address: addr, Copy: c.has("copy")})
	case "reject", "ereject":
		// RFC 5429 §2.1/§2.2: one reject per script, and not together
		// with vacation or an action that delivers the message.
		if in.rejected || in.vacation {
			return ctrlStop, &RuntimeError{Pos: c.pos, Msg: c.name + " cannot be combined with another reject or with vacation"}
		}
		for _, a := range in.res.Actions {
			if a.Kind == ActKeep || a.Kind == ActFileinto || a.Kind == ActRedirect {
				return ctrlStop, &RuntimeError{Pos: c.pos, Msg: c.name + " cannot be combined with " + a.Kind.String()}
			}
		}
		in.rejected = true
		in.cancelKeep = true
		kind := ActReject
		if c.name == "ereject" {
			kind = ActEreject
		}
		return ctrlNext, in.act(c, Action{Kind: kind, Reason: in.expand(f, c.args[0].str())})
	case "vacation":
		if in.rejected || in.vacation {
			return ctrlStop, &RuntimeError{Pos: c.pos, Msg: "vacation cannot be combined with reject or another vacation"}
		}
		in.vacation = true
		return ctrlNext, in.vacationAction(f, c)
	case "set":
		return ctrlNext, in.set(f, c)
	case "global":
		for _, name := range c.args[0].strs {
			f.globals[strings.ToLower(name)] = true
		}
		return ctrlNext, nil
	case "setflag", "addflag", "removeflag":
		return ctrlNext, in.flagCommand(f, c)
	case "include":
		return in.include(f, c)
	case "addheader":
		return ctrlNext, in.addHeader(f, c)
	case "deleteheader":
		return ctrlNext, in.deleteHeader(f, c)
	}
	return ctrlStop, &RuntimeError{Pos: c.pos, Msg: "unknown command " + c.name}
}

// act records an action, merging duplicates (RFC 5228 §2.10.3: the same
// mailbox or address twice is done once; keep is fileinto "INBOX").
func (in *interp) act(c *instr, a Action) error {
	if in.rejected && (a.Kind == ActKeep || a.Kind == ActFileinto || a.Kind == ActRedirect) {
		return &RuntimeError{Pos: c.pos, Msg: a.Kind.String() + " cannot be combined with reject"}
	}
	for i, old := range in.res.Actions {
		same := false
		switch {
		case (a.Kind == ActKeep || a.Kind == ActFileinto) && (old.Kind == ActKeep || old.Kind == ActFileinto):
			same = strings.EqualFold(mailboxKey(old.Mailbox), mailboxKey(a.Mailbox))
		case a.Kind == ActRedirect && old.Kind == ActRedirect:
			same = strings.EqualFold(old.Address, a.Address)
		}
		if same {
			in.res.Actions[i].Flags = splitFlags(strings.Join(append(old.Flags, a.Flags...), " "))
			in.res.Actions[i].Create = old.Create || a.Create
			return nil
		}
	}
	in.actions++
	if in.actions > in.lim.MaxActions {
		return &RuntimeError{Pos: c.pos, Msg: fmt.Sprintf("more than %d actions", in.lim.MaxActions), Err: ErrLimit}
	}
	in.res.Actions = append(in.res.Actions, a)
	return nil
}

func (in *interp) addAction(a Action) {
	for i, old := range in.res.Actions {
		if (old.Kind == ActKeep || old.Kind == ActFileinto) && strings.EqualFold(mailboxKey(old.Mailbox), "INBOX") {
			in.res.Actions[i].Flags = splitFlags(strings.Join(append(old.Flags, a.Flags...), " "))
			return
		}
	}
	in.res.Actions = append(in.res.Actions, a)
}

func mailboxKey(m string) string {
	if strings.EqualFold(m, "INBOX") {
		return "INBOX"
	}
	return m
}

// validRedirect accepts a plain addr-spec: local@domain, no spaces or
// angle brackets.
func validRedirect(a string) bool {
	at := strings.LastIndexByte(a, '@')
	return at > 0 && at < len(a)-1 && !strings.ContainsAny(a, " \t\r\n<>,;\"")
}

// include runs another script (RFC 6609 §3.2).
func (in *interp) include(f *frame, c *instr) (ctrl, error) {
	name := in.expand(f, c.args[0].str())
	loc := Personal
	if c.has("global") {
		loc = Global
	}
	key := fmt.Sprintf("%d/%s", loc, name)
	if c.has("once") && in.onceDone[key] {
		return ctrlNext, nil
	}
	in.includes++
	if in.includes > in.lim.MaxIncludes {
		return ctrlStop, &RuntimeError{Pos: c.pos, Msg: fmt.Sprintf("more than %d includes", in.lim.MaxIncludes), Err: ErrLimit}
	}
	if in.depth+1 > in.lim.MaxIncludeDepth {
		return ctrlStop, &RuntimeError{Pos: c.pos, Msg: fmt.Sprintf("includes nested deeper than %d", in.lim.MaxIncludeDepth), Err: ErrLimit}
	}
	if in.env.Loader == nil {
		return ctrlStop, &RuntimeError{Pos: c.pos, Msg: "include is not available here"}
	}
	src, err := in.env.Loader(in.ctx, loc, name)
	if errors.Is(err, ErrNotFound) && c.has("optional") {
		return ctrlNext, nil
	}
	if err != nil {
		return ctrlStop, &RuntimeError{Pos: c.pos, Msg: fmt.Sprintf("include %q", name), Err: err}
	}
	var s *Script
	if in.env.Compiled != nil {
		s, err = in.env.Compiled(in.ctx, src)
	} else {
		s, err = Compile(src, in.lim)
	}
	if err != nil {
		return ctrlStop, &RuntimeError{Pos: c.pos, Msg: fmt.Sprintf("include %q", name), Err: err}
	}
	in.onceDone[key] = true
	in.depth++
	sub := &frame{s: s, vars: map[string]string{}, globals: map[string]bool{}}
	r, err := in.exec(sub, s.cmds)
	in.depth--
	if err != nil {
		return ctrlStop, err
	}
	if r == ctrlStop {
		return ctrlStop, nil
	}
	return ctrlNext, nil // return ends only the included script
}
