package main

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"mailroom/acl"
	"mailroom/config"
	"mailroom/internal/mailfile"
)

const benchMessages = 10000

// benchServer starts Mailroom in this process on a fresh data directory
// and returns it with a generated mbox of benchMessages messages.
func benchServer(b *testing.B) (*server, string, string) {
	b.Helper()
	dir := b.TempDir()
	hash, err := acl.HashPassword("pw")
	if err != nil {
		b.Fatal(err)
	}
	cfg, err := config.Load(opsConfig(b, dir, hash, "", "alice@example.test"))
	if err != nil {
		b.Fatal(err)
	}
	s, err := start(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.shutdown() })
	mbox := filepath.Join(dir, "bench.mbox")
	genMbox(b, mbox, "bench", benchMessages)
	var imapAddr string
	for _, ln := range s.listeners {
		if ln.Addr().Network() == "tcp" && imapAddr == "" {
			imapAddr = ln.Addr().String() // imap is the first listener
		}
	}
	return s, mbox, imapAddr
}

// BenchmarkImportMbox: mailroom import of a 10,000-message mbox (what the
// admin socket runs), in messages per second.
func BenchmarkImportMbox(b *testing.B) {
	for range b.N {
		b.StopTimer()
		s, mbox, _ := benchServer(b)
		b.StartTimer()
		start := time.Now()
		res, err := runImport(context.Background(), s.store, s.dir.Load(), importRequest{Account: "alice@example.test", Source: mbox, Folder: "Imported"},
			1<<20, func(string, ...any) {}, func(importProgress) error { return nil })
		if err != nil || res.Imported != benchMessages {
			b.Fatal(res, err)
		}
		b.ReportMetric(float64(benchMessages)/time.Since(start).Seconds(), "msg/s")
	}
}

// BenchmarkIMAPAppend: the same messages appended one by one over IMAP,
// as imapsync would, in messages per second.
func BenchmarkIMAPAppend(b *testing.B) {
	for range b.N {
		b.StopTimer()
		_, mbox, addr := benchServer(b)
		folder, err := mailfile.ReadMboxFile(mbox, "x", 1<<20)
		if err != nil {
			b.Fatal(err)
		}
		var msgs [][]byte
		for _, m := range folder.Messages {
			data, err := m.Read()
			if err != nil {
				b.Fatal(err)
			}
			msgs = append(msgs, mailfile.ToCRLF(data))
		}
		c, err := imapclient.DialInsecure(addr, nil)
		if err != nil {
			b.Fatal(err)
		}
		if err := c.Login("alice@example.test", "pw").Wait(); err != nil {
			b.Fatal(err)
		}
		if err := c.Create("Imported", nil).Wait(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		for _, m := range msgs {
			cmd := c.Append("Imported", int64(len(m)), &imap.AppendOptions{Time: time.Now()})
			cmd.Write(m)
			cmd.Close()
			if _, err := cmd.Wait(); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(len(msgs))/time.Since(start).Seconds(), "msg/s")
		b.StopTimer()
		c.Close()
		b.StartTimer()
	}
}
