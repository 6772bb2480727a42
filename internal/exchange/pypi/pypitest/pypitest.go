// Package pypitest is a fake PyPI trusted-publishing endpoint for tests,
// written from warehouse's source (warehouse/oidc/views.py,
// warehouse/oidc/models/gitlab.py) and PyPI's documentation
// (https://docs.pypi.org/trusted-publishers/using-a-publisher/). Every body
// it answers with is a sample of testdata/ (see its README for the source
// of each), filled in; it matches a GitLab publisher with warehouse's
// rules and can be scripted to fail, throttle or hang.
package pypitest

import (
	"embed"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"gitlab.com/keyless-ci/keyless/internal/exchange/exchangetest"
	"gitlab.com/keyless-ci/keyless/internal/idtoken"
	"gitlab.com/keyless-ci/keyless/internal/secret"
)

//go:embed testdata/*.json
var samples embed.FS

// Sample returns the body of testdata/name.json.
func Sample(name string) string { return exchangetest.Sample(samples, name) }

// Paths, as warehouse routes them.
const (
	AudiencePath = "/_/oidc/audience"
	MintPath     = "/_/oidc/mint-token"
	// UploadPath is the legacy upload API (warehouse/forklift/legacy.py,
	// file_upload), INDEX/legacy/ as keyless points twine and uv at it for
	// an index other than PyPI.
	UploadPath = "/legacy/"
)

// Upload is a file the fake accepted.
type Upload struct {
	Name, Version, Filename string
}

// Publisher is a GitLab trusted publisher as PyPI stores it
// (GitLabPublisherMixin: namespace, project, workflow_filepath,
// environment).
type Publisher struct {
	Namespace, Project, WorkflowFilepath, Environment string
}

// Fault is one scripted answer.
type Fault struct {
	Status      int
	Sample      string // a testdata sample to answer with
	Body        string // else a raw body
	ContentType string
	Location    string
	Hang        bool
}

// Common faults.
var (
	OK          = Fault{}
	Unavailable = Fault{Status: 503, Body: "Service Unavailable", ContentType: "text/plain"}
	Throttled   = Fault{Status: 429, Body: "Too Many Requests", ContentType: "text/plain"}
	NotFound    = Fault{Status: 404, Body: "<html><body>404 Not Found</body></html>", ContentType: "text/html"}
	Disabled    = Fault{Status: 403, Sample: "audience-disabled"}
	NotEnabled  = Fault{Status: 422, Sample: "error-not-enabled"}
	Reused      = Fault{Status: 422, Sample: "error-invalid-reuse-token"}
	Pending     = Fault{Status: 422, Sample: "error-invalid-pending-publisher"}
	BadIssuer   = Fault{Status: 422, Sample: "error-invalid-payload-issuer"}
)

// Request is what the fake received.
type Request struct {
	Method, Path, ContentType string
	Body                      string
}

// Server is the fake index. Faults apply in order, one per request to
// either path; after them every request is answered on its merits.
type Server struct {
	URL string

	Audience   string      // "pypi" by default
	Token      string      // what a mint issues
	Publishers []Publisher // the project's trusted publishers
	// Verify checks the ID token as verify_jwt_signature does; nil accepts
	// any token that decodes.
	Verify func(token string) error
	// Now is the clock for "expires"; time.Now when nil.
	Now func() time.Time

	mu       sync.Mutex
	faults   []Fault
	requests []Request
	used     map[string]bool // jti, as store_jwt_identifier keeps them
	uploads  []Upload
}

// Uploads returns the files uploaded with the minted token.
func (s *Server) Uploads() []Upload {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Upload(nil), s.uploads...)
}

// upload is file_upload (forklift/legacy.py): HTTP Basic with __token__ and
// an API token, a multipart form with :action file_upload; success is an
// empty 200 (return Response()), a bad credential a 403 whose message
// _exc_with_message puts in the status line (here in the body).
func (s *Server) upload(w http.ResponseWriter, r *http.Request) {
	user, pass, ok := r.BasicAuth()
	if !ok || user != "__token__" || pass != s.Token {
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprintln(w, "Invalid or non-existent authentication information.")
		return
	}
	if err := r.ParseMultipartForm(32 << 20); err != nil || r.FormValue(":action") != "file_upload" {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintln(w, "Invalid value for action.")
		return
	}
	u := Upload{Name: r.FormValue("name"), Version: r.FormValue("version")}
	if _, fh, err := r.FormFile("content"); err == nil {
		u.Filename = fh.Filename
	}
	s.mu.Lock()
	s.uploads = append(s.uploads, u)
	s.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

// New starts the fake on loopback for the length of the test.
func New(t testing.TB, faults ...Fault) *Server {
	s := &Server{Audience: "pypi", Token: "pypi-fake-minted-token-for-tests-only", faults: faults, used: map[string]bool{}}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

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

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == UploadPath && r.Method == http.MethodPost {
		s.upload(w, r)
		return
	}
	b, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	req := Request{Method: r.Method, Path: r.URL.Path, ContentType: r.Header.Get("Content-Type"), Body: string(b)}
	if r.URL.Path != AudiencePath && r.URL.Path != MintPath {
		writeFault(w, NotFound)
		return
	}
	if f := s.record(req); f != nil && (f.Status != 0 || f.Hang) {
		if f.Hang {
			<-r.Context().Done()
			return
		}
		writeFault(w, *f)
		return
	}
	if r.URL.Path == AudiencePath {
		if r.Method != http.MethodGet {
			w.WriteHeader(http.StatusMethodNotAllowed) // require_methods=["GET"]
			return
		}
		writeJSON(w, 200, strings.Replace(Sample("audience"), `"pypi"`, quote(s.Audience), 1))
		return
	}
	if r.Method != http.MethodPost {
		w.WriteHeader(http.StatusMethodNotAllowed) // require_methods=["POST"]
		return
	}
	s.mint(w, b)
}

// mint follows mint_token_from_oidc and mint_token (views.py).
func (s *Server) mint(w http.ResponseWriter, body []byte) {
	var p struct {
		Token *string `json:"token"`
	}
	if json.Unmarshal(body, &p) != nil || p.Token == nil {
		// The code is views.py's; the description, str() of pydantic's
		// ValidationError there, is shortened.
		invalid(w, "invalid-payload", "1 validation error for TokenPayload\ntoken\n  Field required")
		return
	}
	tok, err := idtoken.Decode(secret.New(*p.Token))
	if err != nil {
		writeJSON(w, 422, Sample("error-invalid-payload-malformed"))
		return
	}
	if s.Verify != nil {
		if err := s.Verify(*p.Token); err != nil {
			writeJSON(w, 422, Sample("error-invalid-token"))
			return
		}
	}
	if !contains(tok.Claims.Audience, s.Audience) {
		writeJSON(w, 422, Sample("error-invalid-token"))
		return
	}
	if desc := s.match(tok.Claims); desc != "" {
		invalid(w, "invalid-publisher", "valid token, but no corresponding publisher ("+desc+")")
		return
	}
	s.mu.Lock()
	reused := tok.Claims.ID != "" && s.used[tok.Claims.ID]
	if tok.Claims.ID != "" {
		s.used[tok.Claims.ID] = true
	}
	s.mu.Unlock()
	if reused {
		writeJSON(w, 422, Sample("error-invalid-reuse-token"))
		return
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	out := strings.Replace(Sample("mint-success"), `"TOKEN"`, quote(s.Token), 1)
	out = strings.Replace(out, `"expires": 0`, fmt.Sprintf(`"expires": %d`, now().Unix()+900), 1)
	writeJSON(w, 200, out)
}

// match applies GitLabPublisherMixin's lookups and checks
// (models/gitlab.py) and returns warehouse's description of the failure,
// or "" for a match.
func (s *Server) match(c idtoken.Claims) string {
	if c.CIConfigRefURI == "" {
		return "The ci_config_ref_uri claim is empty"
	}
	i := strings.LastIndexByte(c.ProjectPath, '/')
	if i < 0 {
		return "Publisher with matching claims was not found"
	}
	ns, proj := c.ProjectPath[:i], c.ProjectPath[i+1:]
	ciRef := strings.TrimPrefix(c.CIConfigRefURI, "gitlab.com/"+c.ProjectPath+"//")
	// __lookup_all__ (with the job's environment), then
	// __lookup_no_environment__ (publishers without one).
	envs := []string{""}
	if c.Environment != "" {
		envs = []string{c.Environment, ""}
	}
	for _, env := range envs {
		for _, p := range s.Publishers {
			if p.Namespace != ns || p.Project != proj || p.Environment != env || !strings.HasPrefix(ciRef, p.WorkflowFilepath) {
				continue
			}
			// _check_ci_config_ref_uri: the exact file at ref_path or sha.
			want := "gitlab.com/" + ns + "/" + proj + "//" + p.WorkflowFilepath
			if c.CIConfigRefURI != want+"@"+c.RefPath && c.CIConfigRefURI != want+"@"+c.SHA {
				return fmt.Sprintf("The ci_config_ref_uri claim does not match, expecting one of ['%s@%s', '%s@%s'], got '%s'",
					want, c.SHA, want, c.RefPath, c.CIConfigRefURI)
			}
			return ""
		}
	}
	return "Publisher with matching claims was not found"
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

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

// invalid is _invalid (views.py): 422 and the documented body, built from
// a sample.
func invalid(w http.ResponseWriter, code, desc string) {
	var body map[string]any
	json.Unmarshal([]byte(Sample("error-invalid-publisher")), &body)
	body["errors"] = []map[string]string{{"code": code, "description": desc}}
	b, _ := json.Marshal(body)
	writeJSON(w, 422, string(b))
}

func writeFault(w http.ResponseWriter, f Fault) {
	if f.Location != "" {
		w.Header().Set("Location", f.Location)
	}
	if f.Sample != "" {
		writeJSON(w, f.Status, Sample(f.Sample))
		return
	}
	if f.ContentType != "" {
		w.Header().Set("Content-Type", f.ContentType)
	}
	w.WriteHeader(f.Status)
	fmt.Fprint(w, f.Body)
}

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintln(w, body)
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
