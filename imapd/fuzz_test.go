package imapd

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
)

// checkBodyStructure reports what would make go-imap's writer panic or a
// client's parser fail.
func checkBodyStructure(bs imap.BodyStructure, extended bool) error {
	switch b := bs.(type) {
	case *imap.BodyStructureMultiPart:
		if len(b.Children) == 0 {
			return fmt.Errorf("multipart/%s without parts", b.Subtype)
		}
		if extended != (b.Extended != nil) {
			return fmt.Errorf("multipart extension data does not match the request")
		}
		for _, c := range b.Children {
			if err := checkBodyStructure(c, extended); err != nil {
				return err
			}
		}
	case *imap.BodyStructureSinglePart:
		if extended != (b.Extended != nil) {
			return fmt.Errorf("%s/%s extension data does not match the request", b.Type, b.Subtype)
		}
		if b.MessageRFC822 != nil && b.MessageRFC822.BodyStructure != nil {
			return checkBodyStructure(b.MessageRFC822.BodyStructure, extended)
		}
	default:
		return fmt.Errorf("unknown body structure %T", bs)
	}
	return nil
}

func FuzzMessage(f *testing.F) {
	files, _ := filepath.Glob("../testdata/messages/*.eml")
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(multipart))
	f.Fuzz(func(t *testing.T, content []byte) {
		if err := checkBodyStructure(bodyStructure(content), true); err != nil {
			t.Fatal(err)
		}
		h := bodySection(content, &imap.FetchItemBodySection{Specifier: imap.PartSpecifierHeader})
		b := bodySection(content, &imap.FetchItemBodySection{Specifier: imap.PartSpecifierText})
		if !bytes.Equal(append(bytes.Clone(h), b...), content) {
			t.Fatal("HEADER + TEXT is not the message")
		}
		if !bytes.Equal(bodySection(content, &imap.FetchItemBodySection{}), content) {
			t.Fatal("BODY[] is not the message")
		}
		envelope(content)
		c := &candidate{content: content, bodyOffset: -1, scratch: &searchScratch{needles: map[string][]byte{}}}
		c.headerText()
		c.decodedText()
		c.bodyContains("needle")
		for _, sub := range []string{"a", "Content", "é"} {
			if got, want := containsFold(string(content), sub), strings.Contains(strings.ToLower(string(content)), strings.ToLower(sub)); got != want {
				t.Fatalf("containsFold(%q) = %v, strings says %v", sub, got, want)
			}
		}
	})
}

func FuzzExtConnFraming(f *testing.F) {
	for _, s := range []string{
		"a LOGIN u p\r\n", "a APPEND INBOX {5}\r\nhello\r\n", "a APPEND INBOX {5+}\r\nhello\r\nb NOOP\r\n",
		"a ID (\"name\" {3}\r\nabc)\r\n", "a IDLE\r\nDONE\r\n", "a AUTHENTICATE PLAIN\r\nAGEAYg==\r\n",
		"a ID NIL\r\n", "a ID (\"x\"\r\n", "{5}\r\n", "a SEARCH {1+}\r\nx {2+}\r\nyy\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		// literalAtEnd and splitCommand never panic and agree with what
		// they parse; the argument parser terminates.
		for _, line := range bytes.SplitAfter(in, []byte("\n")) {
			literalAtEnd(line)
			splitCommand(line)
		}
		r := &argReader{br: bufio.NewReader(bytes.NewReader(in)), line: in, maxLit: 1 << 16, cont: func() error { return nil }}
		for range 100 {
			if _, err := r.next(); err != nil {
				break
			}
			if r.sp() != nil {
				break
			}
		}
	})
}
