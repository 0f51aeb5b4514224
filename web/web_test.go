package web

import (
	"bytes"
	"context"
	"encoding/xml"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func startWeb(t *testing.T, o Options) string {
	t.Helper()
	s := New(o)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln, nil) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Error(err)
		}
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return "http://" + ln.Addr().String()
}

func testOptions() Options {
	return Options{
		Hostname: "mail.example.com", Domains: []string{"example.com", "Other.example"},
		IMAP:         []Endpoint{{Port: 993, ImplicitTLS: true}, {Port: 143}},
		Submission:   []Endpoint{{Port: 465, ImplicitTLS: true}, {Port: 587}},
		MTASTSMode:   "enforce",
		MTASTSMaxAge: 7 * 24 * time.Hour,
	}
}

// get fetches url with the given Host header and returns status and body.
func get(t *testing.T, method, url, host, body string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

func TestThunderbirdAutoconfig(t *testing.T) {
	base := startWeb(t, testOptions())
	for _, tc := range []struct{ path, host string }{
		{"/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=alice%40example.com", "example.com"},
		{"/mail/config-v1.1.xml", "autoconfig.example.com"},
		{"/mail/config-v1.1.xml?emailaddress=alice%40EXAMPLE.com", "autoconfig.example.com"},
	} {
		code, hdr, body := get(t, "GET", base+tc.path, tc.host, "")
		if code != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "application/xml") {
			t.Fatalf("%s: %d %s", tc.path, code, hdr.Get("Content-Type"))
		}
		var cc clientConfig
		if err := xml.Unmarshal([]byte(body), &cc); err != nil {
			t.Fatalf("%s: %v\n%s", tc.path, err, body)
		}
		// The elements the format requires of an emailProvider.
		p := cc.Provider
		if cc.Version != "1.1" || p.ID != "example.com" || p.Domain != "example.com" || p.DisplayName == "" || p.DisplayShortName == "" {
			t.Fatalf("provider: %+v", cc)
		}
		want := []serverConfig{
			{"imap", "mail.example.com", 993, "SSL", "password-cleartext", "%EMAILADDRESS%"},
			{"imap", "mail.example.com", 143, "STARTTLS", "password-cleartext", "%EMAILADDRESS%"},
		}
		if len(p.Incoming) != 2 || p.Incoming[0] != want[0] || p.Incoming[1] != want[1] {
			t.Fatalf("incoming: %+v", p.Incoming)
		}
		if len(p.Outgoing) != 2 || p.Outgoing[0].Port != 465 || p.Outgoing[0].SocketType != "SSL" || p.Outgoing[1].Port != 587 ||
			p.Outgoing[1].SocketType != "STARTTLS" || p.Outgoing[0].Type != "smtp" {
			t.Fatalf("outgoing: %+v", p.Outgoing)
		}
	}
	// Not a local domain: nothing.
	if code, _, _ := get(t, "GET", base+"/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=a%40elsewhere.test", "", ""); code != 404 {
		t.Fatalf("foreign domain: %d", code)
	}
	if code, _, _ := get(t, "GET", base+"/mail/config-v1.1.xml", "autoconfig.elsewhere.test", ""); code != 404 {
		t.Fatalf("foreign host: %d", code)
	}
}

const adRequestBody = `<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006">
  <Request>
    <EMailAddress>bob@other.example</EMailAddress>
    <AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema>
  </Request>
</Autodiscover>`

func TestOutlookAutodiscover(t *testing.T) {
	base := startWeb(t, testOptions())
	code, _, body := get(t, "POST", base+"/autodiscover/autodiscover.xml", "autodiscover.other.example", adRequestBody)
	if code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	// Decode with the namespaces: the outer element in the response
	// schema, Response in the Outlook one.
	var resp struct {
		XMLName  xml.Name `xml:"http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006 Autodiscover"`
		Response struct {
			XMLName xml.Name  `xml:"http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a Response"`
			Account adAccount `xml:"Account"`
		} `xml:"Response"`
	}
	if err := xml.Unmarshal([]byte(body), &resp); err != nil {
		t.Fatalf("%v\n%s", err, body)
	}
	a := resp.Response.Account
	if a.AccountType != "email" || a.Action != "settings" || len(a.Protocol) != 2 {
		t.Fatalf("account: %+v\n%s", a, body)
	}
	imap, smtp := a.Protocol[0], a.Protocol[1]
	if imap.Type != "IMAP" || imap.Server != "mail.example.com" || imap.Port != 993 || imap.SSL != "on" || imap.LoginName != "bob@other.example" ||
		imap.AuthRequired != "on" || imap.SPA != "off" || imap.Encryption != "SSL" {
		t.Fatalf("IMAP: %+v", imap)
	}
	if smtp.Type != "SMTP" || smtp.Port != 465 || smtp.LoginName != "bob@other.example" {
		t.Fatalf("SMTP: %+v", smtp)
	}
	// The capitalised path Outlook also uses.
	if code, _, _ := get(t, "POST", base+"/Autodiscover/Autodiscover.xml", "", adRequestBody); code != 200 {
		t.Fatalf("capitalised path: %d", code)
	}
	for name, tc := range map[string]struct {
		body string
		want int
	}{
		"malformed": {"<Autodiscover><Request>", 400},
		"too large": {strings.Repeat("x", maxAutodiscoverBody+1), 400},
		"foreign":   {strings.Replace(adRequestBody, "other.example", "elsewhere.test", 1), 404},
	} {
		if code, _, _ := get(t, "POST", base+"/autodiscover/autodiscover.xml", "", tc.body); code != tc.want {
			t.Errorf("%s: %d, want %d", name, code, tc.want)
		}
	}
	if code, _, _ := get(t, "GET", base+"/autodiscover/autodiscover.xml", "", ""); code != 405 {
		t.Errorf("GET autodiscover: %d, want 405", code)
	}
}

func TestAppleProfile(t *testing.T) {
	o := testOptions()
	o.Submission = o.Submission[1:] // only STARTTLS on 587
	base := startWeb(t, o)
	code, hdr, body := get(t, "GET", base+"/apple/mail.mobileconfig?emailaddress=alice%40example.com", "", "")
	if code != 200 || hdr.Get("Content-Type") != "application/x-apple-aspen-config" {
		t.Fatalf("%d %v", code, hdr)
	}
	// Read the plist's key/value pairs in order, both dicts.
	dec := xml.NewDecoder(strings.NewReader(body))
	dec.Strict = true
	kv := map[string][]string{}
	var key, last string
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("%v\n%s", err, body)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			last = tok.Name.Local
			if last == "true" || last == "false" {
				kv[key] = append(kv[key], last)
			}
		case xml.CharData:
			switch last {
			case "key":
				key = string(tok)
			case "string", "integer":
				kv[key] = append(kv[key], string(tok))
			}
			last = ""
		}
	}
	want := map[string]string{
		"EmailAccountType": "EmailTypeIMAP", "EmailAddress": "alice@example.com",
		"IncomingMailServerHostName": "mail.example.com", "IncomingMailServerPortNumber": "993", "IncomingMailServerUseSSL": "true",
		"IncomingMailServerUsername": "alice@example.com", "IncomingMailServerAuthentication": "EmailAuthPassword",
		"OutgoingMailServerHostName": "mail.example.com", "OutgoingMailServerPortNumber": "587", "OutgoingMailServerUseSSL": "false",
		"OutgoingPasswordSameAsIncomingPassword": "true",
	}
	for k, v := range want {
		if got := kv[k]; len(got) != 1 || got[0] != v {
			t.Errorf("%s = %v, want %s", k, got, v)
		}
	}
	if got := kv["PayloadType"]; len(got) != 2 || got[0] != "com.apple.mail.managed" || got[1] != "Configuration" {
		t.Errorf("PayloadType: %v", got)
	}
	if u := kv["PayloadUUID"]; len(u) != 2 || u[0] == u[1] || len(u[0]) != 36 {
		t.Errorf("PayloadUUID: %v", u)
	}
	// Downloading again names the same payloads.
	if _, _, again := get(t, "GET", base+"/apple/mail.mobileconfig?emailaddress=alice%40example.com", "", ""); again != body {
		t.Error("a second download differs")
	}
	if code, _, _ := get(t, "GET", base+"/apple/mail.mobileconfig?emailaddress=x%40elsewhere.test", "", ""); code != 404 {
		t.Errorf("foreign domain: %d", code)
	}
}

func TestMTASTSPolicy(t *testing.T) {
	base := startWeb(t, testOptions())
	code, hdr, body := get(t, "GET", base+"/.well-known/mta-sts.txt", "mta-sts.example.com", "")
	if code != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "text/plain") {
		t.Fatalf("%d %v", code, hdr)
	}
	want := "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmax_age: 604800\r\n"
	if body != want {
		t.Fatalf("policy %q, want %q", body, want)
	}
	for _, host := range []string{"example.com", "mta-sts.elsewhere.test", "mail.example.com"} {
		if code, _, _ := get(t, "GET", base+"/.well-known/mta-sts.txt", host, ""); code != 404 {
			t.Errorf("host %s: %d, want 404", host, code)
		}
	}
	if id := MTASTSID(want); len(id) != 20 || id == MTASTSID(strings.Replace(want, "enforce", "testing", 1)) {
		t.Errorf("id %q", id)
	}
}

func TestMetricsAuth(t *testing.T) {
	o := testOptions()
	o.Metrics = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "up 1\n") })
	o.MetricsAuth = func(_ context.Context, u, p string) bool { return u == "prom" && p == "secret" }
	base := startWeb(t, o)
	if code, hdr, _ := get(t, "GET", base+"/metrics", "", ""); code != 401 || hdr.Get("WWW-Authenticate") == "" {
		t.Fatalf("no credentials: %d", code)
	}
	req, _ := http.NewRequest("GET", base+"/metrics", nil)
	req.SetBasicAuth("prom", "wrong")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 401 {
		t.Fatalf("wrong password: %v %v", resp, err)
	}
	req.SetBasicAuth("prom", "secret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("right password: %v %v", resp, err)
	}
	resp.Body.Close()
	// Without a Metrics handler there is no /metrics.
	if code, _, _ := get(t, "GET", startWeb(t, testOptions())+"/metrics", "", ""); code != 404 {
		t.Fatalf("metrics off: %d", code)
	}
}

// FuzzAutodiscover feeds request bodies to the autodiscover handler: any
// answer but a crash, and a 200 is always well-formed XML.
func FuzzAutodiscover(f *testing.F) {
	f.Add([]byte(adRequestBody))
	f.Add([]byte("<Autodiscover><Request><EMailAddress>@example.com</EMailAddress></Request></Autodiscover>"))
	s := New(testOptions())
	f.Fuzz(func(t *testing.T, body []byte) {
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, httptest.NewRequest("POST", "/autodiscover/autodiscover.xml", bytes.NewReader(body)))
		if rec.Code == 200 {
			var v adResponse
			if err := xml.Unmarshal(rec.Body.Bytes(), &v); err != nil {
				t.Fatalf("200 with bad XML: %v", err)
			}
		}
	})
}
