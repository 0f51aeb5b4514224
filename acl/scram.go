package acl

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/text/secure/precis"
)

// SCRAM-SHA-256 (RFC 7677, RFC 5802): the server keeps StoredKey and
// ServerKey, never the password, and the password never crosses the wire.
// An account's credential is a second string beside its password hash,
//
//	SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>
//
// (standard base64), which `mailroom hash-password -scram` prints. It
// cannot be derived from an argon2id hash, hence a field of its own.

// SCRAMIterations is the PBKDF2 iteration count of new credentials. RFC
// 7677 asks for at least 4096; the client pays for each, once per login,
// and someone holding the configuration pays for each per guess.
const SCRAMIterations = 100000

// Bounds on a stored credential and on what a client sends.
const (
	minSCRAMIterations = 4096
	maxSCRAMIterations = 10000000
	maxSCRAMMessage    = 1024 // RFC 5802 sets none; real messages are ~100 octets
	scramNonceLen      = 24
)

const scramPrefix = "SCRAM-SHA-256$"

// SCRAMKeys is a stored SCRAM-SHA-256 credential.
type SCRAMKeys struct {
	Iterations int
	Salt       []byte
	StoredKey  []byte
	ServerKey  []byte
}

// NewSCRAMCredential derives a credential for password with a random salt.
// The password is prepared as RFC 7677 asks (SASLprep, whose successor
// is RFC 8265's OpaqueString profile): non-ASCII spaces become spaces and
// the text is normalised (NFC), so a client that prepares the password it
// is given, as SCRAM clients do, derives the same keys whichever way the
// user's keyboard composed it. A password the profile refuses (control
// characters) is used as it is.
func NewSCRAMCredential(password string, iterations int) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	if prepared, err := precis.OpaqueString.String(password); err == nil {
		password = prepared
	}
	k, err := scramKeys(password, salt, iterations)
	if err != nil {
		return "", err
	}
	b64 := base64.StdEncoding
	return fmt.Sprintf("%s%d:%s$%s:%s", scramPrefix, iterations, b64.EncodeToString(salt),
		b64.EncodeToString(k.StoredKey), b64.EncodeToString(k.ServerKey)), nil
}

// scramKeys computes RFC 5802 §3's keys from a prepared password.
func scramKeys(password string, salt []byte, iterations int) (SCRAMKeys, error) {
	salted, err := pbkdf2.Key(sha256.New, password, salt, iterations, sha256.Size)
	if err != nil {
		return SCRAMKeys{}, err
	}
	clientKey := hmacSHA256(salted, "Client Key")
	stored := sha256.Sum256(clientKey)
	return SCRAMKeys{Iterations: iterations, Salt: salt, StoredKey: stored[:], ServerKey: hmacSHA256(salted, "Server Key")}, nil
}

func hmacSHA256(key []byte, msg string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

// ErrBadSCRAM is returned for a stored credential in no format we know.
var ErrBadSCRAM = errors.New("not a SCRAM-SHA-256 credential (SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>)")

// ParseSCRAMCredential reads a stored credential.
func ParseSCRAMCredential(s string) (SCRAMKeys, error) {
	rest, ok := strings.CutPrefix(s, scramPrefix)
	if !ok {
		return SCRAMKeys{}, ErrBadSCRAM
	}
	params, keys, ok := strings.Cut(rest, "$")
	if !ok {
		return SCRAMKeys{}, ErrBadSCRAM
	}
	iter, salt, ok1 := strings.Cut(params, ":")
	stored, server, ok2 := strings.Cut(keys, ":")
	if !ok1 || !ok2 {
		return SCRAMKeys{}, ErrBadSCRAM
	}
	var k SCRAMKeys
	var err error
	if k.Iterations, err = strconv.Atoi(iter); err != nil || k.Iterations < minSCRAMIterations || k.Iterations > maxSCRAMIterations {
		return SCRAMKeys{}, fmt.Errorf("%w: iterations out of range", ErrBadSCRAM)
	}
	b64 := base64.StdEncoding
	k.Salt, err = b64.DecodeString(salt)
	if err != nil || len(k.Salt) < 8 {
		return SCRAMKeys{}, fmt.Errorf("%w: bad salt", ErrBadSCRAM)
	}
	k.StoredKey, err = b64.DecodeString(stored)
	if err != nil || len(k.StoredKey) != sha256.Size {
		return SCRAMKeys{}, fmt.Errorf("%w: bad StoredKey", ErrBadSCRAM)
	}
	k.ServerKey, err = b64.DecodeString(server)
	if err != nil || len(k.ServerKey) != sha256.Size {
		return SCRAMKeys{}, fmt.Errorf("%w: bad ServerKey", ErrBadSCRAM)
	}
	return k, nil
}

// SCRAM returns the account addr names and its SCRAM credential. For an
// unknown address, or an account without a credential, it returns nil
// and made-up keys that stay the same for that name (salt and iteration
// count), so the exchange tells nothing of which accounts exist or have
// a credential; no proof matches them.
func (l *Live) SCRAM(addr string) (*Account, SCRAMKeys) {
	if a, ok := l.Load().Lookup(addr); ok && a.scram != nil {
		return a, *a.scram
	}
	m := hmac.New(sha256.New, l.scramSecret[:])
	m.Write([]byte(Fold(addr)))
	fake := m.Sum(nil)
	return nil, SCRAMKeys{Iterations: SCRAMIterations, Salt: fake[:16], StoredKey: fake, ServerKey: fake}
}

// SCRAMServer is the server side of one SCRAM-SHA-256 exchange (RFC 5802
// §5), without channel binding. It implements go-sasl's Server.
type SCRAMServer struct {
	// Lookup is called with the user the client names, before the salt is
	// sent: the caller applies its login throttle there and returns the
	// keys (SCRAM's); an error ends the exchange with it.
	Lookup func(user string) (SCRAMKeys, error)
	// Verified is called once the client's proof checked and the client
	// accepted the server's signature; an error ends the exchange with it.
	Verified func(user string) error

	step        int
	user        string
	gs2, nonce  string
	clientFirst string // client-first-message-bare
	serverFirst string
	keys        SCRAMKeys
}

// ErrSCRAMSyntax is a message that does not follow RFC 5802.
var ErrSCRAMSyntax = errors.New("scram: malformed message")

// Next takes the client's message and returns the server's.
func (s *SCRAMServer) Next(resp []byte) ([]byte, bool, error) {
	if len(resp) > maxSCRAMMessage {
		return nil, false, ErrSCRAMSyntax
	}
	switch s.step {
	case 0:
		if resp == nil {
			return []byte{}, false, nil // no initial response: ask for it
		}
		s.step = 1
		return s.first(string(resp))
	case 1:
		s.step = 2
		return s.final(string(resp))
	case 2:
		// The client has the server's signature and ends the exchange:
		// only now is the login complete (a "*" instead cancels it).
		s.step = 3
		if len(resp) != 0 {
			return nil, false, ErrSCRAMSyntax
		}
		if err := s.Verified(s.user); err != nil {
			return nil, false, err
		}
		return nil, true, nil
	}
	return nil, false, ErrSCRAMSyntax
}

// first reads client-first-message: gs2-header "n,," (or "y,,": the
// client could bind but thinks we cannot), then n=user,r=nonce.
func (s *SCRAMServer) first(msg string) ([]byte, bool, error) {
	var cb, authz string
	var ok bool
	if cb, msg, ok = strings.Cut(msg, ","); !ok || (cb != "n" && cb != "y") {
		return nil, false, ErrSCRAMSyntax // "p=…": channel binding, not offered
	}
	if authz, msg, ok = strings.Cut(msg, ","); !ok || (authz != "" && !strings.HasPrefix(authz, "a=")) {
		return nil, false, ErrSCRAMSyntax
	}
	s.gs2 = cb + "," + authz + ","
	s.clientFirst = msg
	attrs := strings.Split(msg, ",")
	if len(attrs) < 2 || !strings.HasPrefix(attrs[0], "n=") || !strings.HasPrefix(attrs[1], "r=") || len(attrs[1]) < 3 {
		return nil, false, ErrSCRAMSyntax
	}
	user, err := saslName(attrs[0][2:])
	if err != nil || user == "" {
		return nil, false, ErrSCRAMSyntax
	}
	if authz != "" {
		if a, err := saslName(authz[2:]); err != nil || !strings.EqualFold(a, user) {
			return nil, false, ErrSCRAMSyntax // acting as another user: not supported
		}
	}
	cnonce := attrs[1][2:]
	for i := 0; i < len(cnonce); i++ {
		if c := cnonce[i]; c < 0x21 || c > 0x7e || c == ',' {
			return nil, false, ErrSCRAMSyntax
		}
	}
	snonce := make([]byte, scramNonceLen)
	if _, err := rand.Read(snonce); err != nil {
		return nil, false, err
	}
	s.user = user
	s.nonce = cnonce + base64.RawStdEncoding.EncodeToString(snonce)
	if s.keys, err = s.Lookup(user); err != nil {
		return nil, false, err
	}
	s.serverFirst = "r=" + s.nonce + ",s=" + base64.StdEncoding.EncodeToString(s.keys.Salt) + ",i=" + strconv.Itoa(s.keys.Iterations)
	return []byte(s.serverFirst), false, nil
}

// final reads client-final-message: c=<gs2 header>,r=<nonce>,p=<proof>.
func (s *SCRAMServer) final(msg string) ([]byte, bool, error) {
	without, proof, ok := strings.Cut(msg, ",p=")
	if !ok || strings.Contains(proof, ",") {
		return nil, false, ErrSCRAMSyntax
	}
	attrs := strings.Split(without, ",")
	if len(attrs) < 2 || attrs[0] != "c="+base64.StdEncoding.EncodeToString([]byte(s.gs2)) || attrs[1] != "r="+s.nonce {
		return nil, false, ErrSCRAMSyntax
	}
	p, err := base64.StdEncoding.DecodeString(proof)
	if err != nil || len(p) != sha256.Size {
		return nil, false, ErrSCRAMSyntax
	}
	authMessage := s.clientFirst + "," + s.serverFirst + "," + without
	sig := hmacSHA256(s.keys.StoredKey, authMessage)
	for i := range p {
		p[i] ^= sig[i] // ClientKey
	}
	stored := sha256.Sum256(p)
	if subtle.ConstantTimeCompare(stored[:], s.keys.StoredKey) != 1 {
		return nil, false, ErrAuthFailed
	}
	return []byte("v=" + base64.StdEncoding.EncodeToString(hmacSHA256(s.keys.ServerKey, authMessage))), false, nil
}

// saslName decodes RFC 5802's saslname: "=2C" is ",", "=3D" is "=".
func saslName(s string) (string, error) {
	if !strings.Contains(s, "=") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '=' {
			b.WriteByte(s[i])
			continue
		}
		switch {
		case strings.HasPrefix(s[i:], "=2C"):
			b.WriteByte(',')
		case strings.HasPrefix(s[i:], "=3D"):
			b.WriteByte('=')
		default:
			return "", ErrSCRAMSyntax
		}
		i += 2
	}
	return b.String(), nil
}
