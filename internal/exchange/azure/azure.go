// Package azure exchanges a GitLab ID token for a Microsoft Entra ID access
// token with the client credentials flow and a federated assertion (workload
// identity federation), retrying only what is transient, and explains
// rejections.
//
// The exchange is one documented form POST, written here by hand: MSAL and
// azidentity would add megabytes to the binary for it.
// https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow#third-case-access-token-request-with-a-federated-credential
package azure

import (
	"context"
	"crypto/rand"
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
	"gitlab.com/keyless-ci/keyless/internal/lazyre"
	"gitlab.com/keyless-ci/keyless/internal/option"
	"gitlab.com/keyless-ci/keyless/internal/secret"
)

// Defaults, as Microsoft documents them.
const (
	// DefaultAuthorityHost is Entra ID's public cloud.
	DefaultAuthorityHost = "https://login.microsoftonline.com/"
	// DefaultScope is Azure Resource Manager's, which the Azure CLI and
	// Terraform's azurerm provider use.
	DefaultScope = "https://management.azure.com/.default"
	// DefaultAudience is the audience Microsoft recommends for federated
	// identity credentials.
	DefaultAudience = "api://AzureADTokenExchange"
	// ClientAssertionType is the client_assertion_type of a JWT assertion.
	ClientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
)

// A sovereign cloud has its own authority host, Resource Manager and names
// in the Azure CLI and Terraform. The hosts and Resource Manager audiences
// are azcore's (cloud and arm/runtime packages); ARMEnv is azurerm's
// `environment` (ARM_ENVIRONMENT) and CLIName `az cloud set --name`'s.
type sovereign struct {
	Host, Scope, ARMEnv, CLIName string
}

var clouds = []sovereign{
	{Host: "login.microsoftonline.com", Scope: DefaultScope, ARMEnv: "public", CLIName: "AzureCloud"},
	{Host: "login.microsoftonline.us", Scope: "https://management.core.usgovcloudapi.net/.default", ARMEnv: "usgovernment", CLIName: "AzureUSGovernment"},
	{Host: "login.chinacloudapi.cn", Scope: "https://management.core.chinacloudapi.cn/.default", ARMEnv: "china", CLIName: "AzureChinaCloud"},
}

func cloudOf(authorityHost string) (sovereign, bool) {
	u, err := url.Parse(authorityHost)
	if err != nil {
		return sovereign{}, false
	}
	for _, c := range clouds {
		if strings.EqualFold(u.Hostname(), c.Host) {
			return c, true
		}
	}
	return sovereign{}, false
}

// DefaultScopeFor returns Resource Manager's .default scope in the cloud of
// authorityHost: the public one unless the host is a known sovereign cloud.
func DefaultScopeFor(authorityHost string) string {
	if c, ok := cloudOf(authorityHost); ok {
		return c.Scope
	}
	return DefaultScope
}

// Options configure one exchange.
type Options struct {
	ClientID      string // Application (client) ID of the app registration or managed identity
	TenantID      string // Directory (tenant) ID or a verified domain
	AuthorityHost string // e.g. https://login.microsoftonline.com/
	// InsecureHTTP are hosts plain http may go to (KEYLESS_INSECURE_HTTP_HOSTS).
	InsecureHTTP exchange.InsecureHosts
	Scope        string // one resource's .default scope

	// Seams are the transport, retry waits, log, progress and clock.
	exchange.Seams
	// RequestID returns the client-request-id of each attempt, which Entra
	// echoes as the correlation id; a random UUID when nil.
	RequestID func() string
}

// Credentials is an Entra ID access token.
type Credentials struct {
	AccessToken secret.Token
	TokenType   string
	ExpiresOn   time.Time
	ClientID    string
	TenantID    string
	// AuthorityHost is normalised with a trailing slash.
	AuthorityHost string
	Scope         string
	Attempts      int
}

var (
	guidRE   = lazyre.New(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	domainRE = lazyre.New(`^(?i:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(?:\.(?i:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?))+$`)
)

// The options an exchange's messages name (package option): the CLI says
// them in the words the user typed.
const (
	OptClientID      option.Name = "client-id"
	OptTenantID      option.Name = "tenant-id"
	OptScope         option.Name = "scope"
	OptAuthorityHost option.Name = "authority-host"
	OptAudience      option.Name = "audience"
	OptCAFile        option.Name = "ca-file"
)

// IsGUID reports whether s has the 8-4-4-4-12 hex form of Entra's ids.
func IsGUID(s string) bool { return guidRE().MatchString(s) }

// Validate checks the options that do not need the network. Its messages
// name the options (package option).
func (o Options) Validate() error {
	switch {
	case o.ClientID == "":
		return option.Errorf("no client id: pass %s, the Application (client) ID of the "+
			"app registration or user-assigned managed identity that trusts this project, e.g. 11111111-2222-3333-4444-555555555555", option.RefOrSet(OptClientID))
	case !IsGUID(o.ClientID):
		return option.Errorf("%s %q is not a GUID: use the Application (client) ID shown on the app registration's or "+
			"managed identity's overview page, e.g. 11111111-2222-3333-4444-555555555555 (not its name)", option.Ref(OptClientID), o.ClientID)
	}
	switch t := strings.ToLower(o.TenantID); {
	case t == "":
		return option.Errorf("no tenant: pass %s, the Directory (tenant) ID "+
			"(a GUID) or a verified domain such as contoso.onmicrosoft.com", option.RefOrSet(OptTenantID))
	case t == "common" || t == "organizations" || t == "consumers":
		return option.Errorf("%s %q names no tenant: the client credentials flow needs your tenant's Directory (tenant) ID "+
			"or a verified domain (az account show --query tenantId)", option.Ref(OptTenantID), o.TenantID)
	case !IsGUID(t) && !domainRE().MatchString(t):
		return option.Errorf("%s %q is neither a GUID nor a domain name: use the Directory (tenant) ID, "+
			"e.g. aaaabbbb-0000-cccc-1111-dddd2222eeee, or a verified domain such as contoso.onmicrosoft.com", option.Ref(OptTenantID), o.TenantID)
	}
	if err := checkAuthorityHost(o.AuthorityHost, o.InsecureHTTP); err != nil {
		return err
	}
	switch s := o.Scope; {
	case s == "":
		return option.Errorf("no scope: pass %s, e.g. %s", option.Ref(OptScope), DefaultScope)
	case strings.ContainsAny(s, " \t\n"):
		return option.Errorf("%s %q names several scopes: the client credentials flow takes one resource's .default scope, e.g. %s", option.Ref(OptScope), s, DefaultScope)
	case !strings.HasSuffix(s, "/.default"):
		return option.Errorf("%s %q does not end in /.default: the client credentials flow takes the resource's identifier with /.default "+
			"(the app's granted permissions), e.g. %s or https://graph.microsoft.com/.default", option.Ref(OptScope), s, DefaultScope)
	}
	return nil
}

// checkAuthorityHost accepts a URL to which the tenant and the token path
// can be appended, so no query or fragment; exchange.CheckEndpoint decides
// the rest (https, or plain http only to loopback: a local fake or test).
func checkAuthorityHost(h string, allow exchange.InsecureHosts) error {
	if h == "" {
		return nil // the default
	}
	if u, err := url.Parse(h); err != nil || u.Host == "" || u.RawQuery != "" || u.ForceQuery || strings.Contains(h, "#") {
		return option.Errorf("%s %q is not a URL like %s (https, a host and an optional path; no query or fragment)",
			option.Ref(OptAuthorityHost), exchange.DisplayURL(h), DefaultAuthorityHost)
	}
	return exchange.CheckEndpoint(OptAuthorityHost, h, "the ID token", allow)
}

// Authority returns the authority host with a trailing slash, the default
// when none is set.
func (o Options) Authority() string {
	h := o.AuthorityHost
	if h == "" {
		h = DefaultAuthorityHost
	}
	return strings.TrimRight(h, "/") + "/"
}

// TokenURL is the tenant's v2.0 token endpoint.
func (o Options) TokenURL() string {
	return o.Authority() + url.PathEscape(o.TenantID) + "/oauth2/v2.0/token"
}

// Exchange trades tok for an access token. The context's deadline bounds
// every attempt and every wait between attempts.
func Exchange(ctx context.Context, tok *idtoken.Token, o Options) (*Credentials, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	// A redirect would re-send the assertion to wherever it points.
	o.HTTPClient = exchange.NoRedirects(o.HTTPClient, OptAuthorityHost)
	o.Now = o.Clock()
	if o.RequestID == nil {
		o.RequestID = newUUID
	}
	// The body is where the token leaves the process.
	body := url.Values{
		"client_id":             {o.ClientID},
		"scope":                 {o.Scope},
		"grant_type":            {"client_credentials"},
		"client_assertion_type": {ClientAssertionType},
		"client_assertion":      {tok.Raw.Reveal()},
	}.Encode()
	var c *Credentials
	attempts, err := retry(ctx, o, func(ctx context.Context) error {
		var err error
		c, err = o.post(ctx, body)
		return err
	})
	if err != nil {
		return nil, newError(err, o, tok, attempts)
	}
	c.Attempts = attempts
	return c, nil
}

// tokenResponse is the documented success body.
type tokenResponse struct {
	TokenType   string          `json:"token_type"`
	ExpiresIn   json.RawMessage `json:"expires_in"` // a number; some endpoints send a string
	AccessToken string          `json:"access_token"`
}

// entraError is the documented error body.
// https://learn.microsoft.com/entra/identity-platform/reference-error-codes#handling-error-codes-in-your-application
type entraError struct {
	Error         string `json:"error"`
	Description   string `json:"error_description"`
	ErrorCodes    []int  `json:"error_codes"`
	Timestamp     string `json:"timestamp"`
	TraceID       string `json:"trace_id"`
	CorrelationID string `json:"correlation_id"`
	ErrorURI      string `json:"error_uri"`
}

// responseError is a non-200 answer.
type responseError struct {
	Status     int
	RetryAfter time.Duration
	Entra      *entraError // nil when the body is not Entra's JSON
	RequestID  string
}

func (e *responseError) Error() string { return fmt.Sprintf("HTTP %d", e.Status) }

// badResponse is a 200 without a usable token: not Entra, or a proxy.
type badResponse struct{ Reason string }

func (e *badResponse) Error() string { return e.Reason }

// maxBody bounds what is read of an answer; Entra's are a few KiB.
const maxBody = 1 << 20

func (o Options) post(ctx context.Context, body string) (*Credentials, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, o.TokenURL(), strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	rid := o.RequestID()
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("client-request-id", rid)
	req.Header.Set("return-client-request-id", "true")
	resp, b, err := o.Send(o.HTTPClient, req, maxBody)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		re := &responseError{Status: resp.StatusCode, RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), o.Now()), RequestID: rid}
		var ee entraError
		if json.Unmarshal(b, &ee) == nil && (ee.Error != "" || len(ee.ErrorCodes) > 0) {
			re.Entra = &ee
		}
		return nil, re
	}
	var tr tokenResponse
	if err := json.Unmarshal(b, &tr); err != nil {
		return nil, &badResponse{Reason: "the answer is not JSON"}
	}
	if tr.AccessToken == "" {
		return nil, &badResponse{Reason: "the answer has no access_token"}
	}
	if tr.TokenType != "" && !strings.EqualFold(tr.TokenType, "bearer") {
		return nil, &badResponse{Reason: fmt.Sprintf("the token_type is %q, not Bearer", tr.TokenType)}
	}
	secs, err := parseExpiresIn(tr.ExpiresIn)
	if err != nil {
		return nil, &badResponse{Reason: "expires_in " + err.Error()}
	}
	return &Credentials{
		AccessToken:   secret.New(tr.AccessToken),
		TokenType:     "Bearer",
		ExpiresOn:     o.Now().Add(time.Duration(secs) * time.Second).UTC().Truncate(time.Second),
		ClientID:      o.ClientID,
		TenantID:      o.TenantID,
		AuthorityHost: o.Authority(),
		Scope:         o.Scope,
	}, nil
}

func parseExpiresIn(raw json.RawMessage) (int64, error) {
	s := strings.Trim(string(raw), `"`)
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0, errors.New("is not a positive number of seconds")
	}
	return n, nil
}

// parseRetryAfter reads seconds or an HTTP date; 0 when absent or invalid.
func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n > 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// retry runs f under the shared policy with Entra's transient errors,
// honouring Retry-After.
func retry(ctx context.Context, o Options, f func(context.Context) error) (int, error) {
	return o.Retry(exchange.Retry{
		Transient: transient,
		Name:      "azure: Entra",
		Describe:  errorClass,
		RetryAfter: func(err error) time.Duration {
			var re *responseError
			if errors.As(err, &re) {
				return re.RetryAfter
			}
			return 0
		},
		LogMsg: "Entra token request failed, retrying",
	}).Do(ctx, f)
}

// newUUID returns a random (version 4) UUID.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// MaskID masks an identifier (client or tenant id, domain) to its last four
// characters for logs and messages, keeping its shape:
// ********-****-****-****-********5555.
func MaskID(s string) string {
	if len(s) <= 4 {
		return s
	}
	b := []byte(s)
	for i := 0; i < len(b)-4; i++ {
		if b[i] != '-' && b[i] != '.' {
			b[i] = '*'
		}
	}
	return string(b)
}
