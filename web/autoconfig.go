package web

import (
	"crypto/sha256"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// maxAutodiscoverBody bounds an autodiscover request body.
const maxAutodiscoverBody = 16 << 10

// Thunderbird's clientConfig, version 1.1.
type clientConfig struct {
	XMLName  xml.Name      `xml:"clientConfig"`
	Version  string        `xml:"version,attr"`
	Provider emailProvider `xml:"emailProvider"`
}

type emailProvider struct {
	ID               string         `xml:"id,attr"`
	Domain           string         `xml:"domain"`
	DisplayName      string         `xml:"displayName"`
	DisplayShortName string         `xml:"displayShortName"`
	Incoming         []serverConfig `xml:"incomingServer"`
	Outgoing         []serverConfig `xml:"outgoingServer"`
}

type serverConfig struct {
	Type           string `xml:"type,attr"`
	Hostname       string `xml:"hostname"`
	Port           int    `xml:"port"`
	SocketType     string `xml:"socketType"`
	Authentication string `xml:"authentication"`
	Username       string `xml:"username"`
}

func socketType(e Endpoint) string {
	if e.ImplicitTLS {
		return "SSL"
	}
	return "STARTTLS"
}

func (s *Server) autoconfig(w http.ResponseWriter, r *http.Request) {
	// The domain: from ?emailaddress=, else from autoconfig.<domain>.
	var domain string
	if addr := r.URL.Query().Get("emailaddress"); addr != "" {
		domain = s.addressDomain(addr)
	} else if d, ok := strings.CutPrefix(requestHost(r), "autoconfig."); ok {
		domain = s.localDomain(d)
	}
	if domain == "" {
		http.NotFound(w, r)
		return
	}
	p := emailProvider{ID: domain, Domain: domain, DisplayName: "Mail for " + domain, DisplayShortName: domain}
	for _, e := range s.opts().IMAP {
		p.Incoming = append(p.Incoming, serverConfig{Type: "imap", Hostname: s.opts().Hostname, Port: e.Port,
			SocketType: socketType(e), Authentication: "password-cleartext", Username: "%EMAILADDRESS%"})
	}
	for _, e := range s.opts().Submission {
		p.Outgoing = append(p.Outgoing, serverConfig{Type: "smtp", Hostname: s.opts().Hostname, Port: e.Port,
			SocketType: socketType(e), Authentication: "password-cleartext", Username: "%EMAILADDRESS%"})
	}
	writeXML(w, "application/xml", clientConfig{Version: "1.1", Provider: p})
}

func writeXML(w http.ResponseWriter, contentType string, v any) {
	out, err := xml.MarshalIndent(v, "", "  ")
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", contentType+"; charset=utf-8")
	io.WriteString(w, xml.Header)
	w.Write(out)
	io.WriteString(w, "\n")
}

// Outlook autodiscover, the plain-old-XML form.
const (
	adResponseNS = "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006"
	adOutlookNS  = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"
)

type adRequest struct {
	XMLName xml.Name `xml:"Autodiscover"`
	Request struct {
		EMailAddress             string `xml:"EMailAddress"`
		AcceptableResponseSchema string `xml:"AcceptableResponseSchema"`
	} `xml:"Request"`
}

type adResponse struct {
	XMLName  xml.Name `xml:"Autodiscover"`
	XMLNS    string   `xml:"xmlns,attr"`
	Response struct {
		XMLNS   string    `xml:"xmlns,attr"`
		Account adAccount `xml:"Account"`
	} `xml:"Response"`
}

type adAccount struct {
	AccountType string       `xml:"AccountType"`
	Action      string       `xml:"Action"`
	Protocol    []adProtocol `xml:"Protocol"`
}

type adProtocol struct {
	Type           string `xml:"Type"`
	Server         string `xml:"Server"`
	Port           int    `xml:"Port"`
	DomainRequired string `xml:"DomainRequired"`
	LoginName      string `xml:"LoginName"`
	SPA            string `xml:"SPA"`
	SSL            string `xml:"SSL"`
	Encryption     string `xml:"Encryption"`
	AuthRequired   string `xml:"AuthRequired"`
}

func (s *Server) autodiscover(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxAutodiscoverBody+1))
	if err != nil || len(body) > maxAutodiscoverBody {
		http.Error(w, "request too large", http.StatusBadRequest)
		return
	}
	var req adRequest
	if err := xml.Unmarshal(body, &req); err != nil {
		http.Error(w, "malformed autodiscover request", http.StatusBadRequest)
		return
	}
	addr := strings.TrimSpace(req.Request.EMailAddress)
	if s.addressDomain(addr) == "" {
		http.NotFound(w, r)
		return
	}
	acct := adAccount{AccountType: "email", Action: "settings"}
	proto := func(typ string, e Endpoint) adProtocol {
		p := adProtocol{Type: typ, Server: s.opts().Hostname, Port: e.Port, DomainRequired: "off", LoginName: addr,
			SPA: "off", SSL: "on", AuthRequired: "on", Encryption: "TLS"}
		if e.ImplicitTLS {
			p.Encryption = "SSL"
		}
		return p
	}
	if len(s.opts().IMAP) > 0 {
		acct.Protocol = append(acct.Protocol, proto("IMAP", s.opts().IMAP[0]))
	}
	if len(s.opts().Submission) > 0 {
		acct.Protocol = append(acct.Protocol, proto("SMTP", s.opts().Submission[0]))
	}
	var resp adResponse
	resp.XMLNS, resp.Response.XMLNS, resp.Response.Account = adResponseNS, adOutlookNS, acct
	writeXML(w, "application/xml", resp)
}

// The Apple configuration profile: a property list by hand (the format is
// small and fixed; a plist library would not save code).
func (s *Server) mobileconfig(w http.ResponseWriter, r *http.Request) {
	addr := r.URL.Query().Get("emailaddress")
	domain := s.addressDomain(addr)
	if domain == "" || len(s.opts().IMAP) == 0 || len(s.opts().Submission) == 0 {
		http.NotFound(w, r)
		return
	}
	in, out := s.opts().IMAP[0], s.opts().Submission[0]
	rev := reverseDomain(s.opts().Hostname)
	var b strings.Builder
	b.WriteString(xml.Header)
	b.WriteString(`<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">` + "\n")
	b.WriteString("<plist version=\"1.0\">\n<dict>\n")
	b.WriteString("<key>PayloadContent</key>\n<array>\n<dict>\n")
	pl := func(k string, v any) {
		fmt.Fprintf(&b, "<key>%s</key>\n", k)
		switch v := v.(type) {
		case string:
			b.WriteString("<string>")
			xml.EscapeText(&b, []byte(v))
			b.WriteString("</string>\n")
		case int:
			fmt.Fprintf(&b, "<integer>%d</integer>\n", v)
		case bool:
			fmt.Fprintf(&b, "<%s/>\n", strconv.FormatBool(v))
		}
	}
	pl("EmailAccountDescription", addr)
	pl("EmailAccountType", "EmailTypeIMAP")
	pl("EmailAddress", addr)
	pl("IncomingMailServerAuthentication", "EmailAuthPassword")
	pl("IncomingMailServerHostName", s.opts().Hostname)
	pl("IncomingMailServerPortNumber", in.Port)
	pl("IncomingMailServerUseSSL", in.ImplicitTLS)
	pl("IncomingMailServerUsername", addr)
	pl("OutgoingMailServerAuthentication", "EmailAuthPassword")
	pl("OutgoingMailServerHostName", s.opts().Hostname)
	pl("OutgoingMailServerPortNumber", out.Port)
	pl("OutgoingMailServerUseSSL", out.ImplicitTLS)
	pl("OutgoingMailServerUsername", addr)
	pl("OutgoingPasswordSameAsIncomingPassword", true)
	pl("PayloadDisplayName", "Mail: "+addr)
	pl("PayloadIdentifier", rev+".mailroom.mail."+stableUUID("mail", addr, s.opts().Hostname))
	pl("PayloadType", "com.apple.mail.managed")
	pl("PayloadUUID", stableUUID("mail", addr, s.opts().Hostname))
	pl("PayloadVersion", 1)
	b.WriteString("</dict>\n</array>\n")
	pl("PayloadDisplayName", "Mail for "+addr)
	pl("PayloadIdentifier", rev+".mailroom."+stableUUID("profile", addr, s.opts().Hostname))
	pl("PayloadRemovalDisallowed", false)
	pl("PayloadType", "Configuration")
	pl("PayloadUUID", stableUUID("profile", addr, s.opts().Hostname))
	pl("PayloadVersion", 1)
	b.WriteString("</dict>\n</plist>\n")
	w.Header().Set("Content-Type", "application/x-apple-aspen-config")
	w.Header().Set("Content-Disposition", `attachment; filename="`+domain+`.mobileconfig"`)
	io.WriteString(w, b.String())
}

// stableUUID derives a UUID-shaped identifier from its parts.
func stableUUID(parts ...string) string {
	h := sha256.Sum256([]byte(strings.ToLower(strings.Join(parts, "\x00"))))
	h[6] = h[6]&0x0f | 0x50 // version 5 shape
	h[8] = h[8]&0x3f | 0x80
	return fmt.Sprintf("%X-%X-%X-%X-%X", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}

func reverseDomain(d string) string {
	labels := strings.Split(strings.ToLower(d), ".")
	for i, j := 0, len(labels)-1; i < j; i, j = i+1, j-1 {
		labels[i], labels[j] = labels[j], labels[i]
	}
	return strings.Join(labels, ".")
}

// MTASTSPolicy returns the RFC 8461 policy text for the MX host.
func MTASTSPolicy(mode, mx string, maxAgeSeconds int64) string {
	// §3.2: lines end in CRLF; "mx" is only present in enforce and
	// testing modes, but a "none" policy may carry it too.
	return "version: STSv1\r\nmode: " + mode + "\r\nmx: " + mx + "\r\nmax_age: " + strconv.FormatInt(maxAgeSeconds, 10) + "\r\n"
}

// MTASTSID returns the policy id for the _mta-sts TXT record: it changes
// whenever the policy does (§3.1: 1 to 32 alphanumerics).
func MTASTSID(policy string) string {
	h := sha256.Sum256([]byte(policy))
	return fmt.Sprintf("%x", h[:10])
}

func (s *Server) mtasts(w http.ResponseWriter, r *http.Request) {
	d, ok := strings.CutPrefix(requestHost(r), "mta-sts.")
	if !ok || s.localDomain(d) == "" {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	io.WriteString(w, MTASTSPolicy(s.opts().MTASTSMode, s.opts().Hostname, int64(s.opts().MTASTSMaxAge.Seconds())))
}
