// Package gcptest is a fake of Google's Security Token Service token
// exchange and of IAM Credentials generateAccessToken for tests. It checks
// requests the way Google does (parameters, the ID token's aud, iss, age and
// the 127-byte google.subject, the bearer token, the lifetime) and answers
// with Google's shapes, success and error alike: STS as an OAuth 2.0 server,
// {"error": ..., "error_description": ...}; IAM Credentials as a Google API,
// {"error": {"code": ..., "message": ..., "status": ...}}. It can be scripted
// to fail, throttle or hang.
// https://cloud.google.com/iam/docs/reference/sts/rest/v1/TopLevel/token
// https://cloud.google.com/iam/docs/reference/credentials/rest/v1/projects.serviceAccounts/generateAccessToken
package gcptest

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"gitlab.com/keyless-ci/keyless/internal/exchange/exchangetest"
)

// Services.
const (
	STS = "sts"
	IAM = "iam"
)

// Fault is one scripted answer of a service.
type Fault struct {
	Service string // STS or IAM
	Status  int
	Body    string // as the service sends it; "" is an opaque body
	Hang    bool   // never answer (until the client gives up)
	// OK answers normally: a success scripted before a fault.
	OK bool
}

// STSError is an STS error in its OAuth 2.0 shape.
func STSError(status int, code, description string) Fault {
	b, _ := json.Marshal(map[string]string{"error": code, "error_description": description})
	return Fault{Service: STS, Status: status, Body: string(b)}
}

// IAMError is an IAM Credentials error in the shape of every Google API.
func IAMError(status int, grpcStatus, message string, details ...any) Fault {
	e := map[string]any{"code": status, "message": message, "status": grpcStatus}
	if len(details) > 0 {
		e["details"] = details
	}
	b, _ := json.Marshal(map[string]any{"error": e})
	return Fault{Service: IAM, Status: status, Body: string(b)}
}

// Hang is a service that does not answer.
func Hang(service string) Fault { return Fault{Service: service, Hang: true} }

// OK is a normal answer of service, for scripting a success before a fault.
func OK(service string) Fault { return Fault{Service: service, OK: true} }

// Messages Google sends, as documented or observed (see the package doc's
// references and https://cloud.google.com/iam/docs/troubleshooting-workload-identity-federation).
const (
	MsgAttributeCondition = "The given credential is rejected by the attribute condition."
	MsgInvalidTarget      = `The target service indicated by the "audience" parameters is invalid. This might either be because the pool or provider is disabled or deleted or because it doesn't exist.`
	MsgIssuerUnreachable  = "Error connecting to the given credential's issuer."
	MsgSubjectTooLong     = "The size of mapped attribute google.subject exceeds the 127 bytes limit. Either modify your attribute mapping or the incoming assertion to produce a mapped attribute that is less than 127 bytes."
	MsgThrottled          = "The request was throttled due to rate limit: sts.googleapis.com/requests. Please retry after a few seconds."
	MsgGetAccessToken     = "Permission 'iam.serviceAccounts.getAccessToken' denied on resource (or it may not exist)."
	MsgUnauthenticated    = "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project."
	MsgLifetime           = "Lifetime of access token can not have lifetimes of more than 1 hour. Use the Org Policy Constraint constraints/iam.allowServiceAccountCredentialLifetimeExtension to allow up to 12 hours."
)

// Common faults.
var (
	STSUnavailable     = Fault{Service: STS, Status: 503, Body: `{"error":{"code":503,"message":"The service is currently unavailable.","status":"UNAVAILABLE"}}`}
	STSThrottled       = STSError(429, "quota_exceeded", MsgThrottled)
	AttributeCondition = STSError(400, "unauthorized_client", MsgAttributeCondition)
	InvalidTarget      = STSError(400, "invalid_target", MsgInvalidTarget)
	IssuerUnreachable  = STSError(400, "invalid_grant", MsgIssuerUnreachable)
	PermissionDenied   = IAMError(403, "PERMISSION_DENIED", MsgGetAccessToken, map[string]any{
		"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "IAM_PERMISSION_DENIED", "domain": "iam.googleapis.com",
		"metadata": map[string]string{"permission": "iam.serviceAccounts.getAccessToken"},
	})
	IAMUnavailable = IAMError(503, "UNAVAILABLE", "The service is currently unavailable.")
	IAMThrottled   = IAMError(429, "RESOURCE_EXHAUSTED", "Quota exceeded for quota metric 'Generate credentials' and limit 'Generate credentials per minute' of service 'iamcredentials.googleapis.com'.")
)

// Request is what the fake received.
type Request struct {
	Service       string
	Path          string
	ContentType   string
	Authorization string
	// Form is the STS request's form.
	Form map[string]string
	// Delegates, Scope and Lifetime are the generateAccessToken body.
	Delegates []string
	Scope     []string
	Lifetime  string
	// ServiceAccount is the account in the generateAccessToken path.
	ServiceAccount string
}

// Server is the fake, serving both services on one address: STS at
// /v1/token, IAM Credentials at /v1/projects/-/serviceAccounts/...
// Scripted faults are consumed in order, one per request to their service;
// after them every request is checked and answered as Google would.
type Server struct {
	URL string

	// Tokens returned: the federated token of STS, the service account's
	// token of generateAccessToken.
	FederatedToken, AccessToken string
	// Issuer, when set, is the provider's issuer URI: tokens of another iss
	// are refused.
	Issuer string
	// AllowedAudiences, when set, are the provider's; else the token's aud
	// must be the provider's name (// or https: form).
	AllowedAudiences []string
	// Condition, when set, is the attribute condition over the token's
	// claims.
	Condition func(claims map[string]any) bool
	// ServiceAccounts, when set, are the accounts that exist.
	ServiceAccounts []string
	// LongLifetimes allows generateAccessToken lifetimes up to 12h (the
	// organization policy constraint).
	LongLifetimes bool
	Now           func() time.Time

	mu       sync.Mutex
	faults   map[string][]Fault
	requests []Request
}

func newServer(faults []Fault) *Server {
	s := &Server{
		FederatedToken: "ya29.d.fake-federated-token-for-tests-only",
		AccessToken:    "ya29.c.fake-service-account-token-for-tests-only",
		Now:            time.Now,
		faults:         map[string][]Fault{},
	}
	for _, f := range faults {
		s.faults[f.Service] = append(s.faults[f.Service], f)
	}
	return s
}

// New starts a fake on loopback for the length of the test.
func New(t testing.TB, faults ...Fault) *Server {
	s := newServer(faults)
	s.URL = exchangetest.Serve(t, s)
	return s
}

// NewTLS starts the fake behind TLS with a self-signed certificate and
// returns it with that certificate in PEM, for --ca-file tests.
func NewTLS(t testing.TB, faults ...Fault) (*Server, []byte) {
	s := newServer(faults)
	var cert []byte
	s.URL, cert = exchangetest.ServeTLS(t, s)
	return s, cert
}

// Requests returns the requests received so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Count is the number of requests to service.
func (s *Server) Count(service string) int {
	n := 0
	for _, r := range s.Requests() {
		if r.Service == service {
			n++
		}
	}
	return n
}

var generatePath = regexp.MustCompile(`^/v1/projects/-/serviceAccounts/([^/]+):generateAccessToken$`)

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	req := Request{Path: r.URL.Path, ContentType: r.Header.Get("Content-Type"), Authorization: r.Header.Get("Authorization")}
	switch {
	case r.URL.Path == "/v1/token":
		req.Service = STS
	case generatePath.MatchString(r.URL.Path):
		req.Service = IAM
		req.ServiceAccount = generatePath.FindStringSubmatch(r.URL.Path)[1]
	default:
		writeJSON(w, 404, map[string]any{"error": map[string]any{"code": 404, "message": "Requested entity was not found.", "status": "NOT_FOUND"}})
		return
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	var iamBody struct {
		Delegates []string `json:"delegates"`
		Scope     []string `json:"scope"`
		Lifetime  string   `json:"lifetime"`
	}
	var bodyErr error
	if req.Service == STS {
		form, err := parseForm(string(body))
		req.Form, bodyErr = form, err
	} else {
		bodyErr = json.Unmarshal(body, &iamBody)
		req.Delegates, req.Scope, req.Lifetime = iamBody.Delegates, iamBody.Scope, iamBody.Lifetime
	}
	s.mu.Lock()
	s.requests = append(s.requests, req)
	var f *Fault
	if q := s.faults[req.Service]; len(q) > 0 {
		f = &q[0]
		s.faults[req.Service] = q[1:]
	}
	s.mu.Unlock()

	if f != nil && !f.OK {
		if f.Hang {
			<-r.Context().Done()
			return
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(f.Status)
		if f.Body == "" {
			fmt.Fprint(w, "upstream error")
			return
		}
		fmt.Fprint(w, f.Body)
		return
	}
	if r.Method != http.MethodPost {
		writeJSON(w, 405, map[string]any{"error": map[string]any{"code": 405, "message": "Method not allowed.", "status": "INVALID_ARGUMENT"}})
		return
	}
	if req.Service == STS {
		s.token(w, req, bodyErr)
		return
	}
	s.generate(w, req, bodyErr)
}

func parseForm(body string) (map[string]string, error) {
	out := map[string]string{}
	r, _ := http.NewRequest(http.MethodPost, "/", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if err := r.ParseForm(); err != nil {
		return nil, err
	}
	for k := range r.PostForm {
		out[k] = r.PostForm.Get(k)
	}
	return out, nil
}

var audiencePattern = regexp.MustCompile(`^//iam\.googleapis\.com/projects/\d+/locations/global/workloadIdentityPools/[^/]+/providers/[^/]+$`)

func stsError(w http.ResponseWriter, status int, code, desc string) {
	writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
}

// token is the STS token exchange.
func (s *Server) token(w http.ResponseWriter, req Request, bodyErr error) {
	f := req.Form
	switch {
	case bodyErr != nil || !strings.HasPrefix(req.ContentType, "application/x-www-form-urlencoded"):
		stsError(w, 400, "invalid_request", "Invalid request body.")
		return
	case f["grant_type"] != "urn:ietf:params:oauth:grant-type:token-exchange":
		stsError(w, 400, "unsupported_grant_type", `Invalid value for "grant_type".`)
		return
	case f["requested_token_type"] != "urn:ietf:params:oauth:token-type:access_token":
		stsError(w, 400, "invalid_request", "Invalid value of requested_token_type in request.")
		return
	case f["subject_token_type"] != "urn:ietf:params:oauth:token-type:jwt" && f["subject_token_type"] != "urn:ietf:params:oauth:token-type:id_token":
		stsError(w, 400, "invalid_request", `Invalid value for "subject_token_type".`)
		return
	case strings.TrimSpace(f["scope"]) == "":
		stsError(w, 400, "invalid_request", "Scope(s) must be provided.")
		return
	case !audiencePattern.MatchString(f["audience"]):
		stsError(w, 400, "invalid_request", `Invalid value for "audience".`)
		return
	}
	claims, err := payload(f["subject_token"])
	if err != nil {
		stsError(w, 400, "invalid_grant", "Unable to parse the ID Token.")
		return
	}
	aud := exchangetest.Audiences(claims["aud"])
	allowed := s.AllowedAudiences
	if len(allowed) == 0 {
		allowed = []string{f["audience"], "https:" + f["audience"]}
	}
	if !overlap(aud, allowed) {
		stsError(w, 400, "invalid_grant", fmt.Sprintf("The audience in ID Token [%s] does not match the expected audience.", strings.Join(aud, ", ")))
		return
	}
	iss, _ := claims["iss"].(string)
	if s.Issuer != "" && iss != s.Issuer {
		stsError(w, 400, "invalid_grant", fmt.Sprintf("The issuer in ID Token %s does not match the expected one in config: %s", iss, s.Issuer))
		return
	}
	now := s.Now()
	exp := number(claims["exp"])
	if exp == 0 || now.Unix() > exp+60 {
		stsError(w, 400, "invalid_grant", fmt.Sprintf("ID Token issued at %d is stale to sign-in.", number(claims["iat"])))
		return
	}
	// The attribute mapping google.subject=assertion.sub.
	if sub, _ := claims["sub"].(string); len(sub) > 127 {
		stsError(w, 400, "invalid_request", MsgSubjectTooLong)
		return
	}
	if s.Condition != nil && !s.Condition(claims) {
		stsError(w, 400, "unauthorized_client", MsgAttributeCondition)
		return
	}
	// A federated token lives as long as the ID token, at most an hour.
	expiresIn := min(exp-now.Unix(), 3600)
	out := map[string]any{
		"access_token":      s.FederatedToken,
		"issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
		"token_type":        "Bearer",
	}
	if expiresIn > 2 {
		out["expires_in"] = expiresIn
	}
	writeJSON(w, 200, out)
}

func iamError(w http.ResponseWriter, status int, grpcStatus, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]any{"code": status, "message": msg, "status": grpcStatus}})
}

var delegatePattern = regexp.MustCompile(`^projects/-/serviceAccounts/[^/]+$`)

// generate is generateAccessToken.
func (s *Server) generate(w http.ResponseWriter, req Request, bodyErr error) {
	if req.Authorization != "Bearer "+s.FederatedToken {
		iamError(w, 401, "UNAUTHENTICATED", MsgUnauthenticated)
		return
	}
	if bodyErr != nil || !strings.HasPrefix(req.ContentType, "application/json") {
		iamError(w, 400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
		return
	}
	if s.ServiceAccounts != nil && !contains(s.ServiceAccounts, req.ServiceAccount) {
		iamError(w, 404, "NOT_FOUND", "Not found; Gaia id not found for email "+req.ServiceAccount)
		return
	}
	for _, d := range req.Delegates {
		if !delegatePattern.MatchString(d) {
			iamError(w, 400, "INVALID_ARGUMENT", "Request contains an invalid argument.")
			return
		}
	}
	if len(req.Scope) == 0 {
		iamError(w, 400, "INVALID_ARGUMENT", "Request contains an invalid argument.")
		return
	}
	lifetime := time.Hour
	if req.Lifetime != "" {
		secs, err := strconv.ParseFloat(strings.TrimSuffix(req.Lifetime, "s"), 64)
		switch {
		case err != nil || !strings.HasSuffix(req.Lifetime, "s"):
			iamError(w, 400, "INVALID_ARGUMENT", fmt.Sprintf("Invalid value at 'lifetime' (type.googleapis.com/google.protobuf.Duration), Field 'lifetime', Illegal duration format; duration must end with 's'"))
			return
		case secs <= 0:
			iamError(w, 400, "INVALID_ARGUMENT", "Lifetime of access token must be larger then zero.")
			return
		case secs > 3600 && (!s.LongLifetimes || secs > 43200):
			iamError(w, 400, "INVALID_ARGUMENT", MsgLifetime)
			return
		}
		lifetime = time.Duration(secs * float64(time.Second))
	}
	writeJSON(w, 200, map[string]string{
		"accessToken": s.AccessToken,
		"expireTime":  s.Now().Add(lifetime).UTC().Format(time.RFC3339),
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// payload decodes a JWT's claims without verifying it: this fake checks
// what Google checks of the claims, not the signature.
func payload(tok string) (map[string]any, error) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return nil, fmt.Errorf("not a JWT")
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, err
	}
	var m map[string]any
	return m, json.Unmarshal(b, &m)
}

func number(v any) int64 {
	f, _ := v.(float64)
	return int64(f)
}

func overlap(a, b []string) bool {
	for _, x := range a {
		if contains(b, x) {
			return true
		}
	}
	return false
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}
