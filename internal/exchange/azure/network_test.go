package azure_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"testing"

	"gitlab.com/keyless-ci/keyless/internal/exchange/azure"
	"gitlab.com/keyless-ci/keyless/internal/exchange/azure/azuretest"
	"gitlab.com/keyless-ci/keyless/internal/exchange/exchangetest"
	"gitlab.com/keyless-ci/keyless/internal/oidctest"
)

// A redirect from the authority host, to another server or from https to
// plain http, is not followed: it would re-send the client assertion, the
// ID token, there.
func TestRedirectsAreNotFollowed(t *testing.T) {
	for _, tc := range exchangetest.RedirectCases {
		t.Run(tc.Name, func(t *testing.T) {
			_, entra, tok := setup(t, job)
			tenant := opts(entra).TenantID
			exchangetest.CheckRedirectRefused(t, tc, tok.Raw.Reveal(), azure.ErrRedirect,
				func(ctx context.Context, from string, client *http.Client, progress io.Writer) error {
					o := opts(entra)
					o.AuthorityHost, o.HTTPClient, o.Progress = from, client, progress
					_, err := azure.Exchange(ctx, tok, o)
					return err
				},
				func(from, to string) []string {
					return []string{fmt.Sprintf("%s/%s/oauth2/v2.0/token answered HTTP %d, a redirect to %s", from, tenant, tc.Status, to), "pass its URL with --authority-host"}
				})
			if len(entra.Requests()) != 0 {
				t.Error("the token reached Entra through the redirect")
			}
		})
	}
}

// Connections that fail without an answer are retried, each retry told
// with its wait, and the exchange succeeds once Entra answers: the
// refused, reset and dropped connections are the kernel's own, from a
// proxy in front of the fake.
func TestConnectionFailuresAreRetriedAndTold(t *testing.T) {
	for _, tc := range exchangetest.ConnCases {
		t.Run(tc.Name, func(t *testing.T) {
			_, entra, tok := setup(t, job)
			exchangetest.CheckConnectionFailuresAreRetried(t, tc, entra.URL, "azure: Entra", func() int { return len(entra.TokenRequests()) },
				func(endpoint string) exchangetest.Exchange {
					o := opts(entra)
					o.AuthorityHost = endpoint
					o.HTTPClient = &http.Client{Transport: &http.Transport{}}
					return run(tok, o)
				})
		})
	}
}

// An untrusted certificate fails at once, with the fix, and is not
// retried.
func TestUntrustedCertificateIsNotRetried(t *testing.T) {
	iss := oidctest.NewServer(t)
	entra, _ := azuretest.NewTLS(t)
	exchangetest.CheckUntrustedCertificateIsNotRetried(t, run(mint(t, iss, job), opts(entra)), "--ca-file")
}
