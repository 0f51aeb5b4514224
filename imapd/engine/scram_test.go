package engine

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"strings"
	"testing"

	"mailroom/acl"
)

// scramServer is a test server whose alice has a SCRAM-SHA-256
// credential for "password" and bob has none.
func scramTestServer(t *testing.T) *testServer {
	t.Helper()
	h, err := acl.HashPassword("password")
	if err != nil {
		t.Fatal(err)
	}
	cred, err := acl.NewSCRAMCredential("password", 4096)
	if err != nil {
		t.Fatal(err)
	}
	dir, err := acl.NewDirectory([]acl.AccountSpec{
		{Address: "alice@example.test", PasswordHash: h, SCRAMSHA256: cred, Plan: "pro", Groups: []string{"staff"}},
		{Address: "bob@example.test", PasswordHash: h, Plan: "pro", Groups: []string{"staff"}},
	}, []acl.Plan{{Name: "pro", Share: true}}, []string{"staff"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return newTestServer(t, func(o *Options) { o.Directory = acl.NewLive(dir) })
}

// scramClient is the client side of RFC 5802 §3, written from the RFC.
type scramClient struct {
	user, password string
	cnonce         string
	bare           string // client-first-message-bare
	authMessage    string
	serverKey      []byte
	salt           []byte // from server-first-message
	iterations     int
}

func newSCRAMClient(user, password string) *scramClient {
	n := make([]byte, 18)
	rand.Read(n)
	c := &scramClient{user: user, password: password, cnonce: base64.RawStdEncoding.EncodeToString(n)}
	c.bare = "n=" + strings.NewReplacer("=", "=3D", ",", "=2C").Replace(user) + ",r=" + c.cnonce
	return c
}

func (c *scramClient) first() string { return "n,," + c.bare }

func mac(key []byte, msg string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

// final answers server-first-message; tamper flips a bit of the proof.
func (c *scramClient) final(t *testing.T, serverFirst string, tamper bool) string {
	t.Helper()
	var nonce string
	for _, a := range strings.Split(serverFirst, ",") {
		k, v, _ := strings.Cut(a, "=")
		switch k {
		case "r":
			nonce = v
		case "s":
			c.salt, _ = base64.StdEncoding.DecodeString(a[2:])
		case "i":
			c.iterations, _ = strconv.Atoi(v)
		}
	}
	if !strings.HasPrefix(nonce, c.cnonce) || len(nonce) == len(c.cnonce) || c.iterations < 4096 || len(c.salt) == 0 {
		t.Fatalf("server-first-message %q", serverFirst)
	}
	salted, err := pbkdf2.Key(sha256.New, c.password, c.salt, c.iterations, 32)
	if err != nil {
		t.Fatal(err)
	}
	clientKey := mac(salted, "Client Key")
	stored := sha256.Sum256(clientKey)
	without := "c=biws,r=" + nonce
	c.authMessage = c.bare + "," + serverFirst + "," + without
	sig := mac(stored[:], c.authMessage)
	proof := make([]byte, len(clientKey))
	for i := range proof {
		proof[i] = clientKey[i] ^ sig[i]
	}
	if tamper {
		proof[0] ^= 1
	}
	c.serverKey = mac(salted, "Server Key")
	return without + ",p=" + base64.StdEncoding.EncodeToString(proof)
}

// checkServer checks server-final-message: the server knew the keys.
func (c *scramClient) checkServer(t *testing.T, serverFinal string) {
	t.Helper()
	if want := "v=" + base64.StdEncoding.EncodeToString(mac(c.serverKey, c.authMessage)); serverFinal != want {
		t.Fatalf("server signature %q, want %q", serverFinal, want)
	}
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// challenge reads a "+ " line and decodes it.
func challenge(t *testing.T, r *raw) string {
	t.Helper()
	l := r.line()
	ch, ok := strings.CutPrefix(l, "+ ")
	if !ok {
		t.Fatalf("expected a challenge, got %q", l)
	}
	d, err := base64.StdEncoding.DecodeString(ch)
	if err != nil {
		t.Fatalf("challenge %q: %v", ch, err)
	}
	return string(d)
}

// scramLogin runs one exchange; it returns the tagged response.
func scramLogin(t *testing.T, r *raw, tag, user, password string, ir, tamper bool) string {
	t.Helper()
	c := newSCRAMClient(user, password)
	if ir {
		r.send(tag + " AUTHENTICATE SCRAM-SHA-256 " + b64(c.first()) + "\r\n")
	} else {
		r.send(tag + " AUTHENTICATE SCRAM-SHA-256\r\n")
		if ch := challenge(t, r); ch != "" {
			t.Fatalf("first challenge %q", ch)
		}
		r.send(b64(c.first()) + "\r\n")
	}
	r.send(b64(c.final(t, challenge(t, r), tamper)) + "\r\n")
	l := r.line()
	if ch, ok := strings.CutPrefix(l, "+ "); ok {
		d, _ := base64.StdEncoding.DecodeString(ch)
		c.checkServer(t, string(d))
		r.send("\r\n")
		l = r.line()
	}
	return l
}

// TestAuthenticateSCRAM: SCRAM-SHA-256 with and without SASL-IR; the
// client checks the server's signature. A wrong password, a tampered
// proof and an account without a SCRAM credential all get the one
// failure answer, and count as failed logins for the throttle.
func TestAuthenticateSCRAM(t *testing.T) {
	ts := scramTestServer(t)
	r := dialRaw(t, ts.plain)
	r.send("a0 CAPABILITY\r\n")
	if l := r.expect("a0", "OK"); !strings.Contains(l[0], " AUTH=SCRAM-SHA-256") || strings.Contains(l[0], "-PLUS") {
		t.Fatalf("capabilities: %q", l[0])
	}
	if l := scramLogin(t, r, "a1", "alice@example.test", "password", true, false); !strings.HasPrefix(l, "a1 OK [CAPABILITY ") {
		t.Fatalf("SCRAM with SASL-IR: %q", l)
	}
	r.send("a2 NAMESPACE\r\n")
	r.expect("a2", "OK")

	r = dialRaw(t, ts.plain)
	if l := scramLogin(t, r, "b1", "alice@example.test", "password", false, false); !strings.HasPrefix(l, "b1 OK ") {
		t.Fatalf("SCRAM without SASL-IR: %q", l)
	}

	const failed = "NO [AUTHENTICATIONFAILED] Invalid credentials"
	r = dialRaw(t, ts.plain)
	for i, c := range []struct {
		user, password string
		tamper         bool
	}{
		{"alice@example.test", "wrong", false},
		{"alice@example.test", "password", true},
		{"bob@example.test", "password", false},
		{"nobody@example.test", "password", false},
	} {
		tag := "c" + strconv.Itoa(i)
		if l := scramLogin(t, r, tag, c.user, c.password, true, c.tamper); l != tag+" "+failed {
			t.Errorf("%+v: %q", c, l)
		}
	}
	ts.mu.Lock()
	sleeps := ts.sleeps
	ts.mu.Unlock()
	// One delay per exchange; after alice's first failure her next
	// attempt waits.
	if len(sleeps) < 6 || sleeps[3] == 0 {
		t.Errorf("login delays %v: a failed SCRAM login must slow the next", sleeps)
	}
	// The exchange still works after failures, and "*" cancels, even
	// after a good proof: the login completes only when the client has
	// accepted the server's signature.
	r.send("d1 AUTHENTICATE SCRAM-SHA-256\r\n")
	challenge(t, r)
	r.send("*\r\n")
	r.expect("d1", "BAD")
	c := newSCRAMClient("alice@example.test", "password")
	r.send("d0 AUTHENTICATE SCRAM-SHA-256 " + b64(c.first()) + "\r\n")
	r.send(b64(c.final(t, challenge(t, r), false)) + "\r\n")
	challenge(t, r)
	r.send("*\r\n")
	r.expect("d0", "BAD")
	r.send("d00 NAMESPACE\r\n")
	r.expect("d00", "BAD") // still not logged in
	r.send("d2 AUTHENTICATE SCRAM-SHA-256 " + b64("p=tls-unique,,n=alice@example.test,r=abc") + "\r\n")
	r.expect("d2", "NO [AUTHENTICATIONFAILED]")
	if l := scramLogin(t, r, "d3", "alice@example.test", "password", true, false); !strings.HasPrefix(l, "d3 OK ") {
		t.Fatalf("after failures: %q", l)
	}
}

// TestSCRAMUnknownUserSalt: an unknown name gets a salt like a real one,
// the same each time, so the exchange does not tell who exists.
func TestSCRAMUnknownUserSalt(t *testing.T) {
	ts := scramTestServer(t)
	salt := func(user string) string {
		r := dialRaw(t, ts.plain)
		c := newSCRAMClient(user, "x")
		r.send("a1 AUTHENTICATE SCRAM-SHA-256 " + b64(c.first()) + "\r\n")
		sf := challenge(t, r)
		r.send("*\r\n")
		r.expect("a1", "BAD")
		_, rest, _ := strings.Cut(sf, ",s=")
		return rest
	}
	if a, b := salt("ghost@example.test"), salt("ghost@example.test"); a != b || !strings.HasSuffix(a, ",i="+strconv.Itoa(acl.SCRAMIterations)) {
		t.Errorf("made-up salts %q, %q", a, b)
	}
}
