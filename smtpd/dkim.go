package smtpd

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// DKIMKey signs mail from one domain.
type DKIMKey struct {
	Domain   string // lower-case
	Selector string
	Signer   crypto.Signer
}

// signedHeaders are the fields RFC 6376 §5.4.1 recommends signing.
var signedHeaders = []string{
	"From", "Reply-To", "Subject", "Date", "To", "Cc", "Resent-Date", "Resent-From",
	"Resent-To", "Resent-Cc", "In-Reply-To", "References", "List-Id", "List-Help",
	"List-Unsubscribe", "List-Subscribe", "List-Post", "List-Owner", "List-Archive",
	"Message-ID", "MIME-Version", "Content-Type", "Content-Transfer-Encoding",
}

// Sign returns msg with a DKIM-Signature header in front (see Signature).
// Line endings are normalised first (normalizeLineEndings): a bare CR or
// LF would be signed as one thing and read by the receiver as another.
func (k *DKIMKey) Sign(msg []byte) ([]byte, error) {
	msg = normalizeLineEndings(msg)
	sig, err := k.Signature(nil, msg)
	if err != nil {
		return nil, err
	}
	return append(append(make([]byte, 0, len(sig)+len(msg)), sig...), msg...), nil
}

// Signature returns the DKIM-Signature header field (with its CRLF) that
// signs the message head followed by msg (RFC 6376, relaxed/relaxed,
// SHA-256; RSA, or Ed25519 as RFC 8463 has it); head is header fields put
// in front of msg, or nil. It signs each recommended field the message
// has, every occurrence, and names From once more than it occurs, so that
// a From added later breaks the signature. head and msg must have CRLF
// line endings (submission normalises them before anything else), and
// msg's header must end with an empty line.
//
// It reads both where they are and allocates nothing of the message's
// size: the body is canonicalised straight into the hash (go-msgauth's
// signer, used before, copied every 4 KiB it was given twice over, two
// bytes of garbage per byte signed). Its verifier checks these signatures
// in the tests, and dkimpy where installed.
func (k *DKIMKey) Signature(head, msg []byte) (string, error) {
	var algo string
	hash := crypto.SHA256
	switch k.Signer.Public().(type) {
	case *rsa.PublicKey:
		algo = "rsa-sha256"
	case ed25519.PublicKey:
		algo = "ed25519-sha256"
		hash = 0 // Ed25519 signs the SHA-256 hash itself (RFC 8463 §3)
	default:
		return "", fmt.Errorf("dkim: unsupported key type %T", k.Signer.Public())
	}
	end := bodyStart(msg)
	if end < 0 {
		return "", errors.New("dkim: header: the message has no empty line ending its header")
	}
	var fields []headerField
	collect := func(name, value []byte) { fields = append(fields, headerField{name, value}) }
	if err := scanHeader(head, true, collect); err != nil {
		return "", fmt.Errorf("dkim: header: %w", err)
	}
	if err := scanHeader(msg[:end], true, collect); err != nil {
		return "", fmt.Errorf("dkim: header: %w", err)
	}
	// The fields to sign, in the order they are hashed: for each name,
	// every occurrence from the bottom up (RFC 6376 §5.4.2).
	var names []string
	var order []int
	for _, name := range signedHeaders {
		lower := strings.ToLower(name)
		first := len(order)
		for i, f := range fields {
			if equalFoldASCII(f.name, lower) {
				names = append(names, name)
				order = append(order, i)
			}
		}
		slices.Reverse(order[first:])
	}
	names = append(names, "From")

	h := sha256.New()
	relaxedBody(h, msg[end:])
	var sig strings.Builder
	fmt.Fprintf(&sig, "DKIM-Signature: v=1; a=%s; c=relaxed/relaxed; d=%s; s=%s;\r\n\tt=%d; h=", algo, k.Domain, k.Selector, time.Now().Unix())
	for i, n := range names {
		switch {
		case i == 0:
		case i%8 == 0:
			sig.WriteString(":\r\n\t  ")
		default:
			sig.WriteByte(':')
		}
		sig.WriteString(n)
	}
	fmt.Fprintf(&sig, ";\r\n\tbh=%s;\r\n\tb=", base64.StdEncoding.EncodeToString(h.Sum(nil)))

	// The header hash: the signed fields, then this one with b= empty and
	// no CRLF at its end (§3.7).
	h.Reset()
	var buf []byte
	for _, i := range order {
		buf = relaxedHeader(buf[:0], fields[i].name, fields[i].value)
		h.Write(buf)
	}
	self := sig.String()
	colon := strings.IndexByte(self, ':')
	buf = relaxedHeader(buf[:0], []byte(self[:colon]), []byte(self[colon+1:]))
	h.Write(buf[:len(buf)-2])
	b, err := k.Signer.Sign(rand.Reader, h.Sum(nil), hash)
	if err != nil {
		return "", fmt.Errorf("dkim: %w", err)
	}
	// b= folds every 64 characters: white space in it is ignored (§3.5).
	enc := base64.StdEncoding.EncodeToString(b)
	for len(enc) > 64 {
		sig.WriteString(enc[:64] + "\r\n\t  ")
		enc = enc[64:]
	}
	sig.WriteString(enc + "\r\n")
	return sig.String(), nil
}

// headerField is a field as scanHeader gives it.
type headerField struct{ name, value []byte }

// bodyStart is the offset of msg's body, after the empty line that ends
// its header, or -1 when there is none.
func bodyStart(msg []byte) int {
	if bytes.HasPrefix(msg, []byte("\r\n")) {
		return 2
	}
	if i := bytes.Index(msg, []byte("\r\n\r\n")); i >= 0 {
		return i + 4
	}
	return -1
}

var (
	crlf  = []byte("\r\n")
	space = []byte(" ")
)

// relaxedBody writes body to w in the relaxed canonical form of RFC 6376
// §3.4.4: white space at the end of a line is dropped, other runs of it
// become one space, empty lines at the end are dropped, and a last line
// without CRLF gets one (an empty body stays empty). It writes runs of
// body itself and copies nothing.
func relaxedBody(w io.Writer, body []byte) {
	blank := 0 // empty lines not written yet: only if content follows
	empty, wsp := true, false
	for i := 0; i < len(body); {
		switch c := body[i]; {
		case c == ' ' || c == '\t':
			wsp = true
			i++
		case c == '\r' && i+1 < len(body) && body[i+1] == '\n':
			if empty {
				blank++
			} else {
				w.Write(crlf)
			}
			empty, wsp = true, false
			i += 2
		default:
			for ; blank > 0; blank-- {
				w.Write(crlf)
			}
			if wsp {
				w.Write(space)
				wsp = false
			}
			j := i + 1
			for j < len(body) && body[j] != ' ' && body[j] != '\t' && body[j] != '\r' {
				j++
			}
			w.Write(body[i:j])
			empty = false
			i = j
		}
	}
	if !empty {
		w.Write(crlf)
	}
}

// relaxedHeader appends a field in the relaxed canonical form of RFC 6376
// §3.4.2 to dst: the name in lower case, a colon, the value unfolded with
// every run of white space made one space and none at either end, CRLF.
func relaxedHeader(dst, name, value []byte) []byte {
	for _, c := range name {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	dst = append(dst, ':')
	wsp := false
	start := len(dst)
	for _, c := range value {
		if c == ' ' || c == '\t' || c == '\r' || c == '\n' {
			wsp = true
			continue
		}
		if wsp && len(dst) > start {
			dst = append(dst, ' ')
		}
		wsp = false
		dst = append(dst, c)
	}
	return append(dst, crlf...)
}

// LoadDKIMKey reads a PEM private key: PKCS #8 (RSA or Ed25519) or
// PKCS #1 RSA.
func LoadDKIMKey(path string) (crypto.Signer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, fmt.Errorf("%s: no PEM block", path)
	}
	switch block.Type {
	case "RSA PRIVATE KEY":
		return x509.ParsePKCS1PrivateKey(block.Bytes)
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		switch k := k.(type) {
		case *rsa.PrivateKey:
			if k.N.BitLen() < 1024 {
				return nil, fmt.Errorf("%s: RSA key of %d bits is too small", path, k.N.BitLen())
			}
			return k, nil
		case ed25519.PrivateKey:
			return k, nil
		}
		return nil, fmt.Errorf("%s: unsupported key type %T (want RSA or Ed25519)", path, k)
	}
	return nil, fmt.Errorf("%s: unsupported PEM block %q", path, block.Type)
}

// GenerateDKIMKey makes a key ("rsa" is RSA-2048, "ed25519") and writes it
// to path as PKCS #8 PEM, mode 0600. It refuses to overwrite a file.
func GenerateDKIMKey(path, kind string) (crypto.Signer, error) {
	var key crypto.Signer
	var err error
	switch kind {
	case "rsa", "":
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	case "ed25519":
		_, key, err = ed25519.GenerateKey(rand.Reader)
	default:
		return nil, fmt.Errorf("unknown key type %q (want rsa or ed25519)", kind)
	}
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	if err := pem.Encode(f, &pem.Block{Type: "PRIVATE KEY", Bytes: der}); err != nil {
		f.Close()
		return nil, err
	}
	return key, f.Close()
}

// DKIMRecord returns the TXT record value that publishes key's public half.
func DKIMRecord(key crypto.Signer) (string, error) {
	switch pub := key.Public().(type) {
	case *rsa.PublicKey:
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			return "", err
		}
		return "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der), nil
	case ed25519.PublicKey:
		return "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub), nil
	}
	return "", errors.New("unsupported key type")
}

// TXTStrings splits a TXT value into quoted strings of at most 255 bytes,
// as zone files need for RSA keys.
func TXTStrings(v string) string {
	var parts []string
	for len(v) > 255 {
		parts = append(parts, `"`+v[:255]+`"`)
		v = v[255:]
	}
	return strings.Join(append(parts, `"`+v+`"`), " ")
}
