package idtoken_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"gitlab.com/keyless-ci/keyless/internal/idtoken"
	"gitlab.com/keyless-ci/keyless/internal/oidctest"
)

func TestDiscover(t *testing.T) {
	ctx := context.Background()
	iss := oidctest.NewServer(t)
	d, err := idtoken.Discover(ctx, nil, iss.URL)
	if err != nil {
		t.Fatalf("discover: %v", err)
	}
	if d.URL != iss.URL+oidctest.DiscoveryPath || d.JWKSURI != iss.URL+oidctest.KeysPath {
		t.Errorf("URL %q, JWKSURI %q", d.URL, d.JWKSURI)
	}
	if err := iss.Rotate(true); err != nil {
		t.Fatal(err)
	}
	if n, err := d.Keys(ctx); n != 2 || err != nil {
		t.Errorf("keys: %d, %v; want 2", n, err)
	}

	var de *idtoken.DiscoveryError
	if _, err := idtoken.Discover(ctx, nil, "http://127.0.0.1:1"); !errors.As(err, &de) ||
		strings.Count(err.Error(), "127.0.0.1:1/.well-known/openid-configuration") != 1 {
		t.Errorf("unreachable: %v", err)
	}
	var mm *idtoken.IssuerMismatchError
	minted := iss.URL
	iss.URL += "/elsewhere"
	if _, err := idtoken.Discover(ctx, nil, minted); !errors.As(err, &mm) || mm.Discovered != iss.URL || mm.Expected != minted {
		t.Errorf("another issuer: %v", err)
	}
}

// A Verifier given the discovery document does not fetch it again.
func TestVerifyWithDiscovery(t *testing.T) {
	ctx := context.Background()
	iss := oidctest.NewServer(t)
	tok, err := idtoken.Load(idtoken.Source{Getenv: func(string) string { return iss.MustMint(t, oidctest.Job{}) }})
	if err != nil {
		t.Fatal(err)
	}
	d, err := idtoken.Discover(ctx, nil, iss.URL)
	if err != nil {
		t.Fatal(err)
	}
	if err := (idtoken.Verifier{Issuer: iss.URL, Discovery: d}).Verify(ctx, tok); err != nil {
		t.Fatalf("verify: %v", err)
	}
	if n := iss.Hits(oidctest.DiscoveryPath); n != 1 {
		t.Errorf("discovery fetched %d times, want 1", n)
	}
}

func TestJobDeadline(t *testing.T) {
	started := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name, started, timeout string
		want                   time.Time
		ok                     bool
	}{
		{"both", started.Format(time.RFC3339), "3600", started.Add(time.Hour), true},
		{"no start", "", "3600", time.Time{}, false},
		{"no timeout", started.Format(time.RFC3339), "", time.Time{}, false},
		{"zero timeout", started.Format(time.RFC3339), "0", time.Time{}, false},
		{"unreadable start", "yesterday", "3600", time.Time{}, false},
	} {
		vars := map[string]string{"CI_JOB_STARTED_AT": tc.started, "CI_JOB_TIMEOUT": tc.timeout}
		got, ok := idtoken.JobDeadline(func(k string) string { return vars[k] })
		if ok != tc.ok || !got.Equal(tc.want) {
			t.Errorf("%s: %v, %v; want %v, %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
}
