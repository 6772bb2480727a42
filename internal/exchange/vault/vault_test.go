package vault_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"gitlab.com/keyless-ci/keyless/internal/exchange"
	"gitlab.com/keyless-ci/keyless/internal/exchange/exchangetest"
	"gitlab.com/keyless-ci/keyless/internal/exchange/vault"
	"gitlab.com/keyless-ci/keyless/internal/exchange/vault/vaulttest"
	"gitlab.com/keyless-ci/keyless/internal/idtoken"
	"gitlab.com/keyless-ci/keyless/internal/oidctest"
	"gitlab.com/keyless-ci/keyless/internal/option"
	"gitlab.com/keyless-ci/keyless/internal/secret"
)

func mint(t testing.TB, iss *oidctest.Issuer, j oidctest.Job) *idtoken.Token {
	t.Helper()
	if len(j.Audience) == 0 {
		j.Audience = []string{vaulttest.DefaultAudience}
	}
	tok, err := idtoken.Decode(secret.New(iss.MustMint(t, j)))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func token(t testing.TB) *idtoken.Token {
	t.Helper()
	iss, err := oidctest.New()
	if err != nil {
		t.Fatal(err)
	}
	iss.URL = "https://gitlab.example.com"
	return mint(t, iss, oidctest.Job{})
}

func refs(t testing.TB, specs ...string) []vault.SecretRef {
	t.Helper()
	var out []vault.SecretRef
	for _, s := range specs {
		var r vault.SecretRef
		var err error
		if strings.Contains(s, "#") && strings.Index(s, "=") > strings.Index(s, "#") {
			r, err = vault.ParseSecretFile(s)
		} else {
			r, err = vault.ParseSecret(s)
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

func opts(v *vaulttest.Vault, secrets ...vault.SecretRef) vault.Options {
	return vault.Options{
		Addr:    v.URL,
		Role:    "deploy",
		Secrets: secrets,
		Seams: exchange.Seams{HTTPClient: &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()},
			Backoff: func(int) time.Duration { return time.Millisecond }},
	}
}

func paths(reqs []vaulttest.Request) []string {
	var out []string
	for _, r := range reqs {
		out = append(out, r.Method+" "+r.Path)
	}
	return out
}

func TestExchangeSendsTheDocumentedRequests(t *testing.T) {
	v := vaulttest.New(t)
	tok := token(t)
	o := opts(v, refs(t, "DB_PASSWORD=secret/ci/db#password", "API_KEY=kv1/ci/api#key", "API_PORT=kv1/ci/api#port")...)
	c, err := vault.Exchange(context.Background(), tok, o)
	if err != nil {
		t.Fatal(err)
	}
	reqs := v.Requests()
	want := []string{
		"PUT auth/jwt/login",
		"GET sys/internal/ui/mounts/secret/ci/db",
		"GET secret/data/ci/db",
		"GET sys/internal/ui/mounts/kv1/ci/api",
		"GET kv1/ci/api",
	}
	if diff := cmp.Diff(want, paths(reqs)); diff != "" {
		t.Fatalf("requests (-want +got):\n%s", diff)
	}
	login := reqs[0]
	if diff := cmp.Diff(map[string]any{"role": "deploy", "jwt": tok.Raw.Reveal()}, login.Body); diff != "" {
		t.Errorf("login body (-want +got):\n%s", diff)
	}
	if login.Token != "" || login.Namespace != "" {
		t.Errorf("login carried a token %q or namespace %q", login.Token, login.Namespace)
	}
	if login.Header.Get("X-Vault-Request") != "true" {
		t.Errorf("no X-Vault-Request header: %v", login.Header)
	}
	for _, r := range reqs[1:] {
		if r.Token != c.Token.Reveal() {
			t.Errorf("%s not sent with the new token", r.Path)
		}
	}
	got := map[string]string{}
	for _, val := range c.Values {
		got[val.Ref.Env] = val.Value.Reveal()
	}
	if diff := cmp.Diff(map[string]string{"DB_PASSWORD": "fake-db-password", "API_KEY": "fake-api-key", "API_PORT": "8443"}, got); diff != "" {
		t.Errorf("values (-want +got):\n%s", diff)
	}
	if c.Values[0].KVVersion != 2 || c.Values[0].APIPath != "secret/data/ci/db" || c.Values[1].KVVersion != 1 {
		t.Errorf("values: %+v", c.Values)
	}
	if diff := cmp.Diff([]string{"ci-read", "default"}, c.Policies); diff != "" {
		t.Errorf("policies: %s", diff)
	}
	if d := time.Until(c.Expiration); d < 59*time.Minute || d > 61*time.Minute {
		t.Errorf("expiration in %s", d)
	}
	if !strings.HasPrefix(c.Token.Reveal(), "hvs.") || c.Accessor == "" || c.Attempts != 5 {
		t.Errorf("credentials: token %d bytes, accessor %q, %d attempts", c.Token.Len(), c.Accessor, c.Attempts)
	}
}

func TestEachPathIsDetectedAndReadOnce(t *testing.T) {
	v := vaulttest.New(t)
	v.Put("secret/ci/other", map[string]any{"x": "y"})
	o := opts(v, refs(t, "U=secret/data/ci/db#username", "P=secret/ci/db#password", "X=secret/ci/other#x")...)
	c, err := vault.Exchange(context.Background(), token(t), o)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"PUT auth/jwt/login", "GET sys/internal/ui/mounts/secret/data/ci/db", "GET secret/data/ci/db", "GET secret/data/ci/other"}
	if diff := cmp.Diff(want, paths(v.Requests())); diff != "" {
		t.Errorf("the API path form and the kv form are one secret, one mount (-want +got):\n%s", diff)
	}
	if c.Values[0].Value.Reveal() != "ci" || c.Values[1].Value.Reveal() != "fake-db-password" {
		t.Errorf("values: %v %v", c.Values[0].Value.Reveal(), c.Values[1].Value.Reveal())
	}
}

func TestVaultWithoutUIMountsIsKVVersion1(t *testing.T) {
	v := vaulttest.New(t)
	v.NoUIMounts = true
	c, err := vault.Exchange(context.Background(), token(t), opts(v, refs(t, "K=kv1/ci/api#key", "P=kv1/ci/api#port")...))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"PUT auth/jwt/login", "GET sys/internal/ui/mounts/kv1/ci/api", "GET kv1/ci/api"}
	if diff := cmp.Diff(want, paths(v.Requests())); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if c.Values[0].KVVersion != 1 {
		t.Errorf("version %d", c.Values[0].KVVersion)
	}
}

func TestNamespaceIsSent(t *testing.T) {
	v := vaulttest.New(t)
	v.Namespace = "team-a"
	o := opts(v, refs(t, "P=secret/ci/db#password")...)
	o.Namespace = "team-a/"
	if _, err := vault.Exchange(context.Background(), token(t), o); err != nil {
		t.Fatal(err)
	}
	for _, r := range v.Requests() {
		if r.Namespace != "team-a" {
			t.Errorf("%s: namespace %q", r.Path, r.Namespace)
		}
	}
	o.Namespace = ""
	_, err := vault.Exchange(context.Background(), token(t), o)
	if !errors.Is(err, vault.ErrPermissionDenied) || !strings.Contains(err.Error(), "--namespace") {
		t.Errorf("without the namespace: %v", err)
	}
}

// The library reads VAULT_* variables on its own; none may change what
// keyless sends.
func TestInheritedVaultVariablesAreIgnored(t *testing.T) {
	v := vaulttest.New(t)
	t.Setenv("VAULT_TOKEN", "hvs.INHERITEDinheritedINHERITEDinherited")
	t.Setenv("VAULT_NAMESPACE", "elsewhere")
	t.Setenv("VAULT_WRAP_TTL", "5m")
	t.Setenv("VAULT_HEADERS", `{"X-Extra":"1"}`)
	t.Setenv("VAULT_ADDR", "http://127.0.0.1:1")
	t.Setenv("VAULT_AGENT_ADDR", "http://127.0.0.1:1")
	t.Setenv("VAULT_MAX_RETRIES", "7")
	if _, err := vault.Exchange(context.Background(), token(t), opts(v, refs(t, "P=secret/ci/db#password")...)); err != nil {
		t.Fatal(err)
	}
	for _, r := range v.Requests() {
		if r.Namespace != "" || r.Header.Get("X-Vault-Wrap-TTL") != "" || r.Header.Get("X-Extra") != "" || strings.Contains(r.Token, "INHERITED") {
			t.Errorf("%s carried inherited settings: ns %q, headers %v", r.Path, r.Namespace, r.Header)
		}
	}
}

// run is vault.Exchange as the exchangetest checks drive it.
func run(tok *idtoken.Token, o vault.Options) exchangetest.Exchange {
	return func(ctx context.Context, backoff func(int) time.Duration, progress io.Writer) error {
		o.Backoff, o.Progress = backoff, progress
		_, err := vault.Exchange(ctx, tok, o)
		return err
	}
}

func TestTransientFaultsAreRetried(t *testing.T) {
	// A fault-free run is three calls: login, detect, read.
	exchangetest.CheckTransientRetried(t, 3, [][]vaulttest.Fault{
		{vaulttest.Sealed, vaulttest.Throttled, vaulttest.Standby},
		{vaulttest.Internal, vaulttest.BadGateway},
		{{Path: "secret/", Status: 503, Errors: []string{"Vault is sealed"}}},
		{{Path: "sys/internal/ui/mounts/", Status: 429, Errors: []string{"rate limit quota exceeded"}}},
	}, func(faults []vaulttest.Fault) (int, int, error) {
		v := vaulttest.New(t, faults...)
		c, err := vault.Exchange(context.Background(), token(t), opts(v, refs(t, "P=secret/ci/db#password")...))
		if err != nil {
			return 0, 0, err
		}
		return c.Attempts, len(v.Requests()), nil
	})
}

func TestRefusedLoginsFailAtOnceAndExplain(t *testing.T) {
	iss, err := oidctest.New()
	if err != nil {
		t.Fatal(err)
	}
	iss.URL = "https://gitlab.example.com"
	for _, tc := range []struct {
		name  string
		setup func(*vaulttest.Vault, *vault.Options)
		job   oidctest.Job
		kind  error
		says  []string
	}{
		{"role not found", func(v *vaulttest.Vault, o *vault.Options) { o.Role = "Deploy-Prod" }, oidctest.Job{}, vault.ErrRoleNotFound,
			[]string{`HTTP 400: role "deploy-prod" could not be found`, "vault list auth/jwt/role"}},
		{"audience mismatch", nil, oidctest.Job{Audience: []string{"https://gitlab.example.com"}}, vault.ErrAudience,
			[]string{"invalid audience (aud) claim: audience claim does not match any expected audience",
				`do not include this token's aud "https://gitlab.example.com"`, "id_tokens"}},
		{"no bound audiences", func(v *vaulttest.Vault, o *vault.Options) {
			r := v.Roles["deploy"]
			r.BoundAudiences = nil
			v.Roles["deploy"] = r
		}, oidctest.Job{}, vault.ErrAudience,
			[]string{"audience claim found in JWT but no audiences bound to the role", "Vault 1.17", `bound_audiences="https://vault.example.com"`, "role_type=jwt"}},
		{"bound claim mismatch", nil, oidctest.Job{ProjectPath: "keyless-ci/other"}, vault.ErrClaims,
			[]string{`error validating claims: claim "project_path" does not match any associated bound claim values`,
				`this token has project_path "keyless-ci/other"`, `"project_path": "keyless-ci/other"`, `"ref": "main"`,
				"project_path     keyless-ci/other"}},
		{"unprotected ref", nil, oidctest.Job{Ref: "feature", RefProtected: false}, vault.ErrClaims,
			[]string{`claim "ref_protected" does not match`, `has ref_protected "false"`, `"ref": "feature"`}},
		{"bound claim missing", func(v *vaulttest.Vault, o *vault.Options) {
			v.Roles["deploy"].BoundClaims["environment"] = "production"
		}, oidctest.Job{}, vault.ErrClaims, []string{`claim "environment" is missing`, `has no claim "environment"`}},
		{"user claim missing", func(v *vaulttest.Vault, o *vault.Options) {
			r := v.Roles["deploy"]
			r.UserClaim = "email"
			v.Roles["deploy"] = r
		}, oidctest.Job{}, vault.ErrClaims, []string{`claim "email" not found in token`, "user_claim"}},
		{"bound subject", func(v *vaulttest.Vault, o *vault.Options) {
			r := v.Roles["deploy"]
			r.BoundSubject = "project_path:keyless-ci/demo:ref_type:branch:ref:release"
			v.Roles["deploy"] = r
		}, oidctest.Job{}, vault.ErrClaims, []string{"invalid subject (sub) claim", "bound_subject"}},
		{"expired", nil, oidctest.Job{IssuedAt: time.Now().Add(-3 * time.Hour)}, vault.ErrTokenExpired,
			[]string{"invalid expiration time (exp) claim: token is expired", "clocks"}},
		{"issuer", func(v *vaulttest.Vault, o *vault.Options) { v.BoundIssuer = "gitlab.example.com" }, oidctest.Job{}, vault.ErrIssuer,
			[]string{"invalid issuer (iss) claim", "bound_issuer=https://gitlab.example.com"}},
		{"oidc role", func(v *vaulttest.Vault, o *vault.Options) {
			r := v.Roles["deploy"]
			r.RoleType = "oidc"
			v.Roles["deploy"] = r
		}, oidctest.Job{}, vault.ErrMisconfigured, []string{"role with oidc role_type is not allowed", "role_type=jwt"}},
		{"wrong mount", func(v *vaulttest.Vault, o *vault.Options) { o.Mount = "gitlab" }, oidctest.Job{}, vault.ErrPermissionDenied,
			[]string{"at auth/gitlab", "HTTP 403: permission denied", "vault auth list"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := vaulttest.New(t)
			o := opts(v, refs(t, "P=secret/ci/db#password")...)
			if tc.setup != nil {
				tc.setup(v, &o)
			}
			start := time.Now()
			_, err := vault.Exchange(context.Background(), mint(t, iss, tc.job), o)
			if !errors.Is(err, tc.kind) {
				t.Fatalf("err = %v, want %v", err, tc.kind)
			}
			if n := len(v.Requests()); n != 1 {
				t.Errorf("%d requests, want 1", n)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %s", d)
			}
			for _, s := range append(tc.says, "The job's ID token, as Vault saw it") {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("explanation lacks %q:\n%s", s, err)
				}
			}
			if len(v.Tokens()) != 0 {
				t.Errorf("a refused login issued a token")
			}
		})
	}
}

func TestSignatureIsVerifiedWhenVaultHasTheIssuer(t *testing.T) {
	iss := oidctest.NewServer(t)
	v := vaulttest.New(t)
	v.DiscoveryURL = iss.URL
	o := opts(v, refs(t, "P=secret/ci/db#password")...)
	if _, err := vault.Exchange(context.Background(), mint(t, iss, oidctest.Job{}), o); err != nil {
		t.Fatalf("a token of the issuer: %v", err)
	}
	other, _ := oidctest.New()
	other.URL = iss.URL // same iss, another key
	_, err := vault.Exchange(context.Background(), mint(t, other, oidctest.Job{}), o)
	if !errors.Is(err, vault.ErrInvalidToken) || !strings.Contains(err.Error(), "error verifying token signature") ||
		!strings.Contains(err.Error(), "oidc_discovery_url="+iss.URL) {
		t.Errorf("a token of another key: %v", err)
	}
}

func TestFailedReadsExplainAndRevokeTheToken(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(*vaulttest.Vault)
		ref   string
		kind  error
		says  []string
	}{
		{"policy", func(v *vaulttest.Vault) { v.Put("secret/prod/db", map[string]any{"password": "x"}) }, "P=secret/prod/db#password", vault.ErrPermissionDenied,
			[]string{"read of P (secret/data/prod/db)", "HTTP 403: permission denied", `path "secret/data/prod/db"`, "ci-read, default"}},
		{"no mount access", nil, "P=other/ci/db#password", vault.ErrPermissionDenied,
			[]string{"finding the secrets engine of other/ci/db", "preflight capability check returned 403", `path "other/data/ci/db"`}},
		{"missing secret", nil, "P=secret/ci/nope#password", vault.ErrNotFound,
			[]string{"HTTP 404", "no secret at secret/data/ci/nope", "vault kv get secret/ci/nope"}},
		{"missing field", nil, "P=secret/ci/db#pasword", vault.ErrNotFound,
			[]string{`the secret has no field "pasword"`, "the fields password, username", "#FIELD"}},
		{"deleted version", func(v *vaulttest.Vault) { v.Delete("secret/ci/db") }, "P=secret/ci/db#password", vault.ErrNotFound,
			[]string{"deleted at", "vault kv undelete"}},
		{"missing v1 secret", nil, "P=kv1/ci/nope#key", vault.ErrNotFound, []string{"no secret at kv1/ci/nope"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := vaulttest.New(t)
			if tc.setup != nil {
				tc.setup(v)
			}
			_, err := vault.Exchange(context.Background(), token(t), opts(v, refs(t, tc.ref)...))
			if !errors.Is(err, tc.kind) {
				t.Fatalf("err = %v, want %v", err, tc.kind)
			}
			for _, s := range tc.says {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("explanation lacks %q:\n%s", s, err)
				}
			}
			if strings.Contains(err.Error(), "as Vault saw it") {
				t.Errorf("a read error shows the ID token's claims")
			}
			toks := v.Tokens()
			if len(toks) != 1 || !toks[0].Revoked {
				t.Errorf("the token of a failed run is not revoked: %+v", toks)
			}
		})
	}
}

func TestDeadlineHoldsAgainstAServerThatNeverAnswers(t *testing.T) {
	exchangetest.CheckDeadlineHolds(t, run(token(t), opts(vaulttest.New(t, vaulttest.Fault{Hang: true}))))
}

func TestSealedUntilTheDeadlineSaysSealed(t *testing.T) {
	v := vaulttest.New(t, exchangetest.Repeat(vaulttest.Sealed, 1000)...)
	exchangetest.CheckRetriesStopAtTheDeadline(t, run(token(t), opts(v)), func() int { return len(v.Requests()) }, vault.ErrSealed, "HTTP 503: Vault is sealed")
}

func TestTLSOptions(t *testing.T) {
	t.Setenv("VAULT_SKIP_VERIFY", "true") // the library reads it; keyless must not
	v, files := vaulttest.NewTLS(t, true)
	tok := token(t)
	o := opts(v, refs(t, "P=secret/ci/db#password")...)
	_, err := vault.Exchange(context.Background(), tok, o)
	if !errors.Is(err, vault.ErrTLS) || !strings.Contains(err.Error(), "--ca-cert") {
		t.Fatalf("untrusted: %v", err)
	}
	o.TLS.CACert = files.CACert
	_, err = vault.Exchange(context.Background(), tok, o)
	if !errors.Is(err, vault.ErrTLS) || !strings.Contains(err.Error(), "--client-cert") {
		t.Fatalf("no client certificate: %v", err)
	}
	o.TLS.ClientCert, o.TLS.ClientKey = files.ClientCert, files.ClientKey
	c, err := vault.Exchange(context.Background(), tok, o)
	if err != nil {
		t.Fatalf("with CA and client certificate: %v", err)
	}
	if c.TLS != o.TLS {
		t.Errorf("credentials forget the TLS options needed to revoke: %+v", c.TLS)
	}
	o.TLS.ClientKey = files.CACert
	var ce *vault.ConfigError
	if _, err := vault.Exchange(context.Background(), tok, o); !errors.As(err, &ce) {
		t.Errorf("a key file without a key: %v", err)
	}
}

func TestRevoke(t *testing.T) {
	v := vaulttest.New(t, vaulttest.Fault{Path: "auth/token/revoke-self", Status: 503, Errors: []string{"Vault is sealed"}})
	o := opts(v)
	c, err := vault.Exchange(context.Background(), token(t), o)
	if err != nil {
		t.Fatal(err)
	}
	if err := vault.Revoke(context.Background(), c.Token, vault.Options{Addr: v.URL, Seams: exchange.Seams{HTTPClient: o.HTTPClient, Backoff: o.Backoff}}); err != nil {
		t.Fatal(err)
	}
	if info, _ := v.Token(c.Token.Reveal()); !info.Revoked {
		t.Error("not revoked")
	}
	last := v.Requests()[len(v.Requests())-1]
	if last.Method != "PUT" || last.Path != "auth/token/revoke-self" || last.Token != c.Token.Reveal() {
		t.Errorf("revoke request: %+v", last)
	}
	err = vault.Revoke(context.Background(), c.Token, vault.Options{Addr: v.URL, Seams: exchange.Seams{Backoff: o.Backoff}})
	if !errors.Is(err, vault.ErrPermissionDenied) || !strings.Contains(err.Error(), "already revoked") {
		t.Errorf("second revoke: %v", err)
	}
}

func TestRemoteMessagesAreScrubbed(t *testing.T) {
	tok := token(t)
	v := vaulttest.New(t)
	v.AddFaults(vaulttest.Fault{Status: 400, Errors: []string{"bad jwt " + tok.Raw.Reveal()}})
	_, err := vault.Exchange(context.Background(), tok, opts(v))
	if err == nil || strings.Contains(err.Error(), tok.Raw.Reveal()) || strings.Contains(err.Error(), "eyJ") {
		t.Fatalf("the ID token leaks: %v", err)
	}
	v = vaulttest.New(t)
	v.NextTokens = []string{"hvs.CANARYcanaryCANARYcanaryCANARY"}
	v.AddFaults(vaulttest.Fault{Path: "secret/", Status: 400, Errors: []string{"token hvs.CANARYcanaryCANARYcanaryCANARY and s.abcdefghijklmnopqrstuvwx are wrong"}})
	_, err = vault.Exchange(context.Background(), tok, opts(v, refs(t, "P=secret/ci/db#password")...))
	if err == nil || strings.Contains(err.Error(), "CANARY") || strings.Contains(err.Error(), "s.abcdefghijklmnopqrstuvwx") {
		t.Fatalf("a Vault token leaks: %v", err)
	}
	v = vaulttest.New(t)
	v.AddFaults(vaulttest.Fault{Path: "kv1/", Status: 400, Errors: []string{"1 error occurred:\n\t* value fake-db-password is bad\n\n"}})
	_, err = vault.Exchange(context.Background(), tok, opts(v, refs(t, "P=secret/ci/db#password", "K=kv1/ci/api#key")...))
	if err == nil || strings.Contains(err.Error(), "fake-db-password") || !strings.Contains(err.Error(), "HTTP 400: value [REDACTED] is bad") {
		t.Fatalf("a secret read earlier leaks, or the list is not flattened: %v", err)
	}
}

func TestValidate(t *testing.T) {
	ok := vault.Options{Addr: "https://vault.example.com:8200", Role: "deploy"}
	for _, tc := range []struct {
		mod  func(*vault.Options)
		want string
	}{
		{func(o *vault.Options) {}, ""},
		{func(o *vault.Options) { o.Addr = "" }, "--addr"},
		{func(o *vault.Options) { o.Addr = "vault.example.com" }, "not a Vault address"},
		{func(o *vault.Options) { o.Addr = "http://vault.example.com:8200" }, ""}, // warned about, not refused
		{func(o *vault.Options) { o.Addr = "https://u:p@vault.example.com:8200" }, "carries user info"},
		{func(o *vault.Options) { o.Role = "" }, "--role"},
		{func(o *vault.Options) { o.Mount = "auth/gitlab" }, `give the path under auth/, e.g. "gitlab"`},
		{func(o *vault.Options) { o.TLS.ClientCert = "c.pem" }, "go together"},
		{func(o *vault.Options) { o.Secrets = refs(t, "A=x/y#z", "A=x/y#w") }, "both write A"},
		{func(o *vault.Options) { o.Secrets = refs(t, "x/y#z=/tmp/f", "x/y#w=/tmp/f") }, "both write /tmp/f"},
	} {
		o := ok
		tc.mod(&o)
		err := o.Validate()
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%+v: err = %v, want %q", o, err, tc.want)
		}
	}
}

func TestPlainHTTPWarning(t *testing.T) {
	for addr, warn := range map[string]bool{
		"https://vault.example.com:8200": false,
		"http://127.0.0.1:8200":          false,
		"http://localhost:8200":          false,
		"http://[::1]:8200":              false,
		"http://vault.example.com:8200":  true,
		"http://10.0.0.7:8200":           true,
		"vault.example.com":              false, // refused by Validate instead
	} {
		w := vault.PlainHTTPWarning(addr)
		if (w != "") != warn {
			t.Errorf("PlainHTTPWarning(%q) = %q", addr, w)
		}
	}
	want := `--addr "http://vault.example.com:8200" is plain http: the ID token and the Vault token it returns cross the network unencrypted; use https (VAULT_ADDR=https://...)`
	if got := option.Plain(vault.PlainHTTPWarning("http://vault.example.com:8200?x=1")); got != want {
		t.Errorf("warning:\n got %s\nwant %s", got, want)
	}
}

func TestParseSecret(t *testing.T) {
	for spec, want := range map[string]vault.SecretRef{
		"DB_PASSWORD=secret/ci/db#password": {Env: "DB_PASSWORD", Path: "secret/ci/db", Field: "password"},
		" A=/secret/data/x/#f ":             {Env: "A", Path: "secret/data/x", Field: "f"},
		"A=p#with#hash":                     {Env: "A", Path: "p#with", Field: "hash"},
		"_x1=database/creds/ci#username":    {Env: "_x1", Path: "database/creds/ci", Field: "username"},
	} {
		got, err := vault.ParseSecret(spec)
		if err != nil || got != want {
			t.Errorf("ParseSecret(%q) = %+v, %v", spec, got, err)
		}
	}
	for spec, want := range map[string]string{
		"secret/ci/db#password":  "use ENV=PATH#FIELD",
		"1A=secret/ci/db#p":      "not a variable name",
		"A=secret/ci/db":         "name the field after #",
		"A=#f":                   "use ENV=PATH#FIELD",
		"VAULT_TOKEN=secret/x#t": "--export-token",
		"A-B=secret/x#t":         "not a variable name",
	} {
		if _, err := vault.ParseSecret(spec); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseSecret(%q) = %v, want %q", spec, err, want)
		}
	}
	got, err := vault.ParseSecretFile("secret/ci/tls#key=/tmp/a=b.key")
	if err != nil || got != (vault.SecretRef{File: "/tmp/a=b.key", Path: "secret/ci/tls", Field: "key"}) {
		t.Errorf("ParseSecretFile: %+v %v", got, err)
	}
	for _, spec := range []string{"secret/ci/tls#key", "secret/ci/tls=/tmp/x", "#key=/tmp/x", "secret/x#=/tmp/x"} {
		if _, err := vault.ParseSecretFile(spec); err == nil || !strings.Contains(err.Error(), "PATH#FIELD=FILE") {
			t.Errorf("ParseSecretFile(%q) = %v", spec, err)
		}
	}
}

func creds() *vault.Credentials {
	return &vault.Credentials{
		Addr:       "https://vault.example.com",
		Token:      secret.New("hvs.tok'en"),
		Accessor:   "accessor1234",
		Policies:   []string{"ci-read", "default"},
		Renewable:  true,
		Expiration: time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC),
		Values: []vault.Value{
			{Ref: vault.SecretRef{Env: "DB_PASSWORD", Path: "secret/ci/db", Field: "password"}, Value: secret.New("pa$$'w0rd")},
			{Ref: vault.SecretRef{File: "f", Path: "secret/ci/tls", Field: "key"}, Value: secret.New("KEY")},
		},
	}
}

func TestEnvExportsTheTokenOnlyWhenAsked(t *testing.T) {
	base := []string{"PATH=/bin", "VAULT_TOKEN=hvs.old", "VAULT_AGENT_ADDR=http://agent", "VAULT_NAMESPACE=x", "BAO_TOKEN=s.old", "f=keep"}
	got := creds().Env(false).Environ(base)
	want := []string{"PATH=/bin", "VAULT_TOKEN=hvs.old", "VAULT_AGENT_ADDR=http://agent", "VAULT_NAMESPACE=x", "BAO_TOKEN=s.old", "f=keep", "DB_PASSWORD=pa$$'w0rd"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("without --export-token (-want +got):\n%s", diff)
	}
	got = creds().Env(true).Environ(base)
	want = []string{"PATH=/bin", "f=keep", "DB_PASSWORD=pa$$'w0rd", "VAULT_ADDR=https://vault.example.com", "VAULT_TOKEN=hvs.tok'en"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("with --export-token (-want +got):\n%s", diff)
	}
	c := creds()
	c.Namespace = "team-a"
	var b strings.Builder
	if err := exchange.WriteEnv(&b, c.Env(true)); err != nil {
		t.Fatal(err)
	}
	wantEnv := "unset BAO_ADDR\nunset BAO_AGENT_ADDR\nunset BAO_NAMESPACE\nunset BAO_TOKEN\nunset VAULT_AGENT_ADDR\nexport DB_PASSWORD='pa$$'\\''w0rd'\nexport VAULT_ADDR='https://vault.example.com'\n" +
		"export VAULT_TOKEN='hvs.tok'\\''en'\nexport VAULT_NAMESPACE='team-a'\n"
	if diff := cmp.Diff(wantEnv, b.String()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestJSON(t *testing.T) {
	var b bytes.Buffer
	c := creds()
	c.Files = []string{"/tmp/k/tls.key"}
	if err := c.WriteJSON(&b, false); err != nil {
		t.Fatal(err)
	}
	want := `{
  "env": {
    "DB_PASSWORD": "pa$$'w0rd"
  },
  "files": [
    "/tmp/k/tls.key"
  ],
  "expiration": "2026-11-28T10:00:00Z",
  "policies": [
    "ci-read",
    "default"
  ],
  "renewable": true
}
`
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	b.Reset()
	c.WriteJSON(&b, true)
	var out struct{ Env map[string]string }
	json.Unmarshal(b.Bytes(), &out)
	if out.Env["VAULT_TOKEN"] != "hvs.tok'en" || out.Env["VAULT_ADDR"] != "https://vault.example.com" {
		t.Errorf("with the token: %s", b.String())
	}
}

func TestFilesAndStateAreSecretFiles(t *testing.T) {
	dir := t.TempDir()
	c := creds()
	c.Values[1].Ref.File = filepath.Join(dir, "out", "tls.key")
	if err := c.WriteFiles(); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(c.Values[1].Ref.File); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("secret file: %v %v", fi, err)
	}
	if b, _ := os.ReadFile(c.Values[1].Ref.File); string(b) != "KEY" {
		t.Errorf("secret file holds %q", b)
	}
	if diff := cmp.Diff([]string{c.Values[1].Ref.File}, c.Env(false).Files); diff != "" {
		t.Errorf("files not listed for cleanup: %s", diff)
	}
	state := filepath.Join(dir, "state")
	p1, err := vault.SaveState(state, c.State())
	if err != nil {
		t.Fatal(err)
	}
	c.Token = secret.New("hvs.second")
	if _, err := vault.SaveState(state, c.State()); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(p1); fi.Mode().Perm() != 0o600 {
		t.Errorf("state file mode %v", fi.Mode().Perm())
	}
	got, err := vault.LoadStates(state)
	if err != nil || len(got) != 2 {
		t.Fatalf("LoadStates: %v %v", got, err)
	}
	tokens := []string{got[0].State.Token.Reveal(), got[1].State.Token.Reveal()}
	if !(tokens[0] == "hvs.tok'en" && tokens[1] == "hvs.second" || tokens[1] == "hvs.tok'en" && tokens[0] == "hvs.second") {
		t.Errorf("tokens %v", tokens)
	}
	if got[0].State.Addr != c.Addr || len(got[0].State.Files) != 1 || !got[0].State.Expiration.Equal(c.Expiration) {
		t.Errorf("state: %+v", got[0].State)
	}
	if none, err := vault.LoadStates(filepath.Join(dir, "missing")); err != nil || len(none) != 0 {
		t.Errorf("a missing dir: %v %v", none, err)
	}
}
