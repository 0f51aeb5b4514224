package imapd

import (
	"bytes"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

func appendMsg(t testing.TB, c *imapclient.Client, mailbox, msg string, flags []imap.Flag) *imap.AppendData {
	t.Helper()
	return appendOpts(t, c, mailbox, msg, &imap.AppendOptions{Flags: flags})
}

func appendOpts(t testing.TB, c *imapclient.Client, mailbox, msg string, opts *imap.AppendOptions) *imap.AppendData {
	t.Helper()
	cmd := c.Append(mailbox, int64(len(msg)), opts)
	if _, err := cmd.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Close(); err != nil {
		t.Fatal(err)
	}
	d, err := cmd.Wait()
	if err != nil {
		t.Fatalf("APPEND to %s: %v", mailbox, err)
	}
	return d
}

func fetchOne(t testing.TB, c *imapclient.Client, set imap.NumSet, opts *imap.FetchOptions) *imapclient.FetchMessageBuffer {
	t.Helper()
	msgs, err := c.Fetch(set, opts).Collect()
	if err != nil {
		t.Fatalf("FETCH %v: %v", set, err)
	}
	if len(msgs) != 1 {
		t.Fatalf("FETCH %v: %d messages", set, len(msgs))
	}
	return msgs[0]
}

// flagNames returns the flags a message carries, sorted; \Recent, which
// IMAP4rev1 sessions see on new mail and IMAP4rev2 has dropped, is left
// out: the tests check the stored flags.
func flagNames(fs []imap.Flag) []string {
	out := make([]string, 0, len(fs))
	for _, f := range fs {
		if f != `\Recent` {
			out = append(out, string(f))
		}
	}
	slices.Sort(out)
	return out
}

const multipart = "From: Bob <bob@example.test>\r\n" +
	"To: alice@example.test\r\n" +
	"Subject: =?utf-8?q?Caf=C3=A9?= menu\r\n" +
	"Date: Tue, 03 Nov 2026 09:00:00 +0100\r\n" +
	"Message-ID: <m1@example.test>\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: multipart/mixed; boundary=XX\r\n" +
	"\r\n" +
	"--XX\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\n" +
	"\r\n" +
	"Soup of the day.\r\n" +
	"--XX\r\n" +
	"Content-Type: application/octet-stream; name=a.bin\r\n" +
	"Content-Transfer-Encoding: base64\r\n" +
	"\r\n" +
	"AAECAwQ=\r\n" +
	"--XX--\r\n"

func TestAppendAndFetch(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c := ts.client(t, "alice@example.test", nil)
	date := time.Date(2026, 11, 3, 8, 0, 0, 0, time.UTC)
	d := appendOpts(t, c, "INBOX", multipart, &imap.AppendOptions{Flags: []imap.Flag{imap.FlagFlagged, "$Work"}, Time: date})
	if d.UID != 1 || d.UIDValidity == 0 {
		t.Fatalf("APPENDUID = %+v", d)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	var (
		whole   = &imap.FetchItemBodySection{Peek: true}
		header  = &imap.FetchItemBodySection{Peek: true, Specifier: imap.PartSpecifierHeader}
		part1   = &imap.FetchItemBodySection{Peek: true, Part: []int{1}}
		mime2   = &imap.FetchItemBodySection{Peek: true, Part: []int{2}, Specifier: imap.PartSpecifierMIME}
		partial = &imap.FetchItemBodySection{Peek: true, Partial: &imap.SectionPartial{Offset: 6, Size: 3}}
		subject = &imap.FetchItemBodySection{Peek: true, Specifier: imap.PartSpecifierHeader, HeaderFields: []string{"subject"}}
		binary2 = &imap.FetchItemBinarySection{Peek: true, Part: []int{2}}
	)
	m := fetchOne(t, c, imap.SeqSetNum(1), &imap.FetchOptions{
		UID: true, Flags: true, InternalDate: true, RFC822Size: true, Envelope: true,
		BodyStructure: &imap.FetchItemBodyStructure{Extended: true},
		BodySection:   []*imap.FetchItemBodySection{whole, header, part1, mime2, partial, subject},
		BinarySection: []*imap.FetchItemBinarySection{binary2},
	})
	if m.UID != 1 || !m.InternalDate.Equal(date) || m.RFC822Size != int64(len(multipart)) {
		t.Errorf("uid=%d date=%v size=%d", m.UID, m.InternalDate, m.RFC822Size)
	}
	equal(t, "flags", flagNames(m.Flags), []string{"$Work", `\Flagged`})
	if m.Envelope.Subject != "Café menu" || m.Envelope.MessageID != "m1@example.test" || len(m.Envelope.From) != 1 || m.Envelope.From[0].Addr() != "bob@example.test" {
		t.Errorf("envelope = %+v", m.Envelope)
	}
	mp, ok := m.BodyStructure.(*imap.BodyStructureMultiPart)
	if !ok || mp.Subtype != "mixed" || len(mp.Children) != 2 || mp.Children[1].(*imap.BodyStructureSinglePart).Encoding != "base64" {
		t.Errorf("bodystructure = %#v", m.BodyStructure)
	}
	if got := string(m.FindBodySection(whole)); got != multipart {
		t.Errorf("BODY[] not byte-exact: %q", got)
	}
	if got := string(m.FindBodySection(header)); !strings.HasPrefix(got, "From: Bob") || !strings.HasSuffix(got, "\r\n\r\n") {
		t.Errorf("BODY[HEADER] = %q", got)
	}
	if got := string(m.FindBodySection(part1)); got != "Soup of the day." {
		t.Errorf("BODY[1] = %q", got)
	}
	if got := string(m.FindBodySection(mime2)); !strings.Contains(got, "application/octet-stream") {
		t.Errorf("BODY[2.MIME] = %q", got)
	}
	if got := string(m.FindBodySection(partial)); got != "Bob" {
		t.Errorf("BODY[]<6.3> = %q", got)
	}
	if got := string(m.FindBodySection(subject)); got != "Subject: =?utf-8?q?Caf=C3=A9?= menu\r\n\r\n" {
		t.Errorf("BODY[HEADER.FIELDS (SUBJECT)] = %q", got)
	}
	if got := m.FindBinarySection(binary2); !bytes.Equal(got, []byte{0, 1, 2, 3, 4}) {
		t.Errorf("BINARY[2] = %v", got)
	}
	// PEEK left \Seen alone; BODY[] sets it and reports the new flags.
	m = fetchOne(t, c, imap.SeqSetNum(1), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{Part: []int{1}}}})
	if !slices.Contains(m.Flags, imap.FlagSeen) {
		t.Errorf("FETCH BODY[1] did not report \\Seen: %v", m.Flags)
	}
	// EXAMINE is read-only: BODY[] does not set \Seen there.
	appendMsg(t, c, "Archive", multipart, nil)
	c.Select("Archive", &imap.SelectOptions{ReadOnly: true}).Wait()
	fetchOne(t, c, imap.SeqSetNum(1), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{}}})
	st, _ := c.Status("Archive", &imap.StatusOptions{NumUnseen: true}).Wait()
	if *st.NumUnseen != 1 {
		t.Error("FETCH in EXAMINE set \\Seen")
	}
}

func TestAppendLimits(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c := ts.client(t, "alice@example.test", nil)
	big := strings.Repeat("x", 1<<20+1)
	cmd := c.Append("INBOX", int64(len(big)), nil)
	cmd.Write([]byte(big))
	cmd.Close()
	if _, err := cmd.Wait(); respCode(err) != imap.ResponseCodeTooBig {
		t.Errorf("APPEND over APPENDLIMIT: %v", err)
	}
	// imapclient drops its connection after a refused literal (the server
	// keeps it: TestRefusedLiteralKeepsConnection); go on with a new one.
	c = ts.client(t, "alice@example.test", nil)
	cmd = c.Append("Nope", 5, nil)
	cmd.Write([]byte("x\r\n\r\n"))
	cmd.Close()
	if _, err := cmd.Wait(); respCode(err) != imap.ResponseCodeTryCreate {
		t.Errorf("APPEND to a missing mailbox: %v", err)
	}
	// Quota: small@ has 200 bytes.
	s := ts.client(t, "small@example.test", nil)
	appendMsg(t, s, "INBOX", strings.Repeat("y", 150), nil)
	cmd = s.Append("INBOX", 100, nil)
	cmd.Write([]byte(strings.Repeat("z", 100)))
	cmd.Close()
	if _, err := cmd.Wait(); respCode(err) != imap.ResponseCodeOverQuota {
		t.Errorf("APPEND over quota: %v", err)
	}
	// The client is still usable after a refused APPEND.
	if err := c.Noop().Wait(); err != nil {
		t.Fatal(err)
	}
}

func TestStoreCopyMoveExpunge(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c := ts.client(t, "alice@example.test", nil)
	for i := range 5 {
		appendMsg(t, c, "INBOX", "Subject: m"+strconv.Itoa(i+1)+"\r\n\r\nbody\r\n", nil)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	// +FLAGS answers with the new flags; .SILENT answers nothing.
	msgs, err := c.Store(imap.SeqSetNum(1, 2), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagFlagged, "$Label1"}}, nil).Collect()
	if err != nil || len(msgs) != 2 {
		t.Fatalf("STORE +FLAGS: %v, %d", err, len(msgs))
	}
	equal(t, "flags after +FLAGS", flagNames(msgs[0].Flags), []string{"$Label1", `\Flagged`})
	msgs, _ = c.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsDel, Silent: true, Flags: []imap.Flag{"$Label1"}}, nil).Collect()
	if len(msgs) != 0 {
		t.Errorf("STORE .SILENT answered %d messages", len(msgs))
	}
	m := fetchOne(t, c, imap.SeqSetNum(1), &imap.FetchOptions{Flags: true})
	equal(t, "flags after -FLAGS.SILENT", flagNames(m.Flags), []string{`\Flagged`})
	c.Store(imap.SeqSetNum(2), &imap.StoreFlags{Op: imap.StoreFlagsSet, Flags: []imap.Flag{imap.FlagAnswered}}, nil).Close()
	m = fetchOne(t, c, imap.SeqSetNum(2), &imap.FetchOptions{Flags: true})
	equal(t, "flags after FLAGS", flagNames(m.Flags), []string{`\Answered`})

	// COPY keeps flags and answers COPYUID.
	cd, err := c.Copy(imap.SeqSetNum(1, 2), "Archive").Wait()
	if err != nil || cd.UIDValidity == 0 || cd.SourceUIDs.String() != "1:2" || cd.DestUIDs.String() != "1:2" {
		t.Fatalf("COPY = %+v, %v", cd, err)
	}
	if _, err := c.Copy(imap.SeqSetNum(1), "Nope").Wait(); respCode(err) != imap.ResponseCodeTryCreate {
		t.Errorf("COPY to a missing mailbox: %v", err)
	}
	// MOVE by UID: COPYUID, then EXPUNGE for the moved messages.
	var expunged []uint32
	md, err := c.Move(imap.UIDSetNum(3, 4), "Trash").Wait()
	if err != nil || md.DestUIDs.String() != "1:2" {
		t.Fatalf("MOVE = %+v, %v", md, err)
	}
	sel := c.Mailbox()
	if sel.NumMessages != 3 {
		t.Errorf("after MOVE the client counts %d messages", sel.NumMessages)
	}
	_ = expunged
	// UID EXPUNGE removes only the named \Deleted messages.
	c.Store(imap.SeqSetNum(1, 2, 3), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close()
	gone, err := c.UIDExpunge(imap.UIDSetNum(5)).Collect()
	if err != nil || !slices.Equal(gone, []uint32{3}) {
		t.Fatalf("UID EXPUNGE 5 = %v, %v", gone, err)
	}
	gone, err = c.Expunge().Collect()
	if err != nil || !slices.Equal(gone, []uint32{1, 1}) {
		t.Fatalf("EXPUNGE = %v, %v", gone, err)
	}
	for mbox, want := range map[string]uint32{"INBOX": 0, "Archive": 2, "Trash": 2} {
		st, _ := c.Status(mbox, &imap.StatusOptions{NumMessages: true}).Wait()
		if *st.NumMessages != want {
			t.Errorf("%s has %d messages, want %d", mbox, *st.NumMessages, want)
		}
	}
	// Read-only mailboxes refuse changes.
	c.Select("Archive", &imap.SelectOptions{ReadOnly: true}).Wait()
	if _, err := c.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagSeen}}, nil).Collect(); err == nil {
		t.Error("STORE in EXAMINE succeeded")
	}
}
