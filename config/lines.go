package config

import (
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
)

// lineIndex maps dotted key paths (array indices dropped, as toml.Key
// reports them) to the lines that define them. The toml package keeps key
// positions private, so this reads table headers and assignments itself; it
// only has to be good enough to point an operator at a misspelt key.
type lineIndex map[string][]int

func keyLines(data []byte) lineIndex {
	idx := lineIndex{}
	var table []string
	inMultiline := ""
	for i, raw := range strings.Split(string(data), "\n") {
		line := strings.TrimSpace(raw)
		if inMultiline != "" {
			if strings.Contains(line, inMultiline) {
				inMultiline = ""
			}
			continue
		}
		if line == "" || line[0] == '#' {
			continue
		}
		if line[0] == '[' {
			h := strings.Trim(stripComment(line), "[] \t")
			table = splitKey(h)
			idx.add(table, i+1)
			continue
		}
		eq := strings.IndexByte(line, '=')
		if eq < 0 {
			continue
		}
		key := append(append([]string{}, table...), splitKey(line[:eq])...)
		idx.add(key, i+1)
		val := strings.TrimSpace(line[eq+1:])
		for _, q := range []string{`"""`, `'''`} {
			if strings.HasPrefix(val, q) && !strings.Contains(val[3:], q) {
				inMultiline = q
			}
		}
	}
	return idx
}

func (idx lineIndex) add(key []string, line int) {
	k := strings.Join(key, ".")
	idx[k] = append(idx[k], line)
}

// find returns the lines of k, or of its longest known prefix (a key inside
// an inline table), as "3" or "3, 9".
func (idx lineIndex) find(k toml.Key) string {
	for n := len(k); n > 0; n-- {
		if lines, ok := idx[strings.Join(k[:n], ".")]; ok {
			s := make([]string, len(lines))
			for i, l := range lines {
				s[i] = strconv.Itoa(l)
			}
			return strings.Join(s, ", ")
		}
	}
	return "?"
}

func splitKey(s string) []string {
	var parts []string
	var cur strings.Builder
	quote := byte(0)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0 && c == quote:
			quote = 0
		case quote != 0:
			cur.WriteByte(c)
		case c == '"' || c == '\'':
			quote = c
		case c == '.':
			parts = append(parts, strings.TrimSpace(cur.String()))
			cur.Reset()
		default:
			cur.WriteByte(c)
		}
	}
	return append(parts, strings.TrimSpace(cur.String()))
}

func stripComment(s string) string {
	if i := strings.IndexByte(s, '#'); i >= 0 {
		return s[:i]
	}
	return s
}
