package gcp

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"testing"

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
			exchangetest.CheckRedirectRefused(t, tc.RedirectCase, secret, ErrRedirect,
				func(ctx context.Context, from string, client *http.Client, progress io.Writer) error {
					o := options(fake)
					if tc.iam {
						o.ServiceAccount, o.IAMEndpoint = testSA, from
					} else {
						o.STSEndpoint = from
					}
					o.HTTPClient, o.Progress = client, progress
					_, err := Exchange(ctx, tok, o)
					return err
				},
				func(from, to string) []string {
					return []string{fmt.Sprintf("%s/v1/", from), fmt.Sprintf("answered HTTP %d, a redirect to %s", tc.Status, to), "pass its URL with " + option}
				})
		})
	}
}

// Connections that fail without an answer are retried, each retry told
// with its wait, and the exchange succeeds once STS answers: the refused,
// reset and dropped connections are the kernel's own, from a proxy in
// front of the fake.
func TestConnectionFailuresAreRetriedAndTold(t *testing.T) {
	iss := oidctest.NewServer(t)
	for _, tc := range exchangetest.ConnCases {
		t.Run(tc.Name, func(t *testing.T) {
			fake := gcptest.New(t)
			tok := job(t, iss, oidctest.Job{})
			exchangetest.CheckConnectionFailuresAreRetried(t, tc, fake.URL, "gcp: STS", func() int { return len(fake.Requests()) },
				func(endpoint string) exchangetest.Exchange {
					o := options(fake)
					o.STSEndpoint = endpoint
					o.HTTPClient = &http.Client{Transport: &http.Transport{}}
					return run(tok, o)
				})
		})
	}
}
