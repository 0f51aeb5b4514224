package netlimit

import (
	"fmt"
	"net"
	"testing"
	"time"
)

func tcp(ip string) net.Addr { return &net.TCPAddr{IP: net.ParseIP(ip), Port: 1234} }

func TestThrottleGrowsAndForgets(t *testing.T) {
	now := time.Unix(0, 0)
	th := NewThrottle(time.Second, 8*time.Second, func() time.Time { return now })
	ip := tcp("192.0.2.1")
	var got []time.Duration
	for range 6 {
		got = append(got, th.Delay("x", ip))
		th.Fail("x", ip)
	}
	want := []time.Duration{0, 1, 2, 4, 8, 8}
	for i := range want {
		if got[i] != want[i]*time.Second {
			t.Fatalf("delays = %v", got)
		}
	}
	now = now.Add(16 * time.Minute)
	if d := th.Delay("x", ip); d != 0 {
		t.Errorf("delay after 16 quiet minutes = %v", d)
	}
}

// TestThrottleNAT: failures for one account from an address do not slow
// another account from the same address until the address's own, much
// higher, allowance is used up.
func TestThrottleNAT(t *testing.T) {
	th := NewThrottle(time.Second, 30*time.Second, nil)
	office := tcp("192.0.2.1")
	for range 20 {
		th.Fail("phone", office)
	}
	if d := th.Delay("colleague", office); d != 0 {
		t.Fatalf("colleague delayed %v by another account's failures", d)
	}
	if d := th.Delay("phone", office); d != 30*time.Second {
		t.Errorf("failing pair delayed %v", d)
	}
	// The account is slowed from elsewhere too, past its allowance.
	if d := th.Delay("phone", tcp("198.51.100.7")); d != 30*time.Second {
		t.Errorf("account from another address delayed %v", d)
	}
	// A success clears the pair only.
	th.Succeed("phone", office)
	if d := th.Delay("phone", office); d != 30*time.Second {
		t.Errorf("after success, the account's own record went: %v", d)
	}
	// Guessing across many accounts from one address is capped.
	spray := tcp("203.0.113.9")
	for i := range AddressFree {
		th.Fail(fmt.Sprint("user", i), spray)
	}
	if d := th.Delay("fresh", spray); d != 0 {
		t.Errorf("address slowed within its allowance: %v", d)
	}
	th.Fail("another", spray)
	if d := th.Delay("fresh", spray); d != time.Second {
		t.Errorf("address past its allowance delayed %v", d)
	}
}

func TestThrottleAccountAllowance(t *testing.T) {
	th := NewThrottle(time.Second, 30*time.Second, nil)
	for i := range AccountFree + 1 {
		th.Fail("alice", tcp(fmt.Sprintf("192.0.2.%d", i+1)))
	}
	if d := th.Delay("alice", tcp("198.51.100.1")); d != time.Second {
		t.Errorf("account past its allowance, from a new address: %v", d)
	}
}

func TestThrottleIPv6Prefix(t *testing.T) {
	th := NewThrottle(time.Second, 30*time.Second, nil)
	th.Fail("x", tcp("2001:db8:1:2::1"))
	if d := th.Delay("x", tcp("2001:db8:1:2:ffff::9")); d != time.Second {
		t.Errorf("same /64: %v", d)
	}
	if d := th.Delay("x", tcp("2001:db8:1:3::1")); d != 0 {
		t.Errorf("other /64: %v", d)
	}
	if c := Client(tcp("::ffff:192.0.2.1")); c != "192.0.2.1" {
		t.Errorf("mapped IPv4 key %q", c)
	}
}

func TestThrottleBounded(t *testing.T) {
	now := time.Unix(0, 0)
	th := NewThrottle(time.Second, 30*time.Second, func() time.Time { return now })
	th.SetSize(30)
	old := tcp("192.0.2.1")
	th.Fail("old", old)
	for i := range 100 {
		now = now.Add(time.Second)
		th.Fail(fmt.Sprint("u", i), tcp(fmt.Sprintf("198.51.100.%d", i)))
	}
	if n := th.Len(); n > 30 {
		t.Fatalf("%d records, bound 30", n)
	}
	if d := th.Delay("old", old); d != 0 {
		t.Errorf("the oldest record was kept: %v", d)
	}
	// Forgotten records go without waiting for the bound.
	now = now.Add(time.Hour)
	th.Fail("new", tcp("192.0.2.200"))
	if n := th.Len(); n != 3 {
		t.Errorf("%d records after an hour, want the 3 new ones", n)
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
	c.SetLimits(0, 3)
	if !c.Acquire("a") || !c.Acquire("a") || c.Acquire("a") {
		t.Fatal("raised limits")
	}
}
