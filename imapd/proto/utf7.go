package proto

import (
	"errors"
	"strings"
	"unicode/utf16"
)

// Mailbox names travel in modified UTF-7 (RFC 3501 §5.1.3) unless the
// client enabled UTF8=ACCEPT (RFC 6855) or speaks IMAP4rev2. Printable
// ASCII stands for itself, "&" is written "&-", and every other run of
// characters is "&", their UTF-16 in base64 with "," for "/" and no
// padding, then "-".

const mutf7Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,"

// ErrBadUTF7 is a mailbox name that is not valid modified UTF-7.
var ErrBadUTF7 = errors.New("invalid modified UTF-7 mailbox name")

var mutf7Index = func() (t [256]int8) {
	for i := range t {
		t[i] = -1
	}
	for i := 0; i < len(mutf7Alphabet); i++ {
		t[mutf7Alphabet[i]] = int8(i)
	}
	return t
}()

// DecodeMUTF7 turns a modified UTF-7 name into UTF-8. It refuses what RFC
// 3501 forbids: 8-bit octets, a shifted run that encodes printable ASCII
// or nothing, adjacent shifted runs, leftover bits, lone surrogates.
func DecodeMUTF7(s string) (string, error) {
	var b strings.Builder
	prevShifted := false
	for i := 0; i < len(s); {
		c := s[i]
		if c < 0x20 || c > 0x7e {
			return "", ErrBadUTF7
		}
		if c != '&' {
			b.WriteByte(c)
			i++
			prevShifted = false
			continue
		}
		end := strings.IndexByte(s[i+1:], '-')
		if end < 0 {
			return "", ErrBadUTF7
		}
		run := s[i+1 : i+1+end]
		i += end + 2
		if run == "" {
			b.WriteByte('&')
			prevShifted = false
			continue
		}
		if prevShifted {
			return "", ErrBadUTF7 // "&AGE-&AGI-" must be one run
		}
		units, err := decodeRun(run)
		if err != nil {
			return "", err
		}
		runes := utf16.Decode(units)
		for _, r := range runes {
			if r >= 0x20 && r <= 0x7e {
				return "", ErrBadUTF7
			}
			b.WriteRune(r)
		}
		prevShifted = true
	}
	return b.String(), nil
}

// decodeRun decodes the base64 of one shifted run into UTF-16 units,
// checking surrogate pairing and that unused bits are zero.
func decodeRun(run string) ([]uint16, error) {
	var units []uint16
	var acc uint32
	bits := 0
	for i := 0; i < len(run); i++ {
		v := mutf7Index[run[i]]
		if v < 0 {
			return nil, ErrBadUTF7
		}
		acc = acc<<6 | uint32(v)
		bits += 6
		if bits >= 16 {
			bits -= 16
			units = append(units, uint16(acc>>bits))
			acc &= 1<<bits - 1
		}
	}
	if bits >= 6 || acc != 0 || len(units) == 0 {
		return nil, ErrBadUTF7
	}
	for k := 0; k < len(units); k++ {
		u := units[k]
		switch {
		case u >= 0xd800 && u < 0xdc00:
			if k+1 == len(units) || units[k+1] < 0xdc00 || units[k+1] >= 0xe000 {
				return nil, ErrBadUTF7
			}
			k++
		case u >= 0xdc00 && u < 0xe000:
			return nil, ErrBadUTF7
		}
	}
	return units, nil
}

// EncodeMUTF7 turns a UTF-8 name into modified UTF-7. Invalid UTF-8 is
// written as U+FFFD.
func EncodeMUTF7(s string) string {
	var b strings.Builder
	var pending []rune
	flush := func() {
		if len(pending) == 0 {
			return
		}
		b.WriteByte('&')
		units := utf16.Encode(pending)
		var acc uint32
		bits := 0
		for _, u := range units {
			acc = acc<<16 | uint32(u)
			bits += 16
			for bits >= 6 {
				bits -= 6
				b.WriteByte(mutf7Alphabet[acc>>bits&63])
			}
			acc &= 1<<bits - 1
		}
		if bits > 0 {
			b.WriteByte(mutf7Alphabet[acc<<(6-bits)&63])
		}
		b.WriteByte('-')
		pending = pending[:0]
	}
	for _, r := range s {
		switch {
		case r == '&':
			flush()
			b.WriteString("&-")
		case r >= 0x20 && r <= 0x7e:
			flush()
			b.WriteRune(r)
		default:
			pending = append(pending, r)
		}
	}
	flush()
	return b.String()
}
