package acl

import (
	"errors"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

func testDirectory(t testing.TB) *Directory {
	t.Helper()
	h, err := HashPassword("s3cret")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := bcrypt.GenerateFromPassword([]byte("bcrypt-pw"), bcrypt.MinCost)
	d, err := NewDirectory([]AccountSpec{
		{Address: "Alice@Example.TEST", PasswordHash: h, Plan: "pro", Groups: []string{"staff"}, Aliases: []string{"sales@example.test"}},
		{Address: "bob@example.test", PasswordHash: string(b), Plan: "free", Groups: []string{"staff"}},
		{Address: "info@example.test", Plan: "pro", Groups: []string{"staff"}, Team: true},
		{Address: "carol@other.test", PasswordHash: h, Plan: "pro", Groups: []string{"other"}},
	}, []Plan{{Name: "free"}, {Name: "pro", Share: true}}, []string{"staff", "other"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestLookup(t *testing.T) {
	d := testDirectory(t)
	for _, tc := range []struct{ in, want string }{
		{"Alice@example.test", "Alice@example.test"},
		{"alice@EXAMPLE.TEST", "Alice@example.test"},
		{"SALES@example.test", "Alice@example.test"},
		{"bob@example.test", "bob@example.test"},
		{"nobody@example.test", ""},
		{"alice", ""},
	} {
		a, ok := d.Lookup(tc.in)
		got := ""
		if ok {
			got = a.Address
		}
		if got != tc.want {
			t.Errorf("Lookup(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestAuthenticate(t *testing.T) {
	d := testDirectory(t)
	for _, tc := range []struct {
		user, pw string
		ok       bool
	}{
		{"alice@example.test", "s3cret", true},
		{"sales@example.test", "s3cret", true}, // by alias
		{"alice@example.test", "S3cret", false},
		{"bob@example.test", "bcrypt-pw", true},
		{"bob@example.test", "", false},
		{"info@example.test", "", false}, // no password: cannot log in
		{"nobody@example.test", "s3cret", false},
	} {
		a, err := d.Authenticate(tc.user, tc.pw)
		if tc.ok != (err == nil) {
			t.Errorf("Authenticate(%q, %q) = %v", tc.user, tc.pw, err)
		}
		if !tc.ok && !errors.Is(err, ErrAuthFailed) {
			t.Errorf("Authenticate(%q) error %v is not ErrAuthFailed", tc.user, err)
		}
		if tc.ok && a == nil {
			t.Errorf("Authenticate(%q): nil account", tc.user)
		}
	}
}

func TestGroups(t *testing.T) {
	d := testDirectory(t)
	a, _ := d.Lookup("alice@example.test")
	b, _ := d.Lookup("bob@example.test")
	c, _ := d.Lookup("carol@other.test")
	if !a.SharesGroupWith(b) || a.SharesGroupWith(c) || !a.InGroup("staff") || a.InGroup("other") {
		t.Fatal("group membership wrong")
	}
	if !a.Plan.Share || b.Plan.Share {
		t.Fatal("plans wrong")
	}
}

func TestNewDirectoryRejects(t *testing.T) {
	plans := []Plan{{Name: "p"}}
	for name, specs := range map[string][]AccountSpec{
		"duplicate":     {{Address: "a@x.test", Plan: "p"}, {Address: "A@X.test", Plan: "p"}},
		"alias clash":   {{Address: "a@x.test", Plan: "p"}, {Address: "b@x.test", Plan: "p", Aliases: []string{"a@x.test"}}},
		"unknown plan":  {{Address: "a@x.test", Plan: "gold"}},
		"unknown group": {{Address: "a@x.test", Plan: "p", Groups: []string{"g"}}},
		"bad hash":      {{Address: "a@x.test", Plan: "p", PasswordHash: "plaintext"}},
		"bad address":   {{Address: "nobody", Plan: "p"}},
	} {
		if _, err := NewDirectory(specs, plans, nil, nil); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestRights(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		bad      bool
	}{
		{"lrswipkxtea", "lrswipkxtea", false},
		{"arl", "lra", false},
		{"c", "k", false},   // RFC 4314 §2.1.1
		{"d", "xte", false}, // RFC 4314 §2.1.1
		{"", "", false},
		{"lz", "", true},
	} {
		r, err := ParseRights(tc.in)
		if (err != nil) != tc.bad || (!tc.bad && r.String() != tc.want) {
			t.Errorf("ParseRights(%q) = %q, %v", tc.in, r, err)
		}
	}
	if !AllRights.Has(RightLookup|RightAdmin) || RightRead.Has(RightLookup) {
		t.Fatal("Has wrong")
	}
}

// TestRightsEvaluation covers owner, grantees by address, group and
// anyone, negative entries, [[share]] entries, and the gating that is
// re-checked at every evaluation.
func TestRightsEvaluation(t *testing.T) {
	h, _ := HashPassword("x")
	plans := []Plan{{Name: "free"}, {Name: "pro", Share: true, MaxGrantees: 2}}
	build := func(carolGroups []string, alicePlan string) *Directory {
		d, err := NewDirectory([]AccountSpec{
			{Address: "alice@example.test", PasswordHash: h, Plan: alicePlan, Groups: []string{"staff"}},
			{Address: "bob@example.test", PasswordHash: h, Plan: "free", Groups: []string{"staff"}},
			{Address: "carol@example.test", PasswordHash: h, Plan: "pro", Groups: carolGroups},
			{Address: "info@example.test", Plan: "pro", Groups: []string{"staff"}, Team: true},
		}, plans, []string{"staff", "other"}, []Share{{Owner: "info@example.test", Grantee: "group:staff", Rights: "lrswipkxte"}})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	d := build([]string{"staff"}, "pro")
	acct := func(d *Directory, a string) *Account { x, _ := d.Lookup(a); return x }
	alice, bob, carol, info := acct(d, "alice@example.test"), acct(d, "bob@example.test"), acct(d, "carol@example.test"), acct(d, "info@example.test")
	r := func(s string) Rights { x, _ := ParseRights(s); return x }
	for _, tc := range []struct {
		name    string
		owner   *Account
		user    *Account
		entries []Entry
		want    string
	}{
		{"owner", alice, alice, nil, "lrswipkxtea"},
		{"nothing granted", alice, bob, nil, ""},
		{"by address", alice, bob, []Entry{{"bob@example.test", r("lr")}}, "lr"},
		{"by group", alice, bob, []Entry{{"group:staff", r("lrs")}}, "lrs"},
		{"by anyone", alice, bob, []Entry{{"anyone", r("l")}}, "l"},
		{"union", alice, bob, []Entry{{"anyone", r("l")}, {"bob@example.test", r("rw")}}, "lrw"},
		{"negative", alice, bob, []Entry{{"group:staff", r("lrsw")}, {"-bob@example.test", r("w")}}, "lrs"},
		{"other user's entry", alice, bob, []Entry{{"carol@example.test", r("lr")}}, ""},
		{"operator share", info, bob, nil, "lrswipkxte"},
		{"operator share minus negative", info, bob, []Entry{{"-bob@example.test", r("p")}}, "lrswikxte"},
		{"free owner cannot share", bob, alice, []Entry{{"alice@example.test", r("lr")}}, ""},
	} {
		if got := d.Rights(tc.owner, tc.user, "INBOX", tc.entries).String(); got != tc.want {
			t.Errorf("%s: rights %q, want %q", tc.name, got, tc.want)
		}
	}
	// A reload that moves carol out of staff ends her access at once.
	entries := []Entry{{"carol@example.test", r("lr")}}
	if got := d.Rights(alice, carol, "INBOX", entries).String(); got != "lr" {
		t.Fatalf("carol in staff: %q", got)
	}
	d2 := build([]string{"other"}, "pro")
	if got := d2.Rights(acct(d2, "alice@example.test"), acct(d2, "carol@example.test"), "INBOX", entries).String(); got != "" {
		t.Errorf("carol after leaving staff: %q", got)
	}
	// A plan downgrade ends every grant.
	d3 := build([]string{"staff"}, "free")
	if got := d3.Rights(acct(d3, "alice@example.test"), acct(d3, "bob@example.test"), "INBOX", []Entry{{"bob@example.test", r("lr")}}).String(); got != "" {
		t.Errorf("after a downgrade to free: %q", got)
	}
}

func TestCheckGrant(t *testing.T) {
	h, _ := HashPassword("x")
	d, _ := NewDirectory([]AccountSpec{
		{Address: "alice@example.test", PasswordHash: h, Plan: "pro", Groups: []string{"staff"}},
		{Address: "bob@example.test", PasswordHash: h, Plan: "free", Groups: []string{"staff"}},
		{Address: "carol@other.test", PasswordHash: h, Plan: "pro", Groups: []string{"other"}},
		{Address: "dave@example.test", PasswordHash: h, Plan: "pro", Groups: []string{"staff"}},
	}, []Plan{{Name: "free"}, {Name: "pro", Share: true, MaxGrantees: 2}}, []string{"staff", "other"}, nil)
	alice, _ := d.Lookup("alice@example.test")
	bob, _ := d.Lookup("bob@example.test")
	for _, tc := range []struct {
		owner  *Account
		id     string
		others []string
		ok     bool
	}{
		{alice, "bob@example.test", nil, true},
		{alice, "BOB@example.test", nil, true},
		{alice, "group:staff", nil, true},
		{alice, "anyone", nil, true},
		{alice, "-bob@example.test", nil, true},
		{alice, "carol@other.test", nil, false},                                          // no shared group
		{alice, "group:other", nil, false},                                               // not the owner's group
		{alice, "nobody@example.test", nil, false},                                       // unknown
		{alice, "alice@example.test", nil, false},                                        // the owner
		{bob, "alice@example.test", nil, false},                                          // free plan
		{alice, "dave@example.test", []string{"bob@example.test", "group:staff"}, false}, // third grantee
		{alice, "bob@example.test", []string{"bob@example.test", "group:staff"}, true},   // not a new one
	} {
		err := d.CheckGrant(tc.owner, tc.id, tc.others)
		if (err == nil) != tc.ok {
			t.Errorf("%s grants %s (others %v): %v", tc.owner.Address, tc.id, tc.others, err)
		}
	}
}

// FuzzRights: rights strings and identifiers from the wire never panic,
// and parsed rights print back to a string that parses to the same set.
func FuzzRights(f *testing.F) {
	for _, s := range []string{"lrswipkxtea", "cd", "", "lz", "-bob@example.test", "group:staff", "anyone", "ANYONE", "-group:x", "a@b"} {
		f.Add(s)
	}
	h, _ := HashPassword("x")
	d, err := NewDirectory([]AccountSpec{{Address: "bob@example.test", PasswordHash: h, Plan: "p", Groups: []string{"staff"}}},
		[]Plan{{Name: "p", Share: true}}, []string{"staff"}, nil)
	if err != nil {
		f.Fatal(err)
	}
	bob, _ := d.Lookup("bob@example.test")
	f.Fuzz(func(t *testing.T, s string) {
		if r, err := ParseRights(s); err == nil {
			again, err := ParseRights(r.String())
			if err != nil || again != r {
				t.Fatalf("%q -> %q -> %v %v", s, r, again, err)
			}
		}
		if id, err := d.CanonicalIdentifier(s); err == nil {
			if again, err := d.CanonicalIdentifier(id); err != nil || again != id {
				t.Fatalf("identifier %q -> %q -> %q %v", s, id, again, err)
			}
		}
		d.CheckGrant(bob, s, []string{s})
		d.Rights(bob, bob, s, []Entry{{Identifier: s, Rights: AllRights}})
	})
}
