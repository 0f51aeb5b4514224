package managesieve

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"testing"
)

// FuzzDecode feeds arbitrary bytes to the command decoder: no panic,
// every command has at most maxArgs arguments, and no literal longer
// than the limit is returned.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		"AUTHENTICATE \"PLAIN\" \"AGFsaWNlAHBhc3M=\"\r\n",
		"PUTSCRIPT \"x\" {5+}\r\nkeep;\r\n",
		"HAVESPACE \"x\" 1000\r\nNOOP\r\n",
		"RENAMESCRIPT \"a\\\"b\" \"c\\\\d\"\n",
		"CHECKSCRIPT {99999}\r\n",
		"\"*\"\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		d := &decoder{r: bufio.NewReader(bytes.NewReader(data)), maxLiteral: 64}
		for range 100 {
			cmd, err := d.readCommand()
			var se *syntaxError
			if errors.As(err, &se) {
				continue
			}
			if err != nil {
				if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, errLiteralTooLarge) {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			if len(cmd.args) > maxArgs {
				t.Fatalf("%d arguments", len(cmd.args))
			}
			for _, a := range cmd.args {
				if len(a.s) > maxLine+64 {
					t.Fatalf("argument of %d bytes", len(a.s))
				}
			}
		}
	})
}
