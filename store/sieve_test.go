package store

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestSieveScripts(t *testing.T) {
	t.Parallel()
	s := openTest(t, Options{})
	ctx := context.Background()
	const acct = "info@example.com"
	if _, _, ok, err := s.ActiveSieveScript(ctx, acct); ok || err != nil {
		t.Fatalf("active on empty account: %v %v", ok, err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.PutSieveScript(ctx, acct, "orders", "keep;"))
	must(s.PutSieveScript(ctx, acct, "vacation", "discard;"))
	must(s.PutSieveScript(ctx, "bob@example.com", "orders", "stop;"))
	must(s.SetActiveSieveScript(ctx, acct, "orders"))
	must(s.PutSieveScript(ctx, acct, "orders", "stop;")) // replace keeps it active
	name, src, ok, err := s.ActiveSieveScript(ctx, strings.ToUpper(acct))
	if err != nil || !ok || name != "orders" || src != "stop;" {
		t.Fatalf("active = %q %q %v %v", name, src, ok, err)
	}
	list, err := s.ListSieveScripts(ctx, acct)
	must(err)
	if len(list) != 2 || list[0] != (SieveScript{"orders", true}) || list[1] != (SieveScript{"vacation", false}) {
		t.Fatalf("list = %v", list)
	}
	if err := s.DeleteSieveScript(ctx, acct, "orders"); !errors.Is(err, ErrScriptActive) {
		t.Fatalf("delete active = %v", err)
	}
	if err := s.RenameSieveScript(ctx, acct, "orders", "vacation"); !errors.Is(err, ErrScriptExists) {
		t.Fatalf("rename onto existing = %v", err)
	}
	must(s.RenameSieveScript(ctx, acct, "orders", "main"))
	if name, _, _, _ := s.ActiveSieveScript(ctx, acct); name != "main" {
		t.Fatalf("active after rename = %q", name)
	}
	if _, err := s.GetSieveScript(ctx, acct, "orders"); !errors.Is(err, ErrNoScript) {
		t.Fatalf("get renamed = %v", err)
	}
	if err := s.SetActiveSieveScript(ctx, acct, "nope"); !errors.Is(err, ErrNoScript) {
		t.Fatalf("activate missing = %v", err)
	}
	must(s.SetActiveSieveScript(ctx, acct, ""))
	must(s.DeleteSieveScript(ctx, acct, "main"))
	if err := s.DeleteSieveScript(ctx, acct, "main"); !errors.Is(err, ErrNoScript) {
		t.Fatalf("delete twice = %v", err)
	}
	if got, _ := s.GetSieveScript(ctx, "bob@example.com", "orders"); got != "stop;" {
		t.Fatalf("other account's script = %q", got)
	}
	for _, bad := range []string{"", "a/b", "a\x00", "a\nb", strings.Repeat("x", MaxSieveNameLen+1)} {
		if err := s.PutSieveScript(ctx, acct, bad, "keep;"); !errors.Is(err, ErrBadScriptName) {
			t.Errorf("put %q = %v", bad, err)
		}
	}
	if err := s.PutSieveScript(ctx, acct, "big", strings.Repeat("#", MaxSieveScriptSize+1)); !errors.Is(err, ErrScriptTooLarge) {
		t.Errorf("big = %v", err)
	}
	for i := 0; i < MaxSieveScripts-1; i++ {
		must(s.PutSieveScript(ctx, acct, "s"+strings.Repeat("x", i), "keep;"))
	}
	if err := s.CheckSieveSpace(ctx, acct, "new", 10); !errors.Is(err, ErrTooManyScripts) {
		t.Errorf("space at limit = %v", err)
	}
	if err := s.PutSieveScript(ctx, acct, "one-too-many", "keep;"); !errors.Is(err, ErrTooManyScripts) {
		t.Errorf("put at limit = %v", err)
	}
	must(s.CheckSieveSpace(ctx, acct, "vacation", 10)) // replacing is fine
}

func TestSieveMarks(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := openTest(t, Options{Now: func() time.Time { return now }})
	ctx := context.Background()
	fresh, err := s.SieveMark(ctx, "a@x", "vac:bob", time.Hour, false)
	if err != nil || !fresh {
		t.Fatalf("first mark = %v %v", fresh, err)
	}
	if fresh, _ := s.SieveMark(ctx, "a@x", "vac:bob", time.Hour, false); fresh {
		t.Fatal("second mark within the period is fresh")
	}
	if m, _ := s.SieveMarked(ctx, "a@x", "vac:bob"); !m {
		t.Fatal("not marked")
	}
	if m, _ := s.SieveMarked(ctx, "b@x", "vac:bob"); m {
		t.Fatal("marked for another account")
	}
	now = now.Add(2 * time.Hour)
	if m, _ := s.SieveMarked(ctx, "a@x", "vac:bob"); m {
		t.Fatal("still marked after the period")
	}
	if fresh, _ := s.SieveMark(ctx, "a@x", "vac:bob", time.Hour, false); !fresh {
		t.Fatal("mark after the period is not fresh")
	}
}

func TestSRSSecret(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := openTest(t, Options{Dir: dir})
	a, err := s.SRSSecret(context.Background())
	if err != nil || len(a) != 32 {
		t.Fatalf("secret = %x, %v", a, err)
	}
	b, _ := s.SRSSecret(context.Background())
	if string(a) != string(b) {
		t.Fatal("secret changed")
	}
}
