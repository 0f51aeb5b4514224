package config

import (
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestBadConfigs loads every testdata/config/bad/*.toml and compares the
// error with the golden .err file beside it.
func TestBadConfigs(t *testing.T) {
	files, err := filepath.Glob("../testdata/config/bad/*.toml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no bad configs: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			_, err := Load(f)
			if err == nil {
				t.Fatal("loaded without error")
			}
			got := err.Error() + "\n"
			golden := strings.TrimSuffix(f, ".toml") + ".err"
			if *update {
				os.WriteFile(golden, []byte(got), 0o644)
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("golden file: %v (run go test ./config -update)", err)
			}
			if got != string(want) {
				t.Errorf("error mismatch\n got: %s\nwant: %s", got, want)
			}
		})
	}
}

func TestEmptyFileYieldsDefaults(t *testing.T) {
	cfg, err := Parse(nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := Defaults(); !reflect.DeepEqual(*cfg, want) {
		t.Fatalf("empty file:\n got %+v\nwant %+v", *cfg, want)
	}
	// The documented defaults, spelled out.
	if cfg.Limits.MessageSize != 25<<20 || cfg.Listeners.IMAP.Address != ":143" ||
		cfg.Outbound.MaxAge.D().Hours() != 120 || !cfg.Plans[DefaultPlan].Share {
		t.Fatalf("defaults changed: %+v", cfg)
	}
}

func TestDevConfigIsValid(t *testing.T) {
	cfg, err := Load("../testdata/dev.toml")
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Accounts) != 4 || !cfg.TLS.SelfSigned || !filepath.IsAbs(cfg.DataDir) {
		t.Fatalf("dev config: %+v", cfg)
	}
}

// TestREADMEExampleIsValid checks that the commented example configuration
// in README.md (the toml block after "<!-- example-config -->") loads.
func TestREADMEExampleIsValid(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)<!-- example-config -->\\s*```toml\n(.*?)```").FindSubmatch(readme)
	if m == nil {
		t.Fatal("README.md has no example config block")
	}
	dir := t.TempDir()
	// The example names certificate and key files; make them exist.
	example := strings.ReplaceAll(string(m[1]), "/etc/mailroom/", dir+"/")
	for _, f := range []string{"fullchain.pem", "privkey.pem", "example.com.dkim.pem"} {
		os.WriteFile(filepath.Join(dir, f), []byte("x"), 0o600)
	}
	path := filepath.Join(dir, "mailroom.toml")
	os.WriteFile(path, []byte(example), 0o600)
	cfg, err := Load(path)
	if err != nil {
		t.Fatalf("README example: %v", err)
	}
	// Every key the schema has appears in the example.
	for _, key := range tomlKeys(reflect.TypeOf(Config{}), "") {
		if !strings.Contains(string(m[1]), strings.TrimPrefix(key[strings.LastIndex(key, ".")+1:], "")+" =") &&
			!strings.Contains(string(m[1]), "["+key+"]") && !strings.Contains(string(m[1]), "[["+key+"]]") {
			t.Errorf("README example does not document %s", key)
		}
	}
	_ = cfg
}

// tomlKeys lists the dotted keys of a config struct type.
func tomlKeys(t reflect.Type, prefix string) []string {
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("toml")
		if tag == "" {
			continue
		}
		key := prefix + tag
		ft := f.Type
		for ft.Kind() == reflect.Slice || ft.Kind() == reflect.Map {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Struct && ft.NumField() > 0 && f.Type.Kind() != reflect.Map {
			out = append(out, tomlKeys(ft, key+".")...)
			continue
		}
		if f.Type.Kind() == reflect.Map {
			out = append(out, tomlKeys(ft, key+".x.")...)
			continue
		}
		out = append(out, key)
	}
	return out
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]Size{
		"0": 0, "512": 512, "1k": 1024, "25MB": 25 << 20, "25 MiB": 25 << 20, "1GiB": 1 << 30, "2g": 2 << 30,
	} {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "lots", "-1", "1.5MB", "MB", "99999999999T"} {
		if _, err := ParseSize(bad); err == nil {
			t.Errorf("ParseSize(%q) succeeded", bad)
		}
	}
}

func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("../testdata/config/bad/*.toml")
	files = append(files, "../testdata/dev.toml")
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse(data)
		if err == nil {
			cfg.Validate() // must not panic
		}
	})
}
