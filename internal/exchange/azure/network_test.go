package azure_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"gitlab.com/keyless-ci/keyless/internal/exchange/azure"
	"gitlab.com/keyless-ci/keyless/internal/exchange/exchangetest"
)

// A redirect from the authority host, to another server or from https to
// plain http, is not followed: it would re-send the client assertion, the
// ID token, there.
func TestRedirectsAreNotFollowed(t *testing.T) {
	for _, tc := range exchangetest.RedirectCases {
		t.Run(tc.Name, func(t *testing.T) {
			_, entra, tok := setup(t, job)
			trap := exchangetest.NewTrap(t, tok.Raw.Reveal())
			from, client := exchangetest.Redirector(t, tc.Status, trap.URL, tc.TLS)
			o := opts(entra)
			o.AuthorityHost, o.HTTPClient = from, client
			var progress strings.Builder
			o.Progress = &progress
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, err := azure.Exchange(ctx, tok, o)
			exchangetest.CheckRefused(t, tc, err, azure.ErrRedirect, trap, tok.Raw.Reveal(), progress.String(),
				fmt.Sprintf("%s/%s/oauth2/v2.0/token answered HTTP %d, a redirect to %s", from, o.TenantID, tc.Status, trap.URL), "pass its URL with --authority-host")
			if len(entra.Requests()) != 0 {
				t.Error("the token reached Entra through the redirect")
			}
		})
	}
}
