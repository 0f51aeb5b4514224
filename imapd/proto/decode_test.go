package proto

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

// dec returns a decoder over input that records continuation requests.
func dec(input string, lim Limits, hooks Hooks) (*Decoder, *int) {
	conts := new(int)
	if hooks.Continue == nil {
		hooks.Continue = func() error { *conts++; return nil }
	}
	return NewDecoder(bufio.NewReaderSize(strings.NewReader(input), 4096), lim, hooks), conts
}

// show renders values compactly for comparisons.
func show(vs []Value) string {
	var b strings.Builder
	for i, v := range vs {
		if i > 0 {
			b.WriteByte(' ')
		}
		switch v.Kind {
		case Atom:
			b.Write(v.Bytes)
		case Quoted:
			b.WriteString("q:" + string(v.Bytes))
		case Literal:
			if v.Binary {
				b.WriteString("l8:")
			} else {
				b.WriteString("l:")
			}
			b.Write(v.Bytes)
		case List:
			b.WriteString("(" + show(v.List) + ")")
		}
	}
	return b.String()
}

func TestDecodeCommands(t *testing.T) {
	tests := []struct {
		in, name, args string
		conts          int
	}{
		{"a1 NOOP\r\n", "NOOP", "", 0},
		{"a1 noop\n", "NOOP", "", 0},
		{"a2 LOGIN alice \"pa ss\\\"w\\\\d\"\r\n", "LOGIN", `alice q:pa ss"w\d`, 0},
		{"a3 LOGIN {5}\r\nalice {3+}\r\npwd\r\n", "LOGIN", "l:alice l:pwd", 1},
		{"a4 uid fetch 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (To \"Cc\")]<0.100>)\r\n", "UID FETCH",
			`1:* (FLAGS BODY.PEEK[HEADER.FIELDS (To "Cc")]<0.100>)`, 0},
		{"a5 SEARCH (OR SEEN (FLAGGED)) NOT (DELETED)\r\n", "SEARCH", "(OR SEEN (FLAGGED)) NOT (DELETED)", 0},
		{"a6 STORE 1 +FLAGS (\\Seen $Junk)\r\n", "STORE", `1 +FLAGS (\Seen $Junk)`, 0},
		{"a7 LIST \"\" %/*\r\n", "LIST", "q: %/*", 0},
		{"a8 APPEND INBOX () ~{3}\r\na\x00b\r\n", "APPEND", "INBOX () l8:a\x00b", 1},
		{"a9 ID NIL\r\n", "ID", "NIL", 0},
		{"b1 SELECT foo]bar\r\n", "SELECT", "foo]bar", 0},
		{"\r\n\r\nb2 CAPABILITY\r\n", "CAPABILITY", "", 0},
		{"b3 ID ()\r\n", "ID", "()", 0},
		{"b4 SELECT \"Entw&APw-rfe\"\r\n", "SELECT", "q:Entw&APw-rfe", 0},
	}
	for _, tt := range tests {
		d, conts := dec(tt.in, Limits{}, Hooks{})
		cmd, err := d.ReadCommand()
		if err != nil {
			t.Errorf("%q: %v", tt.in, err)
			continue
		}
		if cmd.Name != tt.name || show(cmd.Args) != tt.args || *conts != tt.conts {
			t.Errorf("%q: got %s [%s] conts %d, want %s [%s] conts %d", tt.in, cmd.Name, show(cmd.Args), *conts, tt.name, tt.args, tt.conts)
		}
		if _, err := d.ReadCommand(); err != io.EOF {
			t.Errorf("%q: after the command: %v, want EOF", tt.in, err)
		}
	}
}

// TestDecodeErrorsResync checks that a refused command is answered and the
// next command is read correctly: the decoder skips exactly the rest of
// the refused one.
func TestDecodeErrorsResync(t *testing.T) {
	tests := []struct {
		name, in, tag, code string
		fatal               bool
	}{
		{"no tag", "\r\n (x\r\n", "", "", false},
		{"plus tag", "+ NOOP\r\n", "", "", false},
		{"no command", "a1\r\n", "a1", "", false},
		{"unterminated list", "a1 SEARCH (SEEN\r\n", "a1", "", false},
		{"stray paren", "a1 SEARCH SEEN)\r\n", "a1", "", false},
		{"double space", "a1 SELECT  INBOX\r\n", "a1", "", false},
		{"bad quote", "a1 SELECT \"IN\r\n", "a1", "", false},
		{"bad escape", "a1 SELECT \"I\\N\"\r\n", "a1", "", false},
		{"literal mid-line", "a1 SELECT {3} x\r\n", "a1", "", false},
		{"deep", "a1 SEARCH " + strings.Repeat("(", 33) + "SEEN" + strings.Repeat(")", 33) + "\r\n", "a1", "LIMIT", false},
		{"big sync literal", "a1 CREATE {100000}\r\n", "a1", "TOOBIG", false},
		{"big non-sync literal skipped", "a1 CREATE {70000+}\r\n" + strings.Repeat("x", 70000) + " more {2+}\r\nxy\r\n", "a1", "TOOBIG", false},
		{"error before non-sync literal", "a1 SELECT \"x {3+}\r\nabc\r\n", "a1", "", false},
		{"too long line", "a1 SELECT " + strings.Repeat("x", 70000) + "\r\n", "", "LIMIT", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, conts := dec(tt.in+"z9 NOOP\r\n", Limits{}, Hooks{})
			_, err := d.ReadCommand()
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("got %v, want *Error", err)
			}
			if pe.Tag != tt.tag || pe.Code != tt.code || pe.Fatal != tt.fatal {
				t.Fatalf("got tag %q code %q fatal %v (%v), want %q %q %v", pe.Tag, pe.Code, pe.Fatal, pe, tt.tag, tt.code, tt.fatal)
			}
			if *conts != 0 {
				t.Fatalf("refused command got %d continuation requests", *conts)
			}
			cmd, err := d.ReadCommand()
			if tt.fatal {
				if err != pe {
					t.Fatalf("after a fatal error: %v, %v; want the same error again", cmd, err)
				}
				return
			}
			if err != nil || cmd.Tag != "z9" {
				t.Fatalf("next command: %+v, %v; want z9 NOOP", cmd, err)
			}
		})
	}
}

// TestDeepNestingOverLiterals is the pre-authentication crash of the
// hardening issue: a million parentheses spread over lines joined by
// zero-length literals. The decoder refuses at the depth limit, asks for
// no literal and recurses nowhere.
func TestDeepNestingOverLiterals(t *testing.T) {
	var in bytes.Buffer
	in.WriteString("a1 ID ")
	for range 10000 {
		in.WriteString(strings.Repeat("(", 100) + "{0}\r\n")
	}
	in.WriteString("\r\n")
	d, conts := dec(in.String(), Limits{}, Hooks{})
	_, err := d.ReadCommand()
	var pe *Error
	if !errors.As(err, &pe) || pe.Code != "LIMIT" || pe.Fatal {
		t.Fatalf("got %v, want a LIMIT error", err)
	}
	if *conts != 0 {
		t.Fatalf("%d continuation requests", *conts)
	}
}

func TestDecodeHooks(t *testing.T) {
	refuse := &Error{Code: "NOPERM", Text: "Log in first", NO: true}
	hooks := Hooks{
		Begin: func(tag, name string) error {
			if name == "SETACL" {
				e := *refuse
				e.Tag = tag
				return &e
			}
			return nil
		},
		Literal: func(p Pending) (bool, error) {
			if p.Name == "APPEND" && p.Depth == 0 && len(p.Args) >= 1 {
				if p.Size > 100 {
					return false, &Error{Tag: p.Tag, Code: "TOOBIG", Text: "Message too large", NO: true}
				}
				return true, nil
			}
			return false, nil
		},
	}
	in := "a1 SETACL {3}\r\n" + // refused before its literal is asked for
		"a2 APPEND INBOX {50}\r\n" + strings.Repeat("m", 50) + "\r\n" +
		"a3 APPEND INBOX (\\Seen) {101}\r\n" +
		"a4 NOOP\r\n"
	d, conts := dec(in, Limits{Command: 40}, hooks)
	_, err := d.ReadCommand()
	var pe *Error
	if !errors.As(err, &pe) || pe.Tag != "a1" || pe.Code != "NOPERM" {
		t.Fatalf("a1: %v", err)
	}
	cmd, err := d.ReadCommand()
	if err != nil || cmd.Tag != "a2" || len(cmd.Args[1].Bytes) != 50 {
		t.Fatalf("a2 (message literal exempt from Command): %+v %v", cmd, err)
	}
	if _, err = d.ReadCommand(); !errors.As(err, &pe) || pe.Tag != "a3" || pe.Code != "TOOBIG" {
		t.Fatalf("a3: %v", err)
	}
	if cmd, err = d.ReadCommand(); err != nil || cmd.Tag != "a4" {
		t.Fatalf("a4: %+v %v", cmd, err)
	}
	if *conts != 1 {
		t.Fatalf("%d continuation requests, want 1 (a2's)", *conts)
	}
}

func TestDecodeLimits(t *testing.T) {
	many := "a1 FETCH 1 (" + strings.Repeat("FLAGS ", 200) + "UID)\r\n"
	d, _ := dec(many, Limits{Values: 100}, Hooks{})
	var pe *Error
	if _, err := d.ReadCommand(); !errors.As(err, &pe) || pe.Code != "LIMIT" {
		t.Fatalf("values: %v", err)
	}
	// Many literals, each small, add up to the command limit.
	var in strings.Builder
	in.WriteString("a1 ID (")
	for range 100 {
		in.WriteString("{1000+}\r\n" + strings.Repeat("v", 1000) + " ")
	}
	in.WriteString("NIL)\r\na2 NOOP\r\n")
	d, _ = dec(in.String(), Limits{Command: 50000}, Hooks{})
	if _, err := d.ReadCommand(); !errors.As(err, &pe) || pe.Code != "TOOBIG" {
		t.Fatalf("command size: %v", err)
	}
	if cmd, err := d.ReadCommand(); err != nil || cmd.Tag != "a2" {
		t.Fatalf("after command size: %+v %v", cmd, err)
	}
}

func TestReadLine(t *testing.T) {
	d, _ := dec("DONE\r\n"+strings.Repeat("x", 70000)+"\r\n", Limits{}, Hooks{})
	if l, err := d.ReadLine(); err != nil || string(l) != "DONE" {
		t.Fatalf("%q %v", l, err)
	}
	var pe *Error
	if _, err := d.ReadLine(); !errors.As(err, &pe) || !pe.Fatal {
		t.Fatalf("long line: %v", err)
	}
	if _, err := d.ReadCommand(); !errors.As(err, &pe) || !pe.Fatal {
		t.Fatalf("after a fatal error: %v", err)
	}
}
