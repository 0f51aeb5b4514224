package config

import (
	"reflect"
	"testing"
)

// TestPostmasters: postmaster@ each domain goes to the domain's
// postmaster, else the top-level one, else the domain's first account,
// else the file's first account; an account or alias of that name wins.
func TestPostmasters(t *testing.T) {
	for _, tc := range []struct {
		name, file string
		want       map[string]string
	}{
		{"defaults", `
[[domains]]
name = "a.test"
[[domains]]
name = "B.test"
[[domains]]
name = "c.test"
[[accounts]]
address = "first@a.test"
[[accounts]]
address = "one@b.test"
[[accounts]]
address = "two@B.test"
`, map[string]string{"a.test": "first@a.test", "b.test": "one@b.test", "c.test": "first@a.test"}},
		{"configured", `
postmaster = "Boss@a.test"
[[domains]]
name = "a.test"
[[domains]]
name = "b.test"
postmaster = "helper@b.test"
[[domains]]
name = "c.test"
[[accounts]]
address = "first@a.test"
[[accounts]]
address = "Boss@a.test"
[[accounts]]
address = "helper@c.test"
aliases = ["helper@b.test"]
`, map[string]string{"a.test": "Boss@a.test", "b.test": "helper@c.test", "c.test": "Boss@a.test"}},
		{"explicit address wins", `
postmaster = "first@a.test"
[[domains]]
name = "a.test"
[[accounts]]
address = "first@a.test"
[[accounts]]
address = "pm@a.test"
aliases = ["POSTMASTER@a.test"]
`, map[string]string{}},
		{"no accounts", `
[[domains]]
name = "a.test"
`, map[string]string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse([]byte(tc.file))
			if err != nil {
				t.Fatal(err)
			}
			cfg.TLS.SelfSigned = true
			if err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			if got := cfg.Postmasters(); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Postmasters() = %v, want %v", got, tc.want)
			}
		})
	}
}
