package netlimit

import (
	"testing"
	"time"
)

func TestThrottleGrowsAndForgets(t *testing.T) {
	now := time.Unix(0, 0)
	th := NewThrottle(time.Second, 8*time.Second, func() time.Time { return now })
	var got []time.Duration
	for range 6 {
		got = append(got, th.Delay("user:x", "ip:1"))
		th.Fail("user:x", "ip:1")
	}
	want := []time.Duration{0, 1, 2, 4, 8, 8}
	for i := range want {
		if got[i] != want[i]*time.Second {
			t.Fatalf("delays = %v", got)
		}
	}
	if th.Delay("user:y", "ip:1") != 8*time.Second {
		t.Error("another name from the same address is not slowed")
	}
	th.Succeed("ip:1")
	if d := th.Delay("user:x"); d != 8*time.Second {
		t.Errorf("the name's record went with the address's: %v", d)
	}
	now = now.Add(16 * time.Minute)
	if d := th.Delay("user:x"); d != 0 {
		t.Errorf("delay after 16 quiet minutes = %v", d)
	}
}

func TestConns(t *testing.T) {
	c := NewConns(3, 2)
	if !c.Acquire("a") || !c.Acquire("a") || c.Acquire("a") {
		t.Fatal("per-address limit")
	}
	if !c.Acquire("b") || c.Acquire("c") {
		t.Fatal("total limit")
	}
	c.Release("a")
	if !c.Acquire("c") {
		t.Fatal("release")
	}
}
