package engine

import (
	"strings"
	"testing"

	"mailroom/acl"
)

// TestTeamFolders: a grantee of a whole team account (a [[share]] naming
// no mailbox) with "k" creates top-level folders there and every member
// sees them; a folder created inside a shared mailbox inherits its ACL,
// so its creator and the others who see the parent see it too.
func TestTeamFolders(t *testing.T) {
	h, err := acl.HashPassword("password")
	if err != nil {
		t.Fatal(err)
	}
	dir, err := acl.NewDirectory([]acl.AccountSpec{
		{Address: "alice@example.test", PasswordHash: h, Plan: "team", Groups: []string{"staff"}},
		{Address: "bob@example.test", PasswordHash: h, Plan: "pro", Groups: []string{"staff"}},
		{Address: "carol@example.test", PasswordHash: h, Plan: "pro", Groups: []string{"staff"}},
		{Address: "info@example.test", Plan: "team", Groups: []string{"staff"}, Team: true},
	}, []acl.Plan{{Name: "pro", Share: true}, {Name: "team", Share: true}}, []string{"staff"},
		[]acl.Share{{Owner: "info@example.test", Grantee: "group:staff", Rights: "lrswipkxte"}})
	if err != nil {
		t.Fatal(err)
	}
	ts := newTestServer(t, func(o *Options) { o.Directory = acl.NewLive(dir) })
	b := login(t, ts, "bob@example.test")
	a := login(t, ts, "alice@example.test")
	b.send(`b1 CREATE "Shared/info@example.test/Orders"` + "\r\n")
	b.expect("b1", "OK")
	a.send(`a1 LIST "" "Shared/info@example.test/*"` + "\r\n")
	if l := a.expect("a1", "OK"); !strings.Contains(strings.Join(l, "\n"), `"Shared/info@example.test/Orders"`) {
		t.Errorf("alice does not see the team's new folder: %q", l)
	}
	// Not in a person's account without an account-wide grant.
	b.send(`b2 CREATE "Other Users/alice@example.test/Mine"` + "\r\n")
	b.expect("b2", "NO")

	// Inheritance: alice lets bob and carol into her INBOX with "k"; bob
	// creates a folder inside; both see it.
	a.send("a2 SETACL INBOX bob@example.test lrk\r\na3 SETACL INBOX carol@example.test lr\r\n")
	a.expect("a2", "OK")
	a.expect("a3", "OK")
	b.send(`b3 CREATE "Other Users/alice@example.test/INBOX/ByBob"` + "\r\nb4 SELECT \"Other Users/alice@example.test/INBOX/ByBob\"\r\n")
	b.expect("b3", "OK")
	b.expect("b4", "OK")
	c := login(t, ts, "carol@example.test")
	c.send(`c1 MYRIGHTS "Other Users/alice@example.test/INBOX/ByBob"` + "\r\n")
	if l := c.expect("c1", "OK"); !strings.HasSuffix(l[0], ` "lr"`) {
		t.Errorf("carol's rights on the new folder: %q", l)
	}
	a.send("a4 GETACL INBOX/ByBob\r\n")
	if l := a.expect("a4", "OK"); !strings.Contains(l[0], `"bob@example.test" "lrk" "carol@example.test" "lr"`) {
		t.Errorf("inherited ACL: %q", l)
	}
}
