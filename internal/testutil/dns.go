package testutil

import (
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/dns"
)

// DNS is a fake authoritative name server on 127.0.0.1, over UDP and TCP
// on the same port, answering from records a test puts in. A name with no
// records is NXDOMAIN, a name with records but none of the asked type an
// empty answer (NODATA), and a name marked by ServFail gets SERVFAIL.
type DNS struct {
	// Addr is host:port, for the [dns] resolver setting.
	Addr string

	mu       sync.Mutex
	rrs      map[string][]dns.RR // by lower-case FQDN
	servfail map[string]bool
	secure   map[string]bool
	queries  int
}

// NewDNS starts a fake DNS server, stopped at the end of the test.
func NewDNS(t testing.TB) *DNS {
	t.Helper()
	d := &DNS{rrs: map[string][]dns.RR{}, servfail: map[string]bool{}, secure: map[string]bool{}}
	var pc net.PacketConn
	var ln net.Listener
	for range 10 { // the TCP port of a free UDP port may be taken
		var err error
		if pc, err = net.ListenPacket("udp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		if ln, err = net.Listen("tcp", pc.LocalAddr().String()); err == nil {
			break
		}
		pc.Close()
		pc = nil
	}
	if pc == nil {
		t.Fatal("no free port for UDP and TCP")
	}
	d.Addr = pc.LocalAddr().String()
	udp := &dns.Server{PacketConn: pc, Handler: d}
	tcp := &dns.Server{Listener: ln, Handler: d}
	go udp.ActivateAndServe()
	go tcp.ActivateAndServe()
	t.Cleanup(func() {
		udp.Shutdown()
		tcp.Shutdown()
	})
	return d
}

func fqdn(name string) string { return dns.Fqdn(strings.ToLower(name)) }

func (d *DNS) add(rr dns.RR) {
	d.mu.Lock()
	defer d.mu.Unlock()
	name := fqdn(rr.Header().Name)
	rr.Header().Name = name
	rr.Header().Class = dns.ClassINET
	rr.Header().Ttl = 60
	d.rrs[name] = append(d.rrs[name], rr)
}

// TXT adds one TXT record holding text, split in strings of at most 255
// octets as DNS requires.
func (d *DNS) TXT(name, text string) {
	var parts []string
	for len(text) > 255 {
		parts = append(parts, text[:255])
		text = text[255:]
	}
	parts = append(parts, text)
	d.add(&dns.TXT{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeTXT}, Txt: parts})
}

// MX adds an MX record.
func (d *DNS) MX(name string, pref uint16, host string) {
	d.add(&dns.MX{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeMX}, Preference: pref, Mx: fqdn(host)})
}

// A adds an A or an AAAA record, by the address's family.
func (d *DNS) A(name, ip string) {
	addr := net.ParseIP(ip)
	if v4 := addr.To4(); v4 != nil {
		d.add(&dns.A{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeA}, A: v4})
		return
	}
	d.add(&dns.AAAA{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeAAAA}, AAAA: addr})
}

// TLSA adds a TLSA record (RFC 6698); data is the association in hex.
func (d *DNS) TLSA(name string, usage, selector, matching uint8, data string) {
	d.add(&dns.TLSA{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeTLSA}, Usage: usage, Selector: selector, MatchingType: matching, Certificate: data})
}

// ServFail makes every query for name fail with SERVFAIL.
func (d *DNS) ServFail(name string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.servfail[fqdn(name)] = true
}

// Secure sets the AD bit on answers about name, as a validating resolver
// does for DNSSEC-signed data (for DANE).
func (d *DNS) Secure(name string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.secure[fqdn(name)] = true
}

// Queries is how many queries were answered so far.
func (d *DNS) Queries() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.queries
}

// ServeDNS implements dns.Handler.
func (d *DNS) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	d.mu.Lock()
	d.queries++
	if len(req.Question) == 1 {
		q := req.Question[0]
		name := fqdn(q.Name)
		rrs, known := d.rrs[name]
		m.AuthenticatedData = d.secure[name]
		switch {
		case d.servfail[name]:
			m.Rcode = dns.RcodeServerFailure
		case !known:
			m.Rcode = dns.RcodeNameError
		default:
			for _, rr := range rrs {
				if rr.Header().Rrtype == q.Qtype || q.Qtype == dns.TypeANY {
					m.Answer = append(m.Answer, dns.Copy(rr))
				}
			}
		}
	} else {
		m.Rcode = dns.RcodeFormatError
	}
	d.mu.Unlock()
	if opt := req.IsEdns0(); opt != nil {
		m.SetEdns0(opt.UDPSize(), false)
	}
	if _, udp := w.RemoteAddr().(*net.UDPAddr); udp {
		max := dns.MinMsgSize
		if opt := req.IsEdns0(); opt != nil {
			max = int(opt.UDPSize())
		}
		m.Truncate(max)
	}
	w.WriteMsg(m)
}
