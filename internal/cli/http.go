package cli

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"time"

	"golang.org/x/net/http/httpproxy"

	"gitlab.com/keyless-ci/keyless/internal/exchange"
)

// httpClient returns the client for outgoing calls: the injected one in
// tests, else a transport that honours HTTPS_PROXY/NO_PROXY and, with
// caFile, trusts that PEM bundle in addition to the system roots.
func httpClient(env Env, caFile string, dialTimeout time.Duration) (*http.Client, error) {
	if env.HTTPClient != nil && caFile == "" {
		return env.HTTPClient, nil
	}
	t := &http.Transport{
		Proxy:                 proxyFromEnv(env),
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
			return nil, usagef("%s: %w", flagRef("ca-file"), err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, usagef("%s %q holds no PEM certificate; pass the CA bundle of your STS or proxy", flagRef("ca-file"), caFile)
		}
		t.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return &http.Client{Transport: t}, nil
}

// proxyFromEnv is http.ProxyFromEnvironment with env's variables instead
// of the process's: the same names in the same order, and the same rules
// (golang.org/x/net/http/httpproxy, which net/http bundles).
func proxyFromEnv(env Env) func(*http.Request) (*url.URL, error) {
	first := func(names ...string) string {
		for _, n := range names {
			if v := env.Getenv(n); v != "" {
				return v
			}
		}
		return ""
	}
	proxy := (&httpproxy.Config{
		HTTPProxy:  first("HTTP_PROXY", "http_proxy"),
		HTTPSProxy: first("HTTPS_PROXY", "https_proxy"),
		NoProxy:    first("NO_PROXY", "no_proxy"),
		CGI:        env.Getenv("REQUEST_METHOD") != "",
	}).ProxyFunc()
	return func(r *http.Request) (*url.URL, error) { return proxy(r.URL) }
}

// checkFile checks that path, the file that the option ref (package
// option) gives, exists.
func checkFile(ref, path string) error {
	if path == "" {
		return nil
	}
	if _, err := os.Stat(path); err != nil {
		return usagef("%s: %w", ref, err)
	}
	return nil
}

// insecureHTTPVar lists hosts (host or host:port) to which the exchanges
// accept plain http anyway: a test service on the runner's own network.
const insecureHTTPVar = "KEYLESS_INSECURE_HTTP_HOSTS"

// insecureHTTP reads insecureHTTPVar, a list (splitList).
func insecureHTTP(env Env) exchange.InsecureHosts {
	return exchange.InsecureHosts(splitList(env.Getenv(insecureHTTPVar)))
}

// warnInsecureHTTP prints one line for each endpoint (option -> URL) that
// goes over plain http because insecureHTTPVar lists its host: even with
// --quiet, since it says a token crosses the network in the clear.
func warnInsecureHTTP(env Env, hosts exchange.InsecureHosts, endpoints ...string) {
	for i := 0; i+1 < len(endpoints); i += 2 {
		option, raw := endpoints[i], endpoints[i+1]
		if raw != "" && hosts.Allows(raw) {
			fmt.Fprintf(env.Stderr, "keyless: warning: %s %q is plain http, allowed by %s: the ID token and the credentials it buys cross the network unencrypted\n",
				option, exchange.DisplayURL(raw), insecureHTTPVar)
		}
	}
}
