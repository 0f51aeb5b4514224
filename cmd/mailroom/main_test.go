package main

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"mailroom/acl"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "mailroom-bin")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "mailroom")
	build := exec.Command("go", "build", "-race", "-o", binary, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is a running `mailroom serve` whose log lines the test can wait for.
type proc struct {
	cmd   *exec.Cmd
	mu    sync.Mutex
	lines []string
	added chan struct{}
	done  chan struct{}
}

func startServe(t *testing.T, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(binary, append([]string{"serve"}, args...)...), added: make(chan struct{}, 1), done: make(chan struct{})}
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			p.mu.Lock()
			p.lines = append(p.lines, sc.Text())
			p.mu.Unlock()
			select {
			case p.added <- struct{}{}:
			default:
			}
		}
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
		p.cmd.Wait()
	})
	return p
}

// waitFor waits for a log line matching re that appeared after line from,
// and returns it with its index.
func (p *proc) waitFor(t *testing.T, from int, re string) (string, int) {
	t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.After(30 * time.Second)
	for {
		p.mu.Lock()
		for i := from; i < len(p.lines); i++ {
			if rx.MatchString(p.lines[i]) {
				l := p.lines[i]
				p.mu.Unlock()
				return l, i
			}
		}
		p.mu.Unlock()
		select {
		case <-p.added:
		case <-p.done:
			p.mu.Lock()
			defer p.mu.Unlock()
			t.Fatalf("server exited before %q:\n%s", re, strings.Join(p.lines, "\n"))
		case <-deadline:
			p.mu.Lock()
			defer p.mu.Unlock()
			t.Fatalf("no log line %q within 30s:\n%s", re, strings.Join(p.lines, "\n"))
		}
	}
}

func (p *proc) listenAddr(t *testing.T, listener string) string {
	l, _ := p.waitFor(t, 0, `msg=listening listener=`+listener+` `)
	return regexp.MustCompile(`addr=(\S+)`).FindStringSubmatch(l)[1]
}

func (p *proc) stop(t *testing.T) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	<-p.done
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("serve exited with %v", err)
	}
}

func login(t *testing.T, addr, user, pass string) error {
	t.Helper()
	c, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.Login(user, pass).Wait()
}

func TestServeDevConfig(t *testing.T) {
	data := t.TempDir()
	p := startServe(t, "-c", "../../testdata/dev.toml", "-data", data)
	p.waitFor(t, 0, "mailroom started")
	for l, want := range map[string]string{"imap": "127.0.0.1:1143", "imaps": "127.0.0.1:1993", "smtp": "127.0.0.1:2525",
		"submission": "127.0.0.1:1587", "submissions": "127.0.0.1:1465", "http": "127.0.0.1:8080", "https": "127.0.0.1:8443"} {
		if got := p.listenAddr(t, l); got != want {
			t.Errorf("%s listens on %s, want %s", l, got, want)
		}
	}
	if err := login(t, "127.0.0.1:1143", "alice@example.test", "password"); err != nil {
		t.Fatalf("login: %v", err)
	}
	// Submission over implicit TLS (port 465 in production) takes AUTH.
	tc, err := smtp.DialTLS("127.0.0.1:1465", &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := tc.Auth(sasl.NewPlainClient("", "bob@example.test", "password")); err != nil {
		t.Fatalf("AUTH over implicit TLS: %v", err)
	}
	tc.Close()
	// Mail in by SMTP, out by IMAP.
	msg := "From: someone@remote.test\r\nSubject: via MX\r\n\r\nhello\r\n"
	sc, err := smtp.Dial("127.0.0.1:2525")
	if err != nil {
		t.Fatal(err)
	}
	if err := sc.Mail("someone@remote.test", nil); err != nil {
		t.Fatal(err)
	}
	if err := sc.Rcpt("alice@example.test", nil); err != nil {
		t.Fatal(err)
	}
	w, err := sc.Data()
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte(msg))
	if err := w.Close(); err != nil {
		t.Fatalf("smtp DATA: %v", err)
	}
	sc.Quit()
	c, err := imapclient.DialInsecure("127.0.0.1:1143", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login("alice@example.test", "password").Wait(); err != nil {
		t.Fatal(err)
	}
	sel, err := c.Select("INBOX", nil).Wait()
	if err != nil || sel.NumMessages != 1 {
		t.Fatalf("INBOX after SMTP delivery: %+v, %v", sel, err)
	}
	c.Logout().Wait()
	if _, err := os.Stat(filepath.Join(data, "tls", "self-signed.crt")); err != nil {
		t.Fatalf("self-signed certificate not generated: %v", err)
	}

	// stats through the admin socket while the server holds the database.
	out, err := exec.Command(binary, "stats", "-c", "../../testdata/dev.toml", "-data", data).Output()
	if err != nil {
		t.Fatalf("stats while running: %v", err)
	}
	var st map[string]int64
	if err := json.Unmarshal(out, &st); err != nil {
		t.Fatalf("stats output %q: %v", out, err)
	}
	for _, k := range []string{"accounts", "mailboxes", "messages", "bodies", "body_bytes", "logical_bytes"} {
		if _, ok := st[k]; !ok {
			t.Errorf("stats lacks %q: %s", k, out)
		}
	}
	// alice's and the team account's INBOX and five special-use
	// mailboxes; every other account's INBOX.
	if st["accounts"] != 4 || st["mailboxes"] != 14 || st["messages"] != 1 {
		t.Errorf("stats = %s", out)
	}

	// A second server on the same data directory is refused clearly.
	second := exec.Command(binary, "serve", "-c", "../../testdata/dev.toml", "-data", data)
	out2, err := second.CombinedOutput()
	if err == nil || !strings.Contains(string(out2), "in use by another process") {
		t.Fatalf("second serve: %v: %s", err, out2)
	}

	p.stop(t)

	// stats with the server stopped opens the directory itself.
	out, err = exec.Command(binary, "stats", "-c", "../../testdata/dev.toml", "-data", data).Output()
	if err != nil || !strings.Contains(string(out), `"messages": 1`) {
		t.Fatalf("stats after stop: %v: %s", err, out)
	}
}

// writeConfig writes a small config on loopback port 0 with one account.
func writeConfig(t *testing.T, dir, hash, extra string) string {
	t.Helper()
	cfg := fmt.Sprintf(`data_dir = "data"
[listeners.imap]
address = "127.0.0.1:0"
allow_insecure_auth = true
[listeners.imaps]
disabled = true
[listeners.smtp]
disabled = true
[listeners.submission]
disabled = true
[listeners.submissions]
disabled = true
[[domains]]
name = "example.test"
[[accounts]]
address = "dave@example.test"
password_hash = %q
%s
`, hash, extra)
	path := filepath.Join(dir, "mailroom.toml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestReload(t *testing.T) {
	dir := t.TempDir()
	h1, _ := acl.HashPassword("first")
	h2, _ := acl.HashPassword("second")
	path := writeConfig(t, dir, h1, "")
	p := startServe(t, "-c", path)
	addr := p.listenAddr(t, "imap")
	if err := login(t, addr, "dave@example.test", "first"); err != nil {
		t.Fatal(err)
	}

	// An invalid file is refused and the running configuration kept.
	writeConfig(t, dir, h2, `plan = "gold"`)
	p.cmd.Process.Signal(syscall.SIGHUP)
	_, at := p.waitFor(t, 0, `reload failed.*unknown plan \\"gold\\"`)
	if err := login(t, addr, "dave@example.test", "first"); err != nil {
		t.Fatalf("old password after failed reload: %v", err)
	}

	// A valid one takes effect at once.
	writeConfig(t, dir, h2, "")
	p.cmd.Process.Signal(syscall.SIGHUP)
	p.waitFor(t, at, "configuration reloaded")
	if err := login(t, addr, "dave@example.test", "second"); err != nil {
		t.Fatalf("new password after reload: %v", err)
	}
	if err := login(t, addr, "dave@example.test", "first"); err == nil {
		t.Fatal("old password still works after reload")
	}
	p.stop(t)
}

func TestCheckConfig(t *testing.T) {
	out, err := exec.Command(binary, "check-config", "-c", "../../testdata/dev.toml").CombinedOutput()
	if err != nil || string(out) != "ok\n" {
		t.Fatalf("dev config: %v: %q", err, out)
	}
	out, err = exec.Command(binary, "check-config", "-c", "../../testdata/config/bad/unknown-plan-group.toml").Output()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("bad config: want exit 1, got %v", err)
	}
	want, _ := os.ReadFile("../../testdata/config/bad/unknown-plan-group.err")
	if string(out) != string(want) {
		t.Fatalf("bad config output %q, want %q", out, want)
	}
	if err := exec.Command(binary, "check-config", "-c", "/nonexistent.toml").Run(); err == nil {
		t.Fatal("missing file accepted")
	}
}

func TestHashPassword(t *testing.T) {
	cmd := exec.Command(binary, "hash-password")
	cmd.Stdin = strings.NewReader("correct horse\n")
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	hash := strings.TrimSpace(string(out))
	d, err := acl.NewDirectory([]acl.AccountSpec{{Address: "u@example.test", PasswordHash: hash, Plan: "p"}}, []acl.Plan{{Name: "p"}}, nil, nil)
	if err != nil {
		t.Fatalf("hash %q not accepted: %v", hash, err)
	}
	if _, err := d.Authenticate("u@example.test", "correct horse"); err != nil {
		t.Fatalf("hash does not verify: %v", err)
	}
	// The config accepts it too.
	dir := t.TempDir()
	if out, err := exec.Command(binary, "check-config", "-c", writeConfig(t, dir, hash, "")).CombinedOutput(); err != nil {
		t.Fatalf("check-config with the hash: %v: %s", err, out)
	}
	cmd = exec.Command(binary, "hash-password")
	cmd.Stdin = strings.NewReader("")
	if err := cmd.Run(); err == nil {
		t.Fatal("empty password accepted")
	}
}

func TestUnknownCommand(t *testing.T) {
	err := exec.Command(binary, "frobnicate").Run()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 {
		t.Fatalf("unknown command: %v", err)
	}
}

// TestACLCommand grants and revokes with `mailroom acl`, through the admin
// socket while the server runs (the grant works in IMAP at once) and on
// the data directory when it is stopped, with SETACL's gating.
func TestACLCommand(t *testing.T) {
	data := t.TempDir()
	dev := "../../testdata/dev.toml"
	acl := func(args ...string) (string, error) {
		out, err := exec.Command(binary, append([]string{"acl"}, append(args[:1:1], append([]string{"-c", dev, "-data", data}, args[1:]...)...)...)...).CombinedOutput()
		return string(out), err
	}
	p := startServe(t, "-c", dev, "-data", data)
	p.waitFor(t, 0, "mailroom started")
	if err := login(t, "127.0.0.1:1143", "alice@example.test", "password"); err != nil { // creates her mailboxes
		t.Fatal(err)
	}
	if out, err := acl("grant", "alice@example.test", "INBOX", "bob@example.test", "lr"); err != nil || strings.TrimSpace(out) != "ok" {
		t.Fatalf("grant: %v %s", err, out)
	}
	c, err := imapclient.DialInsecure("127.0.0.1:1143", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login("bob@example.test", "password").Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Select("Other Users/alice@example.test/INBOX", nil).Wait(); err != nil {
		t.Fatalf("bob cannot select what the operator granted: %v", err)
	}
	// The same gating as SETACL: carol is in another group; bob's plan
	// cannot share.
	if out, err := acl("grant", "alice@example.test", "INBOX", "carol@other.test", "lr"); err == nil || !strings.Contains(out, "not in any of your groups") {
		t.Errorf("grant to carol: %v %s", err, out)
	}
	if out, err := acl("grant", "bob@example.test", "INBOX", "alice@example.test", "lr"); err == nil || !strings.Contains(out, "does not allow sharing") {
		t.Errorf("grant by bob: %v %s", err, out)
	}
	out, err := acl("list")
	if err != nil || !strings.Contains(out, "bob@example.test") || !strings.Contains(out, "group:staff") || !strings.Contains(out, "config") {
		t.Fatalf("list while running: %v\n%s", err, out)
	}
	c.Logout().Wait()
	p.stop(t)

	// Stopped: the command opens the data directory itself.
	if out, err := acl("revoke", "alice@example.test", "INBOX", "bob@example.test"); err != nil {
		t.Fatalf("revoke while stopped: %v %s", err, out)
	}
	out, err = acl("list", "alice@example.test")
	if err != nil || strings.Contains(out, "bob@example.test") {
		t.Fatalf("list after revoke: %v\n%s", err, out)
	}
}

// TestFsck checks a data directory through the admin socket while the
// server runs and directly when it is stopped.
func TestFsck(t *testing.T) {
	data := t.TempDir()
	dev := "../../testdata/dev.toml"
	p := startServe(t, "-c", dev, "-data", data)
	p.waitFor(t, 0, "mailroom started")
	if err := login(t, "127.0.0.1:1143", "alice@example.test", "password"); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(binary, "fsck", "-c", dev, "-data", data).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "clean" {
		t.Fatalf("fsck while running: %v %s", err, out)
	}
	out, err = exec.Command(binary, "fsck", "-c", dev, "-data", data, "-repair").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "clean" {
		t.Fatalf("fsck -repair while running: %v %s", err, out)
	}
	p.stop(t)
	out, err = exec.Command(binary, "fsck", "-c", dev, "-data", data).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "clean" {
		t.Fatalf("fsck stopped: %v %s", err, out)
	}
}
