package mailfile

import (
	"bytes"
	"time"
)

// Message is one message of a source, read on demand.
type Message struct {
	// Size is the message's size in the file (before unescaping).
	Size  int64
	Flags []string // IMAP flag names: \Seen, $Forwarded, keywords
	Date  time.Time
	// Read returns the message as in the file (LF endings, unescaped).
	Read func() ([]byte, error)
}

// Folder is a mailbox of a source: Name is an IMAP mailbox name with "/"
// as the delimiter, "INBOX" for the inbox.
type Folder struct {
	Name     string
	Messages []Message
}

// ToCRLF turns bare LF line endings into CRLF.
func ToCRLF(b []byte) []byte {
	n := bytes.Count(b, []byte("\n")) - bytes.Count(b, []byte("\r\n"))
	if n == 0 {
		return b
	}
	out := make([]byte, 0, len(b)+n)
	for i, c := range b {
		if c == '\n' && (i == 0 || b[i-1] != '\r') {
			out = append(out, '\r')
		}
		out = append(out, c)
	}
	return out
}

// ToLF turns CRLF line endings into LF.
func ToLF(b []byte) []byte {
	if !bytes.Contains(b, []byte("\r\n")) {
		return b
	}
	return bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n"))
}
