package gcp

import (
	"context"
	"net/http"
	"testing"

	"gitlab.com/keyless-ci/keyless/internal/exchange"
	"gitlab.com/keyless-ci/keyless/internal/exchange/gcp/gcptest"
	"gitlab.com/keyless-ci/keyless/internal/idtoken"
	"gitlab.com/keyless-ci/keyless/internal/oidctest"
	"gitlab.com/keyless-ci/keyless/internal/secret"
)

// BenchmarkExchange is one STS token exchange and one generateAccessToken
// against the fake on loopback, keep-alive on: the in-process cost of an
// impersonating exchange.
func BenchmarkExchange(b *testing.B) {
	fake := gcptest.New(b)
	iss, err := oidctest.New()
	if err != nil {
		b.Fatal(err)
	}
	iss.URL = "https://gitlab.example.com"
	tok, err := idtoken.Decode(secret.New(iss.MustMint(b, oidctest.Job{Audience: []string{testAudience}})))
	if err != nil {
		b.Fatal(err)
	}
	o := Options{Provider: testProvider, ServiceAccount: testSA, STSEndpoint: fake.URL, IAMEndpoint: fake.URL,
		Seams: exchange.Seams{HTTPClient: &http.Client{Transport: &http.Transport{}}}}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Exchange(ctx, tok, o); err != nil {
			b.Fatal(err)
		}
	}
}
