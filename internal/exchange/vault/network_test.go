package vault_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
	"testing"

	"gitlab.com/keyless-ci/keyless/internal/exchange/exchangetest"
	"gitlab.com/keyless-ci/keyless/internal/exchange/vault"
	"gitlab.com/keyless-ci/keyless/internal/exchange/vault/vaulttest"
)

// vault/api follows one 307 to any host by itself; keyless follows
// redirects only within --addr's scheme and host, so a login redirected to
// another server, or from https to plain http, keeps the ID token home.
func TestRedirectsLeaveNeitherHostNorHTTPS(t *testing.T) {
	for _, tc := range []exchangetest.RedirectCase{
		{Name: "307 to another server", Status: 307},
		{Name: "302 to another server", Status: 302}, // vault/api follows 301 and 302 too
		exchangetest.RedirectCases[2],
	} {
		t.Run(tc.Name, func(t *testing.T) {
			tok := token(t)
			exchangetest.CheckRedirectRefused(t, tc, tok.Raw.Reveal(), vault.ErrRedirect,
				func(ctx context.Context, from string, client *http.Client, progress io.Writer) error {
					o := opts(&vaulttest.Vault{URL: from})
					if client != nil {
						o.HTTPClient = client
					}
					o.Progress = progress
					_, err := vault.Exchange(ctx, tok, o)
					return err
				},
				func(from, to string) []string {
					return []string{fmt.Sprintf("%s/v1/auth/jwt/login answered HTTP %d, a redirect to %s", from, tc.Status, to),
						"only within " + from, "Point --addr at the server that answers", "active node"}
				})
		})
	}
}

// A node that redirects the login to its own address (as a standby behind
// one name can) is followed, and the login's body goes with it.
func TestRedirectWithinTheAddressIsFollowed(t *testing.T) {
	v := vaulttest.New(t)
	u, err := url.Parse(v.URL)
	if err != nil {
		t.Fatal(err)
	}
	forward := httputil.NewSingleHostReverseProxy(u)
	var redirected atomic.Bool
	node := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/auth/jwt/login" && redirected.CompareAndSwap(false, true) {
			http.Redirect(w, r, "/v1/auth/jwt/login", http.StatusTemporaryRedirect)
			return
		}
		forward.ServeHTTP(w, r)
	}))
	t.Cleanup(node.Close)
	o := opts(v, refs(t, "P=secret/ci/db#password")...)
	o.Addr = node.URL
	c, err := vault.Exchange(context.Background(), token(t), o)
	if err != nil {
		t.Fatal(err)
	}
	if !redirected.Load() || len(c.Values) != 1 || c.Values[0].Value.Reveal() != "fake-db-password" {
		t.Errorf("redirected %t, values %+v", redirected.Load(), c.Values)
	}
}

// Connections that fail without an answer are retried, each retry told
// with its wait (a loop that can last the whole --timeout is not silent),
// and the login succeeds once Vault answers: the refused, reset and
// dropped connections are the kernel's own, from a proxy in front of the
// fake.
func TestConnectionFailuresAreRetriedAndTold(t *testing.T) {
	for _, tc := range exchangetest.ConnCases {
		t.Run(tc.Name, func(t *testing.T) {
			v := vaulttest.New(t)
			tok := token(t)
			exchangetest.CheckConnectionFailuresAreRetried(t, tc, v.URL, "vault: auth/jwt/login", func() int { return len(v.Requests()) },
				func(endpoint string) exchangetest.Exchange {
					o := opts(v)
					o.Addr = endpoint
					return run(tok, o)
				})
		})
	}
}

// An untrusted certificate fails at once, with the fix, and is not
// retried.
func TestUntrustedCertificateIsNotRetried(t *testing.T) {
	v, _ := vaulttest.NewTLS(t, false)
	exchangetest.CheckUntrustedCertificateIsNotRetried(t, run(token(t), opts(v)), "--ca-cert")
}
