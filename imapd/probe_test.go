package imapd

import (
	"bufio"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"mailroom/internal/testutil"
)

// TestProbeLogsAtDebug: a connection that is opened and reset without a
// command (a health check, a port probe) is logged at debug level, not as
// a warning.
func TestProbeLogsAtDebug(t *testing.T) {
	t.Parallel()
	log, buf := testutil.Logger(slog.LevelDebug)
	ts := newTestServer(t, func(o *Options) { o.Logger = log })
	c := testutil.Dial(t, ts.plain, 10*time.Second)
	if l, err := bufio.NewReader(c).ReadString('\n'); err != nil || !strings.HasPrefix(l, "* OK") {
		t.Fatalf("greeting: %q %v", l, err)
	}
	local := c.LocalAddr().String()
	c.(*net.TCPConn).SetLinger(0) // close with a reset
	c.Close()
	line := buf.WaitLine(t, 10*time.Second, "closed without a command", local)
	if !strings.Contains(line, "level=DEBUG") {
		t.Errorf("probe logged as %s", line)
	}
	buf.WaitLine(t, 10*time.Second, "msg=closed", local)
	if strings.Contains(buf.String(), "level=WARN") {
		t.Errorf("a probe logged a warning:\n%s", buf.String())
	}
}
