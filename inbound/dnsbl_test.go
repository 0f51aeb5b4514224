package inbound

import (
	"net"
	"testing"
)

func TestReversedIP(t *testing.T) {
	for ip, want := range map[string]string{ // RFC 5782 §2.1, §2.4
		"192.0.2.99":  "99.2.0.192",
		"2001:db8::1": "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2",
	} {
		if got := reversedIP(net.ParseIP(ip)); got != want {
			t.Errorf("reversedIP(%s) = %s, want %s", ip, got, want)
		}
	}
}
