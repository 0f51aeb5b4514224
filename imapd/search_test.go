package imapd

import (
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
)

func TestSearch(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c := ts.client(t, "alice@example.test", nil)
	day := func(d int) time.Time { return time.Date(2026, 11, d, 12, 0, 0, 0, time.UTC) }
	msgs := []struct {
		body  string
		flags []imap.Flag
		date  time.Time
	}{
		{"From: Bob <bob@example.test>\r\nTo: alice@example.test\r\nSubject: Lunch plans\r\nDate: Mon, 02 Nov 2026 10:00:00 +0000\r\n\r\nShall we meet at noon?\r\n", nil, day(2)},
		{"From: carol@other.test\r\nSubject: =?utf-8?q?R=C3=A9sum=C3=A9?=\r\nDate: Wed, 04 Nov 2026 10:00:00 +0000\r\nCc: bob@example.test\r\n\r\nAttached.\r\n", []imap.Flag{imap.FlagSeen, imap.FlagFlagged}, day(4)},
		{"From: list@lists.test\r\nSubject: Digest\r\nDate: Fri, 06 Nov 2026 10:00:00 +0000\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nCaf=C3=A9 news and a very long digest\r\n" + string(make([]byte, 0)), []imap.Flag{imap.FlagSeen, "$Digest"}, day(6)},
		{"From: bob@example.test\r\nSubject: Re: Lunch plans\r\n\r\nyes\r\n", []imap.Flag{imap.FlagDeleted, imap.FlagAnswered}, day(8)},
	}
	for _, m := range msgs {
		appendOpts(t, c, "INBOX", m.body, &imap.AppendOptions{Flags: m.flags, Time: m.date})
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		c    imap.SearchCriteria
		want string
	}{
		{"all", imap.SearchCriteria{}, "1:4"},
		{"unseen", imap.SearchCriteria{NotFlag: []imap.Flag{imap.FlagSeen}}, "1,4"},
		{"flagged", imap.SearchCriteria{Flag: []imap.Flag{imap.FlagFlagged}}, "2"},
		{"keyword", imap.SearchCriteria{Flag: []imap.Flag{"$Digest"}}, "3"},
		{"deleted answered", imap.SearchCriteria{Flag: []imap.Flag{imap.FlagDeleted, imap.FlagAnswered}}, "4"},
		{"from", imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "From", Value: "BOB"}}}, "1,4"},
		{"cc", imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Cc", Value: "bob"}}}, "2"},
		{"subject", imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: "lunch"}}}, "1,4"},
		{"encoded subject", imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: "résumé"}}}, "2"},
		{"header exists", imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Content-Transfer-Encoding"}}}, "3"},
		{"body", imap.SearchCriteria{Body: []string{"noon"}}, "1"},
		{"body decoded", imap.SearchCriteria{Body: []string{"café"}}, "3"},
		{"body not header", imap.SearchCriteria{Body: []string{"Lunch"}}, ""},
		{"text", imap.SearchCriteria{Text: []string{"lunch"}}, "1,4"},
		{"since", imap.SearchCriteria{Since: day(4)}, "2:4"},
		{"before", imap.SearchCriteria{Before: day(4)}, "1"},
		{"on", imap.SearchCriteria{Since: day(6), Before: day(7)}, "3"},
		{"sentsince", imap.SearchCriteria{SentSince: day(4)}, "2:3"},
		{"sentbefore", imap.SearchCriteria{SentBefore: day(4)}, "1"},
		{"larger", imap.SearchCriteria{Larger: int64(len(msgs[1].body))}, "1,3"},
		{"smaller", imap.SearchCriteria{Smaller: int64(len(msgs[1].body))}, "4"},
		{"not", imap.SearchCriteria{Not: []imap.SearchCriteria{{Flag: []imap.Flag{imap.FlagSeen}}}}, "1,4"},
		{"or", imap.SearchCriteria{Or: [][2]imap.SearchCriteria{{{Flag: []imap.Flag{imap.FlagFlagged}}, {Flag: []imap.Flag{imap.FlagDeleted}}}}}, "2,4"},
		{"seqset", imap.SearchCriteria{SeqNum: []imap.SeqSet{imap.SeqSetNum(2, 3, 9)}}, "2:3"},
		{"star", imap.SearchCriteria{SeqNum: []imap.SeqSet{{imap.SeqRange{Start: 0, Stop: 0}}}}, "4"},
		{"uidset", imap.SearchCriteria{UID: []imap.UIDSet{imap.UIDSetNum(1, 4)}}, "1,4"},
		{"and", imap.SearchCriteria{Body: []string{"lunch"}, Flag: []imap.Flag{imap.FlagAnswered}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := c.Search(&tc.c, nil).Wait()
			if err != nil {
				t.Fatal(err)
			}
			if got := d.All.String(); got != tc.want {
				t.Errorf("SEARCH = %q, want %q", got, tc.want)
			}
		})
	}

	// UID SEARCH returns UIDs; ESEARCH options; SEARCHRES.
	d, err := c.UIDSearch(&imap.SearchCriteria{NotFlag: []imap.Flag{imap.FlagSeen}}, &imap.SearchOptions{ReturnMin: true, ReturnMax: true, ReturnCount: true, ReturnAll: true}).Wait()
	if err != nil || d.Min != 1 || d.Max != 4 || d.Count != 2 || d.All.String() != "1,4" {
		t.Fatalf("UID SEARCH RETURN (MIN MAX COUNT ALL) = %+v, %v", d, err)
	}

	// SEARCHRES (RFC 5182), on the wire: imapclient does not send SAVE.
	r := dialRaw(t, ts.plain)
	r.ok("a LOGIN alice@example.test password")
	r.ok("b SELECT INBOX")
	r.ok("c SEARCH RETURN (SAVE) SEEN")
	if got := r.ok("d UID FETCH $ (UID)"); !strings.Contains(got, "* 2 FETCH (UID 2)") || !strings.Contains(got, "* 3 FETCH (UID 3)") || strings.Contains(got, "UID 1)") {
		t.Errorf("UID FETCH $ = %q", got)
	}
	if got := r.ok("e SEARCH $ FLAGGED"); !strings.Contains(got, "* SEARCH 2\r\n") {
		t.Errorf("SEARCH $ FLAGGED = %q", got)
	}
}
