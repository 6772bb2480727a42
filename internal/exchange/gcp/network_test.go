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

	"gitlab.com/keyless-ci/keyless/internal/exchange/exchangetest"
	"gitlab.com/keyless-ci/keyless/internal/exchange/gcp/gcptest"
	"gitlab.com/keyless-ci/keyless/internal/oidctest"
)

// A redirect from STS or IAM Credentials, to another server or from https
// to plain http, is not followed: it would carry the ID token, or the
// federated token in its Authorization, there.
func TestRedirectsAreNotFollowed(t *testing.T) {
	iss := oidctest.NewServer(t)
	iamCase := exchangetest.RedirectCase{Name: "307 to another server", Status: 307}
	for _, tc := range []struct {
		exchangetest.RedirectCase
		iam bool
	}{
		{exchangetest.RedirectCases[0], false}, {exchangetest.RedirectCases[1], false}, {exchangetest.RedirectCases[2], false},
		{iamCase, true},
	} {
		name := "STS " + tc.Name
		if tc.iam {
			name = "IAM Credentials " + tc.Name
		}
		t.Run(name, func(t *testing.T) {
			fake := gcptest.New(t)
			tok := job(t, iss, oidctest.Job{})
			secret, option := tok.Raw.Reveal(), "--sts-endpoint"
			if tc.iam {
				secret, option = fake.FederatedToken, "--iamcredentials-endpoint"
			}
			trap := exchangetest.NewTrap(t, secret)
			from, client := exchangetest.Redirector(t, tc.Status, trap.URL, tc.TLS)
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
			exchangetest.CheckRefused(t, tc.RedirectCase, err, ErrRedirect, trap, secret, progress.String(),
				fmt.Sprintf("%s/v1/", from), fmt.Sprintf("answered HTTP %d, a redirect to %s", tc.Status, trap.URL), "pass its URL with "+option)
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
