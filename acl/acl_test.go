package acl

import (
	"errors"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

func testDirectory(t *testing.T) *Directory {
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
