package main

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"

	"mailroom/config"
)

// acmeNames are the names certificates are requested for: the host name,
// and autoconfig., autodiscover. and mta-sts. of every local domain.
func acmeNames(cfg *config.Config) []string {
	names := []string{strings.ToLower(cfg.Hostname)}
	for _, d := range domainNames(cfg) {
		for _, p := range []string{"autoconfig.", "autodiscover.", "mta-sts."} {
			names = append(names, p+strings.ToLower(d))
		}
	}
	return names
}

// newACME returns the TLS configuration of a server whose certificates
// come from an ACME CA (golang.org/x/crypto/acme/autocert): obtained on
// first use (and asked for at start), kept in data_dir/acme, renewed in
// the background; every handshake asks the manager, so a renewed
// certificate reaches every listener at once.
func newACME(cfg *config.Config, log *slog.Logger) (*tls.Config, *autocert.Manager, error) {
	a := cfg.TLS.ACME
	client := &acme.Client{DirectoryURL: a.Directory, UserAgent: "mailroom"}
	if client.DirectoryURL == "" {
		client.DirectoryURL = autocert.DefaultACMEDirectory
	}
	if a.CAFile != "" {
		pool, err := loadCAFile(a.CAFile)
		if err != nil {
			return nil, nil, err
		}
		client.HTTPClient = &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	}
	names := acmeNames(cfg)
	m := &autocert.Manager{
		Prompt:      autocert.AcceptTOS,
		Email:       a.Email,
		Cache:       loggingCache{autocert.DirCache(filepath.Join(cfg.DataDir, "acme")), log},
		HostPolicy:  hostPolicy(names),
		RenewBefore: a.RenewBefore.D(),
		Client:      client,
	}
	if cfg.Listener("http").Enabled() {
		// Offers HTTP-01 from the first order on: autocert tries it only
		// once HTTPHandler has been called, and the HTTP listener's
		// goroutine may call it after the prefetch's order is placed.
		m.HTTPHandler(nil)
	}
	host := names[0]
	get := func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
		// A client that connects by address sends no name (or one of
		// ours it is not): it gets the host name's certificate. A CA's
		// TLS-ALPN-01 probe keeps its name.
		if !slices.Contains(names, strings.ToLower(hello.ServerName)) && !slices.Contains(hello.SupportedProtos, acme.ALPNProto) {
			h := *hello
			h.ServerName = host
			hello = &h
		}
		return m.GetCertificate(hello)
	}
	return &tls.Config{GetCertificate: get, MinVersion: tls.VersionTLS12}, m, nil
}

// prefetchACME asks for the host name's certificate at start, so the
// first client does not wait for the CA.
func prefetchACME(tlsConfig *tls.Config, host string, log *slog.Logger) {
	hello := &tls.ClientHelloInfo{ServerName: host,
		CipherSuites:      []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256},
		SupportedCurves:   []tls.CurveID{tls.CurveP256},
		SignatureSchemes:  []tls.SignatureScheme{tls.ECDSAWithP256AndSHA256},
		SupportedVersions: []uint16{tls.VersionTLS13, tls.VersionTLS12}}
	cert, err := tlsConfig.GetCertificate(hello)
	if err != nil {
		log.Error("acme: no certificate yet; retried at the next TLS handshake", "name", host, "err", err)
		return
	}
	if cert.Leaf != nil {
		log.Info("acme certificate ready", "name", host, "not_after", cert.Leaf.NotAfter.UTC().Format(time.RFC3339))
	}
}

// loggingCache logs each certificate the manager stores: a first one and
// every renewal.
type loggingCache struct {
	autocert.Cache
	log *slog.Logger
}

func (c loggingCache) Put(ctx context.Context, name string, data []byte) error {
	err := c.Cache.Put(ctx, name, data)
	if err == nil && !strings.HasPrefix(name, "acme_account") && !strings.Contains(name, "+token") && !strings.Contains(name, "+http-01") {
		c.log.Info("acme certificate stored", "name", name)
	}
	return err
}

// httpsConfig is the HTTPS listener's TLS configuration: HTTP/1.1, and
// the TLS-ALPN-01 protocol for an ACME CA's challenges.
func httpsConfig(base *tls.Config, withACME bool) *tls.Config {
	c := base.Clone()
	c.NextProtos = []string{"http/1.1"}
	if withACME {
		c.NextProtos = append(c.NextProtos, acme.ALPNProto)
	}
	return c
}

// hostPolicy accepts our names. autocert checks the HTTP-01 request's
// Host header as it is, so a port in it (an HTTP listener on another
// port than 80, behind a forward) is dropped first.
func hostPolicy(names []string) autocert.HostPolicy {
	allow := autocert.HostWhitelist(names...)
	return func(ctx context.Context, host string) error {
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		return allow(ctx, host)
	}
}
