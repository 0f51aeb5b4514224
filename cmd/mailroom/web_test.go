package main

import (
	"crypto/tls"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestServeWeb: the dev configuration's HTTP and HTTPS listeners answer
// autoconfig with the ports the server listens on, and the MTA-STS policy
// names the host; `mailroom dns` prints the records that lead there.
func TestServeWeb(t *testing.T) {
	// The dev configuration with its fixed ports moved to free ones
	// (TestServeDevConfig checks the fixed ones): other test runs on the
	// machine may hold them.
	text, err := os.ReadFile("../../testdata/dev.toml")
	if err != nil {
		t.Fatal(err)
	}
	ports := map[string]int{}
	dev := regexp.MustCompile(`127\.0\.0\.1:(\d+)`).ReplaceAllStringFunc(string(text), func(addr string) string {
		port := freePort(t)
		ports[strings.TrimPrefix(addr, "127.0.0.1:")] = port
		return fmt.Sprintf("127.0.0.1:%d", port)
	})
	cfgPath := filepath.Join(t.TempDir(), "dev.toml")
	os.WriteFile(cfgPath, []byte(dev), 0o600)
	data := t.TempDir()
	p := startServe(t, "-c", cfgPath, "-data", data)
	p.waitFor(t, 0, "mailroom started")
	httpAddr, httpsAddr := p.listenAddr(t, "http"), p.listenAddr(t, "https")
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	fetch := func(url, host string) string {
		t.Helper()
		req, _ := http.NewRequest("GET", url, nil)
		req.Host = host
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %s\n%s", url, resp.Status, b)
		}
		return string(b)
	}
	var cc struct {
		Incoming []struct {
			Hostname   string `xml:"hostname"`
			Port       int    `xml:"port"`
			SocketType string `xml:"socketType"`
		} `xml:"emailProvider>incomingServer"`
	}
	body := fetch("https://"+httpsAddr+"/mail/config-v1.1.xml", "autoconfig.example.test")
	if err := xml.Unmarshal([]byte(body), &cc); err != nil {
		t.Fatal(err)
	}
	if len(cc.Incoming) != 2 || cc.Incoming[0].Port != ports["1993"] || cc.Incoming[0].SocketType != "SSL" ||
		cc.Incoming[1].Port != ports["1143"] || cc.Incoming[0].Hostname != "mail.example.test" {
		t.Fatalf("autoconfig: %+v\n%s", cc, body)
	}
	policy := fetch("http://"+httpAddr+"/.well-known/mta-sts.txt", "mta-sts.other.test")
	if !strings.Contains(policy, "mx: mail.example.test\r\n") || !strings.Contains(policy, "mode: testing\r\n") {
		t.Fatalf("policy: %q", policy)
	}
	out, err := exec.Command(binary, "dns", "-c", cfgPath, "-domain", "other.test").CombinedOutput()
	if err != nil {
		t.Fatalf("dns: %v\n%s", err, out)
	}
	for _, want := range []string{
		fmt.Sprintf("_imaps._tcp.other.test. IN SRV 0 1 %d mail.example.test.", ports["1993"]),
		fmt.Sprintf("_submission._tcp.other.test. IN SRV 0 1 %d mail.example.test.", ports["1587"]),
		"autoconfig.other.test. IN CNAME mail.example.test.",
		"_mta-sts.other.test. IN TXT \"v=STSv1; id=",
		"_smtp._tls.other.test. IN TXT \"v=TLSRPTv1; rua=mailto:postmaster@other.test\"",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("dns lacks %q:\n%s", want, out)
		}
	}
	p.stop(t)
}
