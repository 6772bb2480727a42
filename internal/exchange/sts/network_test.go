package sts_test

import (
	"fmt"
	"strings"
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
			trap := exchangetest.NewTrap(t, tok.Raw.Reveal())
			from, client := exchangetest.Redirector(t, tc.Status, trap.URL, tc.TLS)
			o := opts(&ststest.Server{URL: from})
			if client != nil {
				o.HTTPClient = client
			}
			var progress strings.Builder
			o.Progress = &progress
			_, err := sts.Exchange(bounded(t), tok, o)
			exchangetest.CheckRefused(t, tc, err, sts.ErrBadEndpoint, trap, tok.Raw.Reveal(), progress.String(),
				fmt.Sprintf("%s answered HTTP %d, a redirect to %s", o.TokenURL, tc.Status, trap.URL), "pass its URL with --token-url")
		})
	}
}
