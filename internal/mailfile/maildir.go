package mailfile

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"mailroom/imapd/proto"
)

// maildirFlags maps the Maildir info letters to IMAP flags, in the
// letters' ASCII order (the order a Maildir name must have them in).
var maildirFlags = []struct {
	letter byte
	flag   string
}{{'D', `\Draft`}, {'F', `\Flagged`}, {'P', `$Forwarded`}, {'R', `\Answered`}, {'S', `\Seen`}, {'T', `\Deleted`}}

// IsMaildir reports whether dir has cur/ and new/.
func IsMaildir(dir string) bool {
	for _, sub := range []string{"cur", "new"} {
		if fi, err := os.Stat(filepath.Join(dir, sub)); err != nil || !fi.IsDir() {
			return false
		}
	}
	return true
}

// ReadMaildir lists the messages of a Maildir and its Maildir++
// subfolders, each folder's in file-name order (delivery order for names
// that start with a time, as they should). Messages larger than
// maxMessage are returned with a Read that fails.
func ReadMaildir(root string, maxMessage int64) ([]Folder, error) {
	var folders []Folder
	inbox, err := readMaildirFolder(root, "INBOX", maxMessage)
	if err != nil {
		return nil, err
	}
	folders = append(folders, inbox)
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		name := e.Name()
		if !e.IsDir() || len(name) < 2 || name[0] != '.' || name == ".." {
			continue
		}
		dir := filepath.Join(root, name)
		if !IsMaildir(dir) {
			continue
		}
		mailbox, err := maildirPPName(name[1:])
		if err != nil {
			return nil, fmt.Errorf("folder %s: %w", name, err)
		}
		f, err := readMaildirFolder(dir, mailbox, maxMessage)
		if err != nil {
			return nil, err
		}
		folders = append(folders, f)
	}
	return folders, nil
}

// maildirPPName turns a Maildir++ folder name (without the leading dot)
// into a mailbox name.
func maildirPPName(s string) (string, error) {
	name, err := proto.DecodeMUTF7(s)
	if err != nil {
		name = s // not modified UTF-7: take it as it is
	}
	name = strings.ReplaceAll(name, ".", "/")
	if strings.EqualFold(name, "INBOX") {
		name = "INBOX"
	}
	if name == "" || strings.Contains(name, "//") || strings.HasPrefix(name, "/") || strings.HasSuffix(name, "/") {
		return "", errors.New("not a valid mailbox name")
	}
	return name, nil
}

// MaildirPPDir is the Maildir++ directory name of a mailbox ("" for
// INBOX, which is the root).
func MaildirPPDir(mailbox string) string {
	if mailbox == "INBOX" {
		return ""
	}
	return "." + proto.EncodeMUTF7(strings.ReplaceAll(mailbox, "/", "."))
}

// readKeywords reads a folder's dovecot-keywords file: "N name" lines.
func readKeywords(dir string) map[byte]string {
	out := map[byte]string{}
	f, err := os.Open(filepath.Join(dir, "dovecot-keywords"))
	if err != nil {
		return out
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		num, name, ok := strings.Cut(sc.Text(), " ")
		n, err := strconv.Atoi(num)
		if ok && err == nil && n >= 0 && n < 26 && name != "" {
			out[byte('a'+n)] = name
		}
	}
	return out
}

func readMaildirFolder(dir, mailbox string, maxMessage int64) (Folder, error) {
	f := Folder{Name: mailbox}
	keywords := readKeywords(dir)
	for _, sub := range []string{"cur", "new"} {
		entries, err := os.ReadDir(filepath.Join(dir, sub))
		if err != nil {
			return f, err
		}
		var msgs []Message
		var names []string
		for _, e := range entries {
			if e.IsDir() || strings.HasPrefix(e.Name(), ".") {
				continue
			}
			info, err := e.Info()
			if err != nil {
				continue // gone meanwhile
			}
			path := filepath.Join(dir, sub, e.Name())
			m := Message{Size: info.Size(), Date: info.ModTime(), Flags: maildirInfoFlags(e.Name(), keywords)}
			size := info.Size()
			m.Read = func() ([]byte, error) {
				if size > maxMessage {
					return nil, fmt.Errorf("%s: %d bytes, more than the %d a message may have", path, size, maxMessage)
				}
				return os.ReadFile(path)
			}
			msgs = append(msgs, m)
			names = append(names, e.Name())
		}
		idx := make([]int, len(msgs))
		for i := range idx {
			idx[i] = i
		}
		slices.SortStableFunc(idx, func(a, b int) int { return strings.Compare(names[a], names[b]) })
		for _, i := range idx {
			f.Messages = append(f.Messages, msgs[i])
		}
	}
	return f, nil
}

// maildirInfoFlags reads the flags of a Maildir file name.
func maildirInfoFlags(name string, keywords map[byte]string) []string {
	_, info, ok := strings.Cut(name, ":2,")
	if !ok {
		return nil
	}
	var flags []string
	for i := 0; i < len(info); i++ {
		c := info[i]
		for _, f := range maildirFlags {
			if f.letter == c {
				flags = append(flags, f.flag)
			}
		}
		if kw, ok := keywords[c]; ok {
			flags = append(flags, kw)
		}
	}
	return flags
}

// MaildirWriter writes one folder of a Maildir.
type MaildirWriter struct {
	dir      string
	keywords []string // index = letter - 'a'
	host     string
}

// NewMaildirWriter creates the folder of mailbox under root (the root
// itself for INBOX) with cur/, new/ and tmp/.
func NewMaildirWriter(root, mailbox string) (*MaildirWriter, error) {
	dir := filepath.Join(root, MaildirPPDir(mailbox))
	for _, sub := range []string{"cur", "new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			return nil, err
		}
	}
	host, _ := os.Hostname()
	host = strings.NewReplacer("/", `\057`, ":", `\072`).Replace(host)
	return &MaildirWriter{dir: dir, host: host}, nil
}

// Write stores one message (LF endings) in cur/ with its flags, named
// after date and id (unique within the folder), modified at date.
func (w *MaildirWriter) Write(data []byte, flags []string, date time.Time, id string) error {
	var info []byte
	var kws []byte
	for _, fl := range flags {
		known := false
		for _, f := range maildirFlags {
			if strings.EqualFold(f.flag, fl) {
				info, known = append(info, f.letter), true
			}
		}
		if known || strings.HasPrefix(fl, `\`) {
			continue
		}
		i := slices.Index(w.keywords, fl)
		if i < 0 {
			if len(w.keywords) == 26 {
				continue // Dovecot's limit too: 26 letters
			}
			w.keywords = append(w.keywords, fl)
			i = len(w.keywords) - 1
		}
		kws = append(kws, byte('a'+i))
	}
	slices.Sort(info)
	slices.Sort(kws)
	name := fmt.Sprintf("%d.%s.%s:2,%s%s", date.Unix(), id, w.host, info, kws)
	tmp := filepath.Join(w.dir, "tmp", name)
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	if err := os.Chtimes(tmp, date, date); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(w.dir, "cur", name))
}

// Close writes the folder's dovecot-keywords file.
func (w *MaildirWriter) Close() error {
	if len(w.keywords) == 0 {
		return nil
	}
	var b strings.Builder
	for i, k := range w.keywords {
		fmt.Fprintf(&b, "%d %s\n", i, k)
	}
	return os.WriteFile(filepath.Join(w.dir, "dovecot-keywords"), []byte(b.String()), 0o600)
}
