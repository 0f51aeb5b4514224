package acl

import (
	"encoding/base64"
	"errors"
	"testing"
)

// TestSCRAMVector runs RFC 7677 §3's exchange ("user", "pencil") through
// SCRAMServer, with the RFC's server nonce in place of a random one.
func TestSCRAMVector(t *testing.T) {
	salt, _ := base64.StdEncoding.DecodeString("W22ZaJ0SNY7soEsUEjb6gQ==")
	keys, err := scramKeys("pencil", salt, 4096)
	if err != nil {
		t.Fatal(err)
	}
	var verified string
	s := &SCRAMServer{
		Lookup:   func(user string) (SCRAMKeys, error) { return keys, nil },
		Verified: func(user string) error { verified = user; return nil },
	}
	if ch, done, err := s.Next(nil); err != nil || done || len(ch) != 0 {
		t.Fatalf("start: %q %v %v", ch, done, err)
	}
	if _, _, err := s.Next([]byte("n,,n=user,r=rOprNGfwEbeRWgbNEkqO")); err != nil {
		t.Fatal(err)
	}
	const nonce = "rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
	s.nonce = nonce
	s.serverFirst = "r=" + nonce + ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
	ch, done, err := s.Next([]byte("c=biws,r=" + nonce + ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="))
	if err != nil || done || string(ch) != "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=" || verified != "" {
		t.Fatalf("final: %q %v %v (verified %q)", ch, done, err, verified)
	}
	if _, done, err := s.Next([]byte{}); !done || err != nil || verified != "user" {
		t.Fatalf("end: %v %v (verified %q)", done, err, verified)
	}
}

func TestSCRAMCredential(t *testing.T) {
	c, err := NewSCRAMCredential("pencil", 4096)
	if err != nil {
		t.Fatal(err)
	}
	k, err := ParseSCRAMCredential(c)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := scramKeys("pencil", k.Salt, 4096)
	if string(want.StoredKey) != string(k.StoredKey) || string(want.ServerKey) != string(k.ServerKey) {
		t.Fatal("keys differ")
	}
	for _, bad := range []string{"", "SCRAM-SHA-1$4096:c2FsdHNhbHQ=$a:b", "SCRAM-SHA-256$10:c2FsdHNhbHQ=$" + c[len(c)-89:], "SCRAM-SHA-256$4096:c2FsdHNhbHQ=$eA==:eA=="} {
		if _, err := ParseSCRAMCredential(bad); !errors.Is(err, ErrBadSCRAM) {
			t.Errorf("%q: %v", bad, err)
		}
	}
	d, err := NewDirectory([]AccountSpec{{Address: "u@example.test", SCRAMSHA256: c, Plan: "p"}, {Address: "v@example.test", Plan: "p"}}, []Plan{{Name: "p"}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	l := NewLive(d)
	if a, got := l.SCRAM("U@example.test"); a == nil || string(got.StoredKey) != string(k.StoredKey) {
		t.Fatalf("SCRAM of a known account: %v", a)
	}
	// Unknown names and accounts without a credential get made-up keys,
	// the same each time.
	for _, name := range []string{"v@example.test", "nobody@example.test"} {
		a1, k1 := l.SCRAM(name)
		_, k2 := l.SCRAM(name)
		if a1 != nil || string(k1.Salt) != string(k2.Salt) || k1.Iterations != SCRAMIterations {
			t.Errorf("%s: %v %x %x", name, a1, k1.Salt, k2.Salt)
		}
	}
}

// FuzzSCRAM: any client messages end in a challenge, an error or
// success, never a panic; only the right proof succeeds.
func FuzzSCRAM(f *testing.F) {
	f.Add([]byte("n,,n=user,r=abc"), []byte("c=biws,r=abc,p=AAAA"))
	f.Add([]byte("y,a=user,n=us=3Der,r=x"), []byte("c=eSxhPXVzZXIs,r=x,p="))
	f.Add([]byte("p=tls-unique,,n=user,r=abc"), []byte(""))
	keys, _ := scramKeys("pencil", []byte("saltsaltsalt"), 4096)
	f.Fuzz(func(t *testing.T, first, final []byte) {
		s := &SCRAMServer{
			Lookup:   func(string) (SCRAMKeys, error) { return keys, nil },
			Verified: func(string) error { t.Fatal("a made-up proof was accepted"); return nil },
		}
		if _, _, err := s.Next(first); err != nil {
			return
		}
		s.Next(final)
	})
}

// TestSCRAMPreparedPassword: the credential is derived from the password
// prepared as SCRAM clients prepare it (RFC 8265 OpaqueString): a
// no-break space is a space, a decomposed é the composed one; ASCII is
// unchanged.
func TestSCRAMPreparedPassword(t *testing.T) {
	for _, c := range []struct{ typed, client string }{
		{"pencil", "pencil"},
		{"I\u00a0love\u00a0mail", "I love mail"},
		{"caf\u0065\u0301", "caf\u00e9"},
	} {
		cred, err := NewSCRAMCredential(c.typed, 4096)
		if err != nil {
			t.Fatal(err)
		}
		k, err := ParseSCRAMCredential(cred)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := scramKeys(c.client, k.Salt, 4096)
		if string(want.StoredKey) != string(k.StoredKey) {
			t.Errorf("%q: keys differ from those of %q", c.typed, c.client)
		}
	}
}
