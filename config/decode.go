package config

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"

	"github.com/BurntSushi/toml"
)

// maxDecodeErrors bounds the type errors reported from one file (and so
// the decoding passes below).
const maxDecodeErrors = 50

// decode decodes data into a fresh Config and reports every problem at
// once: each value of the wrong type and each unknown key, by dotted key
// and line.
//
// BurntSushi/toml stops at the first value it cannot decode. So after a
// type error its line is blanked (line numbers stay as they were) and the
// document is decoded again from scratch, until it decodes: at most
// maxDecodeErrors passes. A value spread over several lines cannot be
// blanked by one line; when blanking breaks the syntax, the errors found
// so far are reported.
func decode(data []byte, fresh func() Config) (Config, error) {
	var errs []lineError
	lines := bytes.Split(data, []byte("\n"))
	for {
		cfg := fresh()
		md, err := toml.NewDecoder(bytes.NewReader(bytes.Join(lines, []byte("\n")))).Decode(&cfg)
		if err == nil {
			slices.SortStableFunc(errs, func(a, b lineError) int { return a.line - b.line })
			idx := keyLines(data)
			for _, k := range md.Undecoded() {
				errs = append(errs, lineError{0, fmt.Errorf("%s: unknown key (line %s)", k, idx.find(k))})
			}
			return cfg, joinErrors(errs)
		}
		key, line, msg, ok := decodeError(err)
		switch {
		case !ok && len(errs) == 0: // a syntax error in the file itself
			return cfg, errors.New(msg)
		case !ok, line < 1 || line > len(lines) || len(lines[line-1]) == 0:
			// Blanking broke the syntax or made no progress: report what
			// was found in the original document.
			return cfg, joinErrors(errs)
		}
		errs = append(errs, lineError{line, fmt.Errorf("%s: %s (line %d)", key, msg, line)})
		if len(errs) >= maxDecodeErrors {
			return cfg, joinErrors(errs)
		}
		lines[line-1] = nil
	}
}

type lineError struct {
	line int
	err  error
}

func joinErrors(errs []lineError) error {
	var all []error
	for _, e := range errs {
		all = append(all, e.err)
	}
	return errors.Join(all...)
}

// tomlError matches the text of the errors BurntSushi/toml returns for a
// value that does not fit its Go type; those are not toml.ParseError
// values.
var tomlError = regexp.MustCompile(`^toml: line (\d+) \(last key "([^"]*)"\): (.*)$`)

// decodeError returns the key, line and message of an error about one
// value, and false with err as reported for anything else (a syntax
// error).
func decodeError(err error) (key string, line int, msg string, ok bool) {
	var perr toml.ParseError
	if errors.As(err, &perr) {
		if perr.LastKey == "" {
			return "", 0, fmt.Sprintf("line %d: %s", perr.Position.Line, perr.Message), false
		}
		return perr.LastKey, perr.Position.Line, perr.Message, true
	}
	m := tomlError.FindStringSubmatch(err.Error())
	if m == nil || m[2] == "" {
		return "", 0, err.Error(), false
	}
	line, _ = strconv.Atoi(m[1])
	return m[2], line, typeMessage(m[3]), true
}

var incompatible = regexp.MustCompile(`^incompatible types: TOML value has type (\S+); destination has type (\S+)$`)

// typeMessage rewrites toml's "incompatible types" message in the terms
// of the configuration file.
func typeMessage(msg string) string {
	m := incompatible.FindStringSubmatch(msg)
	if m == nil {
		return msg
	}
	return fmt.Sprintf("must be %s, not %s", tomlType(m[2]), tomlType(m[1]))
}

func tomlType(goType string) string {
	switch goType {
	case "string":
		return "a string"
	case "int64", "integer":
		return "an integer"
	case "float64", "float":
		return "a number"
	case "bool", "boolean":
		return "true or false"
	case "map[string]any", "map[string]interface{}", "struct", "map":
		return "a table"
	case "[]any", "[]interface{}", "[]map[string]interface{}", "[]map[string]any", "slice", "array":
		return "an array"
	}
	return goType
}
