// Package ststest is a fake OAuth 2.0 Token Exchange server (RFC 8693) for
// tests. It checks requests as a careful authorization server does (method,
// content type, repeated parameters, client authentication, grant type,
// subject token and its type, target, scope), answers with the documented
// JSON shapes, success (§2.2.1) and error (§2.2.2, RFC 6749 §5.2) alike, and
// can be scripted to fail, throttle or hang.
// https://www.rfc-editor.org/rfc/rfc8693
package ststest

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"gitlab.com/keyless-ci/keyless/internal/exchange/exchangetest"
)

// TokenPath is where the fake serves its token endpoint; every other path
// is a 404, as on a real server.
const TokenPath = "/oauth2/token"

// Protocol constants, spelled out here rather than imported so that the
// fake checks the client against the RFC and not against itself.
const (
	grantType    = "urn:ietf:params:oauth:grant-type:token-exchange"
	jwtBearer    = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
	typeJWT      = "urn:ietf:params:oauth:token-type:jwt"
	typeIDToken  = "urn:ietf:params:oauth:token-type:id_token"
	typeAccess   = "urn:ietf:params:oauth:token-type:access_token"
	formMimeType = "application/x-www-form-urlencoded"
)

// Fault is one scripted answer.
type Fault struct {
	Status      int    // HTTP status
	Error       string // RFC 6749 §5.2 error code; empty sends Body instead
	Description string
	URI         string
	RetryAfter  string // Retry-After header
	Body        string // a raw body (an HTML error page, say) when Error is empty
	ContentType string // of Body
	Location    string // with a 3xx status
	Hang        bool   // never answer (until the client gives up)
}

// Common faults, with the statuses RFC 6749 §5.2 prescribes. OK is a normal
// answer, for scripting a success before a fault.
var (
	OK                   = Fault{}
	Unavailable          = Fault{Status: 503, Body: "upstream connect error", ContentType: "text/plain"}
	Throttled            = Fault{Status: 429, Body: "Too Many Requests", ContentType: "text/plain", RetryAfter: "0"}
	InvalidRequest       = Fault{Status: 400, Error: "invalid_request", Description: "The subject token is invalid or unacceptable"}
	InvalidClient        = Fault{Status: 401, Error: "invalid_client", Description: "Client authentication failed"}
	InvalidGrant         = Fault{Status: 400, Error: "invalid_grant", Description: "Invalid subject token"}
	UnauthorizedClient   = Fault{Status: 400, Error: "unauthorized_client", Description: "The client is not allowed to use this grant type"}
	UnsupportedGrantType = Fault{Status: 400, Error: "unsupported_grant_type", Description: "Unsupported grant_type"}
	InvalidScope         = Fault{Status: 400, Error: "invalid_scope", Description: "The requested scope is not allowed"}
	InvalidTarget        = Fault{Status: 400, Error: "invalid_target", Description: "The requested audience is not allowed", URI: "https://sts.example/errors#invalid_target"}
	NotFound             = Fault{Status: 404, Body: "<html><body>Not Found</body></html>", ContentType: "text/html"}
)

// Request is what the fake received: tests check it.
type Request struct {
	Method        string
	Path          string
	ContentType   string
	Authorization string
	Form          url.Values
}

// Server is the fake. Faults are consumed in order, one per request to the
// token path; after them every request is answered on its merits.
type Server struct {
	URL string // the server's base URL; TokenURL is the endpoint

	// What a successful exchange issues; defaults are set by New.
	AccessToken     string
	IssuedTokenType string // when the client requests none
	RefreshToken    string // sent, as servers may; the client must drop it
	ExpiresIn       int    // 0 leaves expires_in out

	// Client authentication. With ClientID set the client must send it and
	// ClientSecret with HTTP Basic, each form-urlencoded (RFC 6749 §2.3.1);
	// with RequireAssertion it must send a jwt-bearer client assertion
	// (RFC 7523) that Verify accepts. Otherwise client_id is optional.
	ClientID, ClientSecret string
	RequireAssertion       bool

	// Verify checks the subject token; a token it refuses is answered with
	// SubjectError: invalid_request by default, as RFC 8693 §2.2.2 says,
	// invalid_grant as many servers answer. nil accepts any token.
	Verify       func(token string) error
	SubjectError string

	// Policy: what may be asked for; empty allows anything.
	SubjectTokenTypes []string // default jwt and id_token
	Audiences         []string
	Resources         []string
	Scopes            []string

	mu       sync.Mutex
	faults   []Fault
	requests []Request
}

func newServer(faults []Fault) *Server {
	return &Server{
		AccessToken:       "fake-issued-access-token-for-tests-only",
		IssuedTokenType:   typeAccess,
		RefreshToken:      "fake-refresh-token-never-handed-on",
		ExpiresIn:         3600,
		SubjectTokenTypes: []string{typeJWT, typeIDToken},
		faults:            faults,
	}
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

// TokenURL is the token endpoint.
func (s *Server) TokenURL() string { return s.URL + TokenPath }

// Script appends faults for the next requests.
func (s *Server) Script(faults ...Fault) {
	s.mu.Lock()
	s.faults = append(s.faults, faults...)
	s.mu.Unlock()
}

// Requests returns the requests received so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// singleValued are the parameters RFC 6749 §3.2 forbids repeating; only
// resource and audience may repeat (RFC 8693 §2.1).
var singleValued = []string{"grant_type", "subject_token", "subject_token_type", "requested_token_type", "scope",
	"actor_token", "actor_token_type", "client_id", "client_secret", "client_assertion", "client_assertion_type"}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != TokenPath {
		writeFault(w, NotFound)
		return
	}
	req := Request{Method: r.Method, Path: r.URL.Path, ContentType: r.Header.Get("Content-Type"), Authorization: r.Header.Get("Authorization")}
	if r.Method != http.MethodPost {
		s.log(req)
		w.Header().Set("Allow", "POST")
		writeError(w, 405, "invalid_request", "The token endpoint accepts POST only", "")
		return
	}
	if mt, _, _ := mime.ParseMediaType(req.ContentType); mt != formMimeType {
		s.log(req)
		writeError(w, 400, "invalid_request", "The request must be "+formMimeType, "")
		return
	}
	if err := r.ParseForm(); err != nil {
		s.log(req)
		writeError(w, 400, "invalid_request", "The body is not form-urlencoded", "")
		return
	}
	req.Form = r.PostForm
	if f := s.record(req); f != nil && (f.Status != 0 || f.Hang) {
		if f.Hang {
			<-r.Context().Done()
			return
		}
		writeFault(w, *f)
		return
	}
	form := r.PostForm
	for _, k := range singleValued {
		if len(form[k]) > 1 {
			writeError(w, 400, "invalid_request", "Parameter "+k+" is repeated", "")
			return
		}
	}
	if ok, status, desc := s.authenticate(r, form); !ok {
		if status == 401 {
			w.Header().Set("WWW-Authenticate", `Basic realm="ststest"`)
		}
		writeError(w, status, "invalid_client", desc, "")
		return
	}
	if form.Get("grant_type") != grantType {
		writeError(w, 400, "unsupported_grant_type", "Unsupported grant_type", "")
		return
	}
	subject, subjectType := form.Get("subject_token"), form.Get("subject_token_type")
	if subject == "" || subjectType == "" {
		writeError(w, 400, "invalid_request", "subject_token and subject_token_type are required", "")
		return
	}
	if len(s.SubjectTokenTypes) > 0 && !slices.Contains(s.SubjectTokenTypes, subjectType) {
		writeError(w, 400, "invalid_request", "Unsupported subject_token_type "+subjectType, "")
		return
	}
	if s.Verify != nil {
		if err := s.Verify(subject); err != nil {
			code := s.SubjectError
			if code == "" {
				code = "invalid_request"
			}
			// Servers often quote what they refused; so does the fake, to
			// prove that the client scrubs it.
			writeError(w, 400, code, "Subject token "+subject+" rejected: "+firstLine(err.Error()), "")
			return
		}
	}
	for _, a := range form["audience"] {
		if len(s.Audiences) > 0 && !slices.Contains(s.Audiences, a) {
			writeError(w, 400, "invalid_target", "Audience "+a+" is not allowed for this client", "")
			return
		}
	}
	for _, res := range form["resource"] {
		u, err := url.Parse(res)
		if err != nil || !u.IsAbs() || u.Fragment != "" {
			writeError(w, 400, "invalid_target", "resource must be an absolute URI without a fragment", "")
			return
		}
		if len(s.Resources) > 0 && !slices.Contains(s.Resources, res) {
			writeError(w, 400, "invalid_target", "Resource "+res+" is not allowed for this client", "")
			return
		}
	}
	for _, sc := range strings.Fields(form.Get("scope")) {
		if len(s.Scopes) > 0 && !slices.Contains(s.Scopes, sc) {
			writeError(w, 400, "invalid_scope", "Scope "+sc+" is not allowed", "")
			return
		}
	}
	issued := form.Get("requested_token_type")
	if issued == "" {
		issued = s.IssuedTokenType
	}
	// RFC 8693 §2.2.1: token_type is N_A when the issued token is not an
	// access token.
	tokenType := "Bearer"
	if issued != typeAccess {
		tokenType = "N_A"
	}
	out := map[string]any{"access_token": s.AccessToken, "issued_token_type": issued, "token_type": tokenType}
	if s.ExpiresIn > 0 {
		out["expires_in"] = s.ExpiresIn
	}
	if sc := form.Get("scope"); sc != "" {
		out["scope"] = sc
	}
	if s.RefreshToken != "" {
		out["refresh_token"] = s.RefreshToken
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	json.NewEncoder(w).Encode(out)
}

// log keeps a request that failed before faults apply.
func (s *Server) log(req Request) {
	s.mu.Lock()
	s.requests = append(s.requests, req)
	s.mu.Unlock()
}

// record keeps req and returns the next scripted fault, if any.
func (s *Server) record(req Request) *Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, req)
	if len(s.faults) == 0 {
		return nil
	}
	f := s.faults[0]
	s.faults = s.faults[1:]
	return &f
}

// authenticate applies RFC 6749 §2.3: at most one method per request; HTTP
// Basic with form-urlencoded parts; a failure of the Authorization header
// is a 401.
func (s *Server) authenticate(r *http.Request, form url.Values) (ok bool, status int, desc string) {
	h := r.Header.Get("Authorization")
	assertion, assertionType := form.Get("client_assertion"), form.Get("client_assertion_type")
	methods := 0
	for _, used := range []bool{h != "", assertion != "" || assertionType != "", form.Get("client_secret") != ""} {
		if used {
			methods++
		}
	}
	if methods > 1 {
		return false, 400, "More than one client authentication method"
	}
	switch {
	case h != "":
		id, sec, err := parseBasic(h)
		if err != nil {
			return false, 401, err.Error()
		}
		if s.ClientID == "" || id != s.ClientID || sec != s.ClientSecret {
			return false, 401, "Invalid client credentials"
		}
		return true, 0, ""
	case assertion != "" || assertionType != "":
		if assertionType != jwtBearer {
			return false, 400, "Unsupported client_assertion_type"
		}
		if !s.RequireAssertion {
			return false, 401, "The client does not authenticate with assertions"
		}
		if s.Verify != nil {
			if err := s.Verify(assertion); err != nil {
				return false, 401, "Invalid client assertion"
			}
		}
		return true, 0, ""
	case form.Get("client_secret") != "":
		return false, 401, "client_secret_post is not enabled for this client"
	case s.ClientID != "" || s.RequireAssertion:
		return false, 401, "Client authentication required"
	}
	return true, 0, ""
}

// parseBasic decodes an RFC 6749 §2.3.1 Basic header: base64 of
// urlencoded(id) ":" urlencoded(secret).
func parseBasic(h string) (id, sec string, err error) {
	scheme, b64, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Basic") {
		return "", "", fmt.Errorf("Unsupported authorization scheme")
	}
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return "", "", fmt.Errorf("Malformed Basic credentials")
	}
	eid, esec, ok := strings.Cut(string(raw), ":")
	if !ok {
		return "", "", fmt.Errorf("Malformed Basic credentials")
	}
	if id, err = url.QueryUnescape(eid); err != nil {
		return "", "", fmt.Errorf("Malformed Basic credentials")
	}
	if sec, err = url.QueryUnescape(esec); err != nil {
		return "", "", fmt.Errorf("Malformed Basic credentials")
	}
	return id, sec, nil
}

func writeFault(w http.ResponseWriter, f Fault) {
	if f.RetryAfter != "" {
		w.Header().Set("Retry-After", f.RetryAfter)
	}
	if f.Location != "" {
		w.Header().Set("Location", f.Location)
	}
	if f.Error != "" {
		writeError(w, f.Status, f.Error, f.Description, f.URI)
		return
	}
	if f.ContentType != "" {
		w.Header().Set("Content-Type", f.ContentType)
	}
	w.WriteHeader(f.Status)
	fmt.Fprint(w, f.Body)
}

// writeError writes RFC 6749 §5.2's JSON error.
func writeError(w http.ResponseWriter, status int, code, desc, uri string) {
	body := map[string]string{"error": code}
	if desc != "" {
		body["error_description"] = desc
	}
	if uri != "" {
		body["error_uri"] = uri
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(body)
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
