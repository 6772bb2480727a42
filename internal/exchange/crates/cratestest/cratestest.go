// Package cratestest is a fake crates.io for tests: the trusted publishing
// token endpoint, written from crates.io's source
// (src/controllers/trustpub/tokens/, crates/crates_io_trustpub/src/gitlab/),
// and enough of cargo's registry web API and sparse index for cargo
// publish (https://doc.rust-lang.org/cargo/reference/registry-web-api.html,
// https://doc.rust-lang.org/cargo/reference/registry-index.html). Every
// JSON body it answers with is a sample of testdata/ (see its README for the
// source of each), filled in. It trusts what Verify trusts, refuses a reused
// jti as crates.io does, and can be scripted to fail, throttle or hang.
package cratestest

import (
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
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

// Paths, as crates.io and cargo route them.
const (
	TokensPath  = "/api/v1/trusted_publishing/tokens"
	PublishPath = "/api/v1/crates/new"
	// IndexPath is the sparse index's root: cargo is pointed at
	// sparse+URL/index/ and reads URL/index/config.json first.
	IndexPath = "/index/"
)

// Config is a GitLab trusted publishing config as crates.io stores it
// (GitLabConfig: crate, namespace, project, workflow_filepath, optional
// environment; namespace_id filled in by the first exchange).
type Config struct {
	Crate, Namespace, Project, WorkflowFilepath, Environment string
	NamespaceID                                              string
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
	Reused      = Fault{Status: 400, Sample: "error-jwt-reused"}
	BadIssuer   = Fault{Status: 400, Sample: "error-unsupported-issuer"}
)

// Request is what the fake received on the tokens path. Auth is only
// whether an Authorization header came, never its value.
type Request struct {
	Method, Path, ContentType string
	Body                      string
	Auth                      bool
}

// Published is a crate version the fake accepted.
type Published struct {
	Name, Version string
	Size          int
}

// Server is the fake registry. Faults apply in order, one per request to
// the tokens path; after them every request is answered on its merits.
type Server struct {
	URL string

	// Token, when set, is what every exchange issues; else each issues a
	// new token shaped like crates.io's (AccessToken: cio_tp_ + 31
	// alphanumerics + a checksum character).
	Token   string
	Configs []Config
	// Issuer is the one issuer the fake supports ("Unsupported JWT issuer"
	// for another); "" accepts any.
	Issuer string
	// Verify checks the ID token as GitLabClaims::decode does (signature,
	// expiry, audience); nil accepts any token that decodes.
	Verify func(token string) error

	mu        sync.Mutex
	faults    []Fault
	requests  []Request
	used      map[string]bool     // jti, as trustpub_used_jtis keeps them
	tokens    map[string][]string // live token -> crates it may publish
	issued    []string
	revoked   int
	published []Published
	index     map[string][]string // crate -> index lines
}

// New starts the fake on loopback for the length of the test.
func New(t testing.TB, faults ...Fault) *Server {
	s := &Server{faults: faults, used: map[string]bool{}, tokens: map[string][]string{}, index: map[string][]string{}}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

// Audience is the aud the fake's registry expects: its URL without the
// scheme, as crates-io-auth-action derives it (crates.io for crates.io).
func (s *Server) Audience() string { return strings.TrimPrefix(s.URL, "http://") }

// Script appends faults for the next requests to the tokens path.
func (s *Server) Script(faults ...Fault) {
	s.mu.Lock()
	s.faults = append(s.faults, faults...)
	s.mu.Unlock()
}

// Requests returns the requests to the tokens path so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Live is the number of issued tokens not revoked.
func (s *Server) Live() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.tokens)
}

// Issued returns every token the fake issued, for tests that look for
// them where they must not be.
func (s *Server) Issued() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.issued...)
}

// Revoked is the number of tokens revoked.
func (s *Server) Revoked() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.revoked
}

// Published returns the crate versions published with an issued token.
func (s *Server) Published() []Published {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Published(nil), s.published...)
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == PublishPath && r.Method == http.MethodPut:
		s.publish(w, r)
		return
	case strings.HasPrefix(r.URL.Path, IndexPath) && r.Method == http.MethodGet:
		s.serveIndex(w, r)
		return
	case r.URL.Path != TokensPath:
		writeFault(w, NotFound)
		return
	}
	b, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	req := Request{Method: r.Method, Path: r.URL.Path, ContentType: r.Header.Get("Content-Type"), Body: string(b), Auth: r.Header.Get("Authorization") != ""}
	if f := s.record(req); f != nil && (f.Status != 0 || f.Hang) {
		if f.Hang {
			<-r.Context().Done()
			return
		}
		writeFault(w, *f)
		return
	}
	switch r.Method {
	case http.MethodPost, http.MethodPut:
		s.exchange(w, b)
	case http.MethodDelete:
		s.revoke(w, r)
	default:
		w.WriteHeader(http.StatusMethodNotAllowed)
	}
}

func detail(w http.ResponseWriter, status int, d string) {
	b, _ := json.Marshal(map[string]any{"errors": []map[string]string{{"detail": d}}})
	writeJSON(w, status, string(b))
}

// exchange follows exchange_trustpub_token and handle_gitlab_token_inner
// (exchange/mod.rs), in their order.
func (s *Server) exchange(w http.ResponseWriter, body []byte) {
	var p struct {
		JWT *string `json:"jwt"`
	}
	if json.Unmarshal(body, &p) != nil || p.JWT == nil {
		// axum's Json extractor refuses the body before the handler runs
		// (generic, not crates.io's words).
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusUnprocessableEntity)
		fmt.Fprint(w, "Failed to deserialize the JSON body into the target type: missing field `jwt`")
		return
	}
	tok, err := idtoken.Decode(secret.New(*p.JWT))
	if err != nil {
		writeJSON(w, 400, Sample("error-decode-jwt"))
		return
	}
	c := tok.Claims
	if s.Issuer != "" && c.Issuer != s.Issuer {
		detail(w, 400, "Unsupported JWT issuer: "+c.Issuer)
		return
	}
	if s.Verify != nil && s.Verify(*p.JWT) != nil {
		writeJSON(w, 400, Sample("error-decode-jwt"))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// insert_jti comes first, inside a transaction that a refusal rolls
	// back: only a successful exchange uses the jti up. GitLabClaims
	// requires jti: without one the token does not decode.
	if c.ID == "" {
		writeJSON(w, 400, Sample("error-decode-jwt"))
		return
	}
	if s.used[c.ID] {
		writeJSON(w, 400, Sample("error-jwt-reused"))
		return
	}
	i := strings.LastIndexByte(c.ProjectPath, '/')
	if i < 0 {
		writeJSON(w, 400, Sample("error-project-path"))
		return
	}
	ns, proj := c.ProjectPath[:i], c.ProjectPath[i+1:]
	wf := workflowFilepath(c.CIConfigRefURI)
	if wf == "" {
		writeJSON(w, 400, Sample("error-ci-config-ref-uri"))
		return
	}
	var match []*Config
	for i := range s.Configs {
		if strings.EqualFold(s.Configs[i].Namespace, ns) && strings.EqualFold(s.Configs[i].Project, proj) {
			match = append(match, &s.Configs[i])
		}
	}
	if len(match) == 0 {
		detail(w, 400, fmt.Sprintf("No Trusted Publishing config found for repository `%s`.", c.ProjectPath))
		return
	}
	nsID := c.NamespaceID
	var keep, wrongIDs []*Config
	for _, m := range match {
		if m.NamespaceID == "" {
			m.NamespaceID = nsID
		}
		if m.NamespaceID != nsID {
			wrongIDs = append(wrongIDs, m)
			continue
		}
		keep = append(keep, m)
	}
	if len(keep) == 0 {
		ids := make([]string, len(wrongIDs))
		for i, m := range wrongIDs {
			ids[i] = m.NamespaceID
		}
		detail(w, 400, fmt.Sprintf("The Trusted Publishing config for repository `%s` does not match the namespace ID (%s) in the JWT. Expected namespace IDs: %s. Please recreate the Trusted Publishing config to update the namespace ID.",
			c.ProjectPath, nsID, strings.Join(ids, ", ")))
		return
	}
	match, keep = keep, nil
	var wrong []string
	for _, m := range match {
		if m.WorkflowFilepath != wf {
			wrong = append(wrong, "`"+m.WorkflowFilepath+"`")
			continue
		}
		keep = append(keep, m)
	}
	if len(keep) == 0 {
		detail(w, 400, fmt.Sprintf("The Trusted Publishing config for repository `%s` does not match the workflow filepath `%s` in the JWT. Expected workflow filepaths: %s",
			c.ProjectPath, wf, strings.Join(wrong, ", ")))
		return
	}
	match, keep, wrong = keep, nil, nil
	for _, m := range match {
		if m.Environment != "" && (c.Environment == "" || !strings.EqualFold(m.Environment, c.Environment)) {
			wrong = append(wrong, "`"+m.Environment+"`")
			continue
		}
		keep = append(keep, m)
	}
	if len(keep) == 0 {
		if c.Environment != "" {
			detail(w, 400, fmt.Sprintf("The Trusted Publishing config for repository `%s` does not match the environment `%s` in the JWT. Expected environments: %s",
				c.ProjectPath, c.Environment, strings.Join(wrong, ", ")))
		} else {
			detail(w, 400, fmt.Sprintf("The Trusted Publishing config for repository `%s` requires an environment, but the JWT does not specify one. Expected environments: %s",
				c.ProjectPath, strings.Join(wrong, ", ")))
		}
		return
	}
	s.used[c.ID] = true
	token := s.Token
	if token == "" {
		token = newAccessToken()
	}
	var crates []string
	for _, m := range keep {
		crates = append(crates, m.Crate)
	}
	s.tokens[token] = crates
	s.issued = append(s.issued, token)
	writeJSON(w, 200, strings.Replace(Sample("exchange-success"), `"TOKEN"`, quote(token), 1))
}

// revoke is revoke_trustpub_token (revoke/mod.rs): the bearer token (the
// scheme may be left out, AuthHeader in src/auth.rs), 401 without one or
// for one that does not parse, else the token deleted if known and 204.
func (s *Server) revoke(w http.ResponseWriter, r *http.Request) {
	h := r.Header.Get("Authorization")
	if h == "" {
		detail(w, 401, "Missing `Authorization` header")
		return
	}
	tok := bearer(h)
	if !strings.HasPrefix(tok, "cio_tp_") && tok != s.Token {
		writeJSON(w, 401, Sample("error-revoke-unparsable"))
		return
	}
	s.mu.Lock()
	if _, ok := s.tokens[tok]; ok {
		delete(s.tokens, tok)
		s.revoked++
	}
	s.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func bearer(h string) string {
	if scheme, rest, ok := strings.Cut(h, " "); ok && strings.EqualFold(scheme, "Bearer") {
		return strings.TrimSpace(rest)
	}
	return strings.TrimSpace(h)
}

// publish is cargo's publish request (registry web API, "Publish"): the
// token in Authorization as cargo sends it (no scheme), a body of a 32-bit
// little-endian length, the JSON metadata, another length and the .crate
// file. A token the fake did not issue, or one revoked, is refused as
// crates.io refuses it (publish.rs: 403 "Invalid authentication token"),
// and one for other crates with "not valid for crate".
func (s *Server) publish(w http.ResponseWriter, r *http.Request) {
	tok := bearer(r.Header.Get("Authorization"))
	body, err := io.ReadAll(io.LimitReader(r.Body, 10<<20))
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	meta, crate, ok := splitPublish(body)
	var m struct {
		Name     string          `json:"name"`
		Vers     string          `json:"vers"`
		Features json.RawMessage `json:"features"`
	}
	if !ok || json.Unmarshal(meta, &m) != nil || m.Name == "" {
		detail(w, 400, "invalid upload request")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	crates, live := s.tokens[tok]
	if tok == "" || !live {
		writeJSON(w, 403, Sample("error-publish-invalid-token"))
		return
	}
	allowed := false
	for _, c := range crates {
		allowed = allowed || strings.EqualFold(c, m.Name)
	}
	if !allowed {
		writeJSON(w, 403, strings.Replace(Sample("error-publish-wrong-crate"), "CRATE", m.Name, 1))
		return
	}
	s.published = append(s.published, Published{Name: m.Name, Version: m.Vers, Size: len(crate)})
	sum := sha256.Sum256(crate)
	features := m.Features
	if len(features) == 0 {
		features = json.RawMessage("{}")
	}
	line, _ := json.Marshal(map[string]any{"name": m.Name, "vers": m.Vers, "deps": []any{}, "cksum": hex.EncodeToString(sum[:]),
		"features": features, "yanked": false})
	key := strings.ToLower(m.Name)
	s.index[key] = append(s.index[key], string(line))
	writeJSON(w, 200, Sample("publish-success"))
}

func splitPublish(b []byte) (meta, crate []byte, ok bool) {
	if len(b) < 4 {
		return nil, nil, false
	}
	n := int(binary.LittleEndian.Uint32(b))
	if len(b) < 4+n+4 {
		return nil, nil, false
	}
	meta, b = b[4:4+n], b[4+n:]
	n = int(binary.LittleEndian.Uint32(b))
	if len(b) < 4+n {
		return nil, nil, false
	}
	return meta, b[4 : 4+n], true
}

// serveIndex is the sparse index (registry-index.html, "Sparse
// protocol"): config.json with the "dl" and "api" URLs, and a file per
// crate at its index path holding one JSON line per version; 404 for a
// crate the fake does not have.
func (s *Server) serveIndex(w http.ResponseWriter, r *http.Request) {
	p := strings.TrimPrefix(r.URL.Path, IndexPath)
	if p == "config.json" {
		writeJSON(w, 200, strings.ReplaceAll(Sample("index-config"), "URL", s.URL))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for name, lines := range s.index {
		if p == IndexFile(name) {
			w.Header().Set("Content-Type", "text/plain")
			fmt.Fprintln(w, strings.Join(lines, "\n"))
			return
		}
	}
	http.NotFound(w, r)
}

// IndexFile is a crate's path in an index (registry-index.html, "Index
// files"): 1/NAME, 2/NAME, 3/C/NAME, else AB/CD/NAME, lower case.
func IndexFile(name string) string {
	n := strings.ToLower(name)
	switch len(n) {
	case 1:
		return "1/" + n
	case 2:
		return "2/" + n
	case 3:
		return "3/" + n[:1] + "/" + n
	}
	return n[:2] + "/" + n[2:4] + "/" + n
}

// workflowFilepath is extract_workflow_filepath (gitlab/workflows.rs),
// ported here apart from crates.WorkflowFilepath: a fake that called
// keyless's own would agree with it by construction.
func workflowFilepath(ref string) string {
	i := strings.Index(ref, "//")
	if i < 0 {
		return ""
	}
	rest := ref[i+2:]
	j := strings.LastIndexByte(rest, '@')
	if j < 0 {
		return ""
	}
	p := rest[:j]
	if !strings.HasSuffix(p, ".yml") && !strings.HasSuffix(p, ".yaml") {
		return ""
	}
	if base := p[strings.LastIndexByte(p, '/')+1:]; base == ".yml" || base == ".yaml" {
		return ""
	}
	return p
}

const alphanumeric = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// newAccessToken is AccessToken::generate and finalize (access_token.rs).
func newAccessToken() string {
	raw := make([]byte, 31)
	var sum byte
	for i := range raw {
		n, _ := rand.Int(rand.Reader, big.NewInt(int64(len(alphanumeric))))
		raw[i] = alphanumeric[n.Int64()]
		sum ^= raw[i]
	}
	return "cio_tp_" + string(raw) + string(alphanumeric[int(sum)%len(alphanumeric)])
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
