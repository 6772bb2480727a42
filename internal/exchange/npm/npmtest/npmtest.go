// Package npmtest is a fake npm registry token-exchange endpoint for tests,
// written from the npm CLI's client (lib/utils/oidc.js) and npm's trusted
// publishing documentation (https://docs.npmjs.com/trusted-publishers).
// npm documents no error bodies; those the fake answers with are the ones
// npm users have quoted, kept in testdata/ with their sources (README).
// Which refusal a mismatching publisher gets (401 "unauthorized") is the
// fake's assumption from those reports.
//
// In front of a real registry (Upstream, Issue) the fake is npmjs.com's
// exchange endpoint for a registry that has none, such as Verdaccio: it
// answers the exchange itself, with a token the registry issued, and hands
// every other request to the registry, so a real client publishes there
// with the token keyless got (issue 18).
package npmtest

import (
	"embed"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"

	"gitlab.com/keyless-ci/keyless/internal/exchange/exchangetest"
	"gitlab.com/keyless-ci/keyless/internal/idtoken"
	"gitlab.com/keyless-ci/keyless/internal/secret"
)

//go:embed testdata/*.json
var samples embed.FS

// Sample returns the body of testdata/name.json.
func Sample(name string) string { return exchangetest.Sample(samples, name) }

// ExchangePath is the endpoint, the escaped package name appended.
const ExchangePath = "/-/npm/v1/oidc/token/exchange/package/"

// WhoamiPath answers the issued token's user, as npm whoami asks for it:
// a real client's check that it sends the token keyless handed it.
const WhoamiPath = "/-/whoami"

// Publisher is a GitLab CI/CD trusted publisher as npm's settings page
// takes it: namespace, project name, top-level CI file path, environment
// (optional).
type Publisher struct {
	Namespace, Project, CIFile, Environment string
}

// Fault is one scripted answer.
type Fault struct {
	Status      int
	Sample      string
	Body        string
	ContentType string
	Location    string
	Hang        bool
}

// Common faults.
var (
	OK           = Fault{}
	Unavailable  = Fault{Status: 503, Body: "Service Unavailable", ContentType: "text/plain"}
	Throttled    = Fault{Status: 429, Body: "Too Many Requests", ContentType: "text/plain"}
	NotFound     = Fault{Status: 404, Sample: "error-package-not-found"}
	Unauthorized = Fault{Status: 401, Sample: "error-unauthorized"}
)

// Request is what the fake received.
type Request struct {
	Method, Path, RawPath, Authorization, ContentType string
	BodyLength                                        int64
	// UserAgent and NpmCommand are the client's User-Agent and npm-command
	// headers (npm-registry-fetch sends npm-command: publish).
	UserAgent, NpmCommand string
}

// Server is the fake registry.
type Server struct {
	URL   string
	Token string
	// Packages maps a package name to its trusted publisher.
	Packages map[string]Publisher
	// Verify checks the ID token; nil accepts any token that decodes.
	Verify func(token string) error
	// Issue, when set, returns the token an accepted exchange answers with
	// (one a real registry issued) instead of Token.
	Issue func(pkg string) (string, error)
	// Upstream, when set, is the registry every request but an exchange
	// goes to (whoami included).
	Upstream *url.URL

	mu       sync.Mutex
	faults   []Fault
	requests []Request
}

// New starts the fake on loopback.
func New(t testing.TB, faults ...Fault) *Server {
	s := &Server{Token: "npm_fakeIssuedPublishTokenForTestsOnly", Packages: map[string]Publisher{}, faults: faults}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

// Audience is the aud the fake expects, npm:HOST as oidc.js computes it.
func (s *Server) Audience() string {
	u, _ := url.Parse(s.URL)
	return "npm:" + u.Hostname()
}

// Requests returns the requests received so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	req := Request{Method: r.Method, Path: r.URL.Path, RawPath: r.URL.EscapedPath(), Authorization: r.Header.Get("Authorization"),
		ContentType: r.Header.Get("Content-Type"), BodyLength: r.ContentLength,
		UserAgent: r.Header.Get("User-Agent"), NpmCommand: r.Header.Get("npm-command")}
	if s.Upstream != nil && !strings.HasPrefix(req.RawPath, ExchangePath) {
		httputil.NewSingleHostReverseProxy(s.Upstream).ServeHTTP(w, r)
		return
	}
	if req.RawPath == WhoamiPath {
		s.mu.Lock()
		s.requests = append(s.requests, req)
		s.mu.Unlock()
		if req.Authorization != "Bearer "+s.Token {
			writeFault(w, Unauthorized)
			return
		}
		writeFault(w, Fault{Status: 200, Body: strings.Replace(Sample("whoami"), `"USERNAME"`, `"keyless-ci-publisher"`, 1), ContentType: "application/json"})
		return
	}
	if !strings.HasPrefix(req.RawPath, ExchangePath) {
		writeFault(w, Fault{Status: 404, Body: `{"error":"Not found"}`, ContentType: "application/json"})
		return
	}
	s.mu.Lock()
	s.requests = append(s.requests, req)
	var f *Fault
	if len(s.faults) > 0 {
		f = &s.faults[0]
		s.faults = s.faults[1:]
	}
	s.mu.Unlock()
	if f != nil && f.Hang {
		<-r.Context().Done()
		return
	}
	if f != nil && f.Status != 0 {
		writeFault(w, *f)
		return
	}
	if r.Method != http.MethodPost {
		writeFault(w, Fault{Status: 405, Body: `{"error":"Method Not Allowed"}`, ContentType: "application/json"})
		return
	}
	// The name is one path segment: a scoped name arrives as @scope%2fname.
	name, err := url.PathUnescape(strings.TrimPrefix(req.RawPath, ExchangePath))
	if err != nil || strings.Contains(strings.TrimPrefix(req.RawPath, ExchangePath), "/") {
		writeFault(w, NotFound)
		return
	}
	pub, ok := s.Packages[name]
	if !ok {
		writeFault(w, NotFound)
		return
	}
	raw, ok := strings.CutPrefix(req.Authorization, "Bearer ")
	if !ok {
		writeFault(w, Unauthorized)
		return
	}
	tok, err := idtoken.Decode(secret.New(raw))
	if err != nil || !contains(tok.Claims.Audience, s.Audience()) {
		writeFault(w, Unauthorized)
		return
	}
	if s.Verify != nil && s.Verify(raw) != nil {
		writeFault(w, Unauthorized)
		return
	}
	p := tok.Claims.GitLabPublisher()
	if p.CIFile == "" || p.Namespace != pub.Namespace || p.Project != pub.Project || p.CIFile != pub.CIFile || (pub.Environment != "" && p.Environment != pub.Environment) {
		writeFault(w, Unauthorized)
		return
	}
	token := s.Token
	if s.Issue != nil {
		if token, err = s.Issue(name); err != nil {
			// Generic HTTP, not npm's words: the registry behind refused.
			writeFault(w, Fault{Status: 502, Body: "Bad Gateway", ContentType: "text/plain"})
			return
		}
	}
	writeFault(w, Fault{Status: 201, Body: strings.Replace(Sample("exchange-success"), `"TOKEN"`, fmt.Sprintf("%q", token), 1), ContentType: "application/json"})
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

func writeFault(w http.ResponseWriter, f Fault) {
	if f.Location != "" {
		w.Header().Set("Location", f.Location)
	}
	body, ct := f.Body, f.ContentType
	if f.Sample != "" {
		body, ct = Sample(f.Sample), "application/json"
	}
	if ct != "" {
		w.Header().Set("Content-Type", ct)
	}
	w.WriteHeader(f.Status)
	fmt.Fprintln(w, body)
}
