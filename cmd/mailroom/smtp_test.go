package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"mailroom/acl"
	"mailroom/internal/testutil"
	"mailroom/store"
)

// smarthost is a fake relay on loopback that collects what it is sent.
type smarthost struct {
	addr string
	mu   sync.Mutex
	msgs []string
	got  chan struct{}
}

func (h *smarthost) NewSession(*smtp.Conn) (smtp.Session, error) { return &relaySession{h: h}, nil }

type relaySession struct{ h *smarthost }

func (s *relaySession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *relaySession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s *relaySession) Reset()                               {}
func (s *relaySession) Logout() error                        { return nil }
func (s *relaySession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.h.mu.Lock()
	s.h.msgs = append(s.h.msgs, string(b))
	s.h.mu.Unlock()
	s.h.got <- struct{}{}
	return nil
}

func startSmarthost(t *testing.T) *smarthost {
	t.Helper()
	h := &smarthost{got: make(chan struct{}, 16)}
	srv := smtp.NewServer(h)
	srv.Domain = "smarthost.test"
	srv.ErrorLog = slog.NewLogLogger(slog.DiscardHandler, slog.LevelError)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h.addr = ln.Addr().String()
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return h
}

// mailConfig is a whole server on loopback port 0, relaying remote mail
// to relay, signing for example.test with a key generated at start.
func mailConfig(t *testing.T, dir, relay string) string {
	t.Helper()
	h, _ := acl.HashPassword("password")
	cfg := fmt.Sprintf(`hostname = "mail.example.test"
data_dir = "data"
[tls]
self_signed = true
[listeners.imap]
address = "127.0.0.1:0"
allow_insecure_auth = true
[listeners.imaps]
address = "127.0.0.1:0"
[listeners.smtp]
address = "127.0.0.1:0"
[listeners.submission]
address = "127.0.0.1:0"
allow_insecure_auth = true
[listeners.submissions]
address = "127.0.0.1:0"
[[domains]]
name = "example.test"
dkim_selector = "dev"
dkim_generate = true
[[accounts]]
address = "alice@example.test"
password_hash = %q
[[accounts]]
address = "bob@example.test"
password_hash = %q
[outbound]
relay = %q
relay_tls = "none" # the test smarthost has no TLS
[dns]
resolver = %q # the inbound checks' lookups: a fake, no test touches the internet
`, h, h, relay, testutil.NewDNS(t).Addr)
	path := filepath.Join(dir, "mailroom.toml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestSwaks sends mail with swaks, a client nobody here wrote, through
// the MX and submission listeners of a running mailroom.
func TestSwaks(t *testing.T) {
	swaks := testutil.NeedTool(t, "swaks")
	relay := startSmarthost(t)
	dir := t.TempDir()
	cfg := mailConfig(t, dir, relay.addr)
	p := startServe(t, "-c", cfg)
	p.waitFor(t, 0, "mailroom started")
	mx, sub := p.listenAddr(t, "smtp"), p.listenAddr(t, "submission")
	run := func(args ...string) (string, error) {
		out, err := exec.Command(swaks, args...).CombinedOutput()
		return string(out), err
	}

	// alice waits in IDLE; mail arriving over SMTP is announced at once.
	exists := make(chan uint32, 8)
	idler, err := imapclient.DialInsecure(p.listenAddr(t, "imap"), &imapclient.Options{
		UnilateralDataHandler: &imapclient.UnilateralDataHandler{Mailbox: func(d *imapclient.UnilateralDataMailbox) {
			if d.NumMessages != nil {
				exists <- *d.NumMessages
			}
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer idler.Close()
	if err := idler.Login("alice@example.test", "password").Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := idler.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	idle, err := idler.Idle()
	if err != nil {
		t.Fatal(err)
	}

	// Inbound MX: delivered to alice.
	if out, err := run("--server", mx, "--from", "someone@remote.test", "--to", "alice@example.test",
		"--header", "Subject: via swaks", "--body", "hello from swaks"); err != nil {
		t.Fatalf("swaks MX: %v\n%s", err, out)
	}
	select {
	case n := <-exists:
		if n != 1 {
			t.Fatalf("IDLE announced %d messages", n)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("IDLE session not told of the delivery")
	}
	idle.Close()
	idle.Wait()

	// Relaying through MX is refused.
	out, err := run("--server", mx, "--from", "someone@remote.test", "--to", "victim@elsewhere.test")
	if err == nil || !strings.Contains(out, "554 5.7.1") {
		t.Fatalf("MX relayed: %v\n%s", err, out)
	}
	// Submission without AUTH is refused; with AUTH it relays, signed.
	out, err = run("--server", sub, "--from", "alice@example.test", "--to", "friend@remote.test")
	if err == nil || !strings.Contains(out, "530 5.7.0") {
		t.Fatalf("submission without AUTH: %v\n%s", err, out)
	}
	out, err = run("--server", sub, "--auth", "PLAIN", "--auth-user", "alice@example.test", "--auth-password", "password",
		"--from", "alice@example.test", "--to", "friend@remote.test,bob@example.test", "--header", "Subject: outbound")
	if err != nil {
		t.Fatalf("swaks submission: %v\n%s", err, out)
	}
	// Sending as someone else is refused, naming the address.
	out, err = run("--server", sub, "--auth", "PLAIN", "--auth-user", "alice@example.test", "--auth-password", "password",
		"--from", "bob@example.test", "--to", "friend@remote.test")
	if err == nil || !strings.Contains(out, "550 5.7.1") || !strings.Contains(out, "bob@example.test") {
		t.Fatalf("send-as someone else: %v\n%s", err, out)
	}
	select {
	case <-relay.got:
	case <-time.After(30 * time.Second):
		t.Fatal("the smarthost got nothing")
	}
	relay.mu.Lock()
	got := relay.msgs[0]
	relay.mu.Unlock()
	if !strings.HasPrefix(got, "DKIM-Signature: ") || !strings.Contains(got, "d=example.test") || !strings.Contains(got, "Subject: outbound") {
		t.Fatalf("relayed message:\n%s", got)
	}

	// Both local deliveries are in IMAP.
	for user, subject := range map[string]string{"alice@example.test": "via swaks", "bob@example.test": "outbound"} {
		c, err := imapclient.DialInsecure(p.listenAddr(t, "imap"), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.Login(user, "password").Wait(); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Select("INBOX", nil).Wait(); err != nil {
			t.Fatal(err)
		}
		msgs, err := c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{Envelope: true}).Collect()
		if err != nil || len(msgs) != 1 || msgs[0].Envelope.Subject != subject {
			t.Fatalf("%s INBOX: %v %v", user, msgs, err)
		}
	}
	p.stop(t)
}

// TestQueueCommand shows a message waiting for a smarthost that is down,
// through the admin socket while the server runs and from the data
// directory after it stops.
func TestQueueCommand(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := ln.Addr().String()
	ln.Close() // nothing listens there now
	dir := t.TempDir()
	cfg := mailConfig(t, dir, down)
	p := startServe(t, "-c", cfg)
	p.waitFor(t, 0, "mailroom started")
	c, err := smtp.Dial(p.listenAddr(t, "submission"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Auth(plainAuth("alice@example.test", "password")); err != nil {
		t.Fatal(err)
	}
	if err := testutil.SendMail(c, "alice@example.test", []string{"friend@remote.test"}, "From: alice@example.test\r\nSubject: waits\r\n\r\nx\r\n"); err != nil {
		t.Fatal(err)
	}
	p.waitFor(t, 0, `msg=deferred .*rcpt=friend@remote.test`)
	out, err := exec.Command(binary, "queue", "-c", cfg).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "friend@remote.test") || !strings.Contains(string(out), "waiting") || !strings.Contains(string(out), "connection refused") {
		t.Fatalf("queue while running: %v\n%s", err, out)
	}
	p.stop(t)
	out, err = exec.Command(binary, "queue", "-c", cfg).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "friend@remote.test") {
		t.Fatalf("queue after stop: %v\n%s", err, out)
	}
}

func TestDKIMKeygenAndDNS(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "example.test.s1.pem")
	out, err := exec.Command(binary, "dkim-keygen", "-domain", "example.test", "-selector", "s1", "-out", key).CombinedOutput()
	if err != nil || !strings.Contains(string(out), `s1._domainkey.example.test. IN TXT "v=DKIM1; k=rsa; p=`) {
		t.Fatalf("dkim-keygen: %v\n%s", err, out)
	}
	record := out[strings.Index(string(out), "IN TXT"):]
	if err := exec.Command(binary, "dkim-keygen", "-domain", "example.test", "-selector", "s1", "-out", key).Run(); err == nil {
		t.Fatal("dkim-keygen overwrote a key")
	}
	cfg := filepath.Join(dir, "mailroom.toml")
	os.WriteFile(cfg, []byte(`hostname = "mx.example.test"
data_dir = "data"
[listeners.imaps]
disabled = true
[listeners.submissions]
disabled = true
[[domains]]
name = "example.test"
dkim_selector = "s1"
dkim_key = "example.test.s1.pem"
`), 0o600)
	out, err = exec.Command(binary, "dns", "-c", cfg, "-domain", "Example.Test").CombinedOutput()
	if err != nil {
		t.Fatalf("dns: %v\n%s", err, out)
	}
	for _, want := range []string{"example.test. IN MX 10 mx.example.test.", `example.test. IN TXT "v=spf1 mx -all"`,
		"s1._domainkey.example.test. " + strings.TrimSpace(string(record)), `_dmarc.example.test. IN TXT "v=DMARC1;`} {
		if !strings.Contains(string(out), want) {
			t.Errorf("dns output lacks %q:\n%s", want, out)
		}
	}
	if err := exec.Command(binary, "dns", "-c", cfg, "-domain", "nope.test").Run(); err == nil {
		t.Error("dns for an unknown domain succeeded")
	}
}

func plainAuth(user, pass string) sasl.Client { return sasl.NewPlainClient("", user, pass) }

// TestLMTPUnixSocket delivers through an LMTP listener on a unix socket,
// as a Postfix in front would.
func TestLMTPUnixSocket(t *testing.T) {
	relay := startSmarthost(t)
	dir := t.TempDir()
	cfg := mailConfig(t, dir, relay.addr)
	appendConfig(t, cfg, "[listeners.lmtp]\naddress = \"unix:lmtp.sock\"\n")
	p := startServe(t, "-c", cfg)
	sock := p.listenAddr(t, "lmtp")
	conn, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	c := smtp.NewClientLMTP(conn)
	defer c.Close()
	if err := c.Hello("postfix.example.test"); err != nil {
		t.Fatal(err)
	}
	if err := testutil.SendMail(c, "someone@remote.test", []string{"bob@example.test"}, "Subject: by LMTP\r\n\r\nhi\r\n"); err != nil {
		t.Fatalf("LMTP: %v", err)
	}
	p.stop(t)
	out, err := exec.Command(binary, "stats", "-c", cfg).Output()
	if err != nil || !strings.Contains(string(out), `"messages": 1`) {
		t.Fatalf("stats after LMTP: %v %s", err, out)
	}
}

// TestDelegationImaplib runs the team-mailbox scenario of
// testdata/e2e/delegation_e2e.py (imaplib and smtplib) against the binary
// on the development configuration.
func TestDelegationImaplib(t *testing.T) {
	python := testutil.NeedPython(t)
	p := startServe(t, "-c", "../../testdata/dev.toml", "-data", t.TempDir())
	p.waitFor(t, 0, "mailroom started")
	out, err := exec.Command(python, "../../testdata/e2e/delegation_e2e.py", "127.0.0.1", "1143", "2525", "1587").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "ok" {
		t.Fatalf("delegation scenario: %v\n%s", err, out)
	}
	p.stop(t)
}

// TestTeamScenarioEndToEnd is the delegation story of docs/architecture.md on the running
// binary and the development configuration, with three IMAP clients and
// an SMTP client: info@ (shared with staff) reaches alice's and bob's IDLE
// sessions, bob (free plan) answers as info@ and alice reads the answer in
// info@'s Sent; alice's grant to bob works under Other Users/, her grant
// to carol and bob's own grant are refused, carol sees none of it, and a
// revocation cuts bob's open session off.
func TestTeamScenarioEndToEnd(t *testing.T) {
	p := startServe(t, "-c", "../../testdata/dev.toml", "-data", t.TempDir())
	p.waitFor(t, 0, "mailroom started")
	const team = "Shared/info@example.test/INBOX"
	type idler struct {
		c      *imapclient.Client
		exists chan uint32
	}
	connect := func(user string) idler {
		ch := make(chan uint32, 8)
		c, err := imapclient.DialInsecure("127.0.0.1:1143", &imapclient.Options{
			UnilateralDataHandler: &imapclient.UnilateralDataHandler{Mailbox: func(d *imapclient.UnilateralDataMailbox) {
				if d.NumMessages != nil {
					ch <- *d.NumMessages
				}
			}},
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if err := c.Login(user, "password").Wait(); err != nil {
			t.Fatal(err)
		}
		return idler{c, ch}
	}
	alice, bob, carol := connect("alice@example.test"), connect("bob@example.test"), connect("carol@other.test")
	var idles []*imapclient.IdleCommand
	for _, u := range []idler{alice, bob} {
		if _, err := u.c.Select(team, nil).Wait(); err != nil {
			t.Fatalf("SELECT %s: %v", team, err)
		}
		idle, err := u.c.Idle()
		if err != nil {
			t.Fatal(err)
		}
		idles = append(idles, idle)
	}
	mx, err := smtp.Dial("127.0.0.1:2525")
	if err != nil {
		t.Fatal(err)
	}
	defer mx.Close()
	if err := testutil.SendMail(mx, "customer@remote.test", []string{"info@example.test"}, "From: customer@remote.test\r\nSubject: Need help\r\n\r\nHello?\r\n"); err != nil {
		t.Fatal(err)
	}
	for _, u := range []idler{alice, bob} {
		select {
		case n := <-u.exists:
			if n != 1 {
				t.Fatalf("IDLE says %d messages", n)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("an IDLE session was not told of mail to info@")
		}
	}
	for _, idle := range idles {
		idle.Close()
		idle.Wait()
	}
	sub, err := smtp.Dial("127.0.0.1:1587")
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	if err := sub.Auth(plainAuth("bob@example.test", "password")); err != nil {
		t.Fatal(err)
	}
	if err := testutil.SendMail(sub, "info@example.test", []string{"alice@example.test"}, "From: info@example.test\r\nSubject: Re: Need help\r\n\r\nHere.\r\n"); err != nil {
		t.Fatalf("bob as info@: %v", err)
	}
	st, err := alice.c.Status("Shared/info@example.test/Sent", &imap.StatusOptions{NumMessages: true}).Wait()
	if err != nil || *st.NumMessages != 1 {
		t.Fatalf("info@'s Sent as alice sees it: %+v %v", st, err)
	}
	if err := alice.c.Create("Notes", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	// The ACL commands, with imapclient's own ACL support.
	if err := alice.c.SetACL("INBOX", "bob@example.test", imap.RightModificationReplace, imap.RightSet("lr")).Wait(); err != nil {
		t.Fatalf("SETACL: %v", err)
	}
	if _, err := bob.c.Select("Other Users/alice@example.test/INBOX", nil).Wait(); err != nil {
		t.Fatalf("bob SELECT alice's INBOX: %v", err)
	}
	// carol is in another group: for alice she does not exist.
	if err := alice.c.SetACL("INBOX", "carol@other.test", imap.RightModificationReplace, imap.RightSet("lr")).Wait(); err == nil || !strings.Contains(err.Error(), "NONEXISTENT") {
		t.Errorf("grant to carol: %v", err)
	}
	if err := bob.c.SetACL("INBOX", "alice@example.test", imap.RightModificationReplace, imap.RightSet("lr")).Wait(); err == nil || !strings.Contains(err.Error(), "NOPERM") {
		t.Errorf("grant by bob: %v", err)
	}
	items, _ := carol.c.List("", "*", nil).Collect()
	for _, it := range items {
		if strings.HasPrefix(it.Mailbox, "Shared") || strings.HasPrefix(it.Mailbox, "Other Users") {
			t.Errorf("carol sees %s", it.Mailbox)
		}
	}
	// imapclient has no DELETEACL; taking the rights away is the same.
	if err := alice.c.SetACL("INBOX", "bob@example.test", imap.RightModificationRemove, imap.RightSet("lr")).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{Flags: true}).Collect(); err == nil || !strings.Contains(err.Error(), "NOPERM") {
		t.Errorf("bob after revocation: %v", err)
	}
	p.stop(t)
}

// TestKillDuringDeliveries SIGKILLs the server while four SMTP clients
// deliver and two IMAP clients append, three times: after each kill, fsck
// is clean, and every message that got its 250 or its APPEND OK is there
// exactly once.
func TestKillDuringDeliveries(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test is not short")
	}
	relay := startSmarthost(t)
	dir := t.TempDir()
	cfg := mailConfig(t, dir, relay.addr)
	acked := map[string]bool{}
	var mu sync.Mutex
	var appended int // acknowledged APPENDs in this round
	for round := range 3 {
		p := startServe(t, "-c", cfg)
		addr := p.listenAddr(t, "smtp")
		imapAddr := p.listenAddr(t, "imap")
		killAt := 20 + round*15
		var wg sync.WaitGroup
		stop := make(chan struct{})
		var once sync.Once
		mu.Lock()
		appended = 0
		smtpAcked := len(acked)
		mu.Unlock()
		// The kill comes once both kinds of client have had writes
		// acknowledged in this round.
		maybeKill := func() {
			if len(acked)-smtpAcked >= killAt && appended >= 5 {
				once.Do(func() { p.cmd.Process.Signal(syscall.SIGKILL) })
			}
		}
		for g := range 4 {
			wg.Go(func() {
				c, err := smtp.Dial(addr)
				if err != nil {
					return
				}
				defer c.Close()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					tag := fmt.Sprintf("r%d-g%d-i%d", round, g, i)
					rcpt := []string{"alice@example.test", "bob@example.test"}[i%2]
					body := "X-Tag: " + tag + "\r\nSubject: crash\r\n\r\n" + strings.Repeat("payload line\r\n", 50*(i%3+1))
					if err := testutil.SendMail(c, "load@remote.test", []string{rcpt}, body); err != nil {
						return // the server died mid-transaction: not acknowledged
					}
					mu.Lock()
					acked[tag+" "+rcpt] = true
					maybeKill()
					mu.Unlock()
				}
			})
		}
		for g := range 2 {
			wg.Go(func() {
				c, err := imapclient.DialInsecure(imapAddr, nil)
				if err != nil {
					return
				}
				defer c.Close()
				if c.Login("alice@example.test", "password").Wait() != nil {
					return
				}
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					tag := fmt.Sprintf("r%d-imap%d-i%d", round, g, i)
					msg := "X-Tag: " + tag + "\r\nSubject: appended\r\n\r\n" + strings.Repeat("appended line\r\n", 40)
					cmd := c.Append("INBOX", int64(len(msg)), nil)
					cmd.Write([]byte(msg))
					cmd.Close()
					if _, err := cmd.Wait(); err != nil {
						return
					}
					mu.Lock()
					acked[tag+" alice@example.test"] = true
					appended++
					maybeKill()
					mu.Unlock()
				}
			})
		}
		backstop := time.AfterFunc(60*time.Second, func() { once.Do(func() { p.cmd.Process.Signal(syscall.SIGKILL) }) })
		<-p.done
		backstop.Stop()
		close(stop)
		wg.Wait()
		p.cmd.Wait()
		if appended < 5 {
			t.Fatalf("round %d: only %d APPENDs acknowledged in 60 s", round, appended)
		}

		out, err := exec.Command(binary, "fsck", "-c", cfg).CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "clean" {
			t.Fatalf("round %d: fsck after SIGKILL: %v\n%s", round, err, out)
		}
		st, err := store.Open(context.Background(), store.Options{Dir: filepath.Join(dir, "data")})
		if err != nil {
			t.Fatal(err)
		}
		found := map[string]int{}
		for _, user := range []string{"alice@example.test", "bob@example.test"} {
			in, err := st.MailboxByName(context.Background(), user, "INBOX")
			if err != nil {
				t.Fatal(err)
			}
			st.MessagesWithContent(context.Background(), in.ID, 1, 0, func(_ *store.Message, c []byte) error {
				i := strings.Index(string(c), "X-Tag: ")
				tag := strings.TrimSpace(string(c)[i+7 : i+7+strings.Index(string(c)[i+7:], "\r\n")])
				found[tag+" "+user]++
				return nil
			})
		}
		st.Close()
		mu.Lock()
		for k := range acked {
			if found[k] != 1 {
				t.Errorf("round %d: acknowledged %s stored %d times", round, k, found[k])
			}
		}
		t.Logf("round %d: %d acknowledged in all (%d by IMAP APPEND this round), all present once; fsck clean", round, len(acked), appended)
		mu.Unlock()
	}
}

// TestStorageFull: when the data directory's filesystem is below the
// reserve (here a reserve larger than any disk), SMTP answers 452 4.3.1
// before the message is sent and APPEND answers NO [OVERQUOTA]; reading
// goes on.
func TestStorageFull(t *testing.T) {
	relay := startSmarthost(t)
	dir := t.TempDir()
	cfg := mailConfig(t, dir, relay.addr)
	appendConfig(t, cfg, "[limits]\nmin_free_space = \"1000TiB\"\n")
	p := startServe(t, "-c", cfg)
	c, err := smtp.Dial(p.listenAddr(t, "smtp"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	err = c.Mail("someone@remote.test", nil)
	if se, ok := err.(*smtp.SMTPError); !ok || se.Code != 452 || se.EnhancedCode != (smtp.EnhancedCode{4, 3, 1}) {
		t.Fatalf("MAIL when storage is full: %v", err)
	}
	ic, err := imapclient.DialInsecure(p.listenAddr(t, "imap"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ic.Close()
	if err := ic.Login("alice@example.test", "password").Wait(); err != nil {
		t.Fatal(err)
	}
	cmd := ic.Append("INBOX", 20, nil)
	cmd.Write([]byte("Subject: x\r\n\r\n123456"))
	cmd.Close()
	if _, err := cmd.Wait(); err == nil || !strings.Contains(err.Error(), "OVERQUOTA") {
		t.Fatalf("APPEND when storage is full: %v", err)
	}
	if _, err := ic.Select("INBOX", nil).Wait(); err != nil {
		t.Fatalf("SELECT when storage is full: %v", err)
	}
	p.stop(t)
}

// TestFullDisk runs the server on a small tmpfs (root only; skipped
// otherwise) and fills it over SMTP: near the end the server answers
// 452 4.3.1 and APPEND NO [OVERQUOTA] instead of failing, fsck is clean,
// and mail is accepted again once space is freed.
func TestFullDisk(t *testing.T) {
	mnt := testutil.MountTmpfs(t, "128m")
	filler := filepath.Join(mnt, "filler")
	if err := os.WriteFile(filler, make([]byte, 40<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	relay := startSmarthost(t)
	cfg := mailConfig(t, mnt, relay.addr)
	appendConfig(t, cfg, "[limits]\nmin_free_space = \"48MiB\"\n")
	p := startServe(t, "-c", cfg)
	c, err := smtp.Dial(p.listenAddr(t, "smtp"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	body := "Subject: fill\r\n\r\n" + strings.Repeat(strings.Repeat("z", 98)+"\r\n", 1000)
	accepted := 0
	var refusal error
	for accepted < 2000 {
		// Random bodies: de-duplication (of messages and of large bodies
		// and parts) would otherwise store the repeats once.
		random := make([]byte, 75<<10)
		rand.Read(random)
		enc := base64.StdEncoding.EncodeToString(random)
		var lines strings.Builder
		for len(enc) > 76 {
			lines.WriteString(enc[:76] + "\r\n")
			enc = enc[76:]
		}
		msg := "Subject: fill\r\n\r\n" + lines.String() + enc + "\r\n"
		if err := testutil.SendMail(c, "fill@remote.test", []string{"alice@example.test"}, msg); err != nil {
			refusal = err
			break
		}
		accepted++
	}
	if se, ok := refusal.(*smtp.SMTPError); !ok || se.Code != 452 || se.EnhancedCode != (smtp.EnhancedCode{4, 3, 1}) {
		df, _ := exec.Command("df", "-h", mnt).CombinedOutput()
		t.Fatalf("after %d messages: %v\n%s", accepted, refusal, df)
	}
	ic, err := imapclient.DialInsecure(p.listenAddr(t, "imap"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ic.Close()
	if err := ic.Login("alice@example.test", "password").Wait(); err != nil {
		t.Fatal(err)
	}
	// Free space moves a little after the refusal (Badger removes a
	// flushed memtable's log, compacts tables), so APPEND may still be
	// taken a few times; it must end in NO [OVERQUOTA], never another
	// error.
	for i := 0; ; i++ {
		random := make([]byte, 75<<10)
		rand.Read(random)
		msg := body + base64.StdEncoding.EncodeToString(random) + "\r\n"
		cmd := ic.Append("INBOX", int64(len(msg)), nil)
		cmd.Write([]byte(msg))
		cmd.Close()
		_, err := cmd.Wait()
		if err != nil && strings.Contains(err.Error(), "OVERQUOTA") {
			break
		}
		if err != nil || i == 400 {
			t.Fatalf("APPEND %d on a full disk: %v", i+1, err)
		}
	}
	if out, err := exec.Command(binary, "fsck", "-c", cfg).CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "clean" {
		t.Fatalf("fsck on a full disk: %v %s", err, out)
	}
	// Space comes back; mail is accepted again without a restart.
	os.Remove(filler)
	c2, err := smtp.Dial(p.listenAddr(t, "smtp"))
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if err := testutil.SendMail(c2, "fill@remote.test", []string{"alice@example.test"}, "Subject: after\r\n\r\nok\r\n"); err != nil {
		t.Fatalf("after freeing space: %v", err)
	}
	p.stop(t)
	t.Logf("%d messages of 100 KB accepted, then 452 4.3.1; accepted again after freeing space", accepted)
}

// appendConfig adds TOML to the end of a configuration file.
func appendConfig(t *testing.T, path, text string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
}
