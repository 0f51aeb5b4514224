package imapd

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"

	"mailroom/store"
)

// TestSampleMessages stores every message of testdata/messages by APPEND
// and by delivery, and fetches everything a client asks for: the bytes
// come back exactly, and nothing fails however broken the message.
func TestSampleMessages(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("../testdata/messages/*.eml")
	if err != nil || len(files) < 10 {
		t.Fatalf("samples: %v %d", err, len(files))
	}
	ts := newTestServer(t)
	c := ts.client(t, "alice@example.test", nil)
	ctx := context.Background()
	arch, _ := ts.st.MailboxByName(ctx, "alice@example.test", "Archive")
	var want []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, string(b))
		appendMsg(t, c, "INBOX", string(b), nil)
		if _, err := ts.st.Deliver(ctx, b, []store.Delivery{{Mailbox: arch.ID}}); err != nil {
			t.Fatal(err)
		}
	}
	whole := &imap.FetchItemBodySection{Peek: true}
	header := &imap.FetchItemBodySection{Peek: true, Specifier: imap.PartSpecifierHeader}
	text := &imap.FetchItemBodySection{Peek: true, Specifier: imap.PartSpecifierText}
	opts := &imap.FetchOptions{
		UID: true, RFC822Size: true, Envelope: true, Flags: true, InternalDate: true,
		BodyStructure: &imap.FetchItemBodyStructure{Extended: true},
		BodySection: []*imap.FetchItemBodySection{whole, header, text,
			{Peek: true, Part: []int{1}},
			{Peek: true, Part: []int{2, 1}},
			{Peek: true, Part: []int{2}, Specifier: imap.PartSpecifierHeader}},
		BinarySection:     []*imap.FetchItemBinarySection{{Peek: true, Part: []int{1}}, {Peek: true}},
		BinarySectionSize: []*imap.FetchItemBinarySectionSize{{Part: []int{1}}},
	}
	for _, mbox := range []string{"INBOX", "Archive"} {
		if _, err := c.Select(mbox, nil).Wait(); err != nil {
			t.Fatal(err)
		}
		msgs, err := c.Fetch(imap.SeqSet{{Start: 1, Stop: 0}}, opts).Collect()
		if err != nil {
			t.Fatalf("%s: FETCH: %v", mbox, err)
		}
		if len(msgs) != len(files) {
			t.Fatalf("%s: %d messages, want %d", mbox, len(msgs), len(files))
		}
		for i, m := range msgs {
			name := filepath.Base(files[i])
			// A literal may not carry NUL (RFC 9051 §4.3): the engine
			// sends NUL as 0x80 in BODY[], as Dovecot does, and the exact
			// octets in BINARY[] (a literal8).
			wantBody := strings.ReplaceAll(want[i], "\x00", "\x80")
			if got := string(m.FindBinarySection(&imap.FetchItemBinarySection{Peek: true})); got != want[i] {
				t.Errorf("%s %s: BINARY[] differs:\n got %q\nwant %q", mbox, name, got, want[i])
			}
			if got := string(m.FindBodySection(whole)); got != wantBody {
				t.Errorf("%s %s: BODY[] differs:\n got %q\nwant %q", mbox, name, got, wantBody)
			}
			if got := string(m.FindBodySection(header)) + string(m.FindBodySection(text)); got != wantBody {
				t.Errorf("%s %s: BODY[HEADER] + BODY[TEXT] differs from the message:\n got %q", mbox, name, got)
			}
			if m.RFC822Size != int64(len(want[i])) || m.Envelope == nil || m.BodyStructure == nil {
				t.Errorf("%s %s: size %d envelope %v bodystructure %v", mbox, name, m.RFC822Size, m.Envelope, m.BodyStructure)
			}
		}
	}
	// A few things clients rely on.
	msgs, _ := c.Fetch(imap.SeqSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{Envelope: true, BodyStructure: &imap.FetchItemBodyStructure{}}).Collect()
	byName := map[string]int{}
	for i, f := range files {
		byName[filepath.Base(f)] = i
	}
	enc := msgs[byName["encoded-words.eml"]]
	// ENVELOPE carries header values as they are (RFC 9051 §7.5.2); the
	// client decodes what its charsets allow.
	if subj := enc.Envelope.Subject; (subj != "If you can read this you understand the example." && !strings.Contains(subj, "SWYgeW91IGNhbiByZWFkIHRoaXMgeW8")) || enc.Envelope.From[0].Name != "André Pirard" {
		t.Errorf("encoded words: %+v", enc.Envelope)
	}
	// SEARCH decodes legacy charsets in headers and bodies, and survives
	// every sample.
	for _, tc := range []struct {
		c    imap.SearchCriteria
		want string
	}{
		{imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: "understand the example"}}}, "encoded-words.eml"},
		{imap.SearchCriteria{Body: []string{"Järnefors"}}, "encoded-words.eml"},
		{imap.SearchCriteria{Text: []string{"original body"}}, "nested-rfc822.eml"},
	} {
		d, err := c.Search(&tc.c, nil).Wait()
		if err != nil {
			t.Fatal(err)
		}
		if got := d.All.String(); got != strconv.Itoa(byName[tc.want]+1) {
			t.Errorf("SEARCH %+v = %s, want %s", tc.c, got, tc.want)
		}
	}
	nested := msgs[byName["nested-rfc822.eml"]].BodyStructure.(*imap.BodyStructureMultiPart)
	if len(nested.Children) != 2 {
		t.Fatalf("nested: %#v", nested)
	}
	rfc822, ok := nested.Children[1].(*imap.BodyStructureSinglePart)
	if !ok || rfc822.MediaType() != "message/rfc822" || rfc822.MessageRFC822 == nil || rfc822.MessageRFC822.Envelope.Subject != "the original" {
		t.Errorf("nested message/rfc822: %#v", nested.Children[1])
	}
}
