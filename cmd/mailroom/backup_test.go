package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"mailroom/internal/testutil"
	"mailroom/store"
)

// opsConfig writes a configuration with IMAP, SMTP (MX), submission and
// HTTP on ephemeral loopback ports and the accounts given.
func opsConfig(t testing.TB, dir, hash, extra string, accounts ...string) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, `data_dir = "data"
hostname = "mail.example.test"
[listeners.imap]
address = "127.0.0.1:0"
allow_insecure_auth = true
[listeners.imaps]
disabled = true
[listeners.smtp]
address = "127.0.0.1:0"
[listeners.submission]
address = "127.0.0.1:0"
allow_insecure_auth = true
[listeners.submissions]
disabled = true
[listeners.http]
address = "127.0.0.1:0"
[[domains]]
name = "example.test"
%s
`, extra)
	for _, a := range accounts {
		fmt.Fprintf(&b, "[[accounts]]\naddress = %q\npassword_hash = %q\n", a, hash)
	}
	path := filepath.Join(dir, "mailroom.toml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// inboxSubjects opens a (stopped) data directory and returns the Subject
// of every message in account's INBOX.
func inboxSubjects(t *testing.T, dir, account string) map[string]bool {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, store.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	inbox, err := st.Inbox(ctx, account)
	if err != nil {
		t.Fatal(err)
	}
	uids, err := st.UIDs(ctx, inbox.ID)
	if err != nil {
		t.Fatal(err)
	}
	subj := regexp.MustCompile(`(?m)^Subject: (\S+)\r$`)
	out := map[string]bool{}
	err = st.MessagesByUID(ctx, inbox.ID, uids, true, func(_ *store.Message, content []byte) error {
		if m := subj.FindSubmatch(content); m != nil {
			out[string(m[1])] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func run(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(binary, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("mailroom %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestBackupUnderLoad: a full and an incremental backup taken through the
// admin socket while mail is being delivered, restored into empty
// directories, hold every message acknowledged before each backup began,
// and fsck finds them clean.
func TestBackupUnderLoad(t *testing.T) {
	dir := t.TempDir()
	cfg := opsConfig(t, dir, "", "", "dave@example.test")
	p := startServe(t, "-c", cfg)
	p.waitFor(t, 0, "mailroom started")
	smtpAddr := p.listenAddr(t, "smtp")

	var mu sync.Mutex
	var acked []string
	progress := make(chan int, 1000)
	stop := make(chan struct{})
	failed := make(chan struct{})
	var failOnce sync.Once
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Go(func() {
			defer failOnce.Do(func() { close(failed) })
			c, err := smtp.Dial(smtpAddr)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				subject := fmt.Sprintf("w%d-%d", w, i)
				msg := "From: load@remote.test\r\nSubject: " + subject + "\r\n\r\n" + strings.Repeat(strings.Repeat("x", 70)+"\r\n", 30*(i%5))
				if err := testutil.SendMail(c, "load@remote.test", []string{"dave@example.test"}, msg); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				acked = append(acked, subject)
				n := len(acked)
				mu.Unlock()
				select {
				case progress <- n:
				default:
				}
			}
		})
	}
	waitAcked := func(n int) {
		t.Helper()
		deadline := time.After(2 * time.Minute)
		for {
			select {
			case got := <-progress:
				if got >= n {
					return
				}
			case <-failed:
				t.Fatal("the senders failed")
			case <-deadline:
				t.Fatalf("fewer than %d messages acknowledged in 2 minutes", n)
			}
		}
	}
	snapshot := func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), acked...)
	}
	waitAcked(50)
	before1 := snapshot()
	full := filepath.Join(dir, "full.backup")
	var res backupResult
	if err := json.Unmarshal([]byte(run(t, "backup", "-c", cfg, full)), &res); err != nil || res.Next == 0 || res.Bytes == 0 {
		t.Fatalf("backup: %+v %v", res, err)
	}
	waitAcked(len(before1) + 50)
	before2 := snapshot()
	incr := filepath.Join(dir, "incr.backup")
	var res2 backupResult
	if err := json.Unmarshal([]byte(run(t, "backup", "-c", cfg, "-since", fmt.Sprint(res.Next), incr)), &res2); err != nil || res2.Next < res.Next {
		t.Fatalf("incremental backup: %+v %v", res2, err)
	}
	close(stop)
	wg.Wait()
	p.stop(t)

	for _, c := range []struct {
		files []string
		want  []string
	}{{[]string{full}, before1}, {[]string{full, incr}, before2}} {
		data := t.TempDir()
		run(t, append([]string{"restore", "-c", cfg, "-data", data}, c.files...)...)
		if out := run(t, "fsck", "-c", cfg, "-data", data); strings.TrimSpace(out) != "clean" {
			t.Fatalf("fsck after restoring %v: %s", c.files, out)
		}
		got := inboxSubjects(t, data, "dave@example.test")
		for _, s := range c.want {
			if !got[s] {
				t.Errorf("restored from %v: acknowledged message %s missing", c.files, s)
			}
		}
		t.Logf("restored %v: %d messages, %d acknowledged before the backup", filepath.Base(c.files[len(c.files)-1]), len(got), len(c.want))
	}
	// Restoring into a directory with a database is refused.
	out, err := exec.Command(binary, "restore", "-c", cfg, full).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "already holds a database") {
		t.Fatalf("restore over a database: %v %s", err, out)
	}
}
