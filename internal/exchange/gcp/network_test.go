package gcp

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"gitlab.com/keyless-ci/keyless/internal/exchange"
	"gitlab.com/keyless-ci/keyless/internal/exchange/exchangetest"
	"gitlab.com/keyless-ci/keyless/internal/exchange/gcp/gcptest"
	"gitlab.com/keyless-ci/keyless/internal/oidctest"
)

// A redirect from STS or IAM Credentials, to another server or from https
// to plain http, is not followed: it would carry the ID token, or the
// federated token in its Authorization, there.
func TestRedirectsAreNotFollowed(t *testing.T) {
	iss := oidctest.NewServer(t)
	for _, tc := range []struct {
		name   string
		status int
		tls    bool
		iam    bool
	}{
		{"STS 307 to another server", 307, false, false},
		{"STS 308 to another server", 308, false, false},
		{"STS https to http", 307, true, false},
		{"IAM Credentials 307 to another server", 307, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := gcptest.New(t)
			tok := job(t, iss, oidctest.Job{})
			secret, option := tok.Raw.Reveal(), "--sts-endpoint"
			if tc.iam {
				secret, option = fake.FederatedToken, "--iamcredentials-endpoint"
			}
			trap := exchangetest.NewTrap(t, secret)
			from, client := exchangetest.Redirector(t, tc.status, trap.URL, tc.tls)
			o := options(fake)
			if tc.iam {
				o.ServiceAccount, o.IAMEndpoint = testSA, from
			} else {
				o.STSEndpoint = from
			}
			o.HTTPClient = client
			var progress strings.Builder
			o.Progress = &progress
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, err := Exchange(ctx, tok, o)
			var re *exchange.RedirectError
			if !errors.Is(err, ErrRedirect) || !errors.As(err, &re) {
				t.Fatalf("err = %v, want a refused redirect", err)
			}
			if trap.Hits() != 0 {
				t.Fatal("a token went to the redirect's target")
			}
			msg := err.Error()
			for _, want := range []string{fmt.Sprintf("%s/v1/", from), fmt.Sprintf("answered HTTP %d, a redirect to %s", tc.status, trap.URL), "pass its URL with " + option} {
				if !strings.Contains(msg, want) {
					t.Errorf("message lacks %q:\n%s", want, msg)
				}
			}
			if tc.tls != strings.Contains(msg, "drops https") {
				t.Errorf("downgrade named: %t:\n%s", !tc.tls, msg)
			}
			if strings.Contains(msg, exchangetest.LeakyQuery) || strings.Contains(msg, secret) || progress.Len() != 0 {
				t.Errorf("quoted the query or the token, or retried:\n%s\n%s", msg, progress.String())
			}
		})
	}
}

// STS refusing connections is retried, each retry told with its wait, and
// the exchange succeeds once it listens; an untrusted certificate is not
// retried.
func TestConnectionFailuresAreRetriedAndTold(t *testing.T) {
	iss := oidctest.NewServer(t)
	fake := gcptest.New(t)
	p := exchangetest.NewProxy(t, fake.URL)
	p.Down()
	o := options(fake)
	o.STSEndpoint = p.URL
	o.HTTPClient = &http.Client{Transport: &http.Transport{}}
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
	c, err := Exchange(ctx, job(t, iss, oidctest.Job{}), o)
	if err != nil {
		t.Fatal(err)
	}
	if c.Attempts != 3 {
		t.Errorf("%d attempts, want 3", c.Attempts)
	}
	want := regexp.MustCompile(`^keyless: gcp: STS: connection refused; retrying in 1ms \(attempt 2, \d+s left\)\n` +
		`keyless: gcp: STS: connection refused; retrying in 1ms \(attempt 3, \d+s left\)\n$`)
	if !want.MatchString(progress.String()) {
		t.Errorf("progress:\n%s", progress.String())
	}

	progress.Reset()
	tlsFake, _ := gcptest.NewTLS(t)
	o = options(tlsFake)
	o.Progress = &progress
	_, err = Exchange(ctx, job(t, iss, oidctest.Job{}), o)
	var e *Error
	if !errors.Is(err, ErrTLS) || !errors.As(err, &e) || e.Attempts != 1 || progress.Len() != 0 {
		t.Errorf("untrusted certificate: %v, progress %q", err, progress.String())
	}
}
