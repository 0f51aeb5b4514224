package mtasts

import "testing"

func TestParse(t *testing.T) {
	p, err := Parse([]byte("version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.Example.NET\r\nmax_age: 604800\r\nfuture: x\r\n"))
	if err != nil || p.Mode != Enforce || p.MaxAge != 604800 || len(p.MX) != 2 {
		t.Fatalf("Parse = %+v, %v", p, err)
	}
	for host, want := range map[string]bool{
		"mail.example.com": true, "MAIL.example.com.": true, "a.example.net": true,
		"example.net": false, "a.b.example.net": false, "mail2.example.com": false,
	} {
		if p.Match(host) != want {
			t.Errorf("Match(%s) = %v", host, !want)
		}
	}
	for _, bad := range []string{
		"mode: enforce\nmx: a.test\nmax_age: 1\n",                        // no version
		"version: STSv1\nmx: a.test\nmax_age: 1\n",                       // no mode
		"version: STSv1\nmode: enforce\nmax_age: 1\n",                    // no mx
		"version: STSv1\nmode: enforce\nmx: a.test\n",                    // no max_age
		"version: STSv1\nmode: strict\nmx: a.test\nmax_age: 1\n",         // bad mode
		"version: STSv1\nmode: enforce\nmx: a test\nmax_age: 1\n",        // bad mx
		"version: STSv1\nmode: enforce\nmx: a.test\nmax_age: -1\n",       // bad max_age
		"version: STSv1\nmode: enforce\nmx: a.test\nmax_age: 1\ngarbage", // bad line
	} {
		if _, err := Parse([]byte(bad)); err == nil {
			t.Errorf("Parse(%q) succeeded", bad)
		}
	}
	if p, err := Parse([]byte("version: STSv1\nmode: none\nmax_age: 86400\n")); err != nil || p.Mode != None {
		t.Errorf("mode none: %+v, %v", p, err)
	}
}

func TestRecordID(t *testing.T) {
	for _, tc := range []struct {
		txts []string
		id   string
		ok   bool
	}{
		{[]string{"v=STSv1; id=20260101"}, "20260101", true},
		{[]string{"v=spf1 -all", "v=STSv1;id=abc;"}, "abc", true},
		{[]string{"v=STSv1; id=a", "v=STSv1; id=b"}, "", false},
		{[]string{"v=STSv1"}, "", false},
		{nil, "", false},
	} {
		id, ok := recordID(tc.txts)
		if id != tc.id || ok != tc.ok {
			t.Errorf("recordID(%q) = %q, %v", tc.txts, id, ok)
		}
	}
}

func FuzzParsePolicy(f *testing.F) {
	f.Add([]byte("version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\nmax_age: 604800\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := Parse(b)
		if err != nil {
			return
		}
		if p.MaxAge < 0 || p.MaxAge > maxMaxAge || len(p.MX) > maxMX || (p.Mode != None && len(p.MX) == 0) {
			t.Fatalf("Parse(%q) = %+v", b, p)
		}
		for _, m := range p.MX {
			p.Match(m)
		}
	})
}
