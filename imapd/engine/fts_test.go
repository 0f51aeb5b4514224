package engine

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/base64"
	"log/slog"
	"strings"
	"testing"
	"time"

	"mailroom/fts"
)

// TestSearchWithIndex: with the full-text index, SEARCH BODY and TEXT read
// only the messages the index names plus those it has not indexed yet:
// results are the same as without it, new mail is found at once, and
// once indexed far fewer messages are read.
func TestSearchWithIndex(t *testing.T) {
	var ix *fts.Indexer
	dir := t.TempDir()
	ts := newTestServer(t, func(o *Options) {
		idx, err := fts.Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { idx.Close() })
		ix = fts.NewIndexer(idx, o.Store, slog.New(slog.DiscardHandler))
		o.Search = ix
	})
	note := ix.Note
	ts.onChange.Store(&note)
	indexed := make(chan struct{}, 1000)
	ix.OnIndexed = func() { indexed <- struct{}{} }
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { ix.Run(ctx); close(done) }()
	t.Cleanup(func() { stop(); <-done })

	a := login(t, ts, "alice@example.test")
	var msgs []string
	for i := range 40 {
		body := "Nothing to see " + itoa(i) + "\r\n"
		if i == 7 || i == 30 {
			body = "The xylophone is here\r\n"
		}
		msgs = append(msgs, "Subject: m"+itoa(i)+"\r\n\r\n"+body)
	}
	appendMsgs(t, a, msgs...)
	inbox, _ := ts.st.Inbox(context.Background(), "alice@example.test")
	deadline := time.After(10 * time.Second)
	for {
		if _, wm, _, _ := ix.Candidates(context.Background(), inbox.ID, []string{"x"}); wm == 40 {
			break
		}
		select {
		case <-indexed:
		case <-deadline:
			t.Fatal("not indexed")
		}
	}
	a.send("s SELECT INBOX\r\n")
	a.expect("s", "OK")
	before := ts.st.BodyReads()
	a.send("q1 SEARCH BODY xylophone\r\nq2 SEARCH TEXT XYLO\r\nq3 SEARCH BODY ylophon\r\n")
	if l := a.expect("q1", "OK"); l[0] != "* SEARCH 8 31" {
		t.Errorf("BODY: %q", l)
	}
	if l := a.expect("q2", "OK"); l[0] != "* SEARCH 8 31" {
		t.Errorf("TEXT word start: %q", l)
	}
	// Inside a word: the index has no such word (documented).
	if l := a.expect("q3", "OK"); l[0] != "* SEARCH" {
		t.Errorf("BODY inside a word: %q", l)
	}
	if reads := ts.st.BodyReads() - before; reads != 4 {
		t.Errorf("%d messages read for three searches, want 4 (the two candidates, twice)", reads)
	}
	// A message not indexed yet is still found (read, above the
	// watermark).
	ts.onChange.Store(nil) // the indexer hears nothing more
	appendMsgs(t, a, "Subject: late\r\n\r\nanother xylophone\r\n")
	a.send("q4 SEARCH BODY xylophone\r\n")
	if l := a.expect("q4", "OK"); l[len(l)-2] != "* SEARCH 8 31 41" {
		t.Errorf("not yet indexed: %q", l)
	}
}

// TestSearchBodyInAttachment: SEARCH BODY finds words in an attached Word
// document, with and without the full-text index (both read the same
// text: part.BodyText).
func TestSearchBodyInAttachment(t *testing.T) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, _ := zw.Create("word/document.xml")
	w.Write([]byte(`<w:document><w:body><w:p><w:r><w:t>Quar</w:t></w:r><w:r><w:t>terly budget</w:t></w:r></w:p></w:body></w:document>`))
	zw.Close()
	enc := base64.StdEncoding.EncodeToString(buf.Bytes())
	msg := "Subject: report\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" +
		"--b\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n--b\r\n" +
		"Content-Type: application/octet-stream; name=\"Budget.docx\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
		enc + "\r\n--b--\r\n"
	ts := newTestServer(t)
	a := login(t, ts, "alice@example.test")
	appendMsgs(t, a, "Subject: other\r\n\r\nNothing here\r\n", msg)
	a.send("s SELECT INBOX\r\nq1 SEARCH BODY quarterly\r\nq2 SEARCH TEXT budget\r\nq3 SEARCH BODY spreadsheet\r\n")
	a.expect("s", "OK")
	for _, q := range []struct{ tag, want string }{{"q1", "* SEARCH 2"}, {"q2", "* SEARCH 2"}, {"q3", "* SEARCH"}} {
		if l := a.expect(q.tag, "OK"); l[0] != q.want {
			t.Errorf("%s: %q", q.tag, l)
		}
	}
	if got := fts.Text([]byte(msg)); !strings.Contains(got, "Quarterly budget") {
		t.Errorf("the index's text: %q", got)
	}
}
