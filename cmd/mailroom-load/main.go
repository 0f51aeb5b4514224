// Command mailroom-load drives a running Mailroom over loopback and
// reports what it measured, one line per run. Every run is bounded in
// count and in time and stops by itself.
//
//	mailroom-load smtp   -addr 127.0.0.1:2525 -rcpt alice@example.test -clients 16 -size 4096 -n 2000
//	mailroom-load append -addr 127.0.0.1:1143 -user alice@example.test -pass password -n 1000
//	mailroom-load idle   -addr 127.0.0.1:1143 -user alice@example.test -pass password -n 1000 -pid PID
//	mailroom-load largebox -addr 127.0.0.1:1143 -user alice@example.test -pass password -n 100000 -clients 8 -size 1000
//
// largebox works against any IMAP server (a reference Dovecot too): it
// fills INBOX to n messages and prints the median times of the commands
// clients run on a large mailbox.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-smtp"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: mailroom-load smtp|append|idle|largebox [flags]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:2525", "server address")
	rcpt := fs.String("rcpt", "alice@example.test", "recipient (smtp)")
	user := fs.String("user", "alice@example.test", "IMAP user")
	pass := fs.String("pass", "password", "IMAP password")
	clients := fs.Int("clients", 1, "concurrent clients")
	size := fs.Int("size", 4096, "message size in bytes")
	n := fs.Int("n", 1000, "messages to send, or connections to open")
	pid := fs.Int("pid", 0, "server process, to read its RSS (idle)")
	limit := fs.Duration("time", 2*time.Minute, "stop after this long")
	fs.Parse(os.Args[2:])
	if !strings.HasPrefix(*addr, "127.") && !strings.HasPrefix(*addr, "localhost:") && !strings.HasPrefix(*addr, "[::1]") {
		fmt.Fprintln(os.Stderr, "mailroom-load only drives servers on loopback")
		os.Exit(2)
	}
	deadline := time.Now().Add(*limit)
	var err error
	switch os.Args[1] {
	case "smtp":
		err = loadSMTP(*addr, *rcpt, *clients, *size, *n, deadline)
	case "append":
		err = loadAppend(*addr, *user, *pass, *clients, *size, *n, deadline)
	case "idle":
		err = loadIdle(*addr, *user, *pass, *n, *pid, deadline)
	case "largebox":
		err = loadLargebox(*addr, *user, *pass, *clients, *size, *n, deadline)
	default:
		err = fmt.Errorf("unknown mode %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "mailroom-load:", err)
		os.Exit(1)
	}
}

func message(seq int64, size int) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: load@remote.test\r\nSubject: load %d\r\nMessage-ID: <%d.%d@load.test>\r\n\r\n", seq, seq, time.Now().UnixNano())
	line := strings.Repeat("x", 76) + "\r\n"
	for b.Len() < size {
		b.WriteString(line)
	}
	return b.Bytes()
}

// run starts workers that each call op until n operations are done or
// the deadline passes, and reports the rate.
func run(what string, clients, n int, deadline time.Time, newWorker func() (func(seq int64) error, func(), error)) error {
	var next, done atomic.Int64
	var firstErr error
	var once sync.Once
	start := time.Now()
	var wg sync.WaitGroup
	for range clients {
		op, closeFn, err := newWorker()
		if err != nil {
			return err
		}
		wg.Go(func() {
			defer closeFn()
			for time.Now().Before(deadline) {
				seq := next.Add(1)
				if seq > int64(n) {
					return
				}
				if err := op(seq); err != nil {
					once.Do(func() { firstErr = err })
					return
				}
				done.Add(1)
			}
		})
	}
	wg.Wait()
	el := time.Since(start)
	fmt.Printf("%s clients=%d done=%d seconds=%.2f per_second=%.0f\n", what, clients, done.Load(), el.Seconds(), float64(done.Load())/el.Seconds())
	return firstErr
}

func loadSMTP(addr, rcpt string, clients, size, n int, deadline time.Time) error {
	return run(fmt.Sprintf("smtp size=%d", size), clients, n, deadline, func() (func(int64) error, func(), error) {
		c, err := smtp.Dial(addr)
		if err != nil {
			return nil, nil, err
		}
		return func(seq int64) error {
			if err := c.Mail("load@remote.test", nil); err != nil {
				return err
			}
			if err := c.Rcpt(rcpt, nil); err != nil {
				return err
			}
			w, err := c.Data()
			if err != nil {
				return err
			}
			w.Write(message(seq, size))
			return w.Close()
		}, func() { c.Close() }, nil
	})
}

func loadAppend(addr, user, pass string, clients, size, n int, deadline time.Time) error {
	return run(fmt.Sprintf("append size=%d", size), clients, n, deadline, func() (func(int64) error, func(), error) {
		c, err := imapclient.DialInsecure(addr, nil)
		if err != nil {
			return nil, nil, err
		}
		if err := c.Login(user, pass).Wait(); err != nil {
			return nil, nil, err
		}
		return func(seq int64) error {
			m := message(seq, size)
			cmd := c.Append("INBOX", int64(len(m)), nil)
			cmd.Write(m)
			cmd.Close()
			_, err := cmd.Wait()
			return err
		}, func() { c.Logout().Wait(); c.Close() }, nil
	})
}

// loadIdle opens n connections, logs each in and leaves it in IDLE, then
// reports the server's resident memory before and after.
func loadIdle(addr, user, pass string, n, pid int, deadline time.Time) error {
	before := rss(pid)
	var conns []*imapclient.Client
	var idles []*imapclient.IdleCommand
	defer func() {
		for i, c := range conns {
			if i < len(idles) {
				idles[i].Close()
			}
			c.Close()
		}
	}()
	for i := 0; i < n && time.Now().Before(deadline); i++ {
		c, err := imapclient.DialInsecure(addr, nil)
		if err != nil {
			return fmt.Errorf("connection %d: %w", i, err)
		}
		conns = append(conns, c)
		if err := c.Login(user, pass).Wait(); err != nil {
			return fmt.Errorf("connection %d: %w", i, err)
		}
		if _, err := c.Select("INBOX", nil).Wait(); err != nil {
			return err
		}
		idle, err := c.Idle()
		if err != nil {
			return err
		}
		idles = append(idles, idle)
	}
	// Let the server settle: a NOOP on a fresh connection returns only
	// after the server has answered everything before it.
	c, err := imapclient.DialInsecure(addr, nil)
	if err == nil {
		c.Noop().Wait()
		c.Close()
	}
	after := rss(pid)
	per := 0.0
	if len(idles) > 0 && before > 0 {
		per = float64(after-before) / float64(len(idles))
	}
	fmt.Printf("idle connections=%d rss_before_kib=%d rss_after_kib=%d per_connection_kib=%.1f\n", len(idles), before, after, per)
	return nil
}

// rss reads a process's resident set size in KiB from /proc.
func rss(pid int) int64 {
	if pid == 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
			return n
		}
	}
	return 0
}
