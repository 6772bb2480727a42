package azure_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"gitlab.com/keyless-ci/keyless/internal/exchange"
	"gitlab.com/keyless-ci/keyless/internal/exchange/azure"
	"gitlab.com/keyless-ci/keyless/internal/exchange/exchangetest"
)

// A redirect from the authority host, to another server or from https to
// plain http, is not followed: it would re-send the client assertion, the
// ID token, there.
func TestRedirectsAreNotFollowed(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		tls    bool
	}{
		{"307 to another server", 307, false},
		{"308 to another server", 308, false},
		{"https to http", 307, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, entra, tok := setup(t, job)
			trap := exchangetest.NewTrap(t, tok.Raw.Reveal())
			from, client := exchangetest.Redirector(t, tc.status, trap.URL, tc.tls)
			o := opts(entra)
			o.AuthorityHost, o.HTTPClient = from, client
			var progress strings.Builder
			o.Progress = &progress
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, err := azure.Exchange(ctx, tok, o)
			var re *exchange.RedirectError
			if !errors.Is(err, azure.ErrRedirect) || !errors.As(err, &re) {
				t.Fatalf("err = %v, want a refused redirect", err)
			}
			if trap.Hits() != 0 || len(entra.Requests()) != 0 {
				t.Fatal("the token went elsewhere")
			}
			msg := err.Error()
			for _, want := range []string{fmt.Sprintf("%s/%s/oauth2/v2.0/token answered HTTP %d, a redirect to %s", from, o.TenantID, tc.status, trap.URL), "pass its URL with --authority-host"} {
				if !strings.Contains(msg, want) {
					t.Errorf("message lacks %q:\n%s", want, msg)
				}
			}
			if tc.tls != strings.Contains(msg, "drops https") {
				t.Errorf("downgrade named: %t:\n%s", !tc.tls, msg)
			}
			if strings.Contains(msg, exchangetest.LeakyQuery) || strings.Contains(msg, tok.Raw.Reveal()) || progress.Len() != 0 {
				t.Errorf("quoted the query or the token, or retried:\n%s\n%s", msg, progress.String())
			}
		})
	}
}
