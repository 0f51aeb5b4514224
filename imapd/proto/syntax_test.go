package proto

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"testing"
	"unicode/utf8"
)

func TestMUTF7(t *testing.T) {
	good := []struct{ utf7, utf8 string }{
		{"INBOX", "INBOX"},
		{"Entw&APw-rfe", "Entwürfe"},
		{"&-", "&"},
		{"Tom &- Jerry", "Tom & Jerry"},
		{"&ZeVnLIqe-", "日本語"},
		{"&2D3eAA-", "😀"},
		{"~peter/mail/&U,BTFw-/&ZeVnLIqe-", "~peter/mail/台北/日本語"},
	}
	for _, tt := range good {
		got, err := DecodeMUTF7(tt.utf7)
		if err != nil || got != tt.utf8 {
			t.Errorf("Decode(%q) = %q, %v; want %q", tt.utf7, got, err, tt.utf8)
		}
		if enc := EncodeMUTF7(tt.utf8); enc != tt.utf7 {
			t.Errorf("Encode(%q) = %q, want %q", tt.utf8, enc, tt.utf7)
		}
	}
	for _, bad := range []string{"&", "&AGE", "&AGE-&AGI-", "&AEE-", "&2D0-", "&3gA-", "&AP-", "caf\xc3\xa9", "&A,-", "tab\there"} {
		if got, err := DecodeMUTF7(bad); err == nil {
			t.Errorf("Decode(%q) = %q, want an error", bad, got)
		}
	}
}

func TestParseNumSet(t *testing.T) {
	good := map[string]string{"1": "1", "1:5": "1:5", "5:1": "1:5", "1,3:*": "1,3:*", "*": "*", "*:4": "*:4", "4294967295": "4294967295"}
	for in, want := range good {
		s, err := ParseNumSet(in)
		if err != nil || s.String() != want {
			t.Errorf("ParseNumSet(%q) = %v, %v; want %s", in, s, err, want)
		}
	}
	for _, bad := range []string{"", "0", "1:0", "01", "1,,2", "a", "1:", ":1", "4294967296", "1:2:3", "$"} {
		if _, err := ParseNumSet(bad); err == nil {
			t.Errorf("ParseNumSet(%q) accepted", bad)
		}
	}
	big := bytes.Repeat([]byte("1,"), MaxSetRanges)
	if _, err := ParseNumSet(string(big) + "1"); err == nil {
		t.Errorf("%d ranges accepted", MaxSetRanges+1)
	}
	s, _ := ParseNumSet("*:4,10")
	if !s.Contains(7, 7) || s.Contains(3, 7) || s.Contains(9, 7) || !s.Contains(10, 20) || s.Contains(1, 0) {
		t.Errorf("Contains wrong for %v", s)
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		"a1 NOOP\r\n", "a2 LOGIN {5}\r\nalice {3+}\r\npwd\r\n",
		"a4 UID FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (To)]<0.100>)\r\n",
		"a5 SEARCH (OR SEEN (FLAGGED)) NOT (DELETED)\r\n", "a8 APPEND INBOX () ~{3}\r\na\x00b\r\n",
		"a1 ID ((((({0}\r\n)))))\r\n", "a1 CREATE {70000+}\r\n", "* \"x\\\r\n", "a1 SELECT \"x {3+}\r\nabc\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		lim := Limits{Line: 512, Literal: 256, Command: 2048, Depth: 8, Values: 64, Discard: 1024}
		d := NewDecoder(bufio.NewReaderSize(bytes.NewReader(in), 16), lim, Hooks{Continue: func() error { return nil }})
		for range 100 {
			cmd, err := d.ReadCommand()
			var pe *Error
			switch {
			case err == nil:
				checkValues(t, cmd.Args, lim, 0)
				// What the encoder writes, the decoder reads back the same.
				wire := encode(true, func(e *Encoder) {
					e.Raw("t ").Raw(cmd.Name)
					writeValues(e, cmd.Args, true)
					e.CRLF()
				})
				d2, _ := dec(wire, Limits{}, Hooks{})
				again, err := d2.ReadCommand()
				if err != nil || show(again.Args) != show(cmd.Args) {
					t.Fatalf("round trip of %q: %q → %v %v", show(cmd.Args), wire, again, err)
				}
			case errors.As(err, &pe):
				if pe.Fatal {
					return
				}
			case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
				return
			default:
				t.Fatalf("unexpected error %v", err)
			}
		}
	})
}

func checkValues(t *testing.T, vs []Value, lim Limits, depth int) {
	if depth > lim.Depth {
		t.Fatalf("depth %d over the limit", depth)
	}
	for _, v := range vs {
		if v.Kind == List {
			checkValues(t, v.List, lim, depth+1)
		}
	}
}

func writeValues(e *Encoder, vs []Value, first bool) {
	for i, v := range vs {
		if i > 0 || first {
			e.SP()
		}
		switch v.Kind {
		case Atom:
			e.Raw(string(v.Bytes))
		case Quoted:
			if bytes.IndexByte(v.Bytes, 0) >= 0 {
				e.Literal(v.Bytes)
			} else {
				e.Bytes(v.Bytes)
			}
		case Literal:
			if v.Binary {
				e.Literal8(v.Bytes)
			} else {
				e.Literal(v.Bytes)
			}
		case List:
			e.Open()
			writeValues(e, v.List, false)
			e.Close()
		}
	}
}

func FuzzMUTF7(f *testing.F) {
	for _, s := range []string{"INBOX", "Entw&APw-rfe", "&-", "&ZeVnLIqe-", "&2D3eAA-", "&AGE-&AGI-", "日本語"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if dec, err := DecodeMUTF7(s); err == nil {
			// A valid name has one spelling: encoding gives it back.
			if EncodeMUTF7(dec) != s {
				t.Fatalf("%q decodes to %q which encodes to %q", s, dec, EncodeMUTF7(dec))
			}
		}
		if utf8.ValidString(s) {
			enc := EncodeMUTF7(s)
			if back, err := DecodeMUTF7(enc); err != nil || back != s {
				t.Fatalf("%q encodes to %q which decodes to %q, %v", s, enc, back, err)
			}
		}
	})
}

func FuzzNumSet(f *testing.F) {
	for _, s := range []string{"1", "1:5", "5:1,*", "*:4,10", "1,2,3", "0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		set, err := ParseNumSet(s)
		if err != nil {
			return
		}
		again, err := ParseNumSet(set.String())
		if err != nil || again.String() != set.String() {
			t.Fatalf("%q → %q → %v %v", s, set.String(), again, err)
		}
		for _, r := range set.Resolve(100) {
			if r.Start == 0 || r.Start > r.Stop {
				t.Fatalf("%q resolves to %v", s, r)
			}
		}
	})
}
