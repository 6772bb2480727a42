// Package crates exchanges a GitLab ID token for a short-lived crates.io
// publish token ("trusted publishing", issue 18), revokes it when the job is
// done with it, and explains the registry's refusals claim by claim.
//
// The protocol is crates.io's (rust-lang/crates.io,
// src/controllers/trustpub/tokens/): POST REGISTRY/api/v1/trusted_publishing/tokens
// with {"jwt": ID_TOKEN} answers {"token": TOKEN}, valid 30 minutes; DELETE
// on the same path with the token as the bearer revokes it (204); a refusal
// is {"errors": [{"detail": "..."}]}, 400 for every claim that does not
// match. The ID token's audience is the registry's host, "crates.io"
// (TRUSTPUB_AUDIENCE defaults to DOMAIN_NAME in src/config/server.rs;
// rust-lang/crates-io-auth-action derives it from the URL the same way).
package crates

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"gitlab.com/keyless-ci/keyless/internal/exchange"
	"gitlab.com/keyless-ci/keyless/internal/idtoken"
	"gitlab.com/keyless-ci/keyless/internal/lazyre"
	"gitlab.com/keyless-ci/keyless/internal/option"
	"gitlab.com/keyless-ci/keyless/internal/secret"
)

// Registry and paths.
const (
	DefaultRegistry = "https://crates.io"
	TokensPath      = "/api/v1/trusted_publishing/tokens"
	// Lifetime is what crates.io gives a token (expires_at = now + 30
	// minutes in exchange/mod.rs); the answer does not say it.
	Lifetime = 30 * time.Minute
)

// The options an exchange's messages name (package option).
const (
	OptRegistryURL option.Name = "registry-url"
	OptRegistry    option.Name = "registry"
	OptCAFile      option.Name = "ca-file"
)

// Options configure one exchange.
type Options struct {
	// RegistryURL is the registry's base URL, https://crates.io by default.
	RegistryURL string
	// InsecureHTTP are hosts plain http may go to (KEYLESS_INSECURE_HTTP_HOSTS).
	InsecureHTTP exchange.InsecureHosts
	exchange.Seams
}

// Base is RegistryURL, or DefaultRegistry, without a trailing '/'.
func (o Options) Base() string {
	return strings.TrimRight(cmp.Or(strings.TrimSpace(o.RegistryURL), DefaultRegistry), "/")
}

// Audience is the aud the registry expects: its URL without the scheme,
// as crates-io-auth-action's getAudienceFromUrl derives it ("crates.io").
func (o Options) Audience() string {
	b := o.Base()
	if i := strings.Index(b, "://"); i >= 0 {
		return b[i+3:]
	}
	return b
}

// TokensURL is where tokens are exchanged and revoked.
func (o Options) TokensURL() string { return o.Base() + TokensPath }

// Validate checks the options that do not need the network.
func (o Options) Validate() error {
	b := o.Base()
	if err := exchange.CheckEndpoint(OptRegistryURL, b, "the ID token", o.InsecureHTTP); err != nil {
		return err
	}
	if u, _ := url.Parse(b); strings.ContainsAny(b, "?#") || strings.Contains(u.Path, "/api/") {
		return option.Errorf("%s %q: give the registry's base URL, e.g. %s, without a path, query or fragment", option.Ref(OptRegistryURL), exchange.DisplayURL(b), DefaultRegistry)
	}
	return nil
}

// Credentials are what the registry issued.
type Credentials struct {
	Token      secret.Token
	Registry   string // DisplayURL of the registry
	Audience   string
	Expiration time.Time
	Attempts   int
}

const maxBody = 1 << 20

// Exchange checks that the ID token is for the registry (before it leaves
// the job) and trades it for a publish token. The context's deadline bounds
// every attempt and wait.
func Exchange(ctx context.Context, tok *idtoken.Token, o Options) (*Credentials, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	aud := o.Audience()
	if !slices.Contains(tok.Claims.Audience, aud) {
		return nil, newError(&failure{audience: true}, o, tok, 0)
	}
	body, err := json.Marshal(struct {
		JWT string `json:"jwt"`
	}{tok.Raw.Reveal()})
	if err != nil {
		return nil, err
	}
	// A redirect would carry the ID token wherever Location points.
	client := exchange.NoRedirects(o.HTTPClient, OptRegistryURL)
	var creds *Credentials
	n, f := retry(ctx, o, "token exchange", func(ctx context.Context) *failure {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, o.TokensURL(), strings.NewReader(string(body)))
		if err != nil {
			return &failure{transport: err}
		}
		req.Header.Set("Content-Type", "application/json")
		b, f := do(client, o, req)
		if f != nil {
			return f
		}
		// Never quoted: the body holds the token.
		var r struct {
			Token *string `json:"token"`
		}
		if json.Unmarshal(b, &r) != nil {
			return &failure{status: 200, badBody: "its body is not the JSON object crates.io answers with"}
		}
		if r.Token == nil || *r.Token == "" {
			return &failure{status: 200, badBody: "it has no token"}
		}
		creds = &Credentials{Token: secret.New(*r.Token)}
		return nil
	})
	if f != nil {
		return nil, newError(f, o, tok, n)
	}
	creds.Registry, creds.Audience, creds.Attempts = exchange.DisplayURL(o.Base()), aud, n
	creds.Expiration = o.Clock()().Add(Lifetime).Truncate(time.Second)
	return creds, nil
}

// ErrRevoke is a revocation that failed; the token still expires on its own.
var ErrRevoke = errors.New("crates: the token was not revoked")

// Revoke ends token at the registry, as crates-io-auth-action's post step
// does: DELETE on the tokens path with the token as the bearer, 204. A
// token crates.io no longer knows is deleted all the same (revoke/mod.rs
// deletes by hash and answers 204), so only a transport failure or an
// error status fails.
func Revoke(ctx context.Context, token secret.Token, o Options) error {
	if err := o.Validate(); err != nil {
		return err
	}
	client := exchange.NoRedirects(o.HTTPClient, OptRegistryURL)
	_, f := retry(ctx, o, "revoke", func(ctx context.Context) *failure {
		req, err := http.NewRequestWithContext(ctx, http.MethodDelete, o.TokensURL(), nil)
		if err != nil {
			return &failure{transport: err}
		}
		req.Header.Set("Authorization", "Bearer "+token.Reveal())
		_, f := do(client, o, req)
		return f
	})
	if f == nil {
		return nil
	}
	secrets := []secret.Token{token}
	what := exchange.Describe(f.transport, f.status, "")
	if f.detail != "" {
		what += ": " + exchange.Printable(secret.ScrubString(f.detail, secrets...), 300)
	} else if f.transport != nil {
		what = exchange.Printable(secret.ScrubString(f.transport.Error(), secrets...), 300)
	}
	return &RevokeError{Registry: exchange.DisplayURL(o.Base()), Status: f.status, Reason: what}
}

// RevokeError is a failed revocation; it never holds the token.
type RevokeError struct {
	Registry string
	Status   int
	Reason   string
}

func (e *RevokeError) Error() string {
	return "crates: revoking the token at " + e.Registry + " failed (" + e.Reason + "); it expires by itself within 30 minutes of the exchange"
}

func (e *RevokeError) Unwrap() error { return ErrRevoke }

// failure is one unsuccessful attempt, as much as is safe to keep of it.
type failure struct {
	status      int
	detail      string // the first errors[].detail, raw, scrubbed later
	contentType string
	location    string
	badBody     string
	audience    bool
	transport   error
}

// do sends req and returns the body of a 2xx answer, or the failure.
// crates.io refuses requests without a User-Agent
// (src/middleware/no_user_agent_message.txt).
func do(client *http.Client, o Options, req *http.Request) ([]byte, *failure) {
	o.UserAgent = cmp.Or(o.UserAgent, "keyless")
	resp, b, err := o.Send(client, req, maxBody)
	if err != nil {
		return nil, &failure{transport: err}
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return b, nil
	}
	f := &failure{status: resp.StatusCode, contentType: resp.Header.Get("Content-Type"), location: resp.Header.Get("Location")}
	var e struct {
		Errors []struct {
			Detail string `json:"detail"`
		} `json:"errors"`
	}
	if json.Unmarshal(b, &e) == nil && len(e.Errors) > 0 {
		f.detail = e.Errors[0].Detail
	}
	return nil, f
}

// retry runs f under the shared policy: transient failures are retried.
func retry(ctx context.Context, o Options, step string, f func(context.Context) *failure) (int, *failure) {
	return exchange.DoAttempts(ctx, o.Retry(exchange.Retry{
		Name:     "crates: " + step,
		LogMsg:   "crates attempt failed, retrying",
		LogAttrs: []any{"step", step},
	}), f)
}

// Error lets a failure travel through exchange.Retry; it names the class
// only, never the server's text.
func (f *failure) Error() string { return exchange.Describe(f.transport, f.status, "") }

func (f *failure) Transient() bool { return exchange.Transient(f.transport, f.status) }

var registryName = lazyre.New(`^[A-Za-z0-9][A-Za-z0-9_-]*$`)

// CheckRegistry returns an error unless name can be a cargo registry name,
// which becomes part of a variable name.
func CheckRegistry(name string) error {
	if !registryName().MatchString(name) {
		return option.Invalid(OptRegistry, name, "use letters, digits, '-' and '_', as in cargo publish --registry NAME")
	}
	return nil
}
