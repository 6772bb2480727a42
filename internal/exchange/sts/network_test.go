package sts_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"testing"

	"gitlab.com/keyless-ci/keyless/internal/exchange/exchangetest"
	"gitlab.com/keyless-ci/keyless/internal/exchange/sts"
	"gitlab.com/keyless-ci/keyless/internal/exchange/sts/ststest"
)

// A redirect from the token endpoint, to another server or from https to
// plain http, is not followed, under the policy every exchange shares.
func TestRedirectsAreNotFollowed(t *testing.T) {
	for _, tc := range exchangetest.RedirectCases {
		t.Run(tc.Name, func(t *testing.T) {
			tok := token(t)
			var tokenURL string
			exchangetest.CheckRedirectRefused(t, tc, tok.Raw.Reveal(), sts.ErrBadEndpoint,
				func(ctx context.Context, from string, client *http.Client, progress io.Writer) error {
					o := opts(&ststest.Server{URL: from})
					if client != nil {
						o.HTTPClient = client
					}
					o.Progress, tokenURL = progress, o.TokenURL
					_, err := sts.Exchange(ctx, tok, o)
					return err
				},
				func(_, to string) []string {
					return []string{fmt.Sprintf("%s answered HTTP %d, a redirect to %s", tokenURL, tc.Status, to), "pass its URL with --token-url"}
				})
		})
	}
}
