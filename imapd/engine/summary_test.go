package engine

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"mailroom/store"
)

// TestSummaries: SORT, THREAD, header SEARCH keys and ENVELOPE read the
// header summary kept with each body, not the messages: at delivery when
// the store derives it, else from the first command that needs it. A copy
// whose delivery prefix carries a summary field is read whole.
func TestSummaries(t *testing.T) {
	for _, atDelivery := range []bool{true, false} {
		kept := make(chan struct{}, 16)
		ts := newTestServer(t, func(o *Options) { o.OnKept = func() { kept <- struct{}{} } })
		ts.derive.Store(atDelivery)
		ctx := context.Background()
		if err := ts.st.EnsureAccount(ctx, "alice@example.test", true); err != nil {
			t.Fatal(err)
		}
		inbox, _ := ts.st.Inbox(ctx, "alice@example.test")
		for _, m := range []string{
			"From: Carol <carol@example.test>\r\nSubject: Re: budget\r\nDate: Tue, 2 Jan 2024 10:00:00 +0000\r\nMessage-ID: <2@x>\r\nIn-Reply-To: <1@x>\r\n\r\nsecond\r\n",
			"From: Alice <alice@example.test>\r\nSubject: budget\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\nMessage-ID: <1@x>\r\n\r\nfirst\r\n",
			"From: Bob <bob@example.test>\r\nSubject: lunch\r\nDate: Wed, 3 Jan 2024 10:00:00 +0000\r\nMessage-ID: <3@x>\r\n\r\nthird\r\n",
		} {
			if _, err := ts.st.Deliver(ctx, []byte(m), []store.Delivery{{Mailbox: inbox.ID}}); err != nil {
				t.Fatal(err)
			}
		}
		// The same body again, with a prefix that changes its subject.
		if _, err := ts.st.Deliver(ctx, []byte("From: Dan <dan@example.test>\r\nDate: Thu, 4 Jan 2024 10:00:00 +0000\r\n\r\nfourth\r\n"), []store.Delivery{
			{Mailbox: inbox.ID, NewMessage: store.NewMessage{Prefix: []byte("Subject: aardvark\r\n")}},
		}); err != nil {
			t.Fatal(err)
		}
		a := login(t, ts, "alice@example.test")
		a.send("s SELECT INBOX\r\n")
		a.expect("s", "OK")
		for round := range 2 {
			before := ts.st.BodyReads()
			a.send("a SORT (SUBJECT) UTF-8 ALL\r\nb THREAD REFERENCES UTF-8 ALL\r\nc SEARCH FROM carol SUBJECT budget\r\nd SORT (REVERSE DATE) UTF-8 HEADER Message-ID x\r\n")
			if l := a.expect("a", "OK"); l[0] != "* SORT 4 1 2 3" {
				t.Errorf("SORT: %q", l)
			}
			if l := a.expect("b", "OK"); l[0] != "* THREAD (2 1)(3)(4)" {
				t.Errorf("THREAD: %q", l)
			}
			if l := a.expect("c", "OK"); l[0] != "* SEARCH 1" {
				t.Errorf("SEARCH: %q", l)
			}
			if l := a.expect("d", "OK"); l[0] != "* SORT 3 1 2" {
				t.Errorf("SORT DATE: %q", l)
			}
			// Only the copy with a prefix of its own is read (once per
			// command), except in the first round on the lazy path, before
			// the summaries are kept.
			if reads := ts.st.BodyReads() - before; (atDelivery || round > 0) && reads != 4 {
				t.Errorf("derive at delivery %v, round %d: %d bodies read, want 4", atDelivery, round, reads)
			}
			if !atDelivery && round == 0 {
				select {
				case <-kept:
				case <-time.After(10 * time.Second):
					t.Fatal("summaries were not kept")
				}
			}
		}
		before := ts.st.BodyReads()
		a.send("e FETCH 1:3 ENVELOPE\r\n")
		if l := strings.Join(a.expect("e", "OK"), "\n"); !strings.Contains(l, `"<3@x>"`) {
			t.Errorf("ENVELOPE: %q", l)
		}
		if reads := ts.st.BodyReads() - before; atDelivery && reads != 0 {
			t.Errorf("ENVELOPE read %d bodies; kept at delivery", reads)
		}
	}
}

// TestSearchByFlagSets: searches on \Seen and \Deleted alone are answered
// from the store's flag sets and agree with the same search read from the
// records (SMALLER forces that), also while another session's expunge is
// not yet announced.
func TestSearchByFlagSets(t *testing.T) {
	ts := newTestServer(t)
	a := login(t, ts, "alice@example.test")
	for i := range 12 {
		appendMsgs(t, a, "Subject: "+itoa(i)+"\r\n\r\nx\r\n")
	}
	a.send("s SELECT INBOX\r\nf1 STORE 1:4 +FLAGS.SILENT (\\Seen)\r\nf2 STORE 3:6 +FLAGS.SILENT (\\Deleted)\r\n")
	a.expect("s", "OK")
	a.expect("f1", "OK")
	a.expect("f2", "OK")
	o := login(t, ts, "alice@example.test")
	o.send("o1 SELECT INBOX\r\no2 UID EXPUNGE 5\r\n")
	o.expect("o2", "OK")
	for _, q := range []string{"UNSEEN", "SEEN", "DELETED", "UNDELETED", "UNSEEN UNDELETED", "NOT SEEN DELETED", "ALL"} {
		a.send("q1 SEARCH " + q + "\r\nq2 SEARCH " + q + " SMALLER 1000000\r\n")
		fast, slow := a.expect("q1", "OK"), a.expect("q2", "OK")
		if fast[0] != slow[0] {
			t.Errorf("SEARCH %s: flag sets %q, records %q", q, fast[0], slow[0])
		}
	}
	a.send("q3 SEARCH UNSEEN UNDELETED\r\n")
	if l := a.expect("q3", "OK"); l[0] != "* SEARCH 7 8 9 10 11 12" {
		t.Errorf("UNSEEN UNDELETED: %q", l)
	}
}

// TestFetchStreamsLargeMessages: a whole large message is written from
// the store piece by piece, byte for byte what was stored (a NUL made
// 0x80 as for any literal), with the same literal framing as a small one.
func TestFetchStreamsLargeMessages(t *testing.T) {
	ts := newTestServer(t)
	a := login(t, ts, "alice@example.test")
	ctx := context.Background()
	inbox, _ := ts.st.Inbox(ctx, "alice@example.test")
	body := []byte("Subject: big\r\n\r\n" + strings.Repeat("0123456789abcdef\r\n", 200000) + "NUL:\x00.\r\n")
	if _, err := ts.st.Append(ctx, inbox.ID, body, store.NewMessage{Prefix: []byte("X-Prefix: p\r\n")}, 0); err != nil {
		t.Fatal(err)
	}
	want := append([]byte("X-Prefix: p\r\n"), body...)
	want[len(want)-4] = 0x80
	a.send("s SELECT INBOX\r\n")
	a.expect("s", "OK")
	before := ts.st.Streamed()
	for _, item := range []string{"BODY.PEEK[]", "RFC822"} {
		a.send("f FETCH 1 (" + item + ")\r\n")
		head := a.line()
		echo := strings.TrimSuffix(item, ".PEEK[]")
		if echo != "RFC822" {
			echo = "BODY[]"
		}
		if want := "* 1 FETCH (" + echo + " {" + itoa(len(want)) + "}"; head != want {
			t.Fatalf("%s: %q, want %q", item, head, want)
		}
		got := make([]byte, len(want))
		if _, err := io.ReadFull(a.br, got); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("%s: content differs", item)
		}
		a.expect("f", "OK")
	}
	if n := ts.st.Streamed() - before; n != 2 {
		t.Errorf("%d of 2 fetches streamed", n)
	}
}
