package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"mailroom/internal/testutil"
)

// TestProductionConfigChecks: the production example passes check-config
// once its certificate files exist.
func TestProductionConfigChecks(t *testing.T) {
	text, err := os.ReadFile("../../deploy/mailroom.toml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, f := range []string{"fullchain.pem", "privkey.pem"} {
		os.WriteFile(filepath.Join(dir, f), []byte("x"), 0o600)
	}
	cfg := strings.ReplaceAll(string(text), "/etc/mailroom/tls/", dir+"/")
	path := filepath.Join(dir, "mailroom.toml")
	os.WriteFile(path, []byte(cfg), 0o600)
	out, err := exec.Command(binary, "check-config", "-c", path).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "ok" {
		t.Fatalf("check-config on deploy/mailroom.toml: %v\n%s", err, out)
	}
}

// TestSystemdUnit: the unit is sandboxed as documented, agrees with the
// example configuration, and systemd-analyze verify accepts it.
func TestSystemdUnit(t *testing.T) {
	unit, err := os.ReadFile("../../deploy/mailroom.service")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ProtectSystem=strict", "AmbientCapabilities=CAP_NET_BIND_SERVICE", "StateDirectory=mailroom",
		"NoNewPrivileges=yes", "ExecReload=/bin/kill -HUP $MAINPID", "-c /etc/mailroom/mailroom.toml"} {
		if !strings.Contains(string(unit), want) {
			t.Errorf("unit lacks %s", want)
		}
	}
	cfg, _ := os.ReadFile("../../deploy/mailroom.toml")
	if !strings.Contains(string(cfg), `data_dir = "/var/lib/mailroom"`) {
		t.Error("the example's data_dir is not the unit's StateDirectory")
	}
	analyze := testutil.NeedTool(t, "systemd-analyze")
	path := filepath.Join(t.TempDir(), "mailroom.service")
	os.WriteFile(path, []byte(strings.ReplaceAll(string(unit), "/usr/local/bin/mailroom", binary)), 0o600)
	if out, err := exec.Command(analyze, "verify", path).CombinedOutput(); err != nil || len(out) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}
