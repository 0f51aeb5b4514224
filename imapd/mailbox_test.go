package imapd

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// list returns "name attrs..." lines for a LIST, sorted.
func list(t *testing.T, c *imapclient.Client, ref, pattern string, opts *imap.ListOptions) []string {
	t.Helper()
	items, err := c.List(ref, pattern, opts).Collect()
	if err != nil {
		t.Fatalf("LIST %q %q: %v", ref, pattern, err)
	}
	var out []string
	for _, it := range items {
		var attrs []string
		for _, a := range it.Attrs {
			attrs = append(attrs, string(a))
		}
		slices.Sort(attrs)
		s := it.Mailbox
		if len(attrs) > 0 {
			s += " " + strings.Join(attrs, " ")
		}
		if it.ChildInfo != nil && it.ChildInfo.Subscribed {
			s += " CHILDINFO"
		}
		if it.Status != nil && it.Status.NumMessages != nil {
			s += " messages=" + strconv.Itoa(int(*it.Status.NumMessages))
		}
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

func equal(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s:\n got %q\nwant %q", what, got, want)
	}
}

func TestListAndHierarchy(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c := ts.client(t, "alice@example.test", nil)
	for _, name := range []string{"Work/2026/Q1", "Work/Old", "Lists"} {
		if err := c.Create(name, nil).Wait(); err != nil {
			t.Fatalf("CREATE %s: %v", name, err)
		}
	}
	equal(t, `LIST "" *`, list(t, c, "", "*", nil), []string{
		`Archive \Archive \HasNoChildren`, `Drafts \Drafts \HasNoChildren`, `INBOX \HasNoChildren`,
		`Junk \HasNoChildren \Junk`, `Lists \HasNoChildren`, `Sent \HasNoChildren \Sent`,
		`Trash \HasNoChildren \Trash`, `Work \HasChildren`, `Work/2026 \HasChildren`,
		`Work/2026/Q1 \HasNoChildren`, `Work/Old \HasNoChildren`,
	})
	equal(t, `LIST "" %`, list(t, c, "", "%", nil), []string{
		`Archive \Archive \HasNoChildren`, `Drafts \Drafts \HasNoChildren`, `INBOX \HasNoChildren`,
		`Junk \HasNoChildren \Junk`, `Lists \HasNoChildren`, `Sent \HasNoChildren \Sent`,
		`Trash \HasNoChildren \Trash`, `Work \HasChildren`,
	})
	equal(t, `LIST "" Work/%`, list(t, c, "", "Work/%", nil), []string{`Work/2026 \HasChildren`, `Work/Old \HasNoChildren`})
	equal(t, `LIST Work/ %`, list(t, c, "Work/", "%", nil), []string{`Work/2026 \HasChildren`, `Work/Old \HasNoChildren`})
	equal(t, `LIST "" inbox`, list(t, c, "", "inbox", nil), []string{`INBOX \HasNoChildren`})

	// The delimiter query.
	items, err := c.List("", "", nil).Collect()
	if err != nil || len(items) != 1 || items[0].Delim != '/' || items[0].Mailbox != "" {
		t.Fatalf(`LIST "" "" = %+v, %v`, items, err)
	}

	// RENAME moves children; DELETE refuses a parent, then takes a leaf.
	if err := c.Rename("Work", "Job", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete("Job").Wait(); respCode(err) != imap.ResponseCodeHasChildren {
		t.Errorf("DELETE parent: %v", err)
	}
	if err := c.Delete("Job/Old").Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete("INBOX").Wait(); err == nil {
		t.Error("DELETE INBOX succeeded")
	}
	if err := c.Create("Lists", nil).Wait(); respCode(err) != imap.ResponseCodeAlreadyExists {
		t.Errorf("CREATE existing: %v", err)
	}
	if err := c.Delete("Nope").Wait(); respCode(err) != imap.ResponseCodeNonExistent {
		t.Errorf("DELETE missing: %v", err)
	}
	equal(t, `LIST "" Job*`, list(t, c, "", "Job*", nil), []string{`Job \HasChildren`, `Job/2026 \HasChildren`, `Job/2026/Q1 \HasNoChildren`})

	// CREATE with a special-use attribute (RFC 6154).
	if err := c.Create("Important", &imap.CreateOptions{SpecialUse: []imap.MailboxAttr{imap.MailboxAttrFlagged}}).Wait(); err != nil {
		t.Fatal(err)
	}
	equal(t, "LIST (SPECIAL-USE)", list(t, c, "", "*", &imap.ListOptions{SelectSpecialUse: true}), []string{
		`Archive \Archive \HasNoChildren`, `Drafts \Drafts \HasNoChildren`, `Important \Flagged \HasNoChildren`,
		`Junk \HasNoChildren \Junk`, `Sent \HasNoChildren \Sent`, `Trash \HasNoChildren \Trash`,
	})
}

func TestSubscriptions(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c := ts.client(t, "alice@example.test", nil)
	c.Create("Work/Sub", nil).Wait()
	for _, n := range []string{"INBOX", "Work/Sub"} {
		if err := c.Subscribe(n).Wait(); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Subscribe("Missing").Wait(); respCode(err) != imap.ResponseCodeNonExistent {
		t.Errorf("SUBSCRIBE missing: %v", err)
	}
	// A new account's special-use folders come subscribed (clients that
	// show only subscribed folders show them).
	special := func(more ...string) []string {
		return append([]string{`Archive \Archive \HasNoChildren \Subscribed`, `Drafts \Drafts \HasNoChildren \Subscribed`,
			`INBOX \HasNoChildren \Subscribed`, `Junk \HasNoChildren \Junk \Subscribed`, `Sent \HasNoChildren \Sent \Subscribed`,
			`Trash \HasNoChildren \Subscribed \Trash`}, more...)
	}
	equal(t, "LIST (SUBSCRIBED)", list(t, c, "", "*", &imap.ListOptions{SelectSubscribed: true}), special(`Work/Sub \HasNoChildren \Subscribed`))
	// RECURSIVEMATCH: Work is not subscribed but has a subscribed child.
	equal(t, "LIST (SUBSCRIBED RECURSIVEMATCH) %", list(t, c, "", "%", &imap.ListOptions{SelectSubscribed: true, SelectRecursiveMatch: true}), special(`Work \HasChildren CHILDINFO`))
	// A subscribed mailbox that is deleted shows as \NonExistent.
	c.Delete("Work/Sub").Wait()
	equal(t, "LIST (SUBSCRIBED) after delete", list(t, c, "", "*", &imap.ListOptions{SelectSubscribed: true}), special(`Work/Sub \NonExistent \Subscribed`))
	// RETURN (SUBSCRIBED) on a normal LIST marks subscribed ones.
	equal(t, "LIST RETURN (SUBSCRIBED)", list(t, c, "", "INBOX", &imap.ListOptions{ReturnSubscribed: true}), []string{`INBOX \HasNoChildren \Subscribed`})
	if err := c.Unsubscribe("Work/Sub").Wait(); err != nil {
		t.Fatal(err)
	}
	equal(t, "LIST (SUBSCRIBED) after unsubscribe", list(t, c, "", "*", &imap.ListOptions{SelectSubscribed: true}), special())
}

func TestStatusAndListStatus(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c := ts.client(t, "alice@example.test", nil)
	msg := "Subject: s\r\n\r\nhello\r\n"
	appendMsg(t, c, "INBOX", msg, nil)
	appendMsg(t, c, "INBOX", msg, []imap.Flag{imap.FlagSeen})
	st, err := c.Status("INBOX", &imap.StatusOptions{NumMessages: true, UIDNext: true, UIDValidity: true, NumUnseen: true, Size: true}).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if *st.NumMessages != 2 || st.UIDNext != 3 || st.UIDValidity == 0 || *st.NumUnseen != 1 || *st.Size != int64(2*len(msg)) {
		t.Fatalf("STATUS = %+v", st)
	}
	if _, err := c.Status("Nope", &imap.StatusOptions{NumMessages: true}).Wait(); respCode(err) != imap.ResponseCodeNonExistent {
		t.Errorf("STATUS missing: %v", err)
	}
	equal(t, "LIST RETURN (STATUS (MESSAGES))", list(t, c, "", "INBOX", &imap.ListOptions{ReturnStatus: &imap.StatusOptions{NumMessages: true}}),
		[]string{`INBOX \HasNoChildren messages=2`})
	ns, err := c.Namespace().Wait()
	if err != nil || len(ns.Personal) != 1 || ns.Personal[0].Prefix != "" || ns.Personal[0].Delim != '/' {
		t.Fatalf("NAMESPACE = %+v, %v", ns, err)
	}
}

func TestRenameInboxAndSelected(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c := ts.client(t, "alice@example.test", nil)
	appendMsg(t, c, "INBOX", "Subject: keep\r\n\r\nx\r\n", nil)
	if err := c.Rename("INBOX", "Old Inbox", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	st, _ := c.Status("Old Inbox", &imap.StatusOptions{NumMessages: true}).Wait()
	in, _ := c.Status("INBOX", &imap.StatusOptions{NumMessages: true}).Wait()
	if *st.NumMessages != 1 || *in.NumMessages != 0 {
		t.Fatalf("after RENAME INBOX: old=%d inbox=%d", *st.NumMessages, *in.NumMessages)
	}
}

// TestMailboxLimit: CREATE past mailboxes_per_account is refused with
// LIMIT, and the account is unharmed.
func TestMailboxLimit(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, func(o *Options) { o.MaxMailboxes = 10 })
	c := ts.client(t, "alice@example.test", nil) // INBOX and five special-use
	for i := range 4 {
		if err := c.Create("Box"+strconv.Itoa(i), nil).Wait(); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Create("One/Too/Many", nil).Wait(); respCode(err) != imap.ResponseCodeLimit {
		t.Fatalf("CREATE over the limit: %v", err)
	}
	if n := len(list(t, c, "", "*", nil)); n != 10 {
		t.Fatalf("%d mailboxes after the refused CREATE", n)
	}
}
