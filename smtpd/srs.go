package smtpd

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"strings"
	"sync"
	"time"

	"mailroom/store"
)

// The Sender Rewriting Scheme for redirected mail (SRS0, as in Shevek's
// "Sender Rewriting Scheme" and libsrs2): a message that a Sieve script
// redirects leaves with the envelope sender
//
//	SRS0=HHHH=TT=orig-domain=orig-local@account-domain
//
// so SPF at the destination checks our domain, and a bounce comes back to
// us: Rcpt recognises the address (hash and age checked) and forwards the
// bounce to orig-local@orig-domain.
//
// HHHH is the first four characters of the base32 HMAC-SHA256 of TT and
// the original address, lower-cased: base32 so that a relay changing the
// local part's case does not break it. TT is the day number modulo 1024
// in two base32 characters; an address older than srsMaxAge days is
// refused.

const (
	srsMaxAge  = 21 // days
	srsHashLen = 4
)

var srsB32 = base32.StdEncoding.WithPadding(base32.NoPadding)

const srsAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"

// srsKey caches the store's SRS secret.
type srsKey struct {
	mu     sync.Mutex
	secret []byte
}

func (k *srsKey) get(ctx context.Context, st *store.Store) ([]byte, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.secret == nil {
		s, err := st.SRSSecret(ctx)
		if err != nil {
			return nil, err
		}
		k.secret = s
	}
	return k.secret, nil
}

func srsDay(now time.Time) int { return int(now.Unix()/86400) % 1024 }

func srsStamp(day int) string {
	return string([]byte{srsAlphabet[(day>>5)&31], srsAlphabet[day&31]})
}

func srsHash(secret []byte, stamp, domain, local string) string {
	m := hmac.New(sha256.New, secret)
	fmt.Fprintf(m, "%s\x00%s\x00%s", strings.ToLower(stamp), strings.ToLower(domain), strings.ToLower(local))
	return strings.ToLower(srsB32.EncodeToString(m.Sum(nil))[:srsHashLen])
}

// srsForward rewrites from for a message leaving through ourDomain; the
// null sender stays null.
func srsForward(secret []byte, from, ourDomain string, now time.Time) string {
	at := strings.LastIndexByte(from, '@')
	if from == "" || at <= 0 {
		return from
	}
	local, domain := from[:at], from[at+1:]
	stamp := srsStamp(srsDay(now))
	return fmt.Sprintf("SRS0=%s=%s=%s=%s@%s", srsHash(secret, stamp, domain, local), stamp, domain, local, ourDomain)
}

// srsReverse returns the original address of an SRS0 local part we made,
// when its hash is right and it is not too old.
func srsReverse(secret []byte, local string, now time.Time) (string, bool) {
	if len(local) < 5 || !strings.EqualFold(local[:5], "SRS0=") {
		return "", false
	}
	parts := strings.SplitN(local[5:], "=", 4) // the original local part may hold '='
	if len(parts) != 4 || len(parts[1]) != 2 || parts[2] == "" || parts[3] == "" {
		return "", false
	}
	hash, stamp, domain, orig := parts[0], parts[1], parts[2], parts[3]
	if !hmac.Equal([]byte(strings.ToLower(hash)), []byte(srsHash(secret, stamp, domain, orig))) {
		return "", false
	}
	hi := strings.IndexByte(srsAlphabet, strings.ToUpper(stamp)[0])
	lo := strings.IndexByte(srsAlphabet, strings.ToUpper(stamp)[1])
	if hi < 0 || lo < 0 {
		return "", false
	}
	age := (srsDay(now) - (hi<<5 | lo) + 1024) % 1024
	if age > srsMaxAge {
		return "", false
	}
	return orig + "@" + domain, true
}

// srsRcpt is Rcpt's check for a bounce to an address srsForward made:
// it returns the address to forward to. Not on LMTP, which delivers
// locally only.
func (s *session) srsRcpt(a address) (string, bool) {
	if s.mode == ModeLMTP || s.srv.opts.Queue == nil || len(a.local) < 5 || !strings.EqualFold(a.local[:5], "SRS0=") {
		return "", false
	}
	secret, err := s.srv.srs.get(context.Background(), s.srv.opts.Store)
	if err != nil {
		s.log.Error("srs secret", "err", err)
		return "", false
	}
	return srsReverse(secret, a.local, s.srv.opts.Now())
}
