package idtoken_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"gitlab.com/keyless-ci/keyless/internal/idtoken"
	"gitlab.com/keyless-ci/keyless/internal/oidctest"
	"gitlab.com/keyless-ci/keyless/internal/secret"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestLoadDecodesGitLabClaims(t *testing.T) {
	iss := oidctest.NewServer(t)
	raw := iss.MustMint(t, oidctest.Job{Environment: "production"})
	tok, err := idtoken.Load(idtoken.Source{Getenv: env(map[string]string{"KEYLESS_ID_TOKEN": raw + "\n"})})
	if err != nil {
		t.Fatal(err)
	}
	c := tok.Claims
	got := []string{c.Issuer, c.Subject, strings.Join(c.Audience, ","), c.ProjectPath, c.ProjectID, c.Ref, c.RefType, c.RefProtected, c.Environment, tok.Source}
	want := []string{iss.URL, "project_path:keyless-ci/demo:ref_type:branch:ref:main", "sts.amazonaws.com", "keyless-ci/demo", "4242", "main", "branch", "true", "production", "$KEYLESS_ID_TOKEN"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("claims (-want +got):\n%s", diff)
	}
	if tok.Raw.Reveal() != raw {
		t.Error("raw token not kept")
	}
	// Set holds every claim as JSON decodes it, for trust evaluation.
	if tok.Set["project_path"] != "keyless-ci/demo" || tok.Set["environment"] != "production" || tok.Set["aud"] != "sts.amazonaws.com" {
		t.Errorf("Set = %v", tok.Set)
	}
}

func TestLoadFromFileAndNamedVar(t *testing.T) {
	iss := oidctest.NewServer(t)
	raw := iss.MustMint(t, oidctest.Job{})
	tok, err := idtoken.Load(idtoken.Source{File: "/x", ReadFile: func(string) ([]byte, error) { return []byte(raw), nil }})
	if err != nil || tok.Source != "/x" {
		t.Fatalf("file: %v %v", tok, err)
	}
	tok, err = idtoken.Load(idtoken.Source{Var: "MY_TOKEN", Getenv: env(map[string]string{"MY_TOKEN": raw})})
	if err != nil || tok.Source != "$MY_TOKEN" {
		t.Fatalf("var: %v %v", tok, err)
	}
}

func TestNoTokenShowsTheYAMLToAdd(t *testing.T) {
	_, err := idtoken.Load(idtoken.Source{Var: "KEYLESS_AWS_ID_TOKEN", Audience: "sts.amazonaws.com", Getenv: env(nil)})
	var nt *idtoken.NoTokenError
	if !errors.As(err, &nt) {
		t.Fatalf("err = %v, want NoTokenError", err)
	}
	for _, s := range []string{"$KEYLESS_AWS_ID_TOKEN is not set", "id_tokens:", "KEYLESS_AWS_ID_TOKEN:", "aud: sts.amazonaws.com"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error lacks %q:\n%s", s, err)
		}
	}
}

func TestMalformedNeverEchoesTheValue(t *testing.T) {
	const canary = "CANARYtokenVALUE"
	for _, v := range []string{
		canary,
		canary + "." + canary,
		"eyJhbGciOiJub25lIn0." + canary + ".sig",
		"eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJ4In0." + canary, // no exp
		"eyJhbGciOiJSUzI1NiJ9.eyJhdWQiOjF9." + canary,    // aud of the wrong type
		"eyJhbGciOiJSUzI1NiJ9." + canary + "." + canary,
		strings.Repeat(canary, 10000),
	} {
		_, err := idtoken.Decode(secret.New(v))
		var m *idtoken.MalformedError
		if !errors.As(err, &m) {
			t.Errorf("Decode(%.20q) err = %v, want MalformedError", v, err)
			continue
		}
		if strings.Contains(err.Error(), canary) {
			t.Errorf("error echoes the value: %v", err)
		}
	}
}

func TestCheckTime(t *testing.T) {
	iss := oidctest.NewServer(t)
	now := time.Now().Truncate(time.Second)
	tok, err := idtoken.Decode(secret.New(iss.MustMint(t, oidctest.Job{IssuedAt: now.Add(-2 * time.Hour), TTL: time.Hour})))
	if err != nil {
		t.Fatal(err)
	}
	err = tok.CheckTime(now)
	var ex *idtoken.ExpiredError
	if !errors.As(err, &ex) {
		t.Fatalf("err = %v, want ExpiredError", err)
	}
	if !strings.Contains(err.Error(), "expired 1h0m0s ago") || !strings.Contains(err.Error(), "timeout") {
		t.Errorf("message: %v", err)
	}
	fresh, _ := idtoken.Decode(secret.New(iss.MustMint(t, oidctest.Job{})))
	if err := fresh.CheckTime(time.Now()); err != nil {
		t.Errorf("fresh token: %v", err)
	}
	if err := fresh.CheckTime(time.Now().Add(-time.Hour)); !errors.As(err, &ex) || !strings.Contains(err.Error(), "not valid yet") {
		t.Errorf("future token: %v", err)
	}
}

func TestCheckAudience(t *testing.T) {
	iss := oidctest.NewServer(t)
	tok, _ := idtoken.Decode(secret.New(iss.MustMint(t, oidctest.Job{Audience: []string{"a", "b"}})))
	if err := tok.CheckAudience("b", ""); err != nil {
		t.Errorf("b: %v", err)
	}
	err := tok.CheckAudience("sts.amazonaws.com", "KEYLESS_AWS_ID_TOKEN")
	var ae *idtoken.AudienceError
	if !errors.As(err, &ae) || !strings.Contains(err.Error(), `"a,b"`) || !strings.Contains(err.Error(), "aud: sts.amazonaws.com") {
		t.Errorf("err = %v", err)
	}
}

func TestVerify(t *testing.T) {
	iss := oidctest.NewServer(t)
	ctx := context.Background()
	raw := iss.MustMint(t, oidctest.Job{})
	tok, _ := idtoken.Decode(secret.New(raw))
	if err := (idtoken.Verifier{Issuer: iss.URL + "/", Audience: "sts.amazonaws.com"}).Verify(ctx, tok); err != nil {
		t.Fatalf("verify: %v", err)
	}
	// Rotation keeping the old key: old tokens still verify.
	if err := iss.Rotate(true); err != nil {
		t.Fatal(err)
	}
	if err := (idtoken.Verifier{Issuer: iss.URL}).Verify(ctx, tok); err != nil {
		t.Fatalf("after rotation: %v", err)
	}
	// Dropping the old key: the signature no longer verifies.
	if err := iss.Rotate(false); err != nil {
		t.Fatal(err)
	}
	err := (idtoken.Verifier{Issuer: iss.URL}).Verify(ctx, tok)
	var ve *idtoken.VerifyError
	if !errors.As(err, &ve) {
		t.Fatalf("err = %v, want VerifyError", err)
	}
	if strings.Contains(err.Error(), raw) {
		t.Error("error contains the token")
	}
	// Another issuer's discovery document does not vouch for this token.
	other := oidctest.NewServer(t)
	if err := (idtoken.Verifier{Issuer: other.URL}).Verify(ctx, tok); !errors.As(err, &ve) {
		t.Errorf("other issuer: %v", err)
	}
	// Forged: a token signed by a key the issuer never published.
	forger := oidctest.NewServer(t)
	forger.URL = iss.URL
	forged, _ := idtoken.Decode(secret.New(forger.MustMint(t, oidctest.Job{})))
	if err := (idtoken.Verifier{Issuer: iss.URL}).Verify(ctx, forged); !errors.As(err, &ve) {
		t.Errorf("forged: %v", err)
	}
	// Wrong audience.
	fresh, _ := idtoken.Decode(secret.New(iss.MustMint(t, oidctest.Job{})))
	if err := (idtoken.Verifier{Issuer: iss.URL, Audience: "other"}).Verify(ctx, fresh); !errors.As(err, &ve) {
		t.Errorf("audience: %v", err)
	}
	// Expired.
	old, _ := idtoken.Decode(secret.New(iss.MustMint(t, oidctest.Job{IssuedAt: time.Now().Add(-3 * time.Hour)})))
	var ex *idtoken.ExpiredError
	if err := (idtoken.Verifier{Issuer: iss.URL}).Verify(ctx, old); !errors.As(err, &ex) {
		t.Errorf("expired: %v", err)
	}
}
