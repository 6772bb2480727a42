// Package idtoken finds the job's GitLab ID token, decodes its claims and
// checks them. It never prints or returns the token's text except through
// secret.Token.
package idtoken

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"gitlab.com/keyless-ci/keyless/internal/secret"
)

// DefaultVar is the variable read when no other is named.
const DefaultVar = "KEYLESS_ID_TOKEN"

// maxTokenBytes bounds what is read from a variable or file: GitLab's tokens
// are around 1 KiB; anything vastly larger is not a token.
const maxTokenBytes = 64 << 10

// Token is a decoded, unverified ID token.
type Token struct {
	Raw    secret.Token
	Claims Claims
	// Set is every claim of the payload as JSON decodes it, the ones Claims
	// names and any other: what trust policies are evaluated against.
	Set map[string]any
	// Source names where the token came from, e.g. "$KEYLESS_ID_TOKEN".
	Source string
}

// Source says where to find the token.
type Source struct {
	Var      string                       // environment variable; DefaultVar when empty
	File     string                       // file path; takes precedence over Var
	Getenv   func(string) string          // os.Getenv when nil
	ReadFile func(string) ([]byte, error) // os.ReadFile when nil
	Audience string                       // for the hint in NoTokenError only
}

// Load reads and decodes the token.
func Load(src Source) (*Token, error) {
	name := src.Var
	if name == "" {
		name = DefaultVar
	}
	var raw, from string
	if src.File != "" {
		read := src.ReadFile
		if read == nil {
			read = os.ReadFile
		}
		b, err := read(src.File)
		if err != nil {
			return nil, fmt.Errorf("read ID token file: %w", err)
		}
		if len(b) > maxTokenBytes {
			return nil, &MalformedError{Reason: fmt.Sprintf("file %q is %d bytes, far larger than an ID token", src.File, len(b))}
		}
		raw, from = string(b), src.File
	} else {
		getenv := src.Getenv
		if getenv == nil {
			getenv = os.Getenv
		}
		raw, from = getenv(name), "$"+name
	}
	raw = strings.TrimSpace(raw)
	if raw == "" {
		e := &NoTokenError{Var: name, Audience: src.Audience}
		if src.File != "" {
			e.File = src.File
		}
		return nil, e
	}
	t, err := Decode(secret.New(raw))
	if err != nil {
		return nil, err
	}
	t.Source = from
	return t, nil
}

// Decode parses a compact JWS without verifying it.
func Decode(raw secret.Token) (*Token, error) {
	s := raw.Reveal()
	if len(s) > maxTokenBytes {
		return nil, &MalformedError{Reason: fmt.Sprintf("%d bytes, far larger than an ID token", len(s))}
	}
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return nil, &MalformedError{Reason: fmt.Sprintf("a JWT has 3 dot-separated parts, this value has %d", len(parts))}
	}
	var hdr struct {
		Alg string `json:"alg"`
	}
	if err := decodeSegment(parts[0], &hdr); err != nil {
		return nil, &MalformedError{Reason: "header: " + err.Error()}
	}
	if hdr.Alg == "" || strings.EqualFold(hdr.Alg, "none") {
		return nil, &MalformedError{Reason: "the header names no signing algorithm"}
	}
	payload, err := segment(parts[1])
	if err != nil {
		return nil, &MalformedError{Reason: "claims: " + err.Error()}
	}
	var c Claims
	if err := json.Unmarshal(payload, &c); err != nil {
		return nil, &MalformedError{Reason: "claims: " + err.Error(), Claim: claimOf(err)}
	}
	// Set keeps numbers as json.Number: runner_id stays 12270835, not a
	// float, and the evaluators see the JSON type GitLab sent.
	var set map[string]any
	d := json.NewDecoder(bytes.NewReader(payload))
	d.UseNumber()
	if err := d.Decode(&set); err != nil {
		return nil, &MalformedError{Reason: "claims: not a JSON object"}
	}
	if parts[2] == "" {
		return nil, &MalformedError{Reason: "the signature is empty"}
	}
	if c.Issuer == "" || c.ExpiresAt.IsZero() {
		return nil, &MalformedError{Reason: "the claims lack iss or exp"}
	}
	return &Token{Raw: raw, Claims: c, Set: set}, nil
}

// segment decodes a base64url segment.
func segment(seg string) ([]byte, error) {
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(seg, "="))
	if err != nil {
		return nil, errors.New("not base64url")
	}
	return b, nil
}

// decodeSegment decodes a base64url JSON segment into v.
func decodeSegment(seg string, v any) error {
	b, err := segment(seg)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return errors.New("not a JSON object")
	}
	return nil
}

// claimOf names the claim a decoding error is about, if any.
func claimOf(err error) string {
	var ce *ClaimError
	if errors.As(err, &ce) {
		return ce.Claim
	}
	return ""
}

// Leeway is the clock skew tolerated on exp and nbf.
const Leeway = 30 * time.Second

// CheckTime returns an *ExpiredError when the token is expired or not yet
// valid at now.
func (t *Token) CheckTime(now time.Time) error {
	c := t.Claims
	if now.After(c.ExpiresAt.Add(Leeway)) || (!c.NotBefore.IsZero() && now.Add(Leeway).Before(c.NotBefore.Time)) {
		return &ExpiredError{ExpiresAt: c.ExpiresAt.Time, NotBefore: c.NotBefore.Time, Now: now}
	}
	return nil
}

// CheckAudience returns an *AudienceError unless want is one of the token's
// audiences. An empty want accepts any audience.
func (t *Token) CheckAudience(want, varName string) error {
	if want == "" || t.Claims.Audience.Contains(want) {
		return nil
	}
	return &AudienceError{Want: want, Got: t.Claims.Audience, Var: varName}
}

// Remaining is the token's remaining lifetime at now (negative when expired).
func (t *Token) Remaining(now time.Time) time.Duration {
	return t.Claims.ExpiresAt.Sub(now)
}

// Verifier checks signatures against an issuer's published keys.
type Verifier struct {
	Issuer   string
	Audience string // empty skips the audience check
	Client   *http.Client
	Now      func() time.Time
	// Discovery, when set, is the issuer's discovery document already
	// fetched (Discover); Verify fetches it otherwise.
	Discovery *Discovery
}

// Verify checks the token's signature, issuer, audience and lifetime using
// the issuer's discovery document and JWKS.
func (v Verifier) Verify(ctx context.Context, t *Token) error {
	issuer := strings.TrimSuffix(v.Issuer, "/")
	if issuer == "" {
		issuer = t.Claims.Issuer
	}
	if v.Client != nil {
		ctx = oidc.ClientContext(ctx, v.Client)
	}
	d := v.Discovery
	if d == nil {
		var err error
		if d, err = Discover(ctx, v.Client, issuer); err != nil {
			// go-oidc's own error, as before Discover (issue 14).
			var de *DiscoveryError
			var mm *IssuerMismatchError
			if errors.As(err, &de) {
				err = de.Err
			} else if errors.As(err, &mm) {
				err = mm.Err
			}
			return &VerifyError{Issuer: issuer, Err: err}
		}
	}
	cfg := &oidc.Config{ClientID: v.Audience, SkipClientIDCheck: v.Audience == "", Now: v.Now}
	if _, err := d.provider.VerifierContext(ctx, cfg).Verify(ctx, t.Raw.Reveal()); err != nil {
		var exp *oidc.TokenExpiredError
		if errors.As(err, &exp) {
			now := time.Now()
			if v.Now != nil {
				now = v.Now()
			}
			return &ExpiredError{ExpiresAt: exp.Expiry, Now: now}
		}
		return &VerifyError{Issuer: issuer, Err: scrub(err, t.Raw)}
	}
	return nil
}

// scrub guarantees that an error from a library cannot carry the token:
// secret.ScrubString, the one redaction rule, keyless's every exchange uses.
func scrub(err error, raw secret.Token) error {
	if err == nil {
		return nil
	}
	if s := secret.ScrubString(err.Error(), raw); s != err.Error() {
		return errors.New(s)
	}
	return err
}
