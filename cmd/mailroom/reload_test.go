package main

import (
	"bufio"
	"crypto/tls"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"mailroom/acl"
	"mailroom/internal/testutil"
)

// greeting reads the first line a fresh connection to addr gets.
func greeting(t *testing.T, addr string) (string, net.Conn) {
	t.Helper()
	c := testutil.Dial(t, addr, 30*time.Second)
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatalf("greeting: %v", err)
	}
	return line, c
}

// reloadWith rewrites the configuration at path with edit, sends SIGHUP,
// and waits for the reload's log line after line from.
func reloadWith(t *testing.T, p *proc, path string, from int, edit func(string) string) int {
	t.Helper()
	p.waitFor(t, 0, "mailroom started")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(edit(string(data))), 0o600); err != nil {
		t.Fatal(err)
	}
	p.cmd.Process.Signal(syscall.SIGHUP)
	l, at := p.waitFor(t, from, "configuration reloaded|reload failed")
	if strings.Contains(l, "reload failed") {
		t.Fatalf("reload: %s", l)
	}
	return at
}

// TestReloadConnectionsPerIP: a SIGHUP that raises connections_per_ip lets
// in the connection the running server refused before.
func TestReloadConnectionsPerIP(t *testing.T) {
	dir := t.TempDir()
	h, _ := acl.HashPassword("pw")
	path := writeConfig(t, dir, h, "[limits]\nconnections_per_ip = 1\n")
	p := startServe(t, "-c", path)
	addr := p.listenAddr(t, "imap")
	if g, _ := greeting(t, addr); !strings.HasPrefix(g, "* OK") {
		t.Fatalf("first connection: %q", g)
	}
	if g, _ := greeting(t, addr); !strings.HasPrefix(g, "* BYE [UNAVAILABLE]") {
		t.Fatalf("second connection over connections_per_ip = 1: %q", g)
	}
	reloadWith(t, p, path, 0, func(s string) string {
		return strings.Replace(s, "connections_per_ip = 1", "connections_per_ip = 3", 1)
	})
	if g, _ := greeting(t, addr); !strings.HasPrefix(g, "* OK") {
		t.Fatalf("second connection after raising connections_per_ip to 3: %q", g)
	}
	p.stop(t)
}

// TestReloadNeedsRestart: a change the running server cannot apply is
// named in one log line, and the server goes on as it was.
func TestReloadNeedsRestart(t *testing.T) {
	dir := t.TempDir()
	h, _ := acl.HashPassword("pw")
	path := writeConfig(t, dir, h, "")
	p := startServe(t, "-c", path)
	addr := p.listenAddr(t, "imap")
	reloadWith(t, p, path, 0, func(s string) string {
		return strings.Replace(s, `address = "127.0.0.1:0"`, `address = "127.0.0.1:1"`, 1)
	})
	p.waitFor(t, 0, `needs a restart.*settings=listeners\.imap`)
	if err := login(t, addr, "dave@example.test", "pw"); err != nil {
		t.Fatalf("running listener after the refused change: %v", err)
	}
	p.stop(t)
}

// TestReloadCertificate: after the certificate files are replaced (as a
// renewal does) and SIGHUP, a new TLS handshake gets the new certificate.
func TestReloadCertificate(t *testing.T) {
	dir := t.TempDir()
	path := mailConfig(t, dir, "127.0.0.1:1")
	p := startServe(t, "-c", path)
	addr := p.listenAddr(t, "imaps")
	peer := func() string {
		t.Helper()
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 30 * time.Second}, "tcp", addr, &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].Subject.CommonName
	}
	if cn := peer(); cn != "mail.example.test" {
		t.Fatalf("certificate before renewal: %q", cn)
	}
	tlsDir := filepath.Join(dir, "data", "tls")
	if err := writeSelfSigned(filepath.Join(tlsDir, "self-signed.crt"), filepath.Join(tlsDir, "self-signed.key"), "renewed.example.test"); err != nil {
		t.Fatal(err)
	}
	reloadWith(t, p, path, 0, func(s string) string { return s })
	if cn := peer(); cn != "renewed.example.test" {
		t.Fatalf("certificate after renewal and SIGHUP: %q", cn)
	}
	p.stop(t)
}

// TestReloadDomainAndOutbound: a [[domains]] entry added by SIGHUP is
// accepted by the MX at once (not refused as relaying), and a changed
// [outbound] relay takes the next submitted message.
func TestReloadDomainAndOutbound(t *testing.T) {
	dir := t.TempDir()
	first, second := startSmarthost(t), startSmarthost(t)
	path := mailConfig(t, dir, first.addr)
	p := startServe(t, "-c", path)
	mx, sub := p.listenAddr(t, "smtp"), p.listenAddr(t, "submission")
	send := func(addr, from, to string, auth bool) error {
		t.Helper()
		c, err := smtp.Dial(addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if auth {
			if err := c.Auth(plainAuth("alice@example.test", "password")); err != nil {
				t.Fatal(err)
			}
		}
		return testutil.SendMail(c, from, []string{to}, "From: "+from+"\r\nSubject: hi\r\n\r\nhello\r\n")
	}
	if err := send(mx, "x@remote.test", "carol@new.test", false); err == nil {
		t.Fatal("mail for a domain not yet configured was accepted")
	}
	h, _ := acl.HashPassword("password")
	reloadWith(t, p, path, 0, func(s string) string {
		s = strings.Replace(s, "relay = \""+first.addr+"\"", "relay = \""+second.addr+"\"", 1)
		return s + "[[domains]]\nname = \"new.test\"\n[[accounts]]\naddress = \"carol@new.test\"\npassword_hash = \"" + h + "\"\n"
	})
	if err := send(mx, "x@remote.test", "carol@new.test", false); err != nil {
		t.Fatalf("mail for the domain added by reload: %v", err)
	}
	if err := send(sub, "alice@example.test", "someone@remote.test", true); err != nil {
		t.Fatal(err)
	}
	select {
	case <-second.got:
	case <-time.After(30 * time.Second):
		t.Fatal("the relay set by reload got nothing within 30s")
	}
	p.stop(t)
}
