package main

import (
	"encoding/json"
	"net/http"
	"os"
	"testing"

	"github.com/emersion/go-imap/v2"

	"mailroom/store"
)

// TestAuditOverHTTP: the audit log of a team account is readable at
// /audit by a member holding "a" on it, not by one without it, nor
// without or with wrong credentials.
func TestAuditOverHTTP(t *testing.T) {
	dir := t.TempDir()
	cfg := sieveConfig(t, dir, "127.0.0.1:9")
	f, err := os.OpenFile(cfg, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("[listeners.http]\naddress = \"127.0.0.1:0\"\n")
	f.Close()
	p := startServe(t, "-c", cfg)
	p.waitFor(t, 0, "mailroom started")
	base := "http://" + p.listenAddr(t, "http") + "/audit"

	bobInTeamInbox(t, p.listenAddr(t, "imap"), imap.FlagFlagged).Logout().Wait()

	get := func(user, pass, query string) (int, []store.AuditRecord) {
		t.Helper()
		req, _ := http.NewRequest("GET", base+query, nil)
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var recs []store.AuditRecord
		if resp.StatusCode == 200 {
			if err := json.NewDecoder(resp.Body).Decode(&recs); err != nil {
				t.Fatal(err)
			}
		}
		return resp.StatusCode, recs
	}
	if code, _ := get("", "", ""); code != 401 {
		t.Errorf("no credentials: %d", code)
	}
	if code, _ := get("alice@example.test", "wrong", ""); code != 401 {
		t.Errorf("wrong password: %d", code)
	}
	if code, _ := get("alice@example.test", "password", "?since=yesterday"); code != 400 {
		t.Errorf("bad since: %d", code)
	}
	code, recs := get("alice@example.test", "password", "?since=1h")
	if code != 200 || len(recs) != 2 || recs[0].Action != "append" || recs[1].Action != "store" || recs[0].Actor != "bob@example.test" || recs[0].Account != "info@example.test" {
		t.Errorf("alice (a on info@): %d %+v", code, recs)
	}
	if code, recs := get("alice@example.test", "password", "?limit=1"); code != 200 || len(recs) != 1 {
		t.Errorf("limit 1: %d %+v", code, recs)
	}
	if code, recs := get("bob@example.test", "password", ""); code != 200 || len(recs) != 0 {
		t.Errorf("bob (no a on info@): %d %+v", code, recs)
	}
	p.stop(t)
}
