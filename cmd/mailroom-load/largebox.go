package main

import (
	"bufio"
	"fmt"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"
)

// largeMessage is message seq of a large mailbox: varied senders, dates,
// subjects and threads, about size bytes, one with a rare word.
func largeMessage(seq int64, size int) []byte {
	words := []string{"invoice", "meeting", "lunch", "report", "holiday", "budget", "release", "travel"}
	var b strings.Builder
	date := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(seq*7919%100000) * time.Minute)
	fmt.Fprintf(&b, "From: sender%d@example.test\r\nTo: user@example.test\r\nSubject: %s %d\r\nDate: %s\r\nMessage-ID: <%d@large.test>\r\n",
		seq%500, words[seq%8], seq%1000, date.Format(time.RFC1123Z), seq)
	if seq%3 == 1 {
		fmt.Fprintf(&b, "In-Reply-To: <%d@large.test>\r\nReferences: <%d@large.test>\r\n", seq-1, seq-1)
	}
	b.WriteString("\r\n")
	if seq == 4242 {
		b.WriteString("The needle: xylophone.\r\n")
	}
	for b.Len() < size {
		fmt.Fprintf(&b, "Line of text for message %d with the word %s in it.\r\n", seq, words[(seq+int64(b.Len()))%8])
	}
	return []byte(b.String())
}

// loadLargebox fills INBOX up to n messages (four in five \Seen), then
// times the commands a client runs on a large mailbox, each five times,
// over a raw connection that only reads the bytes, and prints the
// medians: the same figures for any IMAP server.
func loadLargebox(addr, user, pass string, clients, size, n int, deadline time.Time) error {
	c, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		return err
	}
	if err := c.Login(user, pass).Wait(); err != nil {
		return err
	}
	sel, err := c.Select("INBOX", nil).Wait()
	if err != nil {
		return err
	}
	have := int(sel.NumMessages)
	c.Logout().Wait()
	c.Close()
	if have < n {
		next := int64(have)
		err := run("fill", clients, n-have, deadline, func() (func(int64) error, func(), error) {
			c, err := imapclient.DialInsecure(addr, nil)
			if err != nil {
				return nil, nil, err
			}
			if err := c.Login(user, pass).Wait(); err != nil {
				return nil, nil, err
			}
			return func(seq int64) error {
				m := largeMessage(next+seq, size)
				cmd := c.Append("INBOX", int64(len(m)), nil)
				cmd.Write(m)
				cmd.Close()
				_, err := cmd.Wait()
				return err
			}, func() { c.Logout().Wait(); c.Close() }, nil
		})
		if err != nil {
			return err
		}
	}
	r, err := dialTimed(addr)
	if err != nil {
		return err
	}
	defer r.c.Close()
	if _, err := r.cmd("LOGIN " + user + " " + pass); err != nil {
		return err
	}
	if _, err := r.cmd("SELECT INBOX"); err != nil {
		return err
	}
	if have < n {
		// Four in five seen: all, then every fifth unseen again, in
		// commands of bounded length.
		if _, err := r.cmd("STORE 1:* +FLAGS.SILENT (\\Seen)"); err != nil {
			return err
		}
		for lo := 1; lo <= n; lo += 5000 {
			var set []string
			for i := lo; i < min(lo+5000, n+1); i += 5 {
				set = append(set, strconv.Itoa(i))
			}
			if _, err := r.cmd("STORE " + strings.Join(set, ",") + " -FLAGS.SILENT (\\Seen)"); err != nil {
				return err
			}
		}
	}
	for _, q := range []struct{ name, cmd string }{
		{"select", "SELECT INBOX"},
		{"uid_fetch_flags", "UID FETCH 1:* (FLAGS)"},
		{"fetch_envelope", "FETCH 1:* (ENVELOPE)"},
		{"search_unseen", "SEARCH UNSEEN"},
		{"sort_date", "SORT (DATE) UTF-8 ALL"},
		{"thread_references", "THREAD REFERENCES UTF-8 ALL"},
		{"search_body", "SEARCH BODY xylophone"},
	} {
		var times []time.Duration
		for range 5 {
			start := time.Now()
			if _, err := r.cmd(q.cmd); err != nil {
				return fmt.Errorf("%s: %w", q.cmd, err)
			}
			times = append(times, time.Since(start))
		}
		slices.Sort(times)
		fmt.Printf("%s_ms=%.1f ", q.name, float64(times[2].Microseconds())/1000)
	}
	fmt.Printf("messages=%d\n", n)
	return nil
}

// timedConn is a raw IMAP connection that reads responses as bytes.
type timedConn struct {
	c   net.Conn
	br  *bufio.Reader
	tag int
}

func dialTimed(addr string) (*timedConn, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	r := &timedConn{c: c, br: bufio.NewReaderSize(c, 64<<10)}
	if _, err := r.br.ReadString('\n'); err != nil {
		return nil, err
	}
	return r, nil
}

var literalRE = regexp.MustCompile(`\{(\d+)\}\r\n$`)

// cmd sends a command and reads to its tagged response, which must be OK.
func (r *timedConn) cmd(line string) (int, error) {
	r.tag++
	tag := "t" + strconv.Itoa(r.tag)
	r.c.SetDeadline(time.Now().Add(5 * time.Minute))
	if _, err := fmt.Fprintf(r.c, "%s %s\r\n", tag, line); err != nil {
		return 0, err
	}
	n := 0
	for {
		l, err := r.br.ReadString('\n')
		if err != nil {
			return n, err
		}
		n += len(l)
		if strings.HasSuffix(l, "}\r\n") {
			if m := literalRE.FindStringSubmatch(l); m != nil {
				k, _ := strconv.Atoi(m[1])
				if _, err := r.br.Discard(k); err != nil {
					return n, err
				}
				n += k
				continue
			}
		}
		if strings.HasPrefix(l, tag+" ") {
			if !strings.HasPrefix(l, tag+" OK") {
				return n, fmt.Errorf("%s", strings.TrimSpace(l))
			}
			return n, nil
		}
	}
}
