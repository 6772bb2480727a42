package secret_test

import (
	"encoding/base64"
	"errors"
	"net/url"
	"strings"
	"testing"

	"gitlab.com/keyless-ci/keyless/internal/secret"
)

// fakeJWT is JWT-shaped, built here: no key signed it.
func fakeJWT(sub string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"RS256","kid":"test"}`)) + "." + enc([]byte(`{"sub":"`+sub+`"}`)) + "." +
		enc([]byte("not-a-signature-but-long-enough-"+sub))
}

func TestScrubString(t *testing.T) {
	tok := fakeJWT("project_path:g/p:ref_type:branch:ref:main")
	parts := strings.Split(tok, ".")
	const clientSecret = "s3cr3t+client/secret=value"
	for _, tc := range []struct {
		name, in string
	}{
		{"the token", "Invalid JWT token '" + tok + "'"},
		{"another JWT", "previous assertion " + fakeJWT("someone else") + " was used"},
		{"the signature alone", "signature " + parts[2] + " does not verify"},
		{"the token across lines", "bad token " + tok[:40] + "\n  " + tok[40:90] + "\r\n" + tok[90:] + " end"},
		{"the token across spaces", "bad token " + tok[:30] + " " + tok[30:] + " end"},
		{"a query value", "POST https://sts.example/token?assertion=" + url.QueryEscape(clientSecret) + "&x=1 failed"},
		{"a form-encoded secret", "client_secret=" + url.QueryEscape(clientSecret)},
		{"a secret", "secret " + clientSecret + " rejected"},
	} {
		got := secret.ScrubString(tc.in, secret.New(tok), secret.New(clientSecret))
		for _, leak := range append(parts, clientSecret, url.QueryEscape(clientSecret), "eyJ") {
			if strings.Contains(got, leak) {
				t.Errorf("%s: %q leaks %q", tc.name, got, leak)
			}
		}
		if !strings.Contains(got, secret.Redacted) {
			t.Errorf("%s: %q has no %s", tc.name, got, secret.Redacted)
		}
	}
}

func TestScrubStringKeepsTheRest(t *testing.T) {
	for in, want := range map[string]string{
		"Not authorized to perform sts:AssumeRoleWithWebIdentity": "Not authorized to perform sts:AssumeRoleWithWebIdentity",
		"value abc is bad":                                     "value abc is bad", // shorter than any secret worth hiding
		"value s3cr3t-db-password is bad":                      "value [REDACTED] is bad",
		"a\nmultiline message, with s3cr3t-db-password\nin it": "a\nmultiline message, with [REDACTED]\nin it",
		"token eyJhbGciOiJSUzI1NiJ9.e30.c2ln end":              "token [REDACTED] end",
		"": "",
	} {
		if got := secret.ScrubString(in, secret.New("abc"), secret.New("s3cr3t-db-password"), secret.Token{}); got != want {
			t.Errorf("ScrubString(%q) = %q, want %q", in, got, want)
		}
	}
}

// A secret that contains another is replaced whole, not around the other.
func TestScrubStringLongestFirst(t *testing.T) {
	got := secret.ScrubString("x hvs.0123456789abcdefghij y", secret.New("0123456789"), secret.New("hvs.0123456789abcdefghij"))
	if got != "x [REDACTED] y" {
		t.Errorf("got %q", got)
	}
}

func TestScrub(t *testing.T) {
	tok := fakeJWT("sub")
	inner := errors.New("oidc: malformed jwt: " + tok)
	err := secret.Scrub(inner, secret.New(tok))
	if strings.Contains(err.Error(), tok) || !strings.Contains(err.Error(), "oidc: malformed jwt: [REDACTED]") {
		t.Errorf("Scrub = %q", err)
	}
	if errors.Is(err, inner) {
		t.Error("the scrubbed error wraps the original, whose text holds the token")
	}
	if secret.Scrub(nil) != nil {
		t.Error("Scrub(nil) != nil")
	}
}
