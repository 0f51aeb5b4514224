package smtpd

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"mailroom/inbound"
	"mailroom/internal/testutil"
)

const gtube = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"

// startRspamd runs Debian's rspamd on a loopback port with the minimal
// configuration in testdata/rspamd (no network), stopped at the end of the
// test, and returns its base URL once its normal worker has started.
func startRspamd(t *testing.T) string {
	t.Helper()
	bin := testutil.NeedTool(t, "rspamd")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	dir := t.TempDir()
	conf, err := filepath.Abs("testdata/rspamd")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-f", "-i", "-c", filepath.Join(conf, "rspamd.conf"),
		"--var=TESTDIR="+dir, fmt.Sprintf("--var=PORT=%d", port), "--var=CONFDIR="+conf,
		"--var=DBDIR="+dir, "--var=RUNDIR="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	// Its own process group: rspamd forks workers, which a kill of the
	// main process alone would leave running.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
	})
	ready := make(chan struct{})
	var log strings.Builder
	go func() {
		sc := bufio.NewScanner(out)
		once := false
		for sc.Scan() {
			if !once {
				log.WriteString(sc.Text() + "\n")
			}
			if !once && strings.Contains(sc.Text(), "starting normal process") {
				once = true
				close(ready)
			}
		}
	}()
	select {
	case <-ready:
	case <-time.After(60 * time.Second):
		t.Fatalf("rspamd did not start its worker:\n%s", log.String())
	}
	return fmt.Sprintf("http://127.0.0.1:%d", port)
}

// TestRspamd: with [spam] rspamd, GTUBE is refused at the end of DATA and
// a clean message is delivered with rspamd's verdict in its header.
func TestRspamd(t *testing.T) {
	url := startRspamd(t)
	e := newTrustEnv(t, func(o *inbound.Options) { o.Rspamd = &inbound.Rspamd{URL: url} })
	msg := "From: a@outside.test\r\nTo: bob@example.test\r\nSubject: %s\r\nDate: Mon, 23 Nov 2026 12:00:00 +0000\r\nMessage-ID: <%s@outside.test>\r\n\r\n%s\r\n"
	err := testutil.SendMail(dial(t, e.mx), "a@outside.test", []string{"bob@example.test"}, fmt.Sprintf(msg, "gtube", "1", gtube))
	var se *smtp.SMTPError
	if !errors.As(err, &se) || se.Code != 550 || se.EnhancedCode != (smtp.EnhancedCode{5, 7, 1}) {
		t.Fatalf("GTUBE: %v, want 550 5.7.1", err)
	}
	e.logs.WaitLine(t, 5*time.Second, "refused", "why=rspamd", "spam_action=reject")
	if err := testutil.SendMail(dial(t, e.mx), "a@outside.test", []string{"bob@example.test"}, fmt.Sprintf(msg, "hello", "2", "Hello there.")); err != nil {
		t.Fatalf("clean message: %v", err)
	}
	got := mailboxContents(t, e.st, "bob@example.test", "INBOX")
	if len(got) != 1 || !strings.Contains(got[0], "X-Spamd-Result: default: False") || !strings.Contains(got[0], "X-Spam-Action: no action") {
		t.Fatalf("INBOX: %q", got)
	}
	e.logs.WaitLine(t, 5*time.Second, "delivered", `spam_action="no action"`)
}

// TestSpamActions: each rspamd action (from a fake rspamd on loopback)
// and rspamd being down, with on_error accept and tempfail.
func TestSpamActions(t *testing.T) {
	action := make(chan string, 1)
	fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/checkv2" || r.Header.Get("IP") != "127.0.0.1" || r.Header.Get("From") != "a@outside.test" || r.Header.Get("Rcpt") != "bob@example.test" || r.Header.Get("Helo") != "client.test" {
			http.Error(w, "bad request", 400)
			return
		}
		fmt.Fprintf(w, `{"action":%q,"score":7.5,"required_score":15,"symbols":{"SOME_RULE":{"score":7.5}}}`, <-action)
	}))
	defer fake.Close()
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	send := func(e *trustEnv) error {
		return testutil.SendMail(dial(t, e.mx), "a@outside.test", []string{"bob@example.test"}, "From: a@outside.test\r\nSubject: x\r\n\r\nx\r\n")
	}
	e := newTrustEnv(t, func(o *inbound.Options) { o.Rspamd = &inbound.Rspamd{URL: fake.URL} })
	for _, tc := range []struct {
		action string
		code   int
		box    string
	}{
		{"no action", 250, "INBOX"},
		{"add header", 250, "Junk"},
		{"rewrite subject", 250, "Junk"},
		{"greylist", 451, ""},
		{"soft reject", 451, ""},
		{"reject", 550, ""},
	} {
		before := len(mailboxContents(t, e.st, "bob@example.test", tc.box))
		action <- tc.action
		err := send(e)
		var se *smtp.SMTPError
		switch {
		case tc.code == 250 && err != nil, tc.code != 250 && (!errors.As(err, &se) || se.Code != tc.code):
			t.Errorf("%s: %v, want %d", tc.action, err, tc.code)
		case tc.code == 250:
			got := mailboxContents(t, e.st, "bob@example.test", tc.box)
			if len(got) != before+1 {
				t.Errorf("%s: not in %s", tc.action, tc.box)
			} else if last := got[len(got)-1]; tc.box == "Junk" && !strings.Contains(last, "X-Spam: Yes") {
				t.Errorf("%s: no X-Spam: Yes in\n%s", tc.action, last)
			}
		}
	}
	if err := send(newTrustEnv(t, func(o *inbound.Options) { o.Rspamd = &inbound.Rspamd{URL: down.URL} })); err != nil {
		t.Errorf("rspamd down, on_error accept: %v", err)
	}
	err := send(newTrustEnv(t, func(o *inbound.Options) { o.Rspamd = &inbound.Rspamd{URL: down.URL, TempFailOnError: true} }))
	var se *smtp.SMTPError
	if !errors.As(err, &se) || se.Code != 451 || se.EnhancedCode != (smtp.EnhancedCode{4, 7, 1}) {
		t.Errorf("rspamd down, on_error tempfail: %v, want 451 4.7.1", err)
	}
}

// TestDNSBL: a client listed by a zone (an A record in 127.0.0.0/8 under
// its reversed address) is refused; a zone that fails is skipped.
func TestDNSBL(t *testing.T) {
	send := func(e *trustEnv) error {
		return testutil.SendMail(dial(t, e.mx), "a@outside.test", []string{"bob@example.test"}, "From: a@outside.test\r\nSubject: x\r\n\r\nx\r\n")
	}
	clean := newTrustEnv(t, func(o *inbound.Options) { o.DNSBL = []string{"broken.bl.test", "clean.bl.test"} })
	clean.dns.ServFail("1.0.0.127.broken.bl.test")
	if err := send(clean); err != nil {
		t.Fatalf("unlisted: %v", err)
	}
	clean.logs.WaitLine(t, 5*time.Second, "dnsbl lookup failed", "broken.bl.test")
	e := newTrustEnv(t, func(o *inbound.Options) { o.DNSBL = []string{"clean.bl.test", "bl.test"} })
	e.dns.A("1.0.0.127.bl.test", "127.0.0.2")
	err := send(e)
	var se *smtp.SMTPError
	if !errors.As(err, &se) || se.Code != 554 || se.EnhancedCode != (smtp.EnhancedCode{5, 7, 1}) {
		t.Fatalf("listed: %v, want 554 5.7.1", err)
	}
	e.logs.WaitLine(t, 5*time.Second, "refused", "dnsbl=bl.test")
}
