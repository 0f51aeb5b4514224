package main

import (
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"mailroom/acl"
)

// TestHashPasswordSCRAM: hash-password -scram prints the argon2id hash
// and a SCRAM-SHA-256 credential as config lines that check-config and
// the directory accept; a malformed credential is refused by key.
func TestHashPasswordSCRAM(t *testing.T) {
	cmd := exec.Command(binary, "hash-password", "-scram")
	cmd.Stdin = strings.NewReader("correct horse\n")
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "password_hash = ") || !strings.HasPrefix(lines[1], "scram_sha256 = ") {
		t.Fatalf("output %q", out)
	}
	hash, err1 := strconv.Unquote(strings.TrimPrefix(lines[0], "password_hash = "))
	scram, err2 := strconv.Unquote(strings.TrimPrefix(lines[1], "scram_sha256 = "))
	if err1 != nil || err2 != nil {
		t.Fatalf("output %q", out)
	}
	if _, err := acl.NewDirectory([]acl.AccountSpec{{Address: "u@example.test", PasswordHash: hash, SCRAMSHA256: scram, Plan: "p"}}, []acl.Plan{{Name: "p"}}, nil, nil); err != nil {
		t.Fatalf("directory: %v", err)
	}
	dir := t.TempDir()
	if out, err := exec.Command(binary, "check-config", "-c", writeConfig(t, dir, hash, lines[1])).CombinedOutput(); err != nil {
		t.Fatalf("check-config with the credential: %v: %s", err, out)
	}
	out, err = exec.Command(binary, "check-config", "-c", writeConfig(t, dir, hash, `scram_sha256 = "SCRAM-SHA-1$x"`)).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "accounts[0].scram_sha256") {
		t.Fatalf("a bad credential: %v: %s", err, out)
	}
}
