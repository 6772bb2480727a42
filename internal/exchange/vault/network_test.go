package vault_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

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
			trap := exchangetest.NewTrap(t, tok.Raw.Reveal())
			from, client := exchangetest.Redirector(t, tc.Status, trap.URL, tc.TLS)
			o := opts(&vaulttest.Vault{URL: from})
			if client != nil {
				o.HTTPClient = client
			}
			var progress strings.Builder
			o.Progress = &progress
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, err := vault.Exchange(ctx, tok, o)
			exchangetest.CheckRefused(t, tc, err, vault.ErrRedirect, trap, tok.Raw.Reveal(), progress.String(),
				fmt.Sprintf("%s/v1/auth/jwt/login answered HTTP %d, a redirect to %s", from, tc.Status, trap.URL),
				"only within "+from, "Point --addr at the server that answers", "active node")
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

// A Vault that refuses connections is retried, each retry told with its
// wait (a loop that can last the whole --timeout is not silent), and the
// login succeeds once it listens; an untrusted certificate is not retried.
func TestConnectionFailuresAreRetriedAndTold(t *testing.T) {
	v := vaulttest.New(t)
	p := exchangetest.NewProxy(t, v.URL)
	p.Down()
	o := opts(v)
	o.Addr = p.URL
	o.Backoff = func(n int) time.Duration {
		if n == 2 {
			p.Up()
		}
		return time.Millisecond
	}
	var progress strings.Builder
	o.Progress = &progress
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := vault.Exchange(ctx, token(t), o)
	if err != nil {
		t.Fatal(err)
	}
	if c.Attempts != 3 {
		t.Errorf("%d attempts, want 3", c.Attempts)
	}
	want := regexp.MustCompile(`^keyless: vault: auth/jwt/login: connection refused; retrying in 1ms \(attempt 2, \d+s left\)\n` +
		`keyless: vault: auth/jwt/login: connection refused; retrying in 1ms \(attempt 3, \d+s left\)\n$`)
	if !want.MatchString(progress.String()) {
		t.Errorf("progress:\n%s", progress.String())
	}

	progress.Reset()
	tv, _ := vaulttest.NewTLS(t, false)
	o = opts(tv)
	o.Progress = &progress
	_, err = vault.Exchange(ctx, token(t), o)
	var e *vault.Error
	if !errors.Is(err, vault.ErrTLS) || !errors.As(err, &e) || e.Attempts != 1 || progress.Len() != 0 {
		t.Errorf("untrusted certificate: %v, progress %q", err, progress.String())
	}
}
