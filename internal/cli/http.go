package cli

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"os"
	"time"
)

// httpClient returns the client for outgoing calls: the injected one in
// tests, else a transport that honours HTTPS_PROXY/NO_PROXY and, with
// caFile, trusts that PEM bundle in addition to the system roots.
func httpClient(env Env, caFile string, dialTimeout time.Duration) (*http.Client, error) {
	if env.HTTPClient != nil && caFile == "" {
		return env.HTTPClient, nil
	}
	t := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 0, // the caller's context deadline bounds each call
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          4,
		IdleConnTimeout:       30 * time.Second,
	}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, usagef("--ca-file: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, usagef("--ca-file %q holds no PEM certificate; pass the CA bundle of your STS or proxy", caFile)
		}
		t.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return &http.Client{Transport: t}, nil
}

func checkFile(flag, path string) error {
	if path == "" {
		return nil
	}
	if _, err := os.Stat(path); err != nil {
		return usagef("--%s: %w", flag, err)
	}
	return nil
}
