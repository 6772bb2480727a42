// Package oidctest is a GitLab-shaped OpenID Connect issuer for tests: it
// serves discovery at /.well-known/openid-configuration and keys at
// /oauth/discovery/keys (GitLab's paths), mints RS256 ID tokens in the
// shapes GitLab sends (testdata/gitlab/id-tokens: every claim, every JSON
// type, each from a cited source), and rotates keys. It runs in-process (NewServer) or as
// a small process for end-to-end scripts (cmd/keyless-test-issuer).
package oidctest

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// Paths GitLab serves.
const (
	DiscoveryPath = "/.well-known/openid-configuration"
	KeysPath      = "/oauth/discovery/keys"
)

type key struct {
	id   string
	priv *rsa.PrivateKey
}

// Issuer mints and publishes. Its zero value is not usable; call New.
type Issuer struct {
	// URL is the issuer URL, without a trailing slash; it is the iss claim.
	URL string
	// Now is the clock used for iat, nbf and exp.
	Now func() time.Time

	mu     sync.Mutex
	keys   []key // keys[len-1] signs; all are published
	serial int
	served map[string]int
}

// New returns an issuer with one fresh key, not yet serving.
func New() (*Issuer, error) {
	i := &Issuer{Now: time.Now, served: map[string]int{}}
	if err := i.Rotate(true); err != nil {
		return nil, err
	}
	return i, nil
}

// NewServer starts an issuer on a loopback httptest server for the length
// of the test.
func NewServer(t testing.TB) *Issuer {
	t.Helper()
	i, err := New()
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(i.Handler())
	t.Cleanup(srv.Close)
	i.URL = srv.URL
	return i
}

// NewServerAt is NewServer for an instance under a relative URL root:
// the issuer URL, and so iss, discovery and keys, carry prefix (e.g.
// "/gitlab", as https://example.com/gitlab).
func NewServerAt(t testing.TB, prefix string) *Issuer {
	t.Helper()
	i, err := New()
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.StripPrefix(prefix, i.Handler()))
	t.Cleanup(srv.Close)
	i.URL = srv.URL + prefix
	return i
}

// Listen serves the issuer on l until the server is closed; the URL is set
// from the listener's address unless it is already set.
func (i *Issuer) Listen(l net.Listener) *http.Server {
	if i.URL == "" {
		i.URL = "http://" + l.Addr().String()
	}
	srv := &http.Server{Handler: i.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(l)
	return srv
}

// Rotate adds a new signing key. When keepOld is false the previous keys
// are no longer published, so tokens they signed stop verifying.
func (i *Issuer) Rotate(keepOld bool) error {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return fmt.Errorf("generate key: %w", err)
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	i.serial++
	k := key{id: fmt.Sprintf("keyless-test-%d", i.serial), priv: priv}
	if keepOld {
		i.keys = append(i.keys, k)
	} else {
		i.keys = []key{k}
	}
	return nil
}

// Hits returns how often path was requested.
func (i *Issuer) Hits(path string) int {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.served[path]
}

// Handler serves discovery and keys.
func (i *Issuer) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+DiscoveryPath, func(w http.ResponseWriter, r *http.Request) {
		i.count(DiscoveryPath)
		writeJSON(w, map[string]any{
			"issuer":                                i.URL,
			"authorization_endpoint":                i.URL + "/oauth/authorize",
			"token_endpoint":                        i.URL + "/oauth/token",
			"userinfo_endpoint":                     i.URL + "/oauth/userinfo",
			"jwks_uri":                              i.URL + KeysPath,
			"response_types_supported":              []string{"code"},
			"subject_types_supported":               []string{"public"},
			"id_token_signing_alg_values_supported": []string{"RS256"},
			"scopes_supported":                      []string{"openid", "profile", "email"},
			"claims_supported":                      claimNames,
		})
	})
	mux.HandleFunc("GET "+KeysPath, func(w http.ResponseWriter, r *http.Request) {
		i.count(KeysPath)
		i.mu.Lock()
		set := jose.JSONWebKeySet{}
		for _, k := range i.keys {
			set.Keys = append(set.Keys, jose.JSONWebKey{Key: &k.priv.PublicKey, KeyID: k.id, Algorithm: "RS256", Use: "sig"})
		}
		i.mu.Unlock()
		writeJSON(w, set)
	})
	return mux
}

func (i *Issuer) count(p string) {
	i.mu.Lock()
	i.served[p]++
	i.mu.Unlock()
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

var claimNames = []string{"iss", "sub", "aud", "exp", "iat", "nbf", "jti", "namespace_id",
	"namespace_path", "project_id", "project_path", "user_id", "user_login", "pipeline_id",
	"pipeline_source", "job_id", "ref", "ref_type", "ref_path", "ref_protected", "environment",
	"environment_protected", "deployment_tier", "runner_id", "runner_environment", "sha"}

// Job describes the CI job a token is minted for.
//
// With no Shape, zero fields take the defaults of DefaultJob and the token
// has the DefaultShape's claims. With a Shape, the token is that shape as
// GitLab sent it, and only the fields set here replace its claims.
type Job struct {
	// Shape names a shape of testdata/gitlab/id-tokens (see Shapes).
	Shape          string
	Audience       []string
	ProjectPath    string
	ProjectID      string
	NamespaceID    string
	Ref            string
	RefType        string // branch or tag
	RefProtected   bool   // used when Ref is set
	Environment    string
	PipelineSource string
	JobID          string
	TTL            time.Duration
	// IssuedAt overrides the issuer's clock, e.g. to mint an expired token.
	IssuedAt time.Time
	// Subject overrides the computed sub.
	Subject string
}

// DefaultJob is a protected main-branch job of keyless-ci/demo.
var DefaultJob = Job{
	Audience:       []string{"sts.amazonaws.com"},
	ProjectPath:    "keyless-ci/demo",
	ProjectID:      "4242",
	NamespaceID:    "77",
	Ref:            "main",
	RefType:        "branch",
	RefProtected:   true,
	PipelineSource: "push",
	JobID:          "9001",
	TTL:            time.Hour,
}

// Claims returns the claims GitLab would put in the token of job j, with
// the JSON types GitLab sends.
func (i *Issuer) Claims(j Job) (map[string]any, error) {
	name := j.Shape
	if name == "" {
		name = DefaultShape
		j = withDefaults(j)
	}
	s, ok := ShapeNamed(name)
	if !ok {
		return nil, fmt.Errorf("no shape %q in testdata/gitlab/id-tokens", name)
	}
	return s.claims(i.URL, j, i.Now()), nil
}

func withDefaults(j Job) Job {
	d := DefaultJob
	if len(j.Audience) == 0 {
		j.Audience = d.Audience
	}
	if j.ProjectPath == "" {
		j.ProjectPath = d.ProjectPath
	}
	if j.ProjectID == "" {
		j.ProjectID = d.ProjectID
	}
	if j.NamespaceID == "" {
		j.NamespaceID = d.NamespaceID
	}
	if j.Ref == "" {
		j.Ref = d.Ref
		j.RefProtected = d.RefProtected
	}
	if j.RefType == "" {
		j.RefType = d.RefType
	}
	if j.PipelineSource == "" {
		j.PipelineSource = d.PipelineSource
	}
	if j.JobID == "" {
		j.JobID = d.JobID
	}
	if j.TTL == 0 {
		j.TTL = d.TTL
	}
	return j
}

// Mint signs a token for job j with the current key.
func (i *Issuer) Mint(j Job) (string, error) {
	c, err := i.Claims(j)
	if err != nil {
		return "", err
	}
	return i.Sign(c)
}

// Sign signs arbitrary claims with the current key.
func (i *Issuer) Sign(claims any) (string, error) {
	i.mu.Lock()
	k := i.keys[len(i.keys)-1]
	i.mu.Unlock()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: k.priv, KeyID: k.id}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return "", fmt.Errorf("signer: %w", err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("claims: %w", err)
	}
	obj, err := signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("sign: %w", err)
	}
	return obj.CompactSerialize()
}

// MustMint is Mint for tests.
func (i *Issuer) MustMint(t testing.TB, j Job) string {
	t.Helper()
	s, err := i.Mint(j)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
