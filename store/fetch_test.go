package store

import (
	"context"
	"fmt"
	"slices"
	"testing"
)

// TestMessagesByUID reads exactly the messages asked for: sparse and
// dense sets, UIDs that do not exist (expunged, or past the end), and
// gaps longer than the iterator steps over before it seeks.
func TestMessagesByUID(t *testing.T) {
	t.Parallel()
	s := openTest(t, Options{})
	ctx := context.Background()
	s.EnsureAccount(ctx, "a@example.test", false)
	in := mustMailbox(t, s, "a@example.test", "INBOX")
	var bodies [][]byte
	for i := 1; i <= 100; i++ {
		bodies = append(bodies, fmt.Appendf(nil, "Subject: %d\r\n\r\n%d\r\n", i, i))
	}
	if err := s.AppendBatch(ctx, in.ID, bodies, make([]NewMessage, len(bodies))); err != nil {
		t.Fatal(err)
	}
	s.StoreFlags(ctx, in.ID, []UID{5, 6}, FlagsAdd, ParseFlags([]string{`\Deleted`}), nil)
	if _, err := s.Expunge(ctx, in.ID, nil); err != nil {
		t.Fatal(err)
	}
	for _, uids := range [][]UID{
		{1, 100}, {1, 2, 3, 4, 5, 6, 7}, {4, 5, 6, 40, 41, 99, 100, 101, 500}, {50}, {6}, {2, 3, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 90},
	} {
		var want []UID
		for _, u := range uids {
			if u != 5 && u != 6 && u <= 100 {
				want = append(want, u)
			}
		}
		before := s.BodyReads()
		var got []UID
		err := s.MessagesByUID(ctx, in.ID, uids, true, func(m *Message, c []byte) error {
			if string(c) != fmt.Sprintf("Subject: %d\r\n\r\n%d\r\n", m.UID, m.UID) {
				t.Errorf("message %d: content %q", m.UID, c)
			}
			got = append(got, m.UID)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("MessagesByUID(%v) = %v, want %v", uids, got, want)
		}
		if n := s.BodyReads() - before; n != uint64(len(want)) {
			t.Errorf("MessagesByUID(%v) read %d bodies", uids, n)
		}
	}
}

// TestMoveWithinAccountIgnoresQuota: a MOVE inside one account does not
// change its usage, so it succeeds over half the quota, where COPY fails.
func TestMoveWithinAccountIgnoresQuota(t *testing.T) {
	t.Parallel()
	s := openTest(t, Options{})
	ctx := context.Background()
	s.EnsureAccount(ctx, "a@example.test", true)
	in := mustMailbox(t, s, "a@example.test", "INBOX")
	trash := mustMailbox(t, s, "a@example.test", "Trash")
	if _, err := s.Append(ctx, in.ID, make([]byte, 600), NewMessage{}, 1000); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Copy(ctx, in.ID, []UID{1}, trash.ID, 1000); err == nil {
		t.Fatal("COPY over quota succeeded")
	}
	if _, err := s.Move(ctx, in.ID, []UID{1}, trash.ID, 1000); err != nil {
		t.Fatalf("MOVE: %v", err)
	}
	if u, _ := s.Usage(ctx, "a@example.test"); u != 600 {
		t.Fatalf("usage = %d", u)
	}
}
