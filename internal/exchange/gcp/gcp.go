// Package gcp exchanges a GitLab ID token for a Google Cloud access token
// with Workload Identity Federation: the Security Token Service's token
// exchange (RFC 8693) gives a federated token, which is either the access
// token itself (direct resource access) or is traded for a service
// account's token with IAM Credentials generateAccessToken (impersonation).
// It retries only what is transient and explains rejections.
// https://google.aip.dev/auth/4117
//
// The two calls are made here rather than through golang.org/x/oauth2's
// google/externalaccount, which was weighed first and cannot do what keyless
// needs: its Config has no delegates, so --delegates would be impossible; it
// flattens every failure into fmt.Errorf("%v") text, which loses the HTTP
// status and the transport error's type (context deadline, x509), so neither
// the retry rule (5xx, 429 and connection errors only) nor the explanations
// could be decided without parsing its strings; and it binds one context at
// construction. The calls themselves are two small, documented POSTs. The
// library stays the oracle: the tests load the external_account file keyless
// writes with google.CredentialsFromJSON against the fake and compare the
// requests it sends with ours.
package gcp

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"gitlab.com/keyless-ci/keyless/internal/exchange"
	"gitlab.com/keyless-ci/keyless/internal/idtoken"
	"gitlab.com/keyless-ci/keyless/internal/option"
	"gitlab.com/keyless-ci/keyless/internal/secret"
)

// Protocol constants of the STS token exchange.
// https://cloud.google.com/iam/docs/reference/sts/rest/v1/TopLevel/token
const (
	GrantType          = "urn:ietf:params:oauth:grant-type:token-exchange"
	RequestedTokenType = "urn:ietf:params:oauth:token-type:access_token"
	SubjectTokenType   = "urn:ietf:params:oauth:token-type:jwt"
	CloudPlatformScope = "https://www.googleapis.com/auth/cloud-platform"
	DefaultUniverse    = "googleapis.com"
	// MaxSubjectBytes is Google's limit on a mapped google.subject.
	MaxSubjectBytes = 127
)

// Options configure one exchange.
type Options struct {
	// InsecureHTTP are hosts plain http may go to (KEYLESS_INSECURE_HTTP_HOSTS).
	InsecureHTTP exchange.InsecureHosts
	// Provider is the workload identity pool provider's resource name.
	Provider string
	// ServiceAccount, when set, is impersonated with the federated token.
	ServiceAccount string
	// Delegates is the delegation chain to ServiceAccount (emails).
	Delegates []string
	// Lifetime of the impersonated token; zero uses the API's hour.
	Lifetime time.Duration
	// Scopes of the access token; default cloud-platform.
	Scopes []string
	// Universe is the Cloud universe's domain; default googleapis.com.
	Universe string
	// STSEndpoint and IAMEndpoint override the services' base URLs
	// (Private Service Connect, a fake); default https://sts.UNIVERSE and
	// https://iamcredentials.UNIVERSE.
	STSEndpoint string
	IAMEndpoint string

	// Seams are the transport, retry waits, log, progress and clock.
	exchange.Seams
}

// Credentials is a Google access token.
type Credentials struct {
	AccessToken secret.Token
	// Expiration is zero when STS did not say.
	Expiration time.Time
	// ServiceAccount is the impersonated account; empty for a federated
	// token used directly.
	ServiceAccount string
	Provider       Provider
	Attempts       int
}

// ParsedProvider returns the validated provider.
func (o Options) ParsedProvider() (Provider, error) { return ParseProvider(o.Provider) }

func (o Options) universe() string {
	if o.Universe == "" {
		return DefaultUniverse
	}
	return o.Universe
}

// TokenURL is STS's token endpoint.
func (o Options) TokenURL() string {
	return strings.TrimSuffix(cmp.Or(o.STSEndpoint, "https://sts."+o.universe()), "/") + "/v1/token"
}

// ImpersonationURL is generateAccessToken for the service account, or ""
// without one.
func (o Options) ImpersonationURL() string {
	if o.ServiceAccount == "" {
		return ""
	}
	return strings.TrimSuffix(cmp.Or(o.IAMEndpoint, "https://iamcredentials."+o.universe()), "/") +
		"/v1/projects/-/serviceAccounts/" + url.PathEscape(o.ServiceAccount) + ":generateAccessToken"
}

// EffectiveScopes are the scopes asked for: the given ones, else
// cloud-platform.
func (o Options) EffectiveScopes() []string {
	if len(o.Scopes) == 0 {
		return []string{CloudPlatformScope}
	}
	return o.Scopes
}

// The options an exchange's messages name (package option): the CLI says
// them in the words the user typed.
const (
	OptProvider       option.Name = "provider"
	OptServiceAccount option.Name = "service-account"
	OptDelegates      option.Name = "delegates"
	OptLifetime       option.Name = "lifetime"
	OptScopes         option.Name = "scopes"
	OptUniverse       option.Name = "universe"
	OptSTSEndpoint    option.Name = "sts-endpoint"
	OptIAMEndpoint    option.Name = "iamcredentials-endpoint"
	OptCAFile         option.Name = "ca-file"
)

// MaxLifetime is the longest lifetime generateAccessToken grants, with the
// organization policy constraints/iam.allowServiceAccountCredentialLifetimeExtension.
const MaxLifetime = 12 * time.Hour

// Validate checks the options that do not need the network; its messages
// name the options (package option).
func (o Options) Validate() error {
	if strings.TrimSpace(o.Provider) == "" {
		return option.Errorf("no workload identity provider: pass %s, e.g. %s", option.RefOrSet(OptProvider), Example)
	}
	if _, err := o.ParsedProvider(); err != nil {
		return &option.Error{Option: OptProvider, Err: err}
	}
	if o.ServiceAccount != "" {
		if err := checkServiceAccount(OptServiceAccount, o.ServiceAccount); err != nil {
			return err
		}
	}
	if len(o.Delegates) > 0 && o.ServiceAccount == "" {
		return option.Errorf("%s is a delegation chain to the impersonated service account; it needs %s", option.Ref(OptDelegates), option.Ref(OptServiceAccount))
	}
	for _, d := range o.Delegates {
		if err := checkServiceAccount(OptDelegates, d); err != nil {
			return err
		}
	}
	if o.Lifetime != 0 {
		if o.ServiceAccount == "" {
			return option.Errorf("%s is the impersonated token's lifetime and needs %s; a federated token lives as long as STS grants, at most one hour", option.Ref(OptLifetime), option.Ref(OptServiceAccount))
		}
		if o.Lifetime < time.Second || o.Lifetime > MaxLifetime || o.Lifetime%time.Second != 0 {
			return option.Errorf("%s %s is outside IAM Credentials' range of 1s to 12h in whole seconds (above 1h needs the organization policy constraints/iam.allowServiceAccountCredentialLifetimeExtension)", option.Ref(OptLifetime), o.Lifetime)
		}
	}
	if u := o.Universe; u != "" && (!strings.Contains(u, ".") || strings.ContainsAny(u, "/: ")) {
		return option.Errorf("%s %q is not a domain such as %s", option.Ref(OptUniverse), u, DefaultUniverse)
	}
	for _, e := range []struct {
		option       option.Name
		url, carries string
	}{
		{OptSTSEndpoint, o.STSEndpoint, "the ID token"},
		{OptIAMEndpoint, o.IAMEndpoint, "the federated token STS issued for the ID token"},
	} {
		if e.url == "" {
			continue // the universe's own, https
		}
		if err := exchange.CheckEndpoint(e.option, e.url, e.carries, o.InsecureHTTP); err != nil {
			return err
		}
	}
	return nil
}

// Exchange trades tok for an access token. The context's deadline bounds
// every attempt and every wait between attempts.
func Exchange(ctx context.Context, tok *idtoken.Token, o Options) (*Credentials, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	p, _ := o.ParsedProvider()
	now := o.Clock()
	// With impersonation STS grants cloud-platform, which generateAccessToken
	// needs, and the caller's scopes go to generateAccessToken (AIP-4117).
	stsScopes := o.EffectiveScopes()
	if o.ServiceAccount != "" {
		stsScopes = []string{CloudPlatformScope}
	}
	form := url.Values{
		"grant_type":           {GrantType},
		"audience":             {p.Audience()},
		"scope":                {strings.Join(stsScopes, " ")},
		"requested_token_type": {RequestedTokenType},
		"subject_token":        {tok.Raw.Reveal()},
		"subject_token_type":   {SubjectTokenType},
	}
	body := []byte(form.Encode())
	var sts struct {
		AccessToken     string `json:"access_token"`
		IssuedTokenType string `json:"issued_token_type"`
		TokenType       string `json:"token_type"`
		ExpiresIn       int64  `json:"expires_in"`
	}
	attempts, err := retry(ctx, o, "STS", func(ctx context.Context) error {
		b, err := o.post(ctx, OptSTSEndpoint, o.TokenURL(), "application/x-www-form-urlencoded", body, "")
		if err != nil {
			return err
		}
		return decode(b, &sts)
	})
	if err == nil && sts.AccessToken == "" {
		err = errNoToken
	}
	if err != nil {
		return nil, newError(stepSTS, err, o, p, tok, attempts)
	}
	c := &Credentials{AccessToken: secret.New(sts.AccessToken), Provider: p, Attempts: attempts}
	if sts.ExpiresIn > 0 {
		c.Expiration = now().Add(time.Duration(sts.ExpiresIn) * time.Second)
	}
	if o.ServiceAccount == "" {
		return c, nil
	}
	return impersonate(ctx, o, p, tok, c)
}

// impersonate calls generateAccessToken with the federated token.
// https://cloud.google.com/iam/docs/reference/credentials/rest/v1/projects.serviceAccounts/generateAccessToken
func impersonate(ctx context.Context, o Options, p Provider, tok *idtoken.Token, federated *Credentials) (*Credentials, error) {
	req := struct {
		Delegates []string `json:"delegates,omitempty"`
		Scope     []string `json:"scope"`
		Lifetime  string   `json:"lifetime,omitempty"`
	}{Scope: o.EffectiveScopes()}
	for _, d := range o.Delegates {
		req.Delegates = append(req.Delegates, "projects/-/serviceAccounts/"+d)
	}
	if o.Lifetime != 0 {
		req.Lifetime = fmt.Sprintf("%ds", int64(o.Lifetime/time.Second))
	}
	body, _ := json.Marshal(req)
	var resp struct {
		AccessToken string `json:"accessToken"`
		ExpireTime  string `json:"expireTime"`
	}
	attempts, err := retry(ctx, o, "IAM Credentials", func(ctx context.Context) error {
		b, err := o.post(ctx, OptIAMEndpoint, o.ImpersonationURL(), "application/json", body, federated.AccessToken.Reveal())
		if err != nil {
			return err
		}
		return decode(b, &resp)
	})
	if err == nil && resp.AccessToken == "" {
		err = errNoToken
	}
	if err != nil {
		return nil, newError(stepImpersonate, err, o, p, tok, attempts)
	}
	c := &Credentials{AccessToken: secret.New(resp.AccessToken), ServiceAccount: o.ServiceAccount, Provider: p, Attempts: federated.Attempts + attempts}
	if t, err := time.Parse(time.RFC3339, resp.ExpireTime); err == nil {
		c.Expiration = t
	}
	return c, nil
}

var errNoToken = errors.New("the response has no access token")

// decode reads a 2xx body; a body that is not the JSON expected is a
// permanent failure.
func decode(b []byte, v any) error {
	if err := json.Unmarshal(b, v); err != nil {
		return &callError{status: http.StatusOK, malformed: true}
	}
	return nil
}

// callError is a failed call: an HTTP status with its body, or a transport
// error (status 0).
type callError struct {
	status    int
	body      []byte
	err       error
	malformed bool // a 2xx whose body is not what the API returns
}

func (e *callError) Error() string {
	switch {
	case e.err != nil:
		return e.err.Error()
	case e.malformed:
		return "malformed response"
	}
	return fmt.Sprintf("HTTP %d", e.status)
}

func (e *callError) Unwrap() error { return e.err }

// maxBody bounds what is read of a response.
const maxBody = 64 << 10

// post sends one request to endpoint, set by opt. bearer, when set, is
// the Authorization.
func (o Options) post(ctx context.Context, opt option.Name, endpoint, contentType string, body []byte, bearer string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, &callError{err: err}
	}
	req.Header.Set("Content-Type", contentType)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, b, err := o.Send(exchange.NoRedirects(o.HTTPClient, opt), req, maxBody)
	if err != nil {
		return nil, &callError{err: err}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, &callError{status: resp.StatusCode, body: b}
	}
	return b, nil
}

// retry runs f under the shared policy with Google's transient errors.
func retry(ctx context.Context, o Options, service string, f func(context.Context) error) (int, error) {
	return o.Retry(exchange.Retry{
		Transient: transient,
		Name:      "gcp: " + service,
		Describe:  errorClass,
		LogMsg:    service + " attempt failed, retrying",
	}).Do(ctx, f)
}

// transient reports whether a retry can succeed: 5xx and 429 answers, and
// the failures without an answer that the shared classifier finds
// transient (a refused connection, not an untrusted certificate); never a
// 4xx (Retry never asks about the end of the context).
func transient(err error) bool {
	if n := exchange.ClassifyNet(err); n.Kind != exchange.NetNone {
		return n.Kind == exchange.NetTransient
	}
	var ce *callError
	if !errors.As(err, &ce) || ce.malformed || ce.status == 0 {
		return false
	}
	return ce.status >= 500 || ce.status == http.StatusTooManyRequests
}

// errorClass names an error for a log line without its text, which may
// quote the request.
func errorClass(err error) string {
	var ce *callError
	if errors.As(err, &ce) && ce.status != 0 {
		code, _ := parseBody(ce.body)
		return strings.TrimSpace(fmt.Sprintf("HTTP %d %s", ce.status, code))
	}
	return exchange.Describe(err, 0, "") // without an answer
}
