package imapd

import (
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"mailroom/acl"
)

// TestLoginDelayNAT: an office behind one address. One phone keeps
// sending a wrong password for alice; bob's correct login from the same
// address is answered without delay, while alice's own attempts from there
// are slowed, and a success clears her record for that address.
func TestLoginDelayNAT(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	try := func(user, pass string) (time.Duration, error) {
		t.Helper()
		c, err := imapclient.DialInsecure(ts.plain, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		err = c.Login(user, pass).Wait()
		ts.mu.Lock()
		defer ts.mu.Unlock()
		return ts.sleeps[len(ts.sleeps)-1], err
	}
	for range 10 {
		if _, err := try("alice@example.test", "stale"); respCode(err) != imap.ResponseCodeAuthenticationFailed {
			t.Fatalf("wrong password: %v", err)
		}
	}
	if d, err := try("bob@example.test", "password"); err != nil || d != 0 {
		t.Fatalf("bob's correct login from the same address: delay %v, %v", d, err)
	}
	if d, err := try("alice@example.test", "password"); err != nil || d != 30*time.Second {
		t.Fatalf("alice's next attempt from the failing address: delay %v, %v", d, err)
	}
}

// TestLoginHashBound: many logins at once never run more password hashes
// at once than the directory's bound; the bound counts in the verifier.
func TestLoginHashBound(t *testing.T) {
	t.Parallel()
	const k, n = 2, 12
	live := acl.NewLiveWith(testDirectory(t), acl.LiveOptions{MaxHashes: k, CredentialTTL: -1})
	ts := newTestServer(t, func(o *Options) { o.Directory = live })
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		c, err := imapclient.DialInsecure(ts.plain, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		pass := "password"
		if i%2 == 1 {
			pass = "wrong"
		}
		user := []string{"alice@example.test", "bob@example.test", "nobody@example.test"}[i%3]
		wg.Go(func() {
			<-start
			c.Login(user, pass).Wait()
		})
	}
	close(start)
	wg.Wait()
	st := live.HashStats()
	if st.Running != 0 || st.Peak < 1 || st.Peak > k || st.Total != n {
		t.Fatalf("hashes: %+v, bound %d at once, %d logins", st, k, n)
	}
	t.Logf("%d concurrent logins, at most %d hashes at once", n, st.Peak)
}

// TestLoginCached: a client that logs in again with the same password is
// answered without computing the hash again; a wrong password always is
// computed, and a reload forgets the cache.
func TestLoginCached(t *testing.T) {
	t.Parallel()
	live := acl.NewLive(testDirectory(t))
	ts := newTestServer(t, func(o *Options) { o.Directory = live })
	login := func(user, pass string) error {
		t.Helper()
		c, err := imapclient.DialInsecure(ts.plain, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.Login(user, pass).Wait()
	}
	for range 5 {
		if err := login("alice@example.test", "password"); err != nil {
			t.Fatal(err)
		}
	}
	if st := live.HashStats(); st.Total != 1 {
		t.Errorf("5 logins computed %d hashes, want 1", st.Total)
	}
	if err := login("alice@example.test", "wrong"); err == nil {
		t.Fatal("wrong password accepted")
	}
	if st := live.HashStats(); st.Total != 2 {
		t.Errorf("a wrong password was answered without a hash: %d", st.Total)
	}
	live.Store(testDirectory(t))
	if err := login("alice@example.test", "password"); err != nil {
		t.Fatal(err)
	}
	if st := live.HashStats(); st.Total != 3 {
		t.Errorf("a login after reload used the old cache: %d hashes", st.Total)
	}
}

// BenchmarkLogin measures a whole IMAP connection with LOGIN over the
// socket, with the password hash computed every time (cold) and answered
// from the verified-credential cache (cached).
func BenchmarkLogin(b *testing.B) {
	for _, tc := range []struct {
		name string
		ttl  time.Duration
	}{{"cold", -1}, {"cached", 0}} {
		b.Run(tc.name, func(b *testing.B) {
			live := acl.NewLiveWith(testDirectory(b), acl.LiveOptions{CredentialTTL: tc.ttl})
			ts := newTestServer(b, func(o *Options) { o.Directory = live })
			b.ReportAllocs()
			for b.Loop() {
				c, err := imapclient.DialInsecure(ts.plain, nil)
				if err != nil {
					b.Fatal(err)
				}
				if err := c.Login("alice@example.test", "password").Wait(); err != nil {
					b.Fatal(err)
				}
				c.Close()
			}
		})
	}
}
