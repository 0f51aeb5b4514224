package main

import (
	"os"
	"os/exec"
	"testing"
)

// TestCheckConfigAllTypeErrors: check-config reports every value of the
// wrong type, each with its key and line, not only the first.
func TestCheckConfigAllTypeErrors(t *testing.T) {
	out, err := exec.Command(binary, "check-config", "-c", "../../testdata/config/bad/type-errors.toml").Output()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("want exit 1, got %v", err)
	}
	want, _ := os.ReadFile("../../testdata/config/bad/type-errors.err")
	if string(out) != string(want) {
		t.Fatalf("check-config printed\n%s\nwant\n%s", out, want)
	}
}
