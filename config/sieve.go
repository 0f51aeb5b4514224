package config

import (
	"errors"
	"os"
	"path/filepath"

	"mailroom/sieve"
)

// Sieve configures mail filtering at local delivery.
type Sieve struct {
	// Global is a Sieve script run before every account's own script
	// (e.g. spam into Junk); include :global finds scripts next to it as
	// NAME.sieve. Empty: none.
	Global string `toml:"global"`
	// MaxRedirects bounds the redirect actions of one delivery.
	MaxRedirects int `toml:"max_redirects"`
}

// defaultSieve is Sieve's part of Defaults.
func defaultSieve() Sieve { return Sieve{MaxRedirects: sieve.DefaultLimits.MaxRedirects} }

// validateSieve checks that the global script exists and compiles, so a
// typo is found at start and on reload, not at the first delivery.
func (c *Config) validateSieve(v *validator) {
	if c.Sieve.MaxRedirects < 0 || c.Sieve.MaxRedirects > 100 {
		v.add("sieve.max_redirects", "%d is out of range (0-100)", c.Sieve.MaxRedirects)
	}
	if c.Sieve.Global == "" {
		return
	}
	src, err := os.ReadFile(c.Sieve.Global)
	if err != nil {
		v.add("sieve.global", "cannot read %q: %v", c.Sieve.Global, errors.Unwrap(err))
		return
	}
	if _, err := sieve.Compile(string(src), nil); err != nil {
		v.add("sieve.global", "%s: %v", filepath.Base(c.Sieve.Global), err)
	}
}
