package part

import (
	"net/mail"
	"strings"
	"time"
)

// ParseDate reads a Date field's value (RFC 5322 §3.3, with the obsolete
// forms of §4.3: two-digit years, zone names, missing seconds or
// weekday, comments). The common forms are read directly, without
// allocating; anything else goes to net/mail. SORT and THREAD call it
// once per message.
func ParseDate(s string) (time.Time, bool) {
	if t, ok := fastDate(s); ok {
		return t, true
	}
	t, err := mail.ParseDate(s)
	return t, err == nil
}

var monthNames = [...]string{"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}

// fastDate reads "[Day, ]D Mon YYYY HH:MM[:SS] +ZZZZ[ (comment)]".
func fastDate(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, ','); i >= 0 && i <= 4 {
		s = strings.TrimLeft(s[i+1:], " \t")
	}
	day, s, ok := number(s, 1, 2)
	if !ok || len(s) < 5 || s[0] != ' ' || s[4] != ' ' {
		return time.Time{}, false
	}
	month := 0
	for i, name := range monthNames {
		if strings.EqualFold(s[1:4], name) {
			month = i + 1
			break
		}
	}
	if month == 0 {
		return time.Time{}, false
	}
	year, s, ok := number(s[5:], 4, 4)
	if !ok || len(s) < 1 || s[0] != ' ' {
		return time.Time{}, false
	}
	hour, s, ok := number(s[1:], 2, 2)
	if !ok || len(s) < 1 || s[0] != ':' {
		return time.Time{}, false
	}
	minute, s, ok := number(s[1:], 2, 2)
	if !ok {
		return time.Time{}, false
	}
	sec := 0
	if len(s) > 0 && s[0] == ':' {
		if sec, s, ok = number(s[1:], 2, 2); !ok {
			return time.Time{}, false
		}
	}
	if len(s) < 6 || s[0] != ' ' || (s[1] != '+' && s[1] != '-') {
		return time.Time{}, false
	}
	zone, rest, ok := number(s[2:], 4, 4)
	if !ok || (rest != "" && rest[0] != ' ') || day < 1 || hour > 23 || minute > 59 || sec > 59 || zone%100 > 59 {
		return time.Time{}, false
	}
	offset := (zone/100*60 + zone%100) * 60
	if s[1] == '-' {
		offset = -offset
	}
	loc := time.UTC
	if offset != 0 {
		loc = time.FixedZone("", offset)
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, 0, loc)
	if t.Day() != day {
		return time.Time{}, false // 31 Feb: let net/mail refuse it
	}
	return t, true
}

// number reads min to max digits at the start of s.
func number(s string, min, max int) (int, string, bool) {
	n, i := 0, 0
	for i < len(s) && i < max && s[i] >= '0' && s[i] <= '9' {
		n = n*10 + int(s[i]-'0')
		i++
	}
	return n, s[i:], i >= min
}
