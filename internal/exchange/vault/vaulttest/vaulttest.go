// Package vaulttest is a fake of the HashiCorp Vault (and OpenBao) HTTP API
// for tests: JWT auth login with the plugin's checks and exact error texts,
// KV version 1 and 2 reads (with v2's data/metadata wrapping), the
// sys/internal/ui/mounts preflight the vault CLI uses to tell the two apart,
// and auth/token/revoke-self. Errors have Vault's shape, {"errors":[...]},
// and its statuses: 400 for a refused login, 403 for permission denied, 404
// for a missing secret; faults script 412, 429, 5xx and hangs.
//
// The texts follow hashicorp/vault-plugin-auth-jwt path_login.go (the
// hashicorp/cap/jwt validator it uses since Vault 1.17) and
// vault/logical_system.go; OpenBao's builtin/credential/jwt is the same code.
// https://developer.hashicorp.com/vault/api-docs/auth/jwt#jwt-login
// https://developer.hashicorp.com/vault/api-docs/secret/kv/kv-v2#read-secret-version
package vaulttest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"gitlab.com/keyless-ci/keyless/internal/exchange/exchangetest"
)

// Role is a JWT auth role, with the fields of auth/jwt/role/:name that
// login checks.
type Role struct {
	RoleType        string // "jwt" (the default here) or "oidc", which login refuses
	BoundAudiences  []string
	BoundSubject    string
	BoundClaimsType string         // "string" (default) or "glob"
	BoundClaims     map[string]any // claim -> string or []string
	UserClaim       string         // default "user_login"
	Policies        []string       // token_policies; "default" is added
	TTL             time.Duration  // token_ttl; default 1h
}

// Fault is one scripted answer to a request whose path (after /v1/) starts
// with Path ("" matches every request).
type Fault struct {
	Path   string
	Status int
	Errors []string // Vault's {"errors":[...]}
	Raw    string   // a non-JSON body instead, as a proxy in front of Vault sends
	Hang   bool     // never answer (until the client gives up)
}

// Common faults, with Vault's statuses and texts.
var (
	Sealed    = Fault{Status: 503, Errors: []string{"Vault is sealed"}}
	Throttled = Fault{Status: 429, Errors: []string{`request path "auth/jwt/login": rate limit quota exceeded`}}
	// Standby is a performance standby that has not caught up with the
	// active node's index (X-Vault-Index).
	Standby    = Fault{Status: 412, Errors: []string{"required index state not present"}}
	Internal   = Fault{Status: 500, Errors: []string{"1 error occurred:\n\t* internal error\n\n"}}
	BadGateway = Fault{Status: 502, Raw: "<html><body><h1>502 Bad Gateway</h1></body></html>"}
)

// Request is what the fake received.
type Request struct {
	Method    string
	Path      string // without /v1/
	Namespace string // X-Vault-Namespace
	Token     string // X-Vault-Token
	Header    http.Header
	Body      map[string]any
}

// TokenInfo describes an issued token.
type TokenInfo struct {
	Accessor string
	Policies []string
	Revoked  bool
	Expires  time.Time
}

type token struct {
	TokenInfo
	value string
}

type kvMount struct {
	version int
	data    map[string]map[string]any // secret path -> fields
	deleted map[string]time.Time      // v2: current version deleted at
}

// Vault is the fake. Configure its exported fields before the first request.
type Vault struct {
	URL string
	// AuthMount is where the JWT auth method is enabled (auth/<mount>/).
	AuthMount string
	// Namespace is the namespace that holds everything ("" is root);
	// requests for another one find nothing.
	Namespace string
	// BoundIssuer is auth/jwt/config's bound_issuer; "" skips the check.
	BoundIssuer string
	// DiscoveryURL, when set, is auth/jwt/config's oidc_discovery_url: login
	// verifies the token's signature against the issuer's published keys.
	// Unset, signatures are not checked (claims still are).
	DiscoveryURL string
	Roles        map[string]Role
	// Policies maps a policy name to the paths it may read; a path ending
	// in * is a prefix, as in Vault's ACL syntax.
	Policies map[string][]string
	// NoUIMounts makes sys/internal/ui/mounts answer 404, as Vault before
	// 0.10 does; the vault CLI then assumes KV version 1.
	NoUIMounts bool
	// NextTokens are handed out by the next logins, in order; after them
	// tokens are random.
	NextTokens []string
	Now        func() time.Time

	mu       sync.Mutex
	mounts   map[string]*kvMount // "secret/" -> mount
	tokens   map[string]*token
	faults   []Fault
	requests []Request
	keys     oidc.KeySet
}

// DefaultAudience is the audience the default role is bound to.
const DefaultAudience = "https://vault.example.com"

func newVault(faults []Fault) *Vault {
	v := &Vault{
		AuthMount: "jwt",
		Roles: map[string]Role{
			"deploy": {
				RoleType:       "jwt",
				BoundAudiences: []string{DefaultAudience},
				BoundClaims:    map[string]any{"project_path": "keyless-ci/demo", "ref_protected": "true"},
				UserClaim:      "user_login",
				Policies:       []string{"ci-read"},
				TTL:            time.Hour,
			},
		},
		Policies: map[string][]string{"ci-read": {"secret/data/ci/*", "kv1/ci/*"}},
		Now:      time.Now,
		mounts:   map[string]*kvMount{},
		tokens:   map[string]*token{},
		faults:   faults,
	}
	v.MountKV("secret", 2)
	v.MountKV("kv1", 1)
	v.Put("secret/ci/db", map[string]any{"username": "ci", "password": "fake-db-password"})
	v.Put("kv1/ci/api", map[string]any{"key": "fake-api-key", "port": json.Number("8443")})
	return v
}

// New starts the fake on loopback for the length of the test, with the JWT
// auth method at auth/jwt, a role "deploy" (bound to DefaultAudience and to
// keyless-ci/demo's protected refs, policy ci-read), a KV v2 engine at
// secret/ holding secret/ci/db and a KV v1 engine at kv1/ holding
// kv1/ci/api.
func New(t testing.TB, faults ...Fault) *Vault {
	v := newVault(faults)
	v.URL = exchangetest.Serve(t, v)
	return v
}

// TLSFiles are PEM files for a TLS test, in a temporary directory.
type TLSFiles struct {
	CACert     string // the CA that signed the server's and the client's certificates
	ClientCert string
	ClientKey  string
}

// NewTLS starts the fake behind TLS with a certificate from a new CA. With
// clientCert, the server requires a client certificate signed by that CA;
// files holds the CA and a client certificate and key.
func NewTLS(t testing.TB, clientCert bool, faults ...Fault) (*Vault, TLSFiles) {
	t.Helper()
	v := newVault(faults)
	ca := newCA(t)
	serverCert := ca.issue(t, false)
	srv := httptest.NewUnstartedServer(v)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are what the tests provoke
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{serverCert}, MinVersion: tls.VersionTLS12}
	if clientCert {
		srv.TLS.ClientAuth = tls.RequireAndVerifyClientCert
		srv.TLS.ClientCAs = ca.pool
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	v.URL = srv.URL
	dir := t.TempDir()
	files := TLSFiles{CACert: filepath.Join(dir, "ca.pem"), ClientCert: filepath.Join(dir, "client.pem"), ClientKey: filepath.Join(dir, "client-key.pem")}
	client := ca.issue(t, true)
	keyDER, err := x509.MarshalPKCS8PrivateKey(client.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	for p, b := range map[string][]byte{
		files.CACert:     pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.cert.Raw}),
		files.ClientCert: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: client.Certificate[0]}),
		files.ClientKey:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
	} {
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return v, files
}

// MountKV enables a KV engine of version 1 or 2 at path.
func (v *Vault) MountKV(p string, version int) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.mounts[strings.Trim(p, "/")+"/"] = &kvMount{version: version, data: map[string]map[string]any{}, deleted: map[string]time.Time{}}
}

// Put stores fields at p, a path as `vault kv put` takes it (mount, then
// the secret's path, no data/).
func (v *Vault) Put(p string, fields map[string]any) {
	v.mu.Lock()
	defer v.mu.Unlock()
	m, rest := v.mountOf(p)
	if m == nil {
		panic("vaulttest: no KV mount for " + p)
	}
	m.data[rest] = fields
	delete(m.deleted, rest)
}

// Delete soft-deletes the current version of a KV v2 secret, as
// `vault kv delete` does: reads then answer 404 with its metadata.
func (v *Vault) Delete(p string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	m, rest := v.mountOf(p)
	if m == nil || m.version != 2 {
		panic("vaulttest: no KV v2 mount for " + p)
	}
	m.deleted[rest] = v.Now().UTC()
}

// mountOf finds the engine of p and the secret's path in it; v.mu is held.
func (v *Vault) mountOf(p string) (*kvMount, string) {
	mp := v.mountPath(p)
	if mp == "" {
		return nil, ""
	}
	return v.mounts[mp], strings.TrimSuffix(strings.TrimPrefix(strings.Trim(p, "/")+"/", mp), "/")
}

// mountPath is the longest mount path that p lies under; v.mu is held.
func (v *Vault) mountPath(p string) string {
	p = strings.Trim(p, "/")
	best := ""
	for mp := range v.mounts {
		if strings.HasPrefix(p+"/", mp) && len(mp) > len(best) {
			best = mp
		}
	}
	return best
}

// Requests returns the requests received so far.
func (v *Vault) Requests() []Request {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]Request(nil), v.requests...)
}

// Tokens returns the tokens issued so far, in no particular order.
func (v *Vault) Tokens() []TokenInfo {
	v.mu.Lock()
	defer v.mu.Unlock()
	var out []TokenInfo
	for _, t := range v.tokens {
		out = append(out, t.TokenInfo)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Accessor < out[j].Accessor })
	return out
}

// Token returns what the fake knows of a token value.
func (v *Vault) Token(value string) (TokenInfo, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	t, ok := v.tokens[value]
	if !ok {
		return TokenInfo{}, false
	}
	return t.TokenInfo, true
}

// AddFaults appends scripted answers.
func (v *Vault) AddFaults(f ...Fault) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.faults = append(v.faults, f...)
}

const (
	denied    = "permission denied"
	aclDenied = "1 error occurred:\n\t* permission denied\n\n"
	kv2Prefix = "Invalid path for a versioned K/V secrets engine. See the API docs for the appropriate API endpoints to use. If using the Vault CLI, use 'vault kv get' for this operation."
)

func (v *Vault) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := strings.TrimPrefix(r.URL.Path, "/v1/")
	req := Request{
		Method:    r.Method,
		Path:      p,
		Namespace: strings.Trim(r.Header.Get("X-Vault-Namespace"), "/"),
		Token:     r.Header.Get("X-Vault-Token"),
		Header:    r.Header.Clone(),
	}
	if r.Body != nil && (r.Method == http.MethodPut || r.Method == http.MethodPost) {
		var body map[string]any
		if err := json.NewDecoder(r.Body).Decode(&body); err == nil {
			req.Body = body
		}
	}
	v.mu.Lock()
	v.requests = append(v.requests, req)
	var fault *Fault
	for i, f := range v.faults {
		if strings.HasPrefix(p, f.Path) {
			fault = &f
			v.faults = append(v.faults[:i:i], v.faults[i+1:]...)
			break
		}
	}
	v.mu.Unlock()

	if fault != nil {
		if fault.Hang {
			<-r.Context().Done()
			return
		}
		if fault.Raw != "" {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(fault.Status)
			fmt.Fprint(w, fault.Raw)
			return
		}
		writeErrors(w, fault.Status, fault.Errors...)
		return
	}
	if !strings.HasPrefix(r.URL.Path, "/v1/") {
		writeErrors(w, 404)
		return
	}
	if req.Namespace != strings.Trim(v.Namespace, "/") {
		// Nothing is mounted in another namespace; Vault answers an
		// unauthenticated request for an unknown path with 403.
		writeErrors(w, 403, denied)
		return
	}
	switch {
	case (r.Method == http.MethodPut || r.Method == http.MethodPost) && strings.HasPrefix(p, "auth/") && strings.HasSuffix(p, "/login"):
		mount := strings.TrimSuffix(strings.TrimPrefix(p, "auth/"), "/login")
		if mount != strings.Trim(v.AuthMount, "/") {
			writeErrors(w, 403, denied)
			return
		}
		v.login(w, r.Context(), req)
	case (r.Method == http.MethodPut || r.Method == http.MethodPost) && p == "auth/token/revoke-self":
		v.revokeSelf(w, req)
	case r.Method == http.MethodGet && strings.HasPrefix(p, "sys/internal/ui/mounts/"):
		v.uiMount(w, req, strings.TrimPrefix(p, "sys/internal/ui/mounts/"))
	case r.Method == http.MethodGet:
		v.read(w, req)
	default:
		writeErrors(w, 405, "unsupported operation")
	}
}

// validToken returns the token entry for a live token; v.mu is held.
func (v *Vault) validToken(value string) *token {
	t, ok := v.tokens[value]
	if !ok || t.Revoked || !v.Now().Before(t.Expires) {
		return nil
	}
	return t
}

func (v *Vault) login(w http.ResponseWriter, ctx context.Context, req Request) {
	roleName, _ := req.Body["role"].(string)
	roleName = strings.ToLower(roleName) // the plugin's field is TypeLowerCaseString
	if roleName == "" {
		writeErrors(w, 400, "missing role")
		return
	}
	role, ok := v.Roles[roleName]
	if !ok {
		writeErrors(w, 400, fmt.Sprintf("role %q could not be found", roleName))
		return
	}
	if role.RoleType == "oidc" {
		writeErrors(w, 400, "role with oidc role_type is not allowed")
		return
	}
	raw, _ := req.Body["jwt"].(string)
	if raw == "" {
		writeErrors(w, 400, "missing token")
		return
	}
	claims, err := v.verify(ctx, raw)
	if err != nil {
		writeErrors(w, 400, "error validating token: error verifying token signature: "+err.Error())
		return
	}
	if msg := v.checkClaims(role, claims); msg != "" {
		writeErrors(w, 400, "error validating token: "+msg)
		return
	}
	if aud := exchangetest.Audiences(claims["aud"]); len(aud) > 0 && len(role.BoundAudiences) == 0 {
		writeErrors(w, 400, "audience claim found in JWT but no audiences bound to the role")
		return
	}
	userClaim := role.UserClaim
	if userClaim == "" {
		userClaim = "user_login"
	}
	user, ok := claims[userClaim]
	if !ok || user == nil {
		writeErrors(w, 400, fmt.Sprintf("claim %q not found in token", userClaim))
		return
	}
	if _, ok := user.(string); !ok {
		writeErrors(w, 400, fmt.Sprintf("claim %q could not be converted to string", userClaim))
		return
	}
	if msg := boundClaims(role, claims); msg != "" {
		writeErrors(w, 400, "error validating claims: "+msg)
		return
	}
	ttl := role.TTL
	if ttl == 0 {
		ttl = time.Hour
	}
	policies := append([]string{"default"}, role.Policies...)
	sort.Strings(policies)
	v.mu.Lock()
	value := ""
	if len(v.NextTokens) > 0 {
		value, v.NextTokens = v.NextTokens[0], v.NextTokens[1:]
	} else {
		value = "hvs." + randomString(90)
	}
	t := &token{value: value, TokenInfo: TokenInfo{Accessor: randomString(24), Policies: policies, Expires: v.Now().Add(ttl)}}
	v.tokens[value] = t
	v.mu.Unlock()
	writeJSON(w, 200, map[string]any{
		"request_id":     randomUUID(),
		"lease_id":       "",
		"renewable":      false,
		"lease_duration": 0,
		"data":           nil,
		"wrap_info":      nil,
		"warnings":       nil,
		"auth": map[string]any{
			"client_token":    value,
			"accessor":        t.Accessor,
			"policies":        policies,
			"token_policies":  policies,
			"metadata":        map[string]string{"role": roleName},
			"lease_duration":  int(ttl / time.Second),
			"renewable":       true,
			"entity_id":       randomUUID(),
			"token_type":      "service",
			"orphan":          true,
			"mfa_requirement": nil,
			"num_uses":        0,
		},
		"mount_type": "",
	})
}

// verify returns the token's claims, checking the signature when a
// discovery URL is configured.
func (v *Vault) verify(ctx context.Context, raw string) (map[string]any, error) {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return nil, fmt.Errorf("malformed token: it has %d parts", len(parts))
	}
	if v.DiscoveryURL != "" {
		v.mu.Lock()
		keys := v.keys
		v.mu.Unlock()
		if keys == nil {
			var err error
			if keys, err = discoverKeys(ctx, v.DiscoveryURL); err != nil {
				return nil, err
			}
			v.mu.Lock()
			v.keys = keys
			v.mu.Unlock()
		}
		if _, err := keys.VerifySignature(ctx, raw); err != nil {
			return nil, err
		}
	}
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return nil, fmt.Errorf("malformed token: %v", err)
	}
	var claims map[string]any
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.UseNumber()
	if err := dec.Decode(&claims); err != nil {
		return nil, fmt.Errorf("malformed token: %v", err)
	}
	return claims, nil
}

func discoverKeys(ctx context.Context, issuer string) (oidc.KeySet, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(issuer, "/")+"/.well-known/openid-configuration", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetching keys: %v", err)
	}
	defer resp.Body.Close()
	var doc struct {
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil || doc.JWKSURI == "" {
		return nil, fmt.Errorf("fetching keys: no jwks_uri in the discovery document")
	}
	return oidc.NewRemoteKeySet(context.Background(), doc.JWKSURI), nil
}

// checkClaims is cap/jwt's Validator: iss, sub, aud, then times, with the
// default leeways (60s clock skew).
func (v *Vault) checkClaims(role Role, claims map[string]any) string {
	if v.BoundIssuer != "" && claims["iss"] != v.BoundIssuer {
		return "invalid issuer (iss) claim"
	}
	if role.BoundSubject != "" && claims["sub"] != role.BoundSubject {
		return "invalid subject (sub) claim"
	}
	if len(role.BoundAudiences) > 0 {
		aud := exchangetest.Audiences(claims["aud"])
		ok := false
		for _, want := range role.BoundAudiences {
			for _, got := range aud {
				ok = ok || want == got
			}
		}
		if !ok {
			return "invalid audience (aud) claim: audience claim does not match any expected audience"
		}
	}
	const skew = 60 * time.Second
	now := v.Now()
	at := func(name string) (time.Time, bool) {
		n, ok := claims[name].(json.Number)
		if !ok {
			return time.Time{}, false
		}
		f, err := n.Float64()
		if err != nil {
			return time.Time{}, false
		}
		return time.Unix(int64(f), 0), true
	}
	iat, hasIat := at("iat")
	exp, hasExp := at("exp")
	nbf, hasNbf := at("nbf")
	if !hasIat && !hasExp && !hasNbf {
		return "no issued at (iat), not before (nbf), or expiration time (exp) claims in token"
	}
	if hasNbf && now.Add(skew).Before(nbf) {
		return "invalid not before (nbf) claim: token not yet valid"
	}
	if hasExp && now.Add(-skew).After(exp) {
		return "invalid expiration time (exp) claim: token is expired"
	}
	if hasIat && now.Add(skew).Before(iat) {
		return "invalid issued at (iat) claim: token issued in the future"
	}
	return ""
}

// boundClaims is the plugin's validateBoundClaims, in a stable order.
func boundClaims(role Role, claims map[string]any) string {
	names := make([]string, 0, len(role.BoundClaims))
	for n := range role.BoundClaims {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		got, ok := claims[name]
		if !ok || got == nil {
			return fmt.Sprintf("claim %q is missing", name)
		}
		gotVals := list(got)
		if gotVals == nil {
			return fmt.Sprintf("received claim is not a string or list: %v", got)
		}
		found := false
		for _, want := range list(role.BoundClaims[name]) {
			for _, g := range gotVals {
				if role.BoundClaimsType == "glob" {
					ws, _ := want.(string)
					gs, ok := g.(string)
					if m, _ := path.Match(ws, gs); ok && m {
						found = true
					}
				} else if want == g {
					found = true
				}
			}
		}
		if !found {
			return fmt.Sprintf("claim %q does not match any associated bound claim values", name)
		}
	}
	return ""
}

func list(raw any) []any {
	switch x := raw.(type) {
	case []any:
		return x
	case []string:
		out := make([]any, len(x))
		for i, s := range x {
			out[i] = s
		}
		return out
	case string, bool:
		return []any{x}
	}
	return nil
}

func (v *Vault) revokeSelf(w http.ResponseWriter, req Request) {
	v.mu.Lock()
	t := v.validToken(req.Token)
	if t != nil {
		t.Revoked = true
	}
	v.mu.Unlock()
	if t == nil {
		writeErrors(w, 403, denied)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// allowed reports whether a token with policies may read apiPath.
func (v *Vault) allowed(policies []string, apiPath string) bool {
	for _, p := range policies {
		for _, rule := range v.Policies[p] {
			if strings.HasSuffix(rule, "*") && strings.HasPrefix(apiPath, strings.TrimSuffix(rule, "*")) || rule == apiPath {
				return true
			}
		}
	}
	return false
}

// mountAccess is Vault's hasMountAccess: any capability on any path under
// the mount.
func (v *Vault) mountAccess(policies []string, mount string) bool {
	for _, p := range policies {
		for _, rule := range v.Policies[p] {
			r := strings.TrimSuffix(rule, "*")
			if strings.HasPrefix(r, mount) || strings.HasPrefix(mount, r) {
				return true
			}
		}
	}
	return false
}

func (v *Vault) uiMount(w http.ResponseWriter, req Request, p string) {
	if v.NoUIMounts {
		writeErrors(w, 404)
		return
	}
	v.mu.Lock()
	t := v.validToken(req.Token)
	mp := v.mountPath(p)
	var m *kvMount
	if mp != "" {
		m = v.mounts[mp]
	}
	v.mu.Unlock()
	path := strings.Trim(p, "/") + "/"
	preflight := fmt.Sprintf("preflight capability check returned 403, please ensure client's policies grant access to path %q", path)
	if m == nil || t == nil || !v.mountAccess(t.Policies, mp) {
		writeErrors(w, 403, preflight)
		return
	}
	opts := map[string]string{}
	if m.version == 2 {
		opts["version"] = "2"
	}
	writeSecret(w, 200, map[string]any{
		"accessor":                "kv_" + fmt.Sprintf("%08x", len(mp)),
		"config":                  map[string]any{"default_lease_ttl": 0, "force_no_cache": false, "max_lease_ttl": 0},
		"description":             "key/value secret storage",
		"external_entropy_access": false,
		"local":                   false,
		"options":                 opts,
		"path":                    mp,
		"plugin_version":          "",
		"running_plugin_version":  "v0.20.0+builtin",
		"running_sha256":          "",
		"seal_wrap":               false,
		"type":                    "kv",
		"uuid":                    randomUUID(),
	}, nil)
}

func (v *Vault) read(w http.ResponseWriter, req Request) {
	v.mu.Lock()
	defer v.mu.Unlock()
	t := v.validToken(req.Token)
	if t == nil {
		writeErrors(w, 403, denied)
		return
	}
	if !v.allowed(t.Policies, req.Path) {
		writeErrors(w, 403, aclDenied)
		return
	}
	mp := v.mountPath(req.Path)
	if mp == "" {
		writeErrors(w, 404, fmt.Sprintf("no handler for route %q. route entry not found.", req.Path))
		return
	}
	m := v.mounts[mp]
	rest := strings.TrimPrefix(req.Path, mp)
	if m.version == 1 {
		fields, ok := m.data[rest]
		if !ok {
			writeErrors(w, 404)
			return
		}
		writeSecret(w, 200, fields, nil)
		return
	}
	if !strings.HasPrefix(rest, "data/") {
		writeSecret(w, 404, nil, []string{kv2Prefix})
		return
	}
	rest = strings.TrimPrefix(rest, "data/")
	fields, ok := m.data[rest]
	if !ok {
		writeErrors(w, 404)
		return
	}
	meta := map[string]any{"created_time": "2026-01-01T00:00:00.000000Z", "custom_metadata": nil, "deletion_time": "", "destroyed": false, "version": 1}
	if at, ok := m.deleted[rest]; ok {
		meta["deletion_time"] = at.Format(time.RFC3339Nano)
		writeSecret(w, 404, map[string]any{"data": nil, "metadata": meta}, nil)
		return
	}
	writeSecret(w, 200, map[string]any{"data": fields, "metadata": meta}, nil)
}

func writeSecret(w http.ResponseWriter, status int, data any, warnings []string) {
	lease := 0
	if status == 200 {
		lease = 2764800
	}
	writeJSON(w, status, map[string]any{
		"request_id":     randomUUID(),
		"lease_id":       "",
		"renewable":      false,
		"lease_duration": lease,
		"data":           data,
		"wrap_info":      nil,
		"warnings":       warnings,
		"auth":           nil,
		"mount_type":     "kv",
	})
}

// writeErrors writes Vault's error shape; a 404 of a missing secret has an
// empty list.
func writeErrors(w http.ResponseWriter, status int, errs ...string) {
	if errs == nil {
		errs = []string{}
	}
	writeJSON(w, status, map[string]any{"errors": errs})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

func randomString(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	for i := range b {
		b[i] = alnum[int(b[i])%len(alnum)]
	}
	return string(b)
}

func randomUUID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newCA(t testing.TB) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "vaulttest CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

func (ca *testCA) issue(t testing.TB, client bool) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "vaulttest"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	if client {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	} else {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1"), net.IPv6loopback}
		tmpl.DNSNames = []string{"localhost"}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}
