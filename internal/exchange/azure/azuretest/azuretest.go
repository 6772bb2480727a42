// Package azuretest is a fake of Microsoft Entra ID's v2.0 token endpoint
// for tests: it answers the client credentials grant with a federated
// assertion the way Entra does, matching the assertion's issuer, subject
// and audience against the app's federated identity credentials, verifying
// its lifetime and signature against the issuer's published keys, and
// answering with the documented success and AADSTS error bodies. It also
// serves the tenant's OpenID discovery document, which MSAL (and so
// azidentity) reads before it asks for a token. It can be scripted to fail,
// throttle or hang.
//
// https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow#third-case-access-token-request-with-a-federated-credential
// https://learn.microsoft.com/entra/identity-platform/reference-error-codes
package azuretest

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"gitlab.com/keyless-ci/keyless/internal/exchange/exchangetest"
	"gitlab.com/keyless-ci/keyless/internal/idtoken"
	"gitlab.com/keyless-ci/keyless/internal/secret"
)

// The fake's directory: one tenant, known by its id and its domain, with one
// application.
const (
	TenantID     = "aaaabbbb-0000-cccc-1111-dddd2222eeee"
	TenantDomain = "keyless-test.onmicrosoft.com"
	ClientID     = "11111111-2222-3333-4444-555555555555"
	// Audience is the audience Microsoft recommends for federated credentials.
	Audience = "api://AzureADTokenExchange"
	// AssertionType is the documented client_assertion_type.
	AssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
	// DocsURL is the page Entra's federation errors link to.
	DocsURL = "https://learn.microsoft.com/entra/workload-id/workload-identity-federation"
)

// FederatedCredential is a federated identity credential on an app.
type FederatedCredential struct {
	Issuer    string
	Subject   string
	Audiences []string
}

// Fault is one scripted answer, given before any check of the request.
type Fault struct {
	Status int
	// Error is the OAuth error (invalid_client, temporarily_unavailable, ...).
	Error string
	// Code is the AADSTS code; Message the text after "AADSTSnnnn: ", in
	// which {iss}, {sub} and {aud} become the assertion's claims and
	// {assertion} the assertion itself (as a server quoting the request).
	Code    int
	Message string
	// RetryAfter is sent as the Retry-After header.
	RetryAfter string
	// Body, when set, is sent instead of Entra's JSON (a proxy's page).
	Body string
	// Hang never answers (until the client gives up).
	Hang bool
}

// Scripted answers with Entra's codes and texts. OK is a normal answer, for
// scripting a success before a fault.
var (
	OK          = Fault{}
	Unavailable = Fault{Status: 503, Error: "temporarily_unavailable", Code: 90033,
		Message: "A transient error has occurred. Please try again."}
	Throttled = Fault{Status: 429, Error: "temporarily_unavailable", Code: 90055, RetryAfter: "1",
		Message: "TenantThrottlingError - There are too many incoming requests. This exception is thrown for blocked tenants."}
	Locked = Fault{Status: 400, Error: "invalid_grant", Code: 50053,
		Message: "Sign-in was blocked because it came from an IP address with malicious activity"}
	// NoMatch is the classic form of the federation error, which names all
	// three values.
	NoMatch = Fault{Status: 400, Error: "invalid_request", Code: 70021,
		Message: "No matching federated identity record found for presented assertion. Assertion Issuer: '{iss}'. Assertion Subject: '{sub}'. Assertion Audience: '{aud}'. " + DocsURL}
	IssuerMetadata = Fault{Status: 400, Error: "invalid_request", Code: 501661,
		Message: "Request to External OIDC endpoint failed."}
)

// Request is what the fake received.
type Request struct {
	Method string
	Path   string
	Form   map[string]string
	Header http.Header
}

// Entra is the fake. Faults are consumed in order, one per token request;
// after them each request is judged as Entra judges it.
type Entra struct {
	URL string

	// AccessToken is returned on success; Lifetime is its expires_in.
	AccessToken string
	Lifetime    time.Duration
	// Now is the clock for the assertion's lifetime.
	Now func() time.Time
	// IssuerClient fetches issuers' discovery documents and keys.
	IssuerClient *http.Client

	mu       sync.Mutex
	creds    map[string][]FederatedCredential // by client id
	faults   []Fault
	requests []Request
}

func newEntra(faults []Fault) *Entra {
	return &Entra{
		AccessToken:  "fake-entra-access-token-for-tests-only",
		Lifetime:     time.Hour,
		Now:          time.Now,
		IssuerClient: &http.Client{Timeout: 5 * time.Second},
		creds:        map[string][]FederatedCredential{ClientID: nil},
		faults:       faults,
	}
}

// New starts a fake on loopback over plain HTTP for the length of the test.
func New(t testing.TB, faults ...Fault) *Entra {
	e := newEntra(faults)
	e.URL = exchangetest.Serve(t, e)
	return e
}

// NewTLS starts the fake behind TLS with a self-signed certificate, as
// azidentity requires https, and returns it with that certificate in PEM.
func NewTLS(t testing.TB, faults ...Fault) (*Entra, []byte) {
	e := newEntra(faults)
	var cert []byte
	e.URL, cert = exchangetest.ServeTLS(t, e)
	return e, cert
}

// Trust adds a federated identity credential to the fake's application.
func (e *Entra) Trust(c FederatedCredential) {
	if len(c.Audiences) == 0 {
		c.Audiences = []string{Audience}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.creds[ClientID] = append(e.creds[ClientID], c)
}

// Requests returns the requests received so far.
func (e *Entra) Requests() []Request {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]Request(nil), e.requests...)
}

// TokenRequests returns the token requests received so far.
func (e *Entra) TokenRequests() []Request {
	var out []Request
	for _, r := range e.Requests() {
		if strings.HasSuffix(r.Path, "/oauth2/v2.0/token") {
			out = append(out, r)
		}
	}
	return out
}

func knownTenant(t string) bool {
	return strings.EqualFold(t, TenantID) || strings.EqualFold(t, TenantDomain)
}

func (e *Entra) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	tenant, rest, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	switch rest {
	case "v2.0/.well-known/openid-configuration":
		e.record(r, nil)
		e.discovery(w, r, tenant)
	case "oauth2/v2.0/token":
		e.token(w, r, tenant)
	default:
		e.record(r, nil)
		http.NotFound(w, r)
	}
}

func (e *Entra) record(r *http.Request, form map[string]string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.requests = append(e.requests, Request{Method: r.Method, Path: r.URL.Path, Form: form, Header: r.Header.Clone()})
}

// discovery is the tenant's OpenID configuration, with the fields MSAL
// checks (authorization_endpoint, token_endpoint, issuer on the same host).
func (e *Entra) discovery(w http.ResponseWriter, r *http.Request, tenant string) {
	if !knownTenant(tenant) {
		e.fail(w, r, answer{status: 400, err: "invalid_tenant", code: 90002,
			msg: fmt.Sprintf("Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.", tenant)})
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	json.NewEncoder(w).Encode(map[string]any{
		"token_endpoint":                        e.URL + "/" + tenant + "/oauth2/v2.0/token",
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
		"jwks_uri":                              e.URL + "/" + tenant + "/discovery/v2.0/keys",
		"response_modes_supported":              []string{"query", "fragment", "form_post"},
		"subject_types_supported":               []string{"pairwise"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"response_types_supported":              []string{"code", "id_token", "code id_token", "id_token token"},
		"scopes_supported":                      []string{"openid", "profile", "email", "offline_access"},
		"issuer":                                e.URL + "/" + TenantID + "/v2.0",
		"authorization_endpoint":                e.URL + "/" + tenant + "/oauth2/v2.0/authorize",
		"tenant_region_scope":                   "EU",
	})
}

// answer is an error answer in Entra's shape.
type answer struct {
	status     int
	err        string
	code       int
	msg        string
	retryAfter string
	body       string
}

func (e *Entra) fail(w http.ResponseWriter, r *http.Request, a answer) {
	trace := uuid()
	corr := r.Header.Get("client-request-id")
	if corr == "" {
		corr = uuid()
	}
	if r.Header.Get("return-client-request-id") == "true" {
		w.Header().Set("client-request-id", corr)
	}
	w.Header().Set("x-ms-request-id", trace)
	if a.retryAfter != "" {
		w.Header().Set("Retry-After", a.retryAfter)
	}
	if a.body != "" {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(a.status)
		fmt.Fprint(w, a.body)
		return
	}
	ts := e.Now().UTC().Format("2006-01-02 15:04:05Z")
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(a.status)
	json.NewEncoder(w).Encode(map[string]any{
		"error":             a.err,
		"error_description": fmt.Sprintf("AADSTS%d: %s\r\nTrace ID: %s\r\nCorrelation ID: %s\r\nTimestamp: %s", a.code, a.msg, trace, corr, ts),
		"error_codes":       []int{a.code},
		"timestamp":         ts,
		"trace_id":          trace,
		"correlation_id":    corr,
		"error_uri":         fmt.Sprintf("%s/error?code=%d", e.URL, a.code),
	})
}

func (e *Entra) token(w http.ResponseWriter, r *http.Request, tenant string) {
	if r.Method != http.MethodPost {
		e.record(r, nil)
		e.fail(w, r, answer{status: 400, err: "invalid_request", code: 900561,
			msg: fmt.Sprintf("The endpoint only accepts POST, OPTIONS requests. Received a %s request.", r.Method)})
		return
	}
	if err := r.ParseForm(); err != nil {
		e.record(r, nil)
		e.fail(w, r, answer{status: 400, err: "invalid_request", code: 900144, msg: "The request body must contain the following parameter: 'grant_type'."})
		return
	}
	form := map[string]string{}
	for k := range r.PostForm {
		form[k] = r.PostForm.Get(k)
	}
	e.record(r, form)
	e.mu.Lock()
	var f *Fault
	if len(e.faults) > 0 {
		f = &e.faults[0]
		e.faults = e.faults[1:]
	}
	e.mu.Unlock()
	claims, claimsErr := decode(form["client_assertion"])
	if f != nil && (f.Status != 0 || f.Hang) {
		if f.Hang {
			<-r.Context().Done()
			return
		}
		msg := f.Message
		if claimsErr == nil {
			msg = strings.NewReplacer("{iss}", claims.Issuer, "{sub}", claims.Subject,
				"{aud}", strings.Join(claims.Audience, ","), "{assertion}", form["client_assertion"]).Replace(msg)
		}
		e.fail(w, r, answer{status: f.Status, err: f.Error, code: f.Code, msg: msg, retryAfter: f.RetryAfter, body: f.Body})
		return
	}
	if a, ok := e.judge(r.Context(), tenant, form, claims, claimsErr); !ok {
		e.fail(w, r, a)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store, no-cache")
	secs := int(e.Lifetime / time.Second)
	json.NewEncoder(w).Encode(map[string]any{
		"token_type":     "Bearer",
		"expires_in":     secs,
		"ext_expires_in": secs,
		"access_token":   e.AccessToken,
	})
}

// judge checks a token request in the order Entra reports its errors; ok
// is false with the error answer.
func (e *Entra) judge(ctx context.Context, tenant string, form map[string]string, claims *idtoken.Claims, claimsErr error) (answer, bool) {
	bad := func(err string, code int, format string, args ...any) (answer, bool) {
		status := 400
		if err == "invalid_client" {
			status = 401 // RFC 6749 section 5.2
		}
		return answer{status: status, err: err, code: code, msg: fmt.Sprintf(format, args...)}, false
	}
	if !knownTenant(tenant) {
		return bad("invalid_request", 90002, "Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.", tenant)
	}
	for _, p := range []string{"grant_type", "client_id", "scope"} {
		if form[p] == "" {
			return bad("invalid_request", 900144, "The request body must contain the following parameter: '%s'.", p)
		}
	}
	if form["grant_type"] != "client_credentials" {
		return bad("unsupported_grant_type", 70003, "The app requested an unsupported grant type '%s'.", form["grant_type"])
	}
	if form["client_assertion"] == "" || form["client_assertion_type"] != AssertionType {
		return bad("invalid_request", 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
	}
	e.mu.Lock()
	creds, app := e.creds[form["client_id"]]
	e.mu.Unlock()
	if !app {
		return bad("unauthorized_client", 700016, "Application with identifier '%s' was not found in the directory '%s'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.", form["client_id"], tenant)
	}
	// MSAL adds the OpenID scopes; the rest is one resource's .default.
	var resources []string
	for _, s := range strings.Fields(form["scope"]) {
		if s != "openid" && s != "profile" && s != "offline_access" {
			resources = append(resources, s)
		}
	}
	switch {
	case len(resources) > 1:
		return bad("invalid_scope", 700022, "The provided value for the input parameter scope isn't valid because it contains more than one resource. Scope %s isn't valid.", form["scope"])
	case len(resources) == 0 || !strings.HasSuffix(resources[0], "/.default"):
		return bad("invalid_scope", 70011, "The provided value for the input parameter 'scope' isn't valid. The scope %s isn't valid.", form["scope"])
	}
	if claimsErr != nil {
		return bad("invalid_request", 50027, "Invalid JWT token. The token is malformed.")
	}
	now := e.Now().UTC()
	if now.After(claims.ExpiresAt.Time) || (!claims.NotBefore.IsZero() && now.Before(claims.NotBefore.Time)) {
		return bad("invalid_client", 700024, "Client assertion is not within its valid time range. Current time: %s, assertion valid from %s, expiry time of assertion %s. Review the documentation at https://learn.microsoft.com/entra/identity-platform/certificate-credentials .",
			now.Format("2006-01-02T15:04:05.0000000Z"), claims.NotBefore.UTC().Format("2006-01-02T15:04:05.0000000Z"), claims.ExpiresAt.UTC().Format("2006-01-02T15:04:05.0000000Z"))
	}
	var issuerMatch, subjectMatch []FederatedCredential
	for _, c := range creds {
		if c.Issuer == claims.Issuer {
			issuerMatch = append(issuerMatch, c)
		}
	}
	if len(issuerMatch) == 0 {
		return bad("invalid_client", 700211, "No matching federated identity record found for presented assertion issuer '%s'. Please check your federated identity credential Subject, Audience and Issuer against the presented assertion. %s", claims.Issuer, DocsURL)
	}
	folded := false
	for _, c := range issuerMatch {
		if c.Subject == claims.Subject {
			subjectMatch = append(subjectMatch, c)
		} else if strings.EqualFold(c.Subject, claims.Subject) {
			folded = true
		}
	}
	switch {
	case len(subjectMatch) == 0 && folded:
		return bad("invalid_client", 7002138, "No matching federated identity record found for presented assertion subject '%s'. The subject matches with case-insensitive comparison, but not with case-sensitive comparison. Check your federated identity credential Subject, Audience and Issuer against the presented assertion. See documentation at: %s.", claims.Subject, DocsURL)
	case len(subjectMatch) == 0:
		return bad("invalid_client", 700213, "No matching federated identity record found for presented assertion subject '%s'. Please check your federated identity credential Subject, Audience and Issuer against the presented assertion. %s", claims.Subject, DocsURL)
	}
	audOK := false
	for _, c := range subjectMatch {
		for _, a := range c.Audiences {
			audOK = audOK || claims.Audience.Contains(a)
		}
	}
	if !audOK {
		return bad("invalid_client", 700212, "No matching federated identity record found for presented assertion audience '%s'. Please check your federated identity credential Subject, Audience and Issuer against the presented assertion. %s", strings.Join(claims.Audience, ","), DocsURL)
	}
	// Entra fetches the issuer's discovery document and keys to check the
	// signature.
	pctx := oidc.ClientContext(ctx, e.IssuerClient)
	p, err := oidc.NewProvider(pctx, claims.Issuer)
	if err != nil {
		return bad("invalid_request", 501661, "Request to External OIDC endpoint failed.")
	}
	v := p.VerifierContext(pctx, &oidc.Config{SkipClientIDCheck: true, SkipExpiryCheck: true})
	if _, err := v.Verify(ctx, form["client_assertion"]); err != nil {
		return bad("invalid_client", 700027, "Client assertion failed signature validation.")
	}
	return answer{}, true
}

func decode(assertion string) (*idtoken.Claims, error) {
	t, err := idtoken.Decode(secret.New(assertion))
	if err != nil {
		return nil, err
	}
	return &t.Claims, nil
}

func uuid() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
