package store

import (
	"context"
	"errors"
	"testing"
)

// TestTooLargeIsErrTooLarge: a message the store cannot hold in one Badger
// value is refused with ErrTooLarge (which the protocol edges turn into
// 552 5.3.4 / TOOBIG), never with Badger's own error; the largest it holds
// is MaxBodySize.
func TestTooLargeIsErrTooLarge(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openTest(t, Options{Dir: t.TempDir()})
	in, _ := s.Inbox(ctx, "a@example.test")
	big := make([]byte, valueLogFileSize+1) // untouched pages: cheap
	for _, n := range []int{MaxBodySize + 1, valueLogFileSize + 1} {
		if _, err := s.Append(ctx, in.ID, big[:n], NewMessage{}, 0); !errors.Is(err, ErrTooLarge) {
			t.Fatalf("append of %d bytes: %v", n, err)
		}
		if _, err := s.Enqueue(ctx, "a@example.test", []string{"b@remote.test"}, big[:n]); !errors.Is(err, ErrTooLarge) {
			t.Fatalf("enqueue of %d bytes: %v", n, err)
		}
	}
	if MaxBodySize > valueLogFileSize-1 {
		t.Fatalf("MaxBodySize %d does not fit Badger's value limit %d with the record byte", MaxBodySize, valueLogFileSize)
	}
}
