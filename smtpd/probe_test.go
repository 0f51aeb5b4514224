package smtpd

import (
	"bufio"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"mailroom/internal/testutil"
)

// TestProbeLogsAtDebug: a connection that is reset without a command, or
// that speaks plaintext to the implicit-TLS port (a health check, a port
// probe), is logged at debug level, not as a warning.
func TestProbeLogsAtDebug(t *testing.T) {
	t.Parallel()
	log, buf := testutil.Logger(slog.LevelDebug)
	env := newEnv(t, 1<<20, func(o *Options) { o.Logger = log })

	c := testutil.Dial(t, env.mx, 10*time.Second)
	if l, err := bufio.NewReader(c).ReadString('\n'); err != nil || !strings.HasPrefix(l, "220 ") {
		t.Fatalf("greeting: %q %v", l, err)
	}
	reset := c.LocalAddr().String()
	c.(*net.TCPConn).SetLinger(0) // close with a reset
	c.Close()

	c = testutil.Dial(t, env.subTLS2, 10*time.Second)
	io.WriteString(c, "EHLO probe\r\n")
	io.Copy(io.Discard, c) // the server gives up on the handshake and closes
	plain := c.LocalAddr().String()

	for _, addr := range []string{reset, plain} {
		line := buf.WaitLine(t, 10*time.Second, "error handling "+addr)
		if !strings.Contains(line, "level=DEBUG") {
			t.Errorf("probe logged as %s", line)
		}
	}
}
