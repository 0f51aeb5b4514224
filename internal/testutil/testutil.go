// Package testutil holds helpers that tests of several packages share. It
// is imported by _test.go files only and never by the server itself, so it
// stands outside the layout in docs/architecture.md of the running program.
package testutil

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// TLSConfig returns a server configuration with a fresh self-signed
// certificate for localhost and 127.0.0.1.
func TLSConfig(t testing.TB) *tls.Config {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
}

// SendMail runs one SMTP transaction on c.
func SendMail(c *smtp.Client, from string, rcpts []string, msg string) error {
	if err := c.Mail(from, nil); err != nil {
		return err
	}
	for _, r := range rcpts {
		if err := c.Rcpt(r, nil); err != nil {
			return err
		}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write([]byte(msg)); err != nil {
		return err
	}
	return w.Close()
}

// MountTmpfs mounts a tmpfs of the given size ("128m") on a fresh
// directory and returns it, unmounted at the end of the test. It skips the
// test unless it runs as root and the mount succeeds.
func MountTmpfs(t testing.TB, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a tmpfs")
	}
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", mnt).Run() })
	return mnt
}

// Dial opens a raw TCP connection with a deadline, closed at the end of
// the test.
func Dial(t testing.TB, addr string, d time.Duration) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(d))
	return c
}

// LogBuffer collects log output safely from many goroutines.
type LogBuffer struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{} // closed and replaced at each write
}

func (b *LogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.changed != nil {
		close(b.changed)
		b.changed = nil
	}
	return b.buf.Write(p)
}

func (b *LogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// WaitLine waits up to d for a logged line containing every one of
// parts, and returns it; it fails the test when none comes.
func (b *LogBuffer) WaitLine(t testing.TB, d time.Duration, parts ...string) string {
	t.Helper()
	timeout := time.After(d)
	for {
		b.mu.Lock()
		for _, l := range strings.Split(b.buf.String(), "\n") {
			if containsAll(l, parts) {
				b.mu.Unlock()
				return l
			}
		}
		if b.changed == nil {
			b.changed = make(chan struct{})
		}
		ch := b.changed
		b.mu.Unlock()
		select {
		case <-ch:
		case <-timeout:
			t.Fatalf("no log line with %q in:\n%s", parts, b.String())
		}
	}
}

func containsAll(s string, parts []string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}

// Logger returns a text logger at level writing into the returned buffer.
func Logger(level slog.Level) (*slog.Logger, *LogBuffer) {
	b := &LogBuffer{}
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: level})), b
}

// RequireToolsEnv names the environment variable that turns a missing
// external test tool into a test failure (.ci/run sets it to 1, after
// `make deps`). Without it a test that needs a missing tool is skipped,
// saying which tool, so that `go test -v` shows what did not run.
const RequireToolsEnv = "MAILROOM_REQUIRE_TOOLS"

// NeedTool returns the path of the program name, or skips the test (fails
// it under MAILROOM_REQUIRE_TOOLS=1) when it is not installed.
func NeedTool(t testing.TB, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		missingTool(t, name+" is not installed")
	}
	return path
}

// NeedPython returns /usr/bin/python3, the interpreter `make deps` installs
// Debian's modules for (python3 on PATH when there is none), after checking
// that it imports every one of modules; it skips or fails like NeedTool.
func NeedPython(t testing.TB, modules ...string) string {
	t.Helper()
	python := "/usr/bin/python3"
	if _, err := os.Stat(python); err != nil {
		python = NeedTool(t, "python3")
	}
	for _, m := range modules {
		if out, err := exec.Command(python, "-c", "import "+m).CombinedOutput(); err != nil {
			lines := strings.Split(strings.TrimSpace(string(out)), "\n")
			missingTool(t, fmt.Sprintf("%s cannot import %s (%v: %s)", python, m, err, lines[len(lines)-1]))
		}
	}
	return python
}

func missingTool(t testing.TB, why string) {
	t.Helper()
	if os.Getenv(RequireToolsEnv) == "1" {
		t.Fatalf("%s, and %s=1 requires it (make deps installs the test tools)", why, RequireToolsEnv)
	}
	t.Skipf("%s: skipped (make deps installs it; %s=1 makes this a failure)", why, RequireToolsEnv)
}
