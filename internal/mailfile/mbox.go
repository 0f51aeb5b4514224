package mailfile

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// maxFromLine bounds a From line; a longer line is message content.
const maxFromLine = 1000

// asctime is the date layout of a From line.
const asctime = "Mon Jan _2 15:04:05 2006"

// MboxMessage is one message found by ScanMbox: where it lies in the
// file and what its From line and headers say.
type MboxMessage struct {
	Offset, Length int64 // the escaped content after the From line
	Date           time.Time
	Flags          []string
}

// ScanMbox finds the messages of an mbox. Content lines are not kept:
// ReadMbox reads one message back. A message longer than maxMessage is
// still found (its Length says so).
func ScanMbox(r io.Reader, maxMessage int64, fn func(MboxMessage) error) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var (
		off       int64
		cur       *MboxMessage
		prevEmpty = true
		inHeader  bool
		header    []byte
		lastLF    int64 = -1 // length of a pending empty line before a From line
	)
	flush := func(end int64) error {
		if cur == nil {
			return nil
		}
		cur.Length = end - cur.Offset
		cur.Flags = headerFlags(header)
		m := *cur
		cur, header = nil, header[:0]
		return fn(m)
	}
	for {
		line, err := readLine(br)
		if len(line) == 0 && err != nil {
			if errors.Is(err, io.EOF) {
				end := off
				if lastLF >= 0 {
					end = lastLF
				}
				return flush(end)
			}
			return err
		}
		isEmpty := len(line) == 1 && line[0] == '\n'
		if prevEmpty && len(line) <= maxFromLine && bytes.HasPrefix(line, []byte("From ")) {
			end := off
			if lastLF >= 0 {
				end = lastLF // the empty line before the From line separates
			}
			if err := flush(end); err != nil {
				return err
			}
			cur = &MboxMessage{Offset: off + int64(len(line)), Date: fromLineDate(line)}
			inHeader = true
			lastLF = -1
			off += int64(len(line))
			prevEmpty = false
			continue
		}
		if cur != nil && inHeader {
			if isEmpty {
				inHeader = false
			} else if len(header) < 64<<10 {
				header = append(header, line...)
			}
		}
		if isEmpty {
			lastLF = off
		} else {
			lastLF = -1
		}
		off += int64(len(line))
		prevEmpty = isEmpty
		if err != nil {
			if errors.Is(err, io.EOF) {
				end := off
				return flush(end)
			}
			return err
		}
	}
}

// readLine reads one line with its LF (the last may lack it), however
// long.
func readLine(br *bufio.Reader) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if !errors.Is(err, bufio.ErrBufferFull) {
		return line, err
	}
	long := append([]byte(nil), line...)
	for errors.Is(err, bufio.ErrBufferFull) {
		line, err = br.ReadSlice('\n')
		long = append(long, line...)
	}
	return long, err
}

// fromLineDate parses the date at the end of a From line, or returns the
// zero time.
func fromLineDate(line []byte) time.Time {
	s := strings.TrimRight(string(line), "\r\n")
	if len(s) >= len(asctime) {
		if t, err := time.Parse(asctime, s[len(s)-len(asctime):]); err == nil {
			return t
		}
	}
	return time.Time{}
}

// headerFlags reads Status, X-Status and X-Keywords.
func headerFlags(header []byte) []string {
	msg, err := mail.ReadMessage(bytes.NewReader(append(append([]byte(nil), header...), '\n')))
	if err != nil {
		return nil
	}
	var flags []string
	status := msg.Header.Get("Status") + msg.Header.Get("X-Status")
	for _, f := range []struct {
		c    byte
		flag string
	}{{'R', `\Seen`}, {'A', `\Answered`}, {'F', `\Flagged`}, {'T', `\Draft`}, {'D', `\Deleted`}} {
		if strings.IndexByte(status, f.c) >= 0 {
			flags = append(flags, f.flag)
		}
	}
	for _, kw := range strings.FieldsFunc(msg.Header.Get("X-Keywords"), func(r rune) bool { return r == ' ' || r == ',' }) {
		if kw != "" && !strings.HasPrefix(kw, `\`) {
			flags = append(flags, kw)
		}
	}
	return flags
}

// ReadMboxMessage reads the message m of the mbox file f and unescapes
// it.
func ReadMboxMessage(f io.ReaderAt, m MboxMessage) ([]byte, error) {
	b := make([]byte, m.Length)
	if _, err := f.ReadAt(b, m.Offset); err != nil {
		return nil, err
	}
	return unescapeFrom(b), nil
}

// unescapeFrom removes one ">" from each line ">…>From ".
func unescapeFrom(b []byte) []byte {
	if !bytes.Contains(b, []byte(">From ")) {
		return b
	}
	out := make([]byte, 0, len(b))
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		line := b
		if i >= 0 {
			line = b[:i+1]
		}
		b = b[len(line):]
		t := bytes.TrimLeft(line, ">")
		if len(t) < len(line) && bytes.HasPrefix(t, []byte("From ")) {
			line = line[1:]
		}
		out = append(out, line...)
	}
	return out
}

// escapeFrom adds one ">" to each line ">…>From " and "From ".
func escapeFrom(b []byte) []byte {
	if !bytes.Contains(b, []byte("From ")) {
		return b
	}
	out := make([]byte, 0, len(b)+16)
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		line := b
		if i >= 0 {
			line = b[:i+1]
		}
		b = b[len(line):]
		if bytes.HasPrefix(bytes.TrimLeft(line, ">"), []byte("From ")) {
			out = append(out, '>')
		}
		out = append(out, line...)
	}
	return out
}

// ReadMboxFile lists the messages of one mbox file as a folder.
func ReadMboxFile(path, mailbox string, maxMessage int64) (Folder, error) {
	f, err := os.Open(path)
	if err != nil {
		return Folder{}, err
	}
	defer f.Close()
	folder := Folder{Name: mailbox}
	err = ScanMbox(f, maxMessage, func(m MboxMessage) error {
		folder.Messages = append(folder.Messages, Message{Size: m.Length, Date: m.Date, Flags: m.Flags, Read: func() ([]byte, error) {
			if m.Length > maxMessage {
				return nil, fmt.Errorf("%s at %d: %d bytes, more than the %d a message may have", path, m.Offset, m.Length, maxMessage)
			}
			f, err := os.Open(path)
			if err != nil {
				return nil, err
			}
			defer f.Close()
			return ReadMboxMessage(f, m)
		}})
		return nil
	})
	return folder, err
}

// IsMbox reports whether the file starts like an mbox.
func IsMbox(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	head := make([]byte, 5)
	n, _ := io.ReadFull(f, head)
	return n == 5 && string(head) == "From "
}

// ReadMboxDir lists the mbox files under dir as folders: "Work" and
// "Work.sbd/2024" (Thunderbird) or "Work/2024" give "Work" and
// "Work/2024"; an ".mbox" extension is dropped; "inbox" is INBOX. Files
// that do not start like an mbox are skipped.
func ReadMboxDir(dir string, maxMessage int64) ([]Folder, error) {
	var folders []Folder
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.HasPrefix(d.Name(), ".") && path != dir {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() || !d.Type().IsRegular() || !IsMbox(path) {
			return nil
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		parts := strings.Split(filepath.ToSlash(rel), "/")
		for i := range parts {
			parts[i] = strings.TrimSuffix(strings.TrimSuffix(parts[i], ".sbd"), ".mbox")
		}
		name := strings.Join(parts, "/")
		if strings.EqualFold(name, "INBOX") {
			name = "INBOX"
		}
		f, err := ReadMboxFile(path, name, maxMessage)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		folders = append(folders, f)
		return nil
	})
	return folders, err
}

// MboxPath is where an mbox export writes mailbox "A/B": dir/A.sbd/B
// (Thunderbird's layout, which ReadMboxDir reads back).
func MboxPath(dir, mailbox string) string {
	parts := strings.Split(mailbox, "/")
	for i := range parts[:len(parts)-1] {
		parts[i] += ".sbd"
	}
	return filepath.Join(append([]string{dir}, parts...)...)
}

// WriteMboxMessage appends one message (LF endings) to w: a From line
// with date, the escaped content, and the empty line that separates.
func WriteMboxMessage(w io.Writer, data []byte, date time.Time) error {
	if _, err := fmt.Fprintf(w, "From MAILER-DAEMON %s\n", date.UTC().Format(asctime)); err != nil {
		return err
	}
	data = escapeFrom(data)
	if _, err := w.Write(data); err != nil {
		return err
	}
	if len(data) > 0 && data[len(data)-1] != '\n' {
		if _, err := io.WriteString(w, "\n"); err != nil {
			return err
		}
	}
	_, err := io.WriteString(w, "\n")
	return err
}
