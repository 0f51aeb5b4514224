package dane

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/hex"
	"math/big"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func cert(t *testing.T, tmpl, parent *x509.Certificate, pub, priv any) *x509.Certificate {
	t.Helper()
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, priv)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestVerify: DANE-EE matches the leaf by certificate or key, by value
// or digest, whatever its name; DANE-TA matches an issuer in the chain,
// which must issue the leaf for the host.
func TestVerify(t *testing.T) {
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	ca := cert(t, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leaf := cert(t, &x509.Certificate{SerialNumber: big.NewInt(2), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		DNSNames: []string{"mx.example.test"}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}, ca, &key.PublicKey, caKey)
	chain := []*x509.Certificate{leaf, ca}
	s256 := func(b []byte) string { h := sha256.Sum256(b); return hex.EncodeToString(h[:]) }
	s512 := func(b []byte) string { h := sha512.Sum512(b); return hex.EncodeToString(h[:]) }
	rec := func(u, s, m uint8, data string) []*dns.TLSA {
		return []*dns.TLSA{{Usage: u, Selector: s, MatchingType: m, Certificate: data}}
	}
	for _, tc := range []struct {
		name string
		host string
		recs []*dns.TLSA
		ok   bool
	}{
		{"EE SPKI SHA-256", "other.test", rec(3, 1, 1, s256(leaf.RawSubjectPublicKeyInfo)), true},
		{"EE cert SHA-512", "other.test", rec(3, 0, 2, s512(leaf.Raw)), true},
		{"EE cert full", "other.test", rec(3, 0, 0, hex.EncodeToString(leaf.Raw)), true},
		{"EE wrong", "mx.example.test", rec(3, 1, 1, s256(ca.RawSubjectPublicKeyInfo)), false},
		{"TA SPKI", "mx.example.test", rec(2, 1, 1, s256(ca.RawSubjectPublicKeyInfo)), true},
		{"TA, wrong host", "other.test", rec(2, 1, 1, s256(ca.RawSubjectPublicKeyInfo)), false},
		{"TA matching the leaf only", "mx.example.test", rec(2, 1, 1, s256(leaf.RawSubjectPublicKeyInfo)), false},
	} {
		if err := Verify(chain, tc.host, tc.recs); (err == nil) != tc.ok {
			t.Errorf("%s: %v, want ok %v", tc.name, err, tc.ok)
		}
	}
}
