package smtpd

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/mail"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message/textproto"
	"github.com/emersion/go-msgauth/dkim"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"mailroom/internal/testutil"
)

// rawSend runs one SMTP transaction over a raw socket, so that the
// message's bytes (bare CRs and LFs included) reach the server as they are:
// go-smtp's client would turn a bare LF into CRLF. With user set it logs
// in first (AUTH PLAIN). It returns the last reply's code and enhanced
// code, and its text.
func rawSend(t *testing.T, addr, user, from string, rcpts []string, msg string) (string, string) {
	t.Helper()
	conn := testutil.Dial(t, addr, 30*time.Second)
	r := bufio.NewReader(conn)
	reply := func() (string, string) {
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("reading a reply: %v", err)
			}
			if len(l) < 4 || l[3] != '-' {
				return strings.TrimSpace(l[:min(len(l), 9)]), l
			}
		}
	}
	reply() // greeting
	cmds := []string{"EHLO client.test"}
	if user != "" {
		cmds = append(cmds, "AUTH PLAIN "+base64.StdEncoding.EncodeToString([]byte("\x00"+user+"\x00password")))
	}
	cmds = append(cmds, "MAIL FROM:<"+from+">")
	for _, rc := range rcpts {
		cmds = append(cmds, "RCPT TO:<"+rc+">")
	}
	cmds = append(cmds, "DATA")
	for _, cmd := range cmds {
		fmt.Fprintf(conn, "%s\r\n", cmd)
		if got, text := reply(); got[0] != '2' && got[0] != '3' {
			return got, text
		}
	}
	if strings.Contains(msg, "\r\n.") || !strings.HasSuffix(msg, "\r\n") {
		t.Fatalf("rawSend does not dot-stuff: %q", msg)
	}
	io.WriteString(conn, msg+".\r\n")
	return reply()
}

// TestSubmissionOriginatorHygiene: on submission a header with a second
// From or Sender, however spelled or split, is refused before anything is
// stored or queued; every From mailbox is checked, and several need a
// Sender of the user's own.
func TestSubmissionOriginatorHygiene(t *testing.T) {
	t.Parallel()
	env := newEnv(t, 1<<20)
	const me = "From: alice@example.test\r\n"
	for _, tc := range []struct {
		name, header, want, mention string
	}{
		{"second From", me + "From: bob@example.test\r\n", "550 5.6.0", "From"},
		{"second From, both own", me + "From: a.liddell@example.test\r\n", "550 5.6.0", "From"},
		{"lower-case second", me + "from: bob@example.test\r\n", "550 5.6.0", "From"},
		{"upper-case second", me + "FROM: bob@example.test\r\n", "550 5.6.0", "From"},
		{"upper-case first", "FROM: bob@example.test\r\n" + me, "550 5.6.0", "From"},
		{"obsolete space before colon", me + "From : bob@example.test\r\n", "550 5.6.0", "From"},
		{"obsolete tab before colon", "From\t: bob@example.test\r\n" + me, "550 5.6.0", "From"},
		{"obsolete syntax alone", "From : bob@example.test\r\n", "550 5.7.1", "bob@example.test"},
		{"split by bare LF", me + "Subject: x\nFrom: bob@example.test\r\n", "550 5.6.0", "From"},
		{"split by bare LF first", "X-Note: x\nFrom: bob@example.test\r\n" + me, "550 5.6.0", "From"},
		{"split by bare CR", me + "Subject: x\rFrom: bob@example.test\r\n", "550 5.6.0", "From"},
		{"bare LF only", "X-Note: x\nFrom: bob@example.test\r\n", "550 5.7.1", "bob@example.test"},
		{"second Sender", me + "Sender: alice@example.test\r\nSender: bob@example.test\r\n", "550 5.6.0", "Sender"},
		{"second Sender, lower-case", me + "Sender: alice@example.test\r\nsender : bob@example.test\r\n", "550 5.6.0", "Sender"},
		{"several From without Sender", "From: alice@example.test, a.liddell@example.test\r\n", "550 5.6.0", "Sender"},
		{"several From, one not hers", "From: alice@example.test, bob@example.test\r\nSender: alice@example.test\r\n", "550 5.7.1", "bob@example.test"},
		{"Sender not hers", "From: alice@example.test, a.liddell@example.test\r\nSender: bob@example.test\r\n", "550 5.7.1", "bob@example.test"},
		{"Sender of two mailboxes", me + "Sender: alice@example.test, bob@example.test\r\n", "550 5.6.0", "Sender"},
		{"not a field", me + "this is no header field\r\n", "550 5.6.0", "line 2"},
		{"leading continuation", " folded: x\r\n" + me, "550 5.6.0", "line 1"},
		{"no From", "Subject: x\r\n", "550 5.6.0", "From"},
		// Accepted: the last refusal must not be sticky.
		{"own", me, "250 2.0.0", ""},
		{"several own with Sender", "From: alice@example.test, A <a.liddell@example.test>\r\nSender: alice@example.test\r\n", "250 2.0.0", ""},
		{"folded From", "From:\r\n Alice\r\n <alice@example.test>\r\n", "250 2.0.0", ""},
		{"lower-case field", "from: alice@example.test\r\n", "250 2.0.0", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, text := rawSend(t, env.sub, "alice@example.test", "alice@example.test", []string{"bob@example.test", "friend@remote.test"}, tc.header+"Subject: t\r\n\r\nbody\r\n")
			if got != tc.want {
				t.Fatalf("got %s, want %s", text, tc.want)
			}
			if !strings.Contains(text, tc.mention) {
				t.Errorf("refusal %q does not name %s", text, tc.mention)
			}
		})
	}
	// Only the four accepted messages were stored and queued.
	if n := len(inboxContents(t, env.st, "bob@example.test")); n != 4 {
		t.Errorf("bob has %d messages, want 4", n)
	}
	env.queue.mu.Lock()
	defer env.queue.mu.Unlock()
	if n := len(env.queue.msgs); n != 4 {
		t.Errorf("%d messages queued, want 4", n)
	}
}

// TestInboundOriginatorCount: MX and LMTP refuse mail with a second From
// or Sender (however spelled or split); other mail is delivered.
func TestInboundOriginatorCount(t *testing.T) {
	t.Parallel()
	env := newEnv(t, 1<<20)
	const them = "From: someone@remote.test\r\n"
	bad := map[string]string{
		"second From":          them + "From: alice@example.test\r\n",
		"obsolete second From": them + "FROM : alice@example.test\r\n",
		"split by bare LF":     them + "Subject: x\nfrom: alice@example.test\r\n",
		"split by bare CR":     them + "Subject: x\rFrom: alice@example.test\r\n",
		"second Sender":        them + "Sender: a@remote.test\r\nSender: b@remote.test\r\n",
	}
	for name, header := range bad {
		t.Run("mx/"+name, func(t *testing.T) {
			if got, text := rawSend(t, env.mx, "", "someone@remote.test", []string{"alice@example.test"}, header+"\r\nbody\r\n"); got != "550 5.6.0" {
				t.Fatalf("got %s, want 550 5.6.0", text)
			}
		})
		t.Run("lmtp/"+name, func(t *testing.T) {
			conn, err := net.Dial("tcp", env.lmtp)
			if err != nil {
				t.Fatal(err)
			}
			c := smtp.NewClientLMTP(conn)
			defer c.Close()
			if err := c.Hello("mta.example.test"); err != nil {
				t.Fatal(err)
			}
			c.Mail("someone@remote.test", nil)
			c.Rcpt("alice@example.test", nil)
			c.Rcpt("bob@example.test", nil)
			w, err := c.Data()
			if err != nil {
				t.Fatal(err)
			}
			w.Write([]byte(header + "\r\nbody\r\n"))
			_, err = w.CloseWithLMTPResponse()
			var perRcpt smtp.LMTPDataError
			if !errors.As(err, &perRcpt) {
				t.Fatalf("LMTP DATA: %v", err)
			}
			for _, r := range []string{"alice@example.test", "bob@example.test"} {
				if got := code(perRcpt[r]); got != "550 5.6.0" {
					t.Errorf("%s: %s, want 550 5.6.0", r, got)
				}
			}
		})
	}
	if got := inboxContents(t, env.st, "alice@example.test"); len(got) != 0 {
		t.Fatalf("refused mail stored: %q", got)
	}
	// One From (bare LFs and all) is delivered, byte for byte.
	ok := them + "Subject: fine\n\nbody\r\n"
	if got, text := rawSend(t, env.mx, "", "someone@remote.test", []string{"alice@example.test"}, ok); got != "250 2.0.0" {
		t.Fatal(text)
	}
	if got := inboxContents(t, env.st, "alice@example.test"); len(got) != 1 || !strings.HasSuffix(got[0], ok) {
		t.Fatalf("alice: %q", got)
	}
}

// wireMX is a remote SMTP server on loopback that records the DATA of
// each message exactly as it came over the wire: dot-stuffed, with its
// line endings, up to the first <CRLF>.<CRLF>.
type wireMX struct {
	addr string
	got  chan []byte
}

func startWireMX(t *testing.T) *wireMX {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	m := &wireMX{addr: ln.Addr().String(), got: make(chan []byte, 4)}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go m.serve(c)
		}
	}()
	return m
}

func (m *wireMX) serve(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Minute))
	r := bufio.NewReader(c)
	io.WriteString(c, "220 wire.remote.test\r\n")
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		switch verb := strings.ToUpper(strings.Fields(line + " x")[0]); verb {
		case "DATA":
			io.WriteString(c, "354 go on\r\n")
			var data []byte
			for !bytes.HasSuffix(data, []byte("\r\n.\r\n")) {
				b, err := r.ReadByte()
				if err != nil {
					return
				}
				data = append(data, b)
			}
			m.got <- data
			io.WriteString(c, "250 2.0.0 got it\r\n")
		case "QUIT":
			io.WriteString(c, "221 bye\r\n")
			return
		default: // EHLO (no extensions), MAIL, RCPT, RSET, NOOP
			io.WriteString(c, "250 ok\r\n")
		}
	}
}

// oneHost resolves every domain to one address.
type oneHost struct{}

func (oneHost) LookupMX(context.Context, string) ([]*net.MX, error) {
	return []*net.MX{{Host: "mx.remote.test.", Pref: 10}}, nil
}
func (oneHost) LookupHost(context.Context, string) ([]string, error) {
	return []string{"192.0.2.1"}, nil
}

// TestSubmittedLineEndingsReachRemoteAsCRLF: a submitted message with
// bare CRs and LFs reaches the remote server with CRLF line endings only,
// so "<CR>.<CRLF>" cannot end the message early there (SMTP smuggling),
// and the DKIM signature covers what arrives.
func TestSubmittedLineEndingsReachRemoteAsCRLF(t *testing.T) {
	t.Parallel()
	remote := startWireMX(t)
	env := newEnv(t, 1<<20)
	signer, err := GenerateDKIMKey(filepath.Join(t.TempDir(), "k.pem"), "ed25519")
	if err != nil {
		t.Fatal(err)
	}
	key := &DKIMKey{Domain: "example.test", Selector: "s1", Signer: signer}
	out := NewOutbound(OutboundOptions{
		Store: env.st, Directory: env.dir, Logger: slog.New(slog.DiscardHandler), Hostname: "mx.example.test",
		Domains: []string{"example.test"}, Resolver: oneHost{},
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, remote.addr)
		},
		DKIM: map[string]*DKIMKey{"example.test": key}, Timeout: 10 * time.Second,
	})
	// Submission with the real queue behind it.
	srv := New(Options{Store: env.st, Directory: env.dir, Hostname: "mx.example.test", Logger: slog.New(slog.DiscardHandler),
		Domains: []string{"example.test"}, MaxMessageBytes: 1 << 20, Timeout: 10 * time.Second, Queue: out})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln, ListenerOptions{Mode: ModeSubmission, InsecureAuth: true})
	t.Cleanup(func() { srv.Shutdown(context.Background()) })

	c := dial(t, ln.Addr().String())
	if err := c.Auth(sasl.NewPlainClient("", "alice@example.test", "password")); err != nil {
		t.Fatal(err)
	}
	msg := "From: alice@example.test\r\nTo: friend@remote.test\r\nSubject: smuggle\r\n\r\nline\r.\r\nMAIL FROM:<x@remote.test>\nbare\rcr\r\n"
	if err := testutil.SendMail(c, "alice@example.test", []string{"friend@remote.test"}, msg); err != nil {
		t.Fatal(err)
	}
	if _, err := out.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	var wire []byte
	select {
	case wire = <-remote.got:
	default:
		t.Fatal("the remote server got nothing")
	}
	body := wire[:len(wire)-len(".\r\n")] // what precedes the end-of-data line
	for i, b := range body {
		if b == '\r' && (i+1 == len(body) || body[i+1] != '\n') || b == '\n' && (i == 0 || body[i-1] != '\r') {
			t.Fatalf("bare CR or LF at %d on the wire: %q", i, wire)
		}
	}
	if want := "\r\nline\r\n..\r\nMAIL FROM:<x@remote.test>\r\nbare\r\ncr\r\n.\r\n"; !bytes.HasSuffix(wire, []byte(want)) {
		t.Fatalf("wire data does not end %q:\n%q", want, wire)
	}
	// Un-dot-stuffed, it verifies.
	plain := strings.ReplaceAll(string(body), "\r\n..", "\r\n.")
	record, _ := DKIMRecord(signer)
	vs, err := dkim.VerifyWithOptions(strings.NewReader(plain), &dkim.VerifyOptions{LookupTXT: func(string) ([]string, error) {
		return []string{record}, nil
	}})
	if err != nil || len(vs) != 1 || vs[0].Err != nil {
		t.Fatalf("DKIM of what arrived: %v %+v", err, vs)
	}
}

// checkCounts reads msg's header leniently and checks its From and
// Sender counts.
func checkCounts(msg []byte) error {
	o, err := readOriginator(msg, false)
	if err != nil {
		return err
	}
	return o.checkCounts()
}

// FuzzHeaderCheck checks the originator reading against go-message's
// header parser and net/mail's: whatever the strict reading lets through
// with one From has exactly one From (and at most one Sender) to them
// too, with the same mailboxes; the lenient reading of raw bytes never
// finds fewer fields than they do.
func FuzzHeaderCheck(f *testing.F) {
	for _, s := range []string{
		"From: a@b.test\r\nSubject: x\r\n\r\nbody\r\n",
		"From: a@b.test\r\nFrom: c@d.test\r\n\r\n",
		"From : a@b.test\r\nfrom: c@d.test\r\n\r\n",
		"Subject: x\nFrom: a@b.test\r\nFROM: c@d.test\r\n\r\n",
		"Subject: x\rFrom: a@b.test\r\n\r\n",
		"From:\r\n a@b.test,\r\n\tc@d.test\r\nSender: a@b.test\r\n\r\n",
		" x: y\r\nFrom: a@b.test\r\n\r\n",
		"no colon\r\nFrom: a@b.test\r\n\r\n",
		"From: a@b.test\r\n\r\nFrom: c@d.test\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		count := func(h textproto.Header, name string) int { return len(h.Values(name)) }
		// Lenient reading (MX) of the raw bytes: never fewer Froms than
		// go-message finds, where go-message reads the header at all.
		lo, err := readOriginator(raw, false)
		if err == nil {
			if h, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(raw))); err == nil {
				if count(h, "From") > len(lo.from) || count(h, "Sender") > len(lo.sender) {
					t.Fatalf("lenient: %d From, %d Sender; go-message: %d, %d", len(lo.from), len(lo.sender), count(h, "From"), count(h, "Sender"))
				}
			}
		}
		msg := normalizeLineEndings(raw)
		if bytes.Equal(msg, raw) != (len(msg) == len(raw)) {
			t.Fatal("normalizeLineEndings changed bytes without adding any")
		}
		if again := normalizeLineEndings(msg); !bytes.Equal(again, msg) {
			t.Fatalf("normalizing twice: %q -> %q", msg, again)
		}
		// In place, with room to spare or without: the same bytes.
		for _, room := range []int{0, len(msg) - len(raw), len(msg) - len(raw) + 3} {
			buf := append(make([]byte, 0, len(raw)+room), raw...)
			if got := normalizeInPlace(buf); !bytes.Equal(got, msg) {
				t.Fatalf("in place with %d bytes of room: %q, want %q", room, got, msg)
			}
		}
		// checkInbound normalises only the header: it decides as it
		// would on the whole message normalised.
		whole := checkCounts(raw) == nil && checkCounts(msg) == nil
		if got := checkInbound(raw) == nil; got != whole {
			t.Fatalf("checkInbound accepts: %v; on the whole message normalised: %v", got, whole)
		}
		o, err := readOriginator(msg, true)
		if err != nil || o.checkCounts() != nil || len(o.from) != 1 {
			return
		}
		ours, err := mail.ParseAddressList(unfold(o.from[0]))
		if err != nil {
			return
		}
		h, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(msg)))
		if err != nil {
			t.Fatalf("accepted a header go-message cannot read: %v", err)
		}
		if count(h, "From") != 1 || count(h, "Sender") > 1 {
			t.Fatalf("accepted; go-message sees %d From, %d Sender", count(h, "From"), count(h, "Sender"))
		}
		theirs, err := mail.ParseAddressList(h.Get("From"))
		if err != nil || len(theirs) != len(ours) {
			t.Fatalf("From mailboxes differ: ours %v, go-message's %v (%v)", ours, theirs, err)
		}
		for i := range ours {
			if ours[i].Address != theirs[i].Address {
				t.Fatalf("From mailboxes differ: ours %v, go-message's %v", ours, theirs)
			}
		}
		// net/mail takes "From :" for another field: it may see none,
		// never a second.
		if m, err := mail.ReadMessage(bytes.NewReader(msg)); err == nil {
			if n := len(m.Header["From"]); n > 1 {
				t.Fatalf("accepted; net/mail sees %d From", n)
			}
		}
	})
}
