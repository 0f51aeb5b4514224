package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"mailroom/internal/mailfile"
)

var genBase = time.Date(2023, 5, 1, 12, 0, 0, 0, time.UTC)

// genMessage is message i of a generated folder (LF endings); every
// 1000th repeats the one before, so a folder holds duplicates.
func genMessage(folder string, i int) string {
	if i%1000 == 1 {
		i--
	}
	return fmt.Sprintf("From: sender%d@example.org\nTo: someone@example.test\nSubject: %s %d\nMessage-ID: <%s.%d@gen>\n\nFrom the body of %d\n>From a quoted line\n", i%17, folder, i, strings.ReplaceAll(folder, "/", "."), i, i)
}

// genMaildir writes a Maildir with Maildir++ folders holding n messages
// in all, with flags and keywords.
func genMaildir(t *testing.T, root string, folders map[string]int) {
	t.Helper()
	for name, n := range folders {
		dir := filepath.Join(root, mailfile.MaildirPPDir(name))
		for _, sub := range []string{"cur", "new", "tmp"} {
			if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
				t.Fatal(err)
			}
		}
		os.WriteFile(filepath.Join(dir, "dovecot-keywords"), []byte("0 $Label1\n1 Work\n"), 0o600)
		for i := range n {
			flags := []string{"", "S", "RS", "FS"}[i%4]
			if i%7 == 0 {
				flags += "a"
			}
			if i%11 == 0 {
				flags += "b"
			}
			path := filepath.Join(dir, "cur", fmt.Sprintf("%d.M%dP1.gen:2,%s", genBase.Unix()+int64(i), i, flags))
			if err := os.WriteFile(path, []byte(genMessage(name, i)), 0o600); err != nil {
				t.Fatal(err)
			}
			date := genBase.Add(time.Duration(i) * time.Minute)
			os.Chtimes(path, date, date)
		}
	}
}

// genMbox writes one mbox file of n messages, some with Status headers.
func genMbox(t testing.TB, path, folder string, n int) {
	t.Helper()
	os.MkdirAll(filepath.Dir(path), 0o700)
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	for i := range n {
		msg := genMessage(folder, i)
		if i%3 == 0 {
			msg = "Status: RO\nX-Status: F\n" + msg
		}
		mailfile.WriteMboxMessage(w, []byte(msg), genBase.Add(time.Duration(i)*time.Minute))
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

// importInterrupted runs mailroom import and kills it once it reports at
// least half of total done.
func importInterrupted(t *testing.T, total int, args ...string) {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"import"}, args...)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := regexp.MustCompile(`^import: (\d+)/(\d+) `)
	sc := bufio.NewScanner(stdout)
	killed := false
	for sc.Scan() {
		m := done.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		if n, _ := strconv.Atoi(m[1]); n >= total/2 && n < total {
			cmd.Process.Kill()
			killed = true
			break
		}
	}
	cmd.Wait()
	if !killed {
		t.Fatal("the import finished before it could be interrupted")
	}
}

// importResume runs mailroom import to the end and checks that it
// imported the rest of total.
func importResume(t *testing.T, total int, args ...string) {
	t.Helper()
	out := run(t, append([]string{"import"}, args...)...)
	m := regexp.MustCompile(`imported (\d+) messages into \S+ \((\d+) were already there, 0 failed\)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("import output:\n%s", out)
	}
	imported, skipped := atoi(m[1]), atoi(m[2])
	if imported+skipped != total || skipped < total/2 {
		t.Fatalf("resumed import: %d imported, %d skipped, of %d", imported, skipped, total)
	}
	t.Logf("resumed: %d imported, %d were there from the interrupted run", imported, skipped)
}

func atoi(s string) int { n, _ := strconv.Atoi(s); return n }

type msgKey struct {
	content, flags string
	date           int64
}

// maildirContents reads a Maildir's folders as content, flags and date.
func maildirContents(t *testing.T, root string) map[string][]msgKey {
	t.Helper()
	folders, err := mailfile.ReadMaildir(root, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]msgKey{}
	for _, f := range folders {
		for _, m := range f.Messages {
			b, err := m.Read()
			if err != nil {
				t.Fatal(err)
			}
			flags := slices.Sorted(slices.Values(m.Flags))
			out[f.Name] = append(out[f.Name], msgKey{string(b), strings.Join(flags, " "), m.Date.Unix()})
		}
		slices.SortFunc(out[f.Name], func(a, b msgKey) int { return strings.Compare(a.content+a.flags, b.content+b.flags) })
	}
	return out
}

// TestImportResumeExport: a generated 10,000-message Maildir (with
// Maildir++ folders, flags, keywords and duplicates) is imported through
// the running server, interrupted halfway and resumed: exactly 10,000
// messages, and a Maildir export has the same bytes, flags and dates in
// the same folders. Then the same with a directory of mbox files imported
// with the server stopped, and an mbox export byte-identical to it.
func TestImportResumeExport(t *testing.T) {
	dir := t.TempDir()
	cfg := opsConfig(t, dir, "", "", "alice@example.test", "bob@example.test")
	const total = 10000

	src := filepath.Join(dir, "Maildir")
	genMaildir(t, src, map[string]int{"INBOX": 6000, "Sent": 2500, "Archive/2024": 1500})
	p := startServe(t, "-c", cfg)
	p.waitFor(t, 0, "mailroom started")
	importInterrupted(t, total, "-c", cfg, "alice@example.test", src)
	importResume(t, total, "-c", cfg, "alice@example.test", src)
	var alice accountInfo
	if err := jsonUnmarshal(run(t, "account", "show", "-c", cfg, "alice@example.test"), &alice); err != nil || alice.Messages != total {
		t.Fatalf("alice holds %d messages, want %d (%v)", alice.Messages, total, err)
	}
	exported := filepath.Join(dir, "export-maildir")
	run(t, "export", "-c", cfg, "alice@example.test", exported)
	want, got := maildirContents(t, src), maildirContents(t, exported)
	for name, w := range want {
		g := got[name]
		if len(g) != len(w) {
			t.Fatalf("%s: exported %d messages, source has %d", name, len(g), len(w))
		}
		for i := range w {
			if g[i] != w[i] {
				t.Fatalf("%s: exported %+v, source %+v", name, g[i], w[i])
			}
		}
	}
	p.stop(t)

	mboxes := filepath.Join(dir, "mbox")
	genMbox(t, filepath.Join(mboxes, "INBOX"), "INBOX", 5000)
	genMbox(t, filepath.Join(mboxes, "Lists"), "Lists", 2000)
	genMbox(t, filepath.Join(mboxes, "Lists.sbd", "go"), "Lists/go", 3000)
	importInterrupted(t, total, "-c", cfg, "bob@example.test", mboxes)
	importResume(t, total, "-c", cfg, "bob@example.test", mboxes)
	mexport := filepath.Join(dir, "export-mbox")
	run(t, "export", "-c", cfg, "-format", "mbox", "bob@example.test", mexport)
	for _, rel := range []string{"INBOX", "Lists", filepath.Join("Lists.sbd", "go")} {
		a, _ := os.ReadFile(filepath.Join(mboxes, rel))
		b, err := os.ReadFile(filepath.Join(mexport, rel))
		if err != nil || string(a) != string(b) {
			t.Fatalf("%s: exported mbox differs from its source (%d vs %d bytes, %v)", rel, len(b), len(a), err)
		}
	}
	if out := run(t, "fsck", "-c", cfg); strings.TrimSpace(out) != "clean" {
		t.Fatalf("fsck: %s", out)
	}
}

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }

// TestExportCRLF: a Maildir whose files have CRLF line endings, imported
// and exported with -crlf, comes back byte for byte; without -crlf the
// files get LF.
func TestExportCRLF(t *testing.T) {
	dir := t.TempDir()
	cfg := opsConfig(t, dir, "", "", "alice@example.test")
	src := filepath.Join(dir, "Maildir")
	for _, sub := range []string{"cur", "new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(src, sub), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	for i, body := range []string{
		"From: a@example.test\r\nSubject: one\r\n\r\nfirst\r\nline two\r\n",
		"From: b@example.test\r\nSubject: two\r\n\r\nsecond\r\n",
	} {
		name := filepath.Join(src, "cur", fmt.Sprintf("%d.msg%d.host:2,S", 1700000000+i, i))
		if err := os.WriteFile(name, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	run(t, "import", "-c", cfg, "alice@example.test", src)
	crlf, lf := filepath.Join(dir, "crlf"), filepath.Join(dir, "lf")
	run(t, "export", "-c", cfg, "-crlf", "alice@example.test", crlf)
	run(t, "export", "-c", cfg, "alice@example.test", lf)
	files := func(root string) []string {
		t.Helper()
		paths, _ := filepath.Glob(filepath.Join(root, "cur", "*"))
		var out []string
		for _, p := range paths {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, string(b))
		}
		slices.Sort(out)
		return out
	}
	want := files(src)
	if got := files(crlf); len(want) != 2 || !slices.Equal(got, want) {
		t.Fatalf("-crlf export: %q, source %q", got, want)
	}
	for _, m := range files(lf) {
		if strings.Contains(m, "\r") || !strings.Contains(m, "\n") {
			t.Fatalf("LF export: %q", m)
		}
	}
}
