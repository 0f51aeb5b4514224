package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"mailroom/acl"
)

// TestImportIMAP: mailroom import from imap://user@host copies every
// mailbox of the remote account (here another account of the same
// server, over its IMAP listener) with flags and internal dates, and a
// second run finds everything there already.
func TestImportIMAP(t *testing.T) {
	dir := t.TempDir()
	hash, err := acl.HashPassword("pw")
	if err != nil {
		t.Fatal(err)
	}
	cfg := opsConfig(t, dir, hash, "", "alice@example.test", "bob@example.test")
	p := startServe(t, "-c", cfg)
	p.waitFor(t, 0, "mailroom started")
	addr := p.listenAddr(t, "imap")

	c, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login("alice@example.test", "pw").Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Create("Work/2024", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	date := time.Date(2021, 7, 1, 9, 30, 0, 0, time.UTC)
	for i := range 120 {
		mailbox, flags := "INBOX", []imap.Flag{imap.FlagSeen}
		if i%4 == 0 {
			mailbox, flags = "Work/2024", []imap.Flag{imap.FlagFlagged, "$Project"}
		}
		msg := fmt.Sprintf("Subject: %d\r\n\r\nbody %d\r\n", i, i)
		cmd := c.Append(mailbox, int64(len(msg)), &imap.AppendOptions{Flags: flags, Time: date.Add(time.Duration(i) * time.Hour)})
		cmd.Write([]byte(msg))
		cmd.Close()
		if _, err := cmd.Wait(); err != nil {
			t.Fatal(err)
		}
	}
	pwFile := filepath.Join(dir, "pw")
	os.WriteFile(pwFile, []byte("pw\n"), 0o600)
	src := "imap://alice@example.test@" + addr
	out := run(t, "import", "-c", cfg, "-password-file", pwFile, "bob@example.test", src)
	if !strings.Contains(out, "imported 120 messages into bob@example.test (0 were already there, 0 failed)") {
		t.Fatalf("import: %s", out)
	}
	out = run(t, "import", "-c", cfg, "-password-file", pwFile, "bob@example.test", src)
	if !strings.Contains(out, "imported 0 messages into bob@example.test (120 were already there, 0 failed)") {
		t.Fatalf("second import: %s", out)
	}
	// What bob has in Work/2024: the flags and dates alice's had.
	if err := c.Logout().Wait(); err != nil {
		t.Fatal(err)
	}
	b, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.Login("bob@example.test", "pw").Wait(); err != nil {
		t.Fatal(err)
	}
	sel, err := b.Select("Work/2024", nil).Wait()
	if err != nil || sel.NumMessages != 30 {
		t.Fatalf("bob's Work/2024: %+v %v", sel, err)
	}
	msgs, err := b.Fetch(imap.SeqSet{imap.SeqRange{Start: 1, Stop: 30}}, &imap.FetchOptions{Flags: true, InternalDate: true}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range msgs {
		want := date.Add(time.Duration(4*i) * time.Hour)
		if !m.InternalDate.Equal(want) || !slices.Contains(m.Flags, imap.FlagFlagged) || !slices.Contains(m.Flags, "$Project") || slices.Contains(m.Flags, imap.FlagSeen) {
			t.Fatalf("message %d: %v %v, want %v, \\Flagged $Project", i+1, m.InternalDate, m.Flags, want)
		}
	}
	p.stop(t)
}
