// Package sts exchanges a GitLab ID token for a token of another security
// domain at any token endpoint that implements OAuth 2.0 Token Exchange
// (RFC 8693), retrying only what is transient, and explains rejections.
// https://www.rfc-editor.org/rfc/rfc8693
package sts

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"gitlab.com/keyless-ci/keyless/internal/exchange"
	"gitlab.com/keyless-ci/keyless/internal/idtoken"
	"gitlab.com/keyless-ci/keyless/internal/option"
	"gitlab.com/keyless-ci/keyless/internal/secret"
)

// Protocol constants.
const (
	// GrantType is the token-exchange grant (RFC 8693 §2.1).
	GrantType = "urn:ietf:params:oauth:grant-type:token-exchange"
	// TokenTypePrefix starts the token type URIs RFC 8693 §3 registers.
	TokenTypePrefix = "urn:ietf:params:oauth:token-type:"
	// DefaultSubjectTokenType says the subject token is a JWT, which a
	// GitLab ID token is.
	DefaultSubjectTokenType = TokenTypePrefix + "jwt"
	// JWTBearer is the client assertion type of RFC 7523 §2.2.
	JWTBearer = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
)

// ClientAuth is how the client authenticates to the token endpoint.
type ClientAuth string

// Client authentication methods.
const (
	// AuthNone sends no credential; client_id goes in the body when set.
	AuthNone ClientAuth = "none"
	// AuthBasic sends client_id and the secret with HTTP Basic, each
	// form-urlencoded first (RFC 6749 §2.3.1).
	AuthBasic ClientAuth = "basic"
	// AuthJWTBearer sends the ID token itself as an RFC 7523 client
	// assertion, for servers that authenticate the client with the same JWT.
	AuthJWTBearer ClientAuth = "jwt-bearer"
)

// Options configure one exchange.
type Options struct {
	TokenURL string
	// InsecureHTTP are hosts plain http may go to (KEYLESS_INSECURE_HTTP_HOSTS).
	InsecureHTTP       exchange.InsecureHosts
	Audiences          []string // audience parameters (logical names)
	Resources          []string // resource parameters (absolute URIs)
	Scope              string   // space-separated
	RequestedTokenType string   // URI; "" leaves it to the server
	SubjectTokenType   string   // URI; DefaultSubjectTokenType when empty

	Auth         ClientAuth // AuthNone when empty
	ClientID     string
	ClientSecret secret.Token // with AuthBasic
	// SecretSource names where the secret came from, e.g. "$DEPLOY_SECRET",
	// for explanations; never the secret itself.
	SecretSource string

	// Seams are the transport, retry waits, log, progress and clock.
	exchange.Seams
}

// Credentials are what the token endpoint issued. The refresh token a
// server may add is dropped unread: keyless never hands it on.
type Credentials struct {
	AccessToken     secret.Token
	IssuedTokenType string
	TokenType       string
	Scope           string
	ExpiresIn       time.Duration // 0 when the server gave none
	Expiration      time.Time     // zero when the server gave no expires_in
	Attempts        int
}

// registered are the short names of the token types RFC 8693 §3 registers.
var registered = []string{"access_token", "refresh_token", "id_token", "saml1", "saml2", "jwt"}

// ExpandTokenType turns a registered short name (jwt, access_token, …) into
// its URI and returns anything else unchanged.
func ExpandTokenType(s string) string {
	s = strings.TrimSpace(s)
	for _, r := range registered {
		if s == r {
			return TokenTypePrefix + r
		}
	}
	return s
}

// DisplayURL is u without user info, query or fragment (exchange.DisplayURL):
// what messages and logs show of the token endpoint.
func DisplayURL(u string) string {
	p, err := url.Parse(u)
	if err != nil || p.Host == "" {
		return "the token endpoint"
	}
	return exchange.DisplayURL(u)
}

// The options an exchange's messages name (package option): the CLI says
// them in the words the user typed.
const (
	OptTokenURL            option.Name = "token-url"
	OptAudience            option.Name = "audience"
	OptResource            option.Name = "resource"
	OptScope               option.Name = "scope"
	OptSubjectTokenType    option.Name = "subject-token-type"
	OptRequestedTokenType  option.Name = "requested-token-type"
	OptClientID            option.Name = "client-id"
	OptClientSecretEnv     option.Name = "client-secret-env"
	OptClientAssertionType option.Name = "client-assertion-type"
	OptEnv                 option.Name = "env"
	OptCAFile              option.Name = "ca-file"
)

// Validate checks the options that do not need the network. Its messages
// name the options involved (package option).
func (o Options) Validate() error {
	if o.TokenURL == "" {
		return option.Errorf("no token endpoint: pass %s, e.g. https://sso.example.com/realms/ci/protocol/openid-connect/token", option.RefOrSet(OptTokenURL))
	}
	if err := exchange.CheckEndpoint(OptTokenURL, o.TokenURL, "the ID token", o.InsecureHTTP); err != nil {
		if errors.Is(err, exchange.ErrUserInfo) {
			return option.Errorf("%w; pass the client id with %s and the secret with %s", err, option.Ref(OptClientID), option.Ref(OptClientSecretEnv))
		}
		return err
	}
	if strings.Contains(o.TokenURL, "#") {
		return option.Errorf("%s %q has a fragment, which a token endpoint URL must not have (RFC 6749 §3.2)", option.Ref(OptTokenURL), DisplayURL(o.TokenURL))
	}
	for _, r := range o.Resources {
		ru, err := url.Parse(r)
		if err != nil || !ru.IsAbs() || ru.Fragment != "" || strings.Contains(r, "#") {
			return option.Errorf("%s %q must be an absolute URI without a fragment (RFC 8693 §2.1), e.g. https://api.example.com", option.Ref(OptResource), r)
		}
	}
	for _, a := range o.Audiences {
		if strings.TrimSpace(a) == "" {
			return option.Errorf("%s is empty", option.Ref(OptAudience))
		}
	}
	for _, s := range strings.Fields(o.Scope) {
		if !scopeToken(s) {
			return option.Invalid(OptScope, o.Scope, "scopes are space-separated printable ASCII without quotes or backslashes (RFC 6749 §3.3)")
		}
	}
	for _, tt := range []struct {
		option option.Name
		value  string
	}{{OptSubjectTokenType, o.SubjectTokenType}, {OptRequestedTokenType, o.RequestedTokenType}} {
		if t := tt.value; t != "" && !tokenTypeURI(ExpandTokenType(t)) {
			return option.Errorf("%s %q is neither a token type URI (urn:ietf:params:oauth:token-type:jwt) nor one of %s", option.Ref(tt.option), t, strings.Join(registered, ", "))
		}
	}
	switch o.Auth {
	case "", AuthNone, AuthJWTBearer:
	case AuthBasic:
		if o.ClientID == "" {
			return option.Errorf("%s needs %s: HTTP Basic authentication sends both", option.Ref(OptClientSecretEnv), option.Ref(OptClientID))
		}
		if o.ClientSecret.IsZero() {
			// The variable is not named: the "name" may be the secret itself,
			// as when a component input is written $SECRET and GitLab expands it.
			return option.Invalid(OptClientSecretEnv, "", "the variable it names is empty or not set; put the client secret in a masked CI/CD variable and pass that variable's name, without '$'")
		}
	default:
		return fmt.Errorf("client authentication %q: use none, basic or jwt-bearer", o.Auth)
	}
	return nil
}

// scopeToken follows RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ).
func scopeToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x21 || c == 0x22 || c == 0x5c || c > 0x7e {
			return false
		}
	}
	return s != ""
}

func tokenTypeURI(s string) bool {
	u, err := url.Parse(s)
	return err == nil && u.Scheme != "" && !strings.ContainsAny(s, " \t\r\n")
}

// form is the request body of RFC 8693 §2.1, with client authentication in
// the body where the method puts it there.
func (o Options) form(tok *idtoken.Token) url.Values {
	f := url.Values{}
	f.Set("grant_type", GrantType)
	f.Set("subject_token", tok.Raw.Reveal())
	f.Set("subject_token_type", cmp.Or(ExpandTokenType(o.SubjectTokenType), DefaultSubjectTokenType))
	for _, r := range o.Resources {
		f.Add("resource", r)
	}
	for _, a := range o.Audiences {
		f.Add("audience", a)
	}
	if s := strings.Join(strings.Fields(o.Scope), " "); s != "" {
		f.Set("scope", s)
	}
	if o.RequestedTokenType != "" {
		f.Set("requested_token_type", ExpandTokenType(o.RequestedTokenType))
	}
	switch o.Auth {
	case AuthBasic:
		// In the Authorization header only: RFC 6749 §2.3 allows one method.
	case AuthJWTBearer:
		f.Set("client_assertion_type", JWTBearer)
		f.Set("client_assertion", tok.Raw.Reveal())
		fallthrough
	default:
		if o.ClientID != "" {
			f.Set("client_id", o.ClientID)
		}
	}
	return f
}

// basicAuth is the Authorization header of RFC 6749 §2.3.1: client id and
// secret each application/x-www-form-urlencoded, then joined and base64'd,
// which net/http's SetBasicAuth does not do.
func basicAuth(id string, sec secret.Token) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(sec.Reveal())))
}

// maxBody bounds what is read of an answer; token responses are small.
const maxBody = 1 << 20

// Exchange trades tok for a token. The context's deadline bounds every
// attempt and every wait between attempts.
func Exchange(ctx context.Context, tok *idtoken.Token, o Options) (*Credentials, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if o.Auth == "" {
		o.Auth = AuthNone
	}
	body := o.form(tok).Encode()
	// A redirect would carry the ID token to wherever the Location points;
	// report it instead of following it.
	client := exchange.NoRedirects(o.HTTPClient, OptTokenURL)

	var creds *Credentials
	attempts, f := retry(ctx, o, func(ctx context.Context) *failure {
		var f *failure
		creds, f = attempt(ctx, client, o, body)
		return f
	})
	if f != nil {
		return nil, newError(f, o, tok, attempts)
	}
	creds.Attempts = attempts
	now := o.Clock()
	if creds.ExpiresIn > 0 {
		creds.Expiration = now().Add(creds.ExpiresIn).Truncate(time.Second)
	}
	return creds, nil
}

// failure is one unsuccessful attempt, as much as is safe to keep of it.
type failure struct {
	status      int
	code        string // OAuth error code
	description string // raw, scrubbed later
	uri         string
	contentType string
	location    string // redirect target
	retryAfter  time.Duration
	hasRetry    bool
	badBody     string // why a 2xx answer is unusable
	transport   error
}

func attempt(ctx context.Context, client *http.Client, o Options, body string) (*Credentials, *failure) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, o.TokenURL, strings.NewReader(body))
	if err != nil {
		return nil, &failure{transport: err}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if o.Auth == AuthBasic {
		req.Header.Set("Authorization", basicAuth(o.ClientID, o.ClientSecret))
	}
	resp, b, err := o.Send(client, req, maxBody)
	if err != nil {
		return nil, &failure{transport: err}
	}
	f := &failure{status: resp.StatusCode, contentType: resp.Header.Get("Content-Type")}
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		c, why := parseSuccess(b)
		if why != "" {
			f.badBody = why
			return nil, f
		}
		return c, nil
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		// A redirect with a Location stops in exchange.NoRedirects; this is
		// one without.
		if loc := resp.Header.Get("Location"); loc != "" {
			f.location = DisplayURL(loc)
		}
		return nil, f
	}
	var e struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
		URI         string `json:"error_uri"`
	}
	if json.Unmarshal(b, &e) == nil {
		f.code, f.description, f.uri = e.Error, e.Description, e.URI
	}
	f.retryAfter, f.hasRetry = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	return nil, f
}

// parseSuccess reads a response of RFC 8693 §2.2.1. It returns why the
// answer is unusable, never quoting it: it holds the issued token.
func parseSuccess(b []byte) (*Credentials, string) {
	var r struct {
		AccessToken     *string         `json:"access_token"`
		IssuedTokenType string          `json:"issued_token_type"`
		TokenType       string          `json:"token_type"`
		ExpiresIn       json.RawMessage `json:"expires_in"`
		Scope           string          `json:"scope"`
		// refresh_token is not read: keyless never hands it on.
	}
	if err := json.Unmarshal(b, &r); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return nil, fmt.Sprintf("its %s is not a string", te.Field)
		}
		return nil, "its body is not a JSON object"
	}
	if r.AccessToken == nil || *r.AccessToken == "" {
		return nil, "it has no access_token"
	}
	exp, ok := parseExpiresIn(r.ExpiresIn)
	if !ok {
		return nil, "its expires_in is not a number of seconds"
	}
	return &Credentials{
		AccessToken:     secret.New(*r.AccessToken),
		IssuedTokenType: r.IssuedTokenType,
		TokenType:       r.TokenType,
		Scope:           r.Scope,
		ExpiresIn:       exp,
	}, ""
}

// parseExpiresIn accepts a JSON number or, as some servers send it, a
// numeric string; absent or null is 0.
func parseExpiresIn(raw json.RawMessage) (time.Duration, bool) {
	s := strings.TrimSpace(string(raw))
	if s == "" || s == "null" {
		return 0, true
	}
	if strings.HasPrefix(s, `"`) {
		if err := json.Unmarshal(raw, &s); err != nil {
			return 0, false
		}
	}
	n, err := strconv.ParseFloat(s, 64)
	if err != nil || n < 0 || n > 10*365*24*3600 {
		return 0, false
	}
	return time.Duration(n * float64(time.Second)), true
}

// parseRetryAfter reads delay-seconds or an HTTP-date (RFC 9110 §10.2.3).
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(n) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

// retry runs f under the shared policy: transient failures are retried,
// honouring Retry-After.
func retry(ctx context.Context, o Options, f func(context.Context) *failure) (int, *failure) {
	return exchange.DoAttempts(ctx, o.Retry(exchange.Retry{
		Name: "sts: " + DisplayURL(o.TokenURL),
		RetryAfter: func(err error) time.Duration {
			if fl := err.(*failure); fl.hasRetry {
				return fl.retryAfter
			}
			return 0
		},
		LogMsg: "token exchange attempt failed, retrying",
	}), f)
}

// Error lets a failure travel through exchange.Retry; it names the class
// only, never the server's text.
func (f *failure) Error() string { return exchange.Describe(f.transport, f.status, f.code) }

// Transient reports whether a retry can succeed: what exchange.Transient
// finds transient, or a server that says it is temporarily unavailable.
func (f *failure) Transient() bool {
	return exchange.Transient(f.transport, f.status) || f.code == "temporarily_unavailable"
}
