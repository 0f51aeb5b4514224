package proto

import (
	"bufio"
	"bytes"
	"strings"
	"testing"
)

func encode(utf8 bool, f func(e *Encoder)) string {
	var buf bytes.Buffer
	w := bufio.NewWriter(&buf)
	e := NewEncoder(w)
	e.UTF8 = utf8
	f(e)
	e.Flush()
	return buf.String()
}

func TestEncodeStrings(t *testing.T) {
	tests := []struct {
		in   string
		utf8 bool
		want string
	}{
		{"hello", false, `"hello"`},
		{"", false, `""`},
		{`a "quoted" \ back`, false, `"a \"quoted\" \\ back"`},
		{"two\r\nlines", false, "{10}\r\ntwo\r\nlines"},
		{"Grüße", false, "{7}\r\nGrüße"},
		{"Grüße", true, `"Grüße"`},
		{"bad \xff utf8", true, "{10}\r\nbad \xff utf8"},
		{"nul\x00inside", false, "{12}\r\nnul\uFFFDinside"},
		{strings.Repeat("x", maxQuoted+1), false, "{1025}\r\n" + strings.Repeat("x", maxQuoted+1)},
	}
	for _, tt := range tests {
		if got := encode(tt.utf8, func(e *Encoder) { e.String(tt.in) }); got != tt.want {
			t.Errorf("String(%q) utf8=%v = %q, want %q", tt.in, tt.utf8, got, tt.want)
		}
	}
}

func TestEncodeAtomsFlagsLiterals(t *testing.T) {
	got := encode(false, func(e *Encoder) {
		e.Raw("* 1 FETCH ").Open().Raw("FLAGS ").Open().Flag(`\Seen`).SP().Flag("$Junk").SP().Flag("NIL").SP().Flag("bad flag").Close()
		e.SP().Raw("X ").Atom("INBOX").SP().Atom("NIL").SP().Atom("a(b").SP().NString("").SP().Number(42)
		e.SP().Literal8([]byte("a\x00b")).SP().LiteralFrom(strings.NewReader("hello"), 5, false).Close().CRLF()
	})
	want := "* 1 FETCH (FLAGS (\\Seen $Junk NIL \"bad flag\") X INBOX \"NIL\" \"a(b\" NIL 42 ~{3}\r\na\x00b {5}\r\nhello)\r\n"
	if got != want {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
}

// TestEncodeDecodeRoundTrip writes every kind of string the encoder
// chooses and reads it back with the decoder.
func TestEncodeDecodeRoundTrip(t *testing.T) {
	for _, s := range []string{"", "plain", `q"uo\te`, "multi\r\nline", "ütf-8", strings.Repeat("long ", 300), "NIL", "with ] and [", "{5}"} {
		wire := encode(false, func(e *Encoder) { e.Raw("t1 X ").String(s).SP().Atom(s).CRLF() })
		d, _ := dec(wire, Limits{}, Hooks{})
		cmd, err := d.ReadCommand()
		if err != nil {
			t.Fatalf("%q: %v (wire %q)", s, err, wire)
		}
		for i, v := range cmd.Args {
			got, ok := v.AString()
			if !ok || got != s || v.IsNil() {
				t.Errorf("%q arg %d: read back %q (%v)", s, i, got, v.Kind)
			}
		}
	}
}
