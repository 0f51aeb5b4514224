package main

import (
	"encoding/json"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"

	"mailroom/internal/testutil"
)

// TestAccountLifecycle: an account removed from the configuration keeps
// its mail (list says so) until purged; purge refuses while it is
// configured and without confirmation, then frees its storage while the
// server runs, leaving the other accounts' mail and a clean fsck.
func TestAccountLifecycle(t *testing.T) {
	dir := t.TempDir()
	cfg := opsConfig(t, dir, "", "", "alice@example.test", "bob@example.test")
	p := startServe(t, "-c", cfg)
	p.waitFor(t, 0, "mailroom started")
	c, err := smtp.Dial(p.listenAddr(t, "smtp"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []struct{ to []string }{{[]string{"alice@example.test", "bob@example.test"}}, {[]string{"bob@example.test"}}, {[]string{"bob@example.test"}}} {
		body := "Subject: for " + strings.Join(m.to, ",") + "\r\n\r\n" + strings.Repeat("bob's own mail\r\n", 200) + strings.Join(m.to, "") + "\r\n"
		if err := testutil.SendMail(c, "x@remote.test", m.to, body); err != nil {
			t.Fatal(err)
		}
	}
	c.Quit()

	stats := func() statsReport {
		t.Helper()
		var r statsReport
		if err := json.Unmarshal([]byte(run(t, "stats", "-accounts", "-c", cfg)), &r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	before := stats()
	perAccount := map[string]accountInfo{}
	for _, a := range before.PerAccount {
		perAccount[a.Account] = a
	}
	if perAccount["bob@example.test"].Messages != 3 || perAccount["alice@example.test"].Messages != 1 || !perAccount["bob@example.test"].Configured {
		t.Fatalf("stats per account: %+v", before.PerAccount)
	}
	out, err := exec.Command(binary, "account", "purge", "-c", cfg, "-yes", "bob@example.test").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "still configured") {
		t.Fatalf("purge of a configured account: %v %s", err, out)
	}
	// Remove bob from the configuration.
	reloadWith(t, p, cfg, 0, func(s string) string {
		return strings.Replace(s, "[[accounts]]\naddress = \"bob@example.test\"\npassword_hash = \"\"\n", "", 1)
	})
	list := run(t, "account", "list", "-c", cfg)
	if !regexpMatch(`bob@example.test\s+false\s+\d+\s+3\s`, list) {
		t.Fatalf("account list after removal:\n%s", list)
	}
	cmd := exec.Command(binary, "account", "purge", "-c", cfg, "bob@example.test")
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "confirm with -yes") {
		t.Fatalf("purge without confirmation: %v %s", err, out)
	}
	if out := run(t, "account", "purge", "-c", cfg, "-yes", "bob@example.test"); !strings.Contains(out, "purged bob@example.test") {
		t.Fatalf("purge: %s", out)
	}
	after := stats()
	if after.Messages != 1 || after.Bodies >= before.Bodies || after.BodyBytes >= before.BodyBytes {
		t.Fatalf("storage not freed: before %+v, after %+v", before.Stats, after.Stats)
	}
	if out := run(t, "fsck", "-c", cfg); strings.TrimSpace(out) != "clean" {
		t.Fatalf("fsck after purge: %s", out)
	}
	if out, err := exec.Command(binary, "account", "show", "-c", cfg, "bob@example.test").CombinedOutput(); err == nil {
		t.Fatalf("show after purge: %s", out)
	}
	var alice accountInfo
	if err := json.Unmarshal([]byte(run(t, "account", "show", "-c", cfg, "alice@example.test")), &alice); err != nil ||
		alice.Messages != 1 || len(alice.MailboxList) == 0 || !alice.Configured {
		t.Fatalf("alice after bob's purge: %+v %v", alice, err)
	}
	p.stop(t)
}

func regexpMatch(re, s string) bool {
	return regexp.MustCompile(re).MatchString(s)
}
