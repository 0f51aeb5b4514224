package main

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"mailroom/internal/testutil"
)

// freePort returns a loopback port nothing listens on now.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// writeServerCert writes a self-signed certificate for 127.0.0.1 and
// localhost, its key, and returns the certificate's path (also the CA
// that verifies it).
func writeServerCert(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile = filepath.Join(dir, "pebble.crt"), filepath.Join(dir, "pebble.key")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	return certFile, keyFile
}

// startLogged starts a helper process and waits for a line of its output
// matching ready.
// waitListening waits until something accepts connections on port.
func waitListening(t *testing.T, port int) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("nothing listens on %d: %v", port, err)
		}
	}
}

func startLogged(t *testing.T, ready string, env []string, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	rx := regexp.MustCompile(ready)
	deadline := time.After(30 * time.Second)
	var seen []string
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("%s exited:\n%s", name, strings.Join(seen, "\n"))
			}
			seen = append(seen, l)
			if rx.MatchString(l) {
				go func() {
					for l := range lines {
						if os.Getenv("MAILROOM_TEST_DEBUG") != "" {
							fmt.Fprintln(os.Stderr, l)
						}
					}
				}()
				return
			}
		case <-deadline:
			t.Fatalf("%s not ready in 30s:\n%s", name, strings.Join(seen, "\n"))
		}
	}
}

// TestACMEWithPebble: certificates come from Pebble (Let's Encrypt's test
// CA, on loopback, with pebble-challtestsrv answering its DNS queries):
// the IMAPS listener presents one for the host name that verifies against
// Pebble's root, HTTPS gets one for mta-sts.<domain> on demand, and a
// renewal is served without a restart.
func TestACMEWithPebble(t *testing.T) {
	p, roots, httpsPort := startPebbleAndServe(t, true)
	_, at := p.waitFor(t, 0, `msg="acme certificate ready" component=acme name=mail.example.test `)
	imaps := p.listenAddr(t, "imaps")
	serial := func(addr, name string) string {
		t.Helper()
		c, err := tls.Dial("tcp", addr, &tls.Config{ServerName: name, RootCAs: roots})
		if err != nil {
			t.Fatalf("TLS to %s as %s: %v", addr, name, err)
		}
		defer c.Close()
		leaf := c.ConnectionState().PeerCertificates[0]
		return leaf.SerialNumber.String() + " until " + leaf.NotAfter.UTC().Format(time.TimeOnly)
	}
	first := serial(imaps, "mail.example.test")
	// A client that sends no name (connects by address) gets the host's.
	c, err := tls.Dial("tcp", imaps, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.ConnectionState().PeerCertificates[0].DNSNames; len(got) != 1 || got[0] != "mail.example.test" {
		t.Errorf("without SNI: certificate for %v", got)
	}
	c.Close()
	// Another name of ours, on demand, over HTTPS.
	serial(fmt.Sprintf("127.0.0.1:%d", httpsPort), "mta-sts.example.test")
	// The renewal (due within 5 to 17 s: 120 s certificates renewed 115 s
	// before they expire, less autocert's jitter) is served at once.
	p.waitFor(t, at+1, `msg="acme certificate stored" component=acme name=mail.example.test$`)
	// autocert stores the renewed certificate, then swaps it in: a
	// handshake right after the log line may still get the old one.
	deadline := time.Now().Add(10 * time.Second)
	second := serial(imaps, "mail.example.test")
	for second == first && time.Now().Before(deadline) {
		second = serial(imaps, "mail.example.test")
	}
	if second == first {
		t.Fatalf("10 s after the renewal IMAPS still presents %s", first)
	}
	t.Logf("certificate %s renewed as %s without a restart", first, second)
	p.stop(t)
}

// TestACMEHTTP01: with only the HTTP listener, the certificate comes by
// HTTP-01 (the CA fetches the token from /.well-known/acme-challenge/).
func TestACMEHTTP01(t *testing.T) {
	p, roots, _ := startPebbleAndServe(t, false)
	p.waitFor(t, 0, `msg="acme certificate ready" component=acme name=mail.example.test `)
	c, err := tls.Dial("tcp", p.listenAddr(t, "imaps"), &tls.Config{ServerName: "mail.example.test", RootCAs: roots})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	p.stop(t)
}

// startPebbleAndServe starts pebble-challtestsrv (DNS: every name is
// 127.0.0.1), Pebble, and Mailroom with ACME from it, and returns the
// server, Pebble's roots and the HTTPS port.
func startPebbleAndServe(t *testing.T, withHTTPS bool) (*proc, *x509.CertPool, int) {
	pebble := testutil.NeedTool(t, "pebble")
	challtest := testutil.NeedTool(t, "pebble-challtestsrv")
	dir := t.TempDir()
	certFile, keyFile := writeServerCert(t, dir)
	acmePort, mgmtPort, dnsPort, dnsMgmt := freePort(t), freePort(t), freePort(t), freePort(t)
	httpPort, httpsPort := freePort(t), freePort(t)

	startLogged(t, "Starting management server", nil, challtest, "-dns01", fmt.Sprintf("127.0.0.1:%d", dnsPort),
		"-http01", "", "-https01", "", "-tlsalpn01", "", "-management", fmt.Sprintf("127.0.0.1:%d", dnsMgmt),
		"-defaultIPv4", "127.0.0.1", "-defaultIPv6", "")
	pcfg, _ := json.Marshal(map[string]any{"pebble": map[string]any{
		"listenAddress": fmt.Sprintf("127.0.0.1:%d", acmePort), "managementListenAddress": fmt.Sprintf("127.0.0.1:%d", mgmtPort),
		"certificate": certFile, "privateKey": keyFile, "httpPort": httpPort, "tlsPort": httpsPort,
		"ocspResponderURL": "", "externalAccountBindingRequired": false,
		// Short-lived certificates, so that one is renewed during the test.
		"certificateValidityPeriod": 120,
	}})
	pcfgPath := filepath.Join(dir, "pebble.json")
	os.WriteFile(pcfgPath, pcfg, 0o600)
	startLogged(t, "Listening on: 127.0.0.1", []string{"PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0"},
		pebble, "-config", pcfgPath, "-dnsserver", fmt.Sprintf("127.0.0.1:%d", dnsPort))
	// Pebble logs its addresses before its listeners are bound.
	waitListening(t, acmePort)
	waitListening(t, mgmtPort)

	cfg := opsConfig(t, dir, "", fmt.Sprintf(`[tls.acme]
email = "admin@example.test"
directory = "https://127.0.0.1:%d/dir"
ca_file = %q
renew_before = "115s"
`, acmePort, certFile), "alice@example.test")
	text, _ := os.ReadFile(cfg)
	text = []byte(strings.Replace(string(text), "[listeners.imaps]\ndisabled = true", "[listeners.imaps]\naddress = \"127.0.0.1:0\"", 1))
	text = []byte(strings.Replace(string(text), "[listeners.http]\naddress = \"127.0.0.1:0\"",
		fmt.Sprintf("[listeners.http]\naddress = \"127.0.0.1:%d\"\n[listeners.https]\naddress = \"127.0.0.1:%d\"\ndisabled = %v", httpPort, httpsPort, !withHTTPS), 1))
	os.WriteFile(cfg, text, 0o600)

	p := startServe(t, "-c", cfg)

	// Pebble's roots verify what the listeners present.
	caPool, _ := x509.NewCertPool(), 0
	ca, _ := os.ReadFile(certFile)
	caPool.AppendCertsFromPEM(ca)
	mgmt := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: caPool}}}
	resp, err := mgmt.Get(fmt.Sprintf("https://127.0.0.1:%d/roots/0", mgmtPort))
	if err != nil {
		t.Fatal(err)
	}
	rootPEM, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(rootPEM) {
		t.Fatalf("pebble root: %s", rootPEM)
	}
	return p, roots, httpsPort
}
