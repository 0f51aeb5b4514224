package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// Size is a byte count written as an integer or with a unit: "25MB",
// "1GiB", "512k". Units are powers of 1024 whether or not the i is written,
// as mail operators mean them.
type Size int64

var _ toml.Unmarshaler = (*Size)(nil)

// UnmarshalTOML implements toml.Unmarshaler.
func (s *Size) UnmarshalTOML(v any) error {
	switch v := v.(type) {
	case int64:
		if v < 0 {
			return fmt.Errorf("size %d is negative", v)
		}
		*s = Size(v)
		return nil
	case string:
		n, err := ParseSize(v)
		if err != nil {
			return err
		}
		*s = n
		return nil
	}
	return fmt.Errorf("size must be a number of bytes or a string like \"25MB\", not %T", v)
}

// ParseSize parses "25MB", "1GiB", "512k" or "1048576".
func ParseSize(text string) (Size, error) {
	t := strings.TrimSpace(strings.ToUpper(text))
	t = strings.TrimSuffix(strings.TrimSuffix(t, "B"), "I")
	mult := int64(1)
	if t != "" {
		switch t[len(t)-1] {
		case 'K':
			mult = 1 << 10
		case 'M':
			mult = 1 << 20
		case 'G':
			mult = 1 << 30
		case 'T':
			mult = 1 << 40
		}
		if mult != 1 {
			t = strings.TrimSpace(t[:len(t)-1])
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("invalid size %q (want e.g. \"25MB\" or a number of bytes)", text)
	}
	return Size(n * mult), nil
}

// String formats the size with the largest exact unit.
func (s Size) String() string {
	units := []string{"TiB", "GiB", "MiB", "KiB"}
	for i, u := range units {
		m := int64(1) << (10 * (4 - i))
		if s != 0 && int64(s)%m == 0 {
			return fmt.Sprintf("%d%s", int64(s)/m, u)
		}
	}
	return strconv.FormatInt(int64(s), 10)
}

// Duration is a time span written as a Go duration string: "30m", "5s",
// "120h". Plain integers are refused: a bare 30 is ambiguous.
type Duration time.Duration

var _ toml.Unmarshaler = (*Duration)(nil)

// UnmarshalTOML implements toml.Unmarshaler.
func (d *Duration) UnmarshalTOML(v any) error {
	s, ok := v.(string)
	if !ok {
		return fmt.Errorf("duration must be a string with a unit like \"30m\", not %v", v)
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		// Days, which Go's durations lack: "180d".
		n, err := strconv.ParseUint(days, 10, 16)
		if err != nil {
			return fmt.Errorf("invalid duration %q (want e.g. \"30m\", \"5s\" or \"180d\")", s)
		}
		*d = Duration(time.Duration(n) * 24 * time.Hour)
		return nil
	}
	p, err := time.ParseDuration(s)
	if err != nil || p < 0 {
		return fmt.Errorf("invalid duration %q (want e.g. \"30m\", \"5s\" or \"180d\")", s)
	}
	*d = Duration(p)
	return nil
}

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d Duration) String() string { return time.Duration(d).String() }
