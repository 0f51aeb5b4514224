package store

import (
	"bytes"
	"mime"
	"strings"
)

// PartThreshold is the size from which a MIME part's raw encoded bytes are
// stored once, shared by every message that carries the same part.
const PartThreshold = 16 << 10

// segment is a piece of a message: inline bytes, or a large part stored
// as its own body.
type segment struct {
	data []byte
	part bool
}

// splitParts cuts msg into segments whose concatenation is msg exactly:
// the raw bytes of every leaf MIME part of at least threshold bytes (its
// encoded body, between its header and the boundary after it) become part
// segments; everything else stays inline. A message that is not MIME, or
// whose structure does not parse, comes back as one inline segment.
func splitParts(msg []byte, threshold int) []segment {
	var parts [][2]int // [start, end) of large leaf bodies, in order
	findParts(msg, 0, len(msg), threshold, &parts, 0)
	if len(parts) == 0 {
		return []segment{{data: msg}}
	}
	var out []segment
	pos := 0
	for _, p := range parts {
		if p[0] < pos || p[1] > len(msg) || p[0] >= p[1] {
			return []segment{{data: msg}} // overlapping or odd: do not split
		}
		if p[0] > pos {
			out = append(out, segment{data: msg[pos:p[0]]})
		}
		out = append(out, segment{data: msg[p[0]:p[1]], part: true})
		pos = p[1]
	}
	if pos < len(msg) {
		out = append(out, segment{data: msg[pos:]})
	}
	return out
}

// findParts looks at the entity msg[start:end] (header and body) and
// records its large leaf bodies.
func findParts(msg []byte, start, end, threshold int, out *[][2]int, depth int) {
	if depth > 20 || end-start < threshold {
		return
	}
	entity := msg[start:end]
	hlen := HeaderLen(entity)
	if hlen == len(entity) {
		return // no body
	}
	ctype := headerValue(entity[:hlen], "Content-Type")
	mt, params, err := mime.ParseMediaType(ctype)
	bodyStart := start + hlen
	if err != nil || !strings.HasPrefix(mt, "multipart/") || params["boundary"] == "" {
		if !strings.HasPrefix(mt, "message/") && end-bodyStart >= threshold {
			*out = append(*out, [2]int{bodyStart, end})
		}
		return
	}
	delim := []byte("--" + params["boundary"])
	body := msg[bodyStart:end]
	// Find the delimiter lines: at the very start, or after a line break.
	var lines []int // offsets in body where a delimiter line starts
	for i := 0; i < len(body); {
		j := bytes.Index(body[i:], delim)
		if j < 0 {
			break
		}
		at := i + j
		if at == 0 || body[at-1] == '\n' {
			lines = append(lines, at)
		}
		i = at + len(delim)
	}
	for k := 0; k+1 < len(lines); k++ {
		// The part runs from after its delimiter line to before the line
		// break that precedes the next delimiter (RFC 2046 §5.1.1).
		lineEnd := bytes.IndexByte(body[lines[k]:], '\n')
		if lineEnd < 0 {
			return
		}
		partStart := lines[k] + lineEnd + 1
		partEnd := lines[k+1] - 1 // the LF
		if partEnd > 0 && body[partEnd-1] == '\r' {
			partEnd--
		}
		if partEnd <= partStart {
			continue
		}
		findParts(msg, bodyStart+partStart, bodyStart+partEnd, threshold, out, depth+1)
	}
}

// headerValue returns the first value of a header field, unfolded.
func headerValue(header []byte, name string) string {
	lines := strings.Split(strings.ReplaceAll(string(header), "\r\n", "\n"), "\n")
	for i := 0; i < len(lines); i++ {
		k, v, ok := strings.Cut(lines[i], ":")
		if !ok || !strings.EqualFold(strings.TrimSpace(k), name) {
			continue
		}
		for i+1 < len(lines) && len(lines[i+1]) > 0 && (lines[i+1][0] == ' ' || lines[i+1][0] == '\t') {
			i++
			v += " " + strings.TrimSpace(lines[i])
		}
		return strings.TrimSpace(v)
	}
	return ""
}

// HeaderLen is the length of a message's header including the empty line
// that ends it; a message without one is all header.
func HeaderLen(content []byte) int {
	if bytes.HasPrefix(content, []byte("\r\n")) {
		return 2
	}
	if bytes.HasPrefix(content, []byte("\n")) {
		return 1
	}
	for i := 0; i < len(content); i++ {
		if content[i] != '\n' {
			continue
		}
		switch {
		case bytes.HasPrefix(content[i+1:], []byte("\r\n")):
			return i + 3
		case bytes.HasPrefix(content[i+1:], []byte("\n")):
			return i + 2
		}
	}
	return len(content)
}
