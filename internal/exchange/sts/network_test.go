package sts_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"gitlab.com/keyless-ci/keyless/internal/exchange"
	"gitlab.com/keyless-ci/keyless/internal/exchange/exchangetest"
	"gitlab.com/keyless-ci/keyless/internal/exchange/sts"
	"gitlab.com/keyless-ci/keyless/internal/exchange/sts/ststest"
)

// A redirect from the token endpoint, to another server or from https to
// plain http, is not followed, under the policy every exchange shares.
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
			tok := token(t)
			trap := exchangetest.NewTrap(t, tok.Raw.Reveal())
			from, client := exchangetest.Redirector(t, tc.status, trap.URL, tc.tls)
			o := opts(&ststest.Server{URL: from})
			if client != nil {
				o.HTTPClient = client
			}
			var progress strings.Builder
			o.Progress = &progress
			_, err := sts.Exchange(bounded(t), tok, o)
			var re *exchange.RedirectError
			if !errors.Is(err, sts.ErrBadEndpoint) || !errors.As(err, &re) {
				t.Fatalf("err = %v, want a refused redirect", err)
			}
			if trap.Hits() != 0 {
				t.Fatal("the ID token went to the redirect's target")
			}
			msg := err.Error()
			for _, want := range []string{fmt.Sprintf("%s answered HTTP %d, a redirect to %s", o.TokenURL, tc.status, trap.URL), "pass its URL with --token-url"} {
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
