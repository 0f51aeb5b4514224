package sieve

import (
	"fmt"
	"net/mail"
	"strconv"
	"strings"
	"time"
)

// The date and currentdate tests (RFC 5260 §4, §5).

func (in *interp) dateTest(f *frame, t *instr) (bool, error) {
	var when []time.Time
	var partArg value
	var keys []string
	if t.name == "currentdate" {
		when = []time.Time{in.now}
		partArg, keys = t.args[0], t.args[1].strs
	} else {
		partArg, keys = t.args[1], t.args[2].strs
		name := in.expand(f, t.args[0].str())
		// Received: the date follows the last ';' (RFC 5260 §4.1).
		vals := pickIndex(in.headerValues(name, false), t)
		for _, v := range vals {
			if strings.EqualFold(name, "received") {
				if i := strings.LastIndexByte(v, ';'); i >= 0 {
					v = v[i+1:]
				}
			}
			d, err := mail.ParseDate(strings.TrimSpace(v))
			if err == nil {
				when = append(when, d)
			}
		}
	}
	loc := in.env.Location
	if loc == nil {
		loc = time.UTC
	}
	if z, ok := t.tags["zone"]; ok {
		zl, ok := parseZone(in.expand(f, z.str()))
		if !ok {
			return false, nil // RFC 5260 §4.2: a bad zone means the test fails
		}
		loc = zl
	}
	part := strings.ToLower(in.expand(f, partArg.str()))
	var values []string
	for _, d := range when {
		if !t.has("originalzone") {
			d = d.In(loc)
		}
		v, ok := datePart(d, part)
		if !ok {
			return false, &RuntimeError{Pos: t.pos, Msg: fmt.Sprintf("unknown date-part %q", part)}
		}
		values = append(values, v)
	}
	return in.matchValues(f, t, values, keys)
}

// parseZone reads "+hhmm" / "-hhmm".
func parseZone(z string) (*time.Location, bool) {
	if len(z) != 5 || z[0] != '+' && z[0] != '-' {
		return nil, false
	}
	h, err1 := strconv.Atoi(z[1:3])
	m, err2 := strconv.Atoi(z[3:5])
	if err1 != nil || err2 != nil || h > 23 || m > 59 {
		return nil, false
	}
	off := h*3600 + m*60
	if z[0] == '-' {
		off = -off
	}
	return time.FixedZone(z, off), true
}

// datePart formats one date-part (RFC 5260 §4.2 table).
func datePart(d time.Time, part string) (string, bool) {
	switch part {
	case "year":
		return fmt.Sprintf("%04d", d.Year()), true
	case "month":
		return fmt.Sprintf("%02d", int(d.Month())), true
	case "day":
		return fmt.Sprintf("%02d", d.Day()), true
	case "date":
		return d.Format("2006-01-02"), true
	case "julian":
		// Modified Julian Day: days since 1858-11-17.
		y, m, dd := d.Date()
		base := time.Date(1858, 11, 17, 0, 0, 0, 0, time.UTC)
		day := time.Date(y, m, dd, 0, 0, 0, 0, time.UTC)
		return strconv.Itoa(int(day.Sub(base).Hours() / 24)), true
	case "hour":
		return fmt.Sprintf("%02d", d.Hour()), true
	case "minute":
		return fmt.Sprintf("%02d", d.Minute()), true
	case "second":
		return fmt.Sprintf("%02d", d.Second()), true
	case "time":
		return d.Format("15:04:05"), true
	case "iso8601":
		return d.Format("2006-01-02T15:04:05-07:00"), true
	case "std11":
		return d.Format("Mon, 02 Jan 2006 15:04:05 -0700"), true
	case "zone":
		return d.Format("-0700"), true
	case "weekday":
		return strconv.Itoa(int(d.Weekday())), true
	}
	return "", false
}
