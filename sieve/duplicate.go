package sieve

import (
	"crypto/sha256"
	"encoding/hex"
	"mime"
	"strings"
	"time"
)

var mimeQ = mime.QEncoding

// duplicate (RFC 7352).

const defaultDuplicatePeriod = 7 * 24 * time.Hour

func (in *interp) duplicate(f *frame, t *instr) (bool, error) {
	var id string
	switch {
	case t.has("uniqueid"):
		id = in.expand(f, t.tags["uniqueid"].str())
	case t.has("header"):
		vals := in.headerValues(in.expand(f, t.tags["header"].str()), false)
		if len(vals) == 0 {
			return false, nil // §3.1: no such header, not a duplicate
		}
		id = vals[0]
	default:
		vals := in.headerValues("Message-ID", false)
		if len(vals) == 0 {
			return false, nil
		}
		id = vals[0]
	}
	period := defaultDuplicatePeriod
	if s, ok := t.tags["seconds"]; ok {
		period = time.Duration(min(s.num, 365*86400)) * time.Second
	}
	h := sha256.Sum256([]byte(in.expand(f, t.tags["handle"].str()) + "\x00" + strings.TrimSpace(id)))
	key := hex.EncodeToString(h[:16])
	seen := false
	if in.env.Duplicate != nil {
		var err error
		if seen, err = in.env.Duplicate(in.ctx, key); err != nil {
			return false, &RuntimeError{Pos: t.pos, Msg: "duplicate tracking", Err: err}
		}
	}
	if !seen || t.has("last") {
		in.res.Duplicates = append(in.res.Duplicates, Duplicate{Key: key, Period: period, Last: t.has("last")})
	}
	return seen, nil
}
