package engine

import (
	"context"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"mailroom/store"
)

// TestRegistryLoadsWithoutItsLock: selecting a mailbox reads the store
// without the registry's lock. Held, it deadlocked a delivery publishing
// its second change (it needs the lock), an online Repair (it waits for
// the delivery) and the SELECT (its read waits behind the Repair). The
// change the delivery publishes while the state loads is merged once.
func TestRegistryLoadsWithoutItsLock(t *testing.T) {
	ts := newTestServer(t)
	reg, st, ctx := ts.srv.opts.Registry, ts.st, context.Background()
	const alice = "alice@example.test"
	if err := st.EnsureAccount(ctx, alice, true); err != nil {
		t.Fatal(err)
	}
	a, _ := st.MailboxByName(ctx, alice, "INBOX")
	b, _ := st.MailboxByName(ctx, alice, "Archive")

	held, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	hook := func(c store.Change) {
		if c.Mailbox == a.ID && c.Kind == store.ChangeAppend {
			once.Do(func() { close(held); <-release })
		}
	}
	ts.onChange.Store(&hook)
	loading := make(chan struct{})
	reg.beforeLoad = func(store.MailboxID) { close(loading) }

	delivered := make(chan error, 1)
	go func() {
		_, err := st.Deliver(ctx, []byte("Subject: x\r\n\r\nx\r\n"), []store.Delivery{{Mailbox: a.ID}, {Mailbox: b.ID}})
		delivered <- err
	}()
	<-held // the delivery is between its two changes, inside the store
	repaired := make(chan error, 1)
	go func() { _, err := st.Repair(ctx); repaired <- err }()
	for range 1000 {
		runtime.Gosched() // let the Repair queue for the store
	}
	opened := make(chan *shared, 1)
	go func() {
		sh, err := reg.open(ctx, st, b.ID)
		if err != nil {
			t.Error(err)
		}
		opened <- sh
	}()
	<-loading
	close(release)
	deadline := time.After(20 * time.Second)
	var sh *shared
	for range 3 {
		select {
		case err := <-delivered:
			if err != nil {
				t.Fatal(err)
			}
		case err := <-repaired:
			if err != nil {
				t.Fatal(err)
			}
		case sh = <-opened:
		case <-deadline:
			// Not t.Fatal: the cleanup closing the store would wait on the
			// deadlocked operations too.
			panic("deadlock: the delivery, the Repair and the SELECT wait on each other")
		}
	}
	if sh == nil {
		t.Fatal("not opened")
	}
	sh.mu.Lock()
	uids := slices.Clone(sh.uids)
	sh.mu.Unlock()
	if len(uids) != 1 {
		t.Fatalf("Archive's UIDs after a load during the delivery: %v", uids)
	}
	reg.release(sh)
}
