package smtpd

import (
	"bufio"
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/emersion/go-message/textproto"
	"github.com/emersion/go-msgauth/dkim"
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

// signChunk is how much of the message the signer is given at a time: its
// canonicalization copies what it is given, so the whole message at once
// would cost the message's size twice over in garbage at once.
const signChunk = 64 << 10

// Signature returns the DKIM-Signature header field (with its CRLF) that
// signs the message head followed by msg (relaxed/relaxed, SHA-256); head
// is header fields put in front of msg, or nil. It signs each recommended
// field the message has, every occurrence, and names From once more than
// it occurs, so that a From added later breaks the signature. It copies
// neither, which must have CRLF line endings (submission normalises them
// before anything else).
func (k *DKIMKey) Signature(head, msg []byte) (string, error) {
	h, err := textproto.ReadHeader(bufio.NewReader(io.MultiReader(bytes.NewReader(head), bytes.NewReader(msg))))
	if err != nil {
		return "", fmt.Errorf("dkim: header: %w", err)
	}
	var keys []string
	for _, name := range signedHeaders {
		for range h.Values(name) {
			keys = append(keys, name)
		}
	}
	keys = append(keys, "From")
	s, err := dkim.NewSigner(&dkim.SignOptions{
		Domain:                 k.Domain,
		Selector:               k.Selector,
		Signer:                 k.Signer,
		HeaderCanonicalization: dkim.CanonicalizationRelaxed,
		BodyCanonicalization:   dkim.CanonicalizationRelaxed,
		HeaderKeys:             keys,
	})
	if err != nil {
		return "", fmt.Errorf("dkim: %w", err)
	}
	for _, b := range [][]byte{head, msg} {
		for rest := b; len(rest) > 0; {
			n := min(len(rest), signChunk)
			if _, err := s.Write(rest[:n]); err != nil {
				s.Close()
				return "", fmt.Errorf("dkim: %w", err)
			}
			rest = rest[n:]
		}
	}
	if err := s.Close(); err != nil {
		return "", fmt.Errorf("dkim: %w", err)
	}
	return s.Signature(), nil
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
