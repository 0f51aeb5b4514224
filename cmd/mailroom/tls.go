package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"mailroom/config"
)

// certSource holds the server's current certificate. Every listener's
// tls.Config asks it for the certificate at each handshake, so a reload
// that swaps in a renewed one reaches new connections at once.
type certSource struct {
	p atomic.Pointer[tls.Certificate]
}

// newTLS loads the certificate and returns the server's TLS configuration
// with its source.
func newTLS(cfg *config.Config, log *slog.Logger) (*tls.Config, *certSource, error) {
	src := &certSource{}
	if err := src.load(cfg, log); err != nil {
		return nil, nil, err
	}
	return &tls.Config{
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return src.p.Load(), nil },
		MinVersion:     tls.VersionTLS12,
	}, src, nil
}

// load reads the certificate files again and swaps them in, or leaves the
// current certificate if they do not load.
func (c *certSource) load(cfg *config.Config, log *slog.Logger) error {
	cert, err := loadCertificate(cfg, log)
	if err != nil {
		return err
	}
	if cert.Leaf != nil {
		log.Info("tls certificate loaded", "subject", cert.Leaf.Subject.CommonName, "not_after", cert.Leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	c.p.Store(cert)
	return nil
}

// loadCertificate reads the operator's certificate, or a self-signed one
// generated once into the data directory.
func loadCertificate(cfg *config.Config, log *slog.Logger) (*tls.Certificate, error) {
	certFile, keyFile := cfg.TLS.CertFile, cfg.TLS.KeyFile
	if cfg.TLS.SelfSigned {
		certFile = filepath.Join(cfg.DataDir, "tls", "self-signed.crt")
		keyFile = filepath.Join(cfg.DataDir, "tls", "self-signed.key")
		if _, err := os.Stat(certFile); errors.Is(err, os.ErrNotExist) {
			if err := writeSelfSigned(certFile, keyFile, hostname(cfg)); err != nil {
				return nil, err
			}
			log.Info("generated a self-signed certificate", "file", certFile)
		}
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	return &cert, nil
}

func hostname(cfg *config.Config) string {
	if cfg.Hostname != "" {
		return cfg.Hostname
	}
	if h, err := os.Hostname(); err == nil {
		return h
	}
	return "localhost"
}

func writeSelfSigned(certFile, keyFile, host string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: host, Organization: []string{"Mailroom self-signed"}},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().AddDate(10, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{host, "localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(certFile), 0o700); err != nil {
		return err
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return err
	}
	return os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}
