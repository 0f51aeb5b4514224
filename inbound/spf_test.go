package inbound

import (
	"context"
	"net"
	"strings"
	"testing"

	"mailroom/internal/testutil"
)

// TestSPF evaluates records served by the fake DNS (RFC 7208).
func TestSPF(t *testing.T) {
	d := testutil.NewDNS(t)
	d.TXT("pass.test", "v=spf1 ip4:192.0.2.0/24 -all")
	d.TXT("fail.test", "v=spf1 ip4:198.51.100.1 -all")
	d.TXT("soft.test", "v=spf1 ~all")
	d.TXT("neutral.test", "v=spf1 ?all")
	d.TXT("default.test", "v=spf1 ip4:198.51.100.1")
	d.TXT("a.test", "v=spf1 a -all")
	d.A("a.test", "192.0.2.10")
	d.TXT("mx.test", "v=spf1 mx/24 -all")
	d.MX("mx.test", 10, "mail.mx.test")
	d.A("mail.mx.test", "192.0.2.99")
	d.TXT("inc.test", "v=spf1 include:pass.test -all")
	d.TXT("incnone.test", "v=spf1 include:nothing.test -all")
	d.TXT("redir.test", "v=spf1 redirect=pass.test")
	d.TXT("v6.test", "v=spf1 ip6:2001:db8::/32 -all")
	d.TXT("macro.test", "v=spf1 exists:%{ir}.%{l1r-}.allow.macro.test -all")
	d.A("10.2.0.192.user.allow.macro.test", "127.0.0.2")
	d.TXT("two.test", "v=spf1 -all")
	d.TXT("two.test", "v=spf1 +all")
	d.TXT("bad.test", "v=spf1 foo:bar -all")
	d.TXT("temp.test", "v=spf1 include:broken.test -all")
	d.ServFail("broken.test")
	d.ServFail("servfail.test")
	d.TXT("voids.test", "v=spf1 a:v1.test a:v2.test a:v3.test -all")
	// Eleven includes: one lookup over the limit.
	d.TXT("loop.test", "v=spf1 "+strings.Repeat("include:x.loop.test ", 11)+"-all")
	d.TXT("x.loop.test", "v=spf1 ?all")
	d.TXT("self.test", "v=spf1 include:self.test -all")
	d.TXT("other.test", "some other text")

	r := NewResolver(d.Addr)
	for _, tc := range []struct {
		ip, sender string
		want       SPFResult
	}{
		{"192.0.2.10", "a@pass.test", SPFPass},
		{"192.0.2.10", "a@fail.test", SPFFail},
		{"192.0.2.10", "a@soft.test", SPFSoftFail},
		{"192.0.2.10", "a@neutral.test", SPFNeutral},
		{"192.0.2.10", "a@default.test", SPFNeutral},
		{"192.0.2.10", "a@a.test", SPFPass},
		{"192.0.2.11", "a@a.test", SPFFail},
		{"192.0.2.10", "a@mx.test", SPFPass},
		{"192.0.3.10", "a@mx.test", SPFFail},
		{"192.0.2.10", "a@inc.test", SPFPass},
		{"192.0.2.10", "a@incnone.test", SPFPermError},
		{"192.0.2.10", "a@redir.test", SPFPass},
		{"2001:db8::1", "a@v6.test", SPFPass},
		{"2001:db9::1", "a@v6.test", SPFFail},
		{"192.0.2.10", "user@macro.test", SPFPass},
		{"192.0.2.11", "user@macro.test", SPFFail},
		{"192.0.2.10", "a@two.test", SPFPermError},
		{"192.0.2.10", "a@bad.test", SPFPermError},
		{"192.0.2.10", "a@temp.test", SPFTempError},
		{"192.0.2.10", "a@servfail.test", SPFTempError},
		{"192.0.2.10", "a@voids.test", SPFPermError},
		{"192.0.2.10", "a@loop.test", SPFPermError},
		{"192.0.2.10", "a@self.test", SPFPermError},
		{"192.0.2.10", "a@other.test", SPFNone},
		{"192.0.2.10", "a@absent.test", SPFNone},
		{"192.0.2.10", "", SPFPass}, // null sender: postmaster@HELO
	} {
		got, _, reason := SPF(context.Background(), r, net.ParseIP(tc.ip), "pass.test", tc.sender)
		if got != tc.want {
			t.Errorf("SPF(%s, %q) = %s (%s), want %s", tc.ip, tc.sender, got, reason, tc.want)
		}
	}
}

func TestSPFParse(t *testing.T) {
	for _, tc := range []struct {
		rec string
		ok  bool
	}{
		{"v=spf1 -all", true},
		{"v=spf1 a/24//64 mx:example.com/24 ip6:::1/128 ptr:x.test exists:%{i}.x.test ~all", true},
		{"v=spf1 a//64", true},
		{"v=spf1 ip4:1.2.3.4/33", false},
		{"v=spf1 ip4", false},
		{"v=spf1 include", false},
		{"v=spf1 all:x", false},
		{"v=spf1 ptr/24", false},
		{"v=spf1 unknown-mod=x -all", true},
		{"v=spf1 9mod=x", false},
		{"v=spf10 -all", false},
	} {
		_, err := parseSPF(tc.rec)
		if (err == nil) != tc.ok {
			t.Errorf("parseSPF(%q) = %v, want ok %v", tc.rec, err, tc.ok)
		}
	}
}

func TestSPFMacro(t *testing.T) {
	c := &spfCheck{ip: net.ParseIP("192.0.2.3"), sender: "strong-bad@email.example.com", local: "strong-bad", helo: "mx.example.org"}
	for spec, want := range map[string]string{ // RFC 7208 §7.4
		"%{s}":                  "strong-bad@email.example.com",
		"%{o}":                  "email.example.com",
		"%{d}":                  "email.example.com",
		"%{d4}":                 "email.example.com",
		"%{d2}":                 "example.com",
		"%{dr}":                 "com.example.email",
		"%{d2r}":                "example.email",
		"%{l}":                  "strong-bad",
		"%{l-}":                 "strong.bad",
		"%{lr-}":                "bad.strong",
		"%{l1r-}":               "strong",
		"%{ir}.%{v}._spf.%{d2}": "3.2.0.192.in-addr._spf.example.com",
		"%{lr-}.lp._spf.%{d2}":  "bad.strong.lp._spf.example.com",
		"%%%_%-":                "% %20",
	} {
		got, err := c.expand(spec, "email.example.com")
		if err != nil || got != want {
			t.Errorf("expand(%q) = %q, %v; want %q", spec, got, err, want)
		}
	}
	c.ip = net.ParseIP("2001:db8::cb01")
	if got, _ := c.expand("%{ir}.%{v}._spf.%{d2}", "email.example.com"); got != "1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6._spf.example.com" {
		t.Errorf("IPv6 %%{ir}: %q", got)
	}
	for _, bad := range []string{"%", "%x", "%{", "%{z}", "%{d0}", "%{d1x}"} {
		if _, err := c.expand(bad, "x.test"); err == nil {
			t.Errorf("expand(%q) succeeded", bad)
		}
	}
}

func FuzzSPFRecord(f *testing.F) {
	f.Add("v=spf1 a/24//64 mx:%{d2}/24 ip6:::1/128 exists:%{ir}.%{l1r-}.x.test redirect=x.test")
	f.Add("v=spf1 -all")
	f.Fuzz(func(t *testing.T, rec string) {
		terms, err := parseSPF(rec)
		if err != nil {
			return
		}
		c := &spfCheck{ip: net.ParseIP("192.0.2.3"), sender: "a@b.test", local: "a", helo: "h.test"}
		for _, term := range terms {
			if out, err := c.expand(term.arg, "b.test"); err == nil && len(out) > maxDomainLen {
				t.Fatalf("expansion of %q is %d octets", term.arg, len(out))
			}
		}
	})
}
