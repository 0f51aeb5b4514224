package smtpd

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
)

// TestAuthDelayNAT: wrong passwords for one account from an address do not
// delay another account's correct AUTH from the same address.
func TestAuthDelayNAT(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var sleeps []time.Duration
	env := newEnv(t, 1<<20, func(o *Options) {
		o.Sleep = func(_ context.Context, d time.Duration) { mu.Lock(); sleeps = append(sleeps, d); mu.Unlock() }
	})
	for range 10 {
		if err := dial(t, env.sub).Auth(sasl.NewPlainClient("", "alice@example.test", "stale")); err == nil {
			t.Fatal("wrong password accepted")
		}
	}
	if err := dial(t, env.sub).Auth(sasl.NewPlainClient("", "bob@example.test", "password")); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if d := sleeps[len(sleeps)-1]; d != 0 {
		t.Errorf("bob's correct AUTH delayed %v by alice's failures from the same address", d)
	}
}
