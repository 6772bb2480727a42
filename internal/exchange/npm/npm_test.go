package npm_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"gitlab.com/keyless-ci/keyless/internal/exchange"
	"gitlab.com/keyless-ci/keyless/internal/exchange/exchangetest"
	"gitlab.com/keyless-ci/keyless/internal/exchange/npm"
	"gitlab.com/keyless-ci/keyless/internal/exchange/npm/npmtest"
	"gitlab.com/keyless-ci/keyless/internal/idtoken"
	"gitlab.com/keyless-ci/keyless/internal/oidctest"
	"gitlab.com/keyless-ci/keyless/internal/secret"
)

var demo = npmtest.Publisher{Namespace: "keyless-ci", Project: "demo", CIFile: ".gitlab-ci.yml"}

type fixture struct {
	iss *oidctest.Issuer
	srv *npmtest.Server
}

func newFixture(t *testing.T, faults ...npmtest.Fault) fixture {
	t.Helper()
	iss := oidctest.NewServer(t)
	srv := npmtest.New(t, faults...)
	srv.Verify = exchangetest.TrustIssuer(iss.URL, srv.Audience())
	srv.Packages["@keyless-ci/demo"] = demo
	return fixture{iss: iss, srv: srv}
}

func (f fixture) token(t *testing.T, j oidctest.Job) *idtoken.Token {
	t.Helper()
	if len(j.Audience) == 0 {
		j.Audience = []string{f.srv.Audience()}
	}
	tok, err := idtoken.Decode(secret.New(f.iss.MustMint(t, j)))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func (f fixture) run(t *testing.T, tok *idtoken.Token, pkg string) (*npm.Credentials, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return npm.Exchange(ctx, tok, npm.Options{Registry: f.srv.URL, Package: pkg,
		Seams: exchange.Seams{Backoff: func(int) time.Duration { return time.Millisecond }}})
}

func TestNpmExchange(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	tok := f.token(t, oidctest.Job{})
	creds, err := f.run(t, tok, "@keyless-ci/demo")
	if err != nil {
		t.Fatal(err)
	}
	if creds.Token.Reveal() != f.srv.Token {
		t.Errorf("token %q", creds.Token.Reveal())
	}
	reqs := f.srv.Requests()
	// oidc.js: POST, no body, the ID token as bearer, the scoped name escaped.
	if len(reqs) != 1 || reqs[0].Method != "POST" || reqs[0].RawPath != "/-/npm/v1/oidc/token/exchange/package/@keyless-ci%2fdemo" ||
		reqs[0].Authorization != "Bearer "+tok.Raw.Reveal() || reqs[0].BodyLength > 0 {
		t.Errorf("requests = %+v", reqs)
	}
	// npm's envelope: an npm/ User-Agent and npm-command: publish.
	if len(reqs) == 1 && (!strings.HasPrefix(reqs[0].UserAgent, npm.ClientUserAgent) || reqs[0].NpmCommand != "publish") {
		t.Errorf("User-Agent %q, npm-command %q; want %s and publish", reqs[0].UserAgent, reqs[0].NpmCommand, npm.ClientUserAgent)
	}
}

// In front of a registry (Upstream, Issue) the fake answers the exchange
// with the token Issue returns and hands every other request to the
// registry; a registry that refuses to issue makes the exchange fail.
func TestNpmExchangeInFrontOfARegistry(t *testing.T) {
	t.Parallel()
	var upstreamPaths []string
	var mu sync.Mutex
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		upstreamPaths = append(upstreamPaths, r.URL.Path)
		mu.Unlock()
		w.WriteHeader(http.StatusTeapot)
	}))
	t.Cleanup(upstream.Close)
	f := newFixture(t)
	f.srv.Upstream, _ = url.Parse(upstream.URL)
	var issued []string
	f.srv.Issue = func(pkg string) (string, error) {
		issued = append(issued, pkg)
		if len(issued) > 1 {
			return "", errors.New("registry refused")
		}
		return "issued-by-the-registry", nil
	}
	creds, err := f.run(t, f.token(t, oidctest.Job{}), "@keyless-ci/demo")
	if err != nil {
		t.Fatal(err)
	}
	if creds.Token.Reveal() != "issued-by-the-registry" || len(issued) != 1 || issued[0] != "@keyless-ci/demo" {
		t.Errorf("token %q, Issue called for %q", creds.Token.Reveal(), issued)
	}
	if _, err := f.run(t, f.token(t, oidctest.Job{}), "@keyless-ci/demo"); err == nil {
		t.Error("the exchange succeeded although the registry refused to issue")
	}
	for _, p := range []string{npmtest.WhoamiPath, "/@keyless-ci%2fdemo"} {
		resp, err := http.Get(f.srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusTeapot {
			t.Errorf("GET %s: %s, want the registry's answer", p, resp.Status)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(upstreamPaths) != 2 || upstreamPaths[0] != npmtest.WhoamiPath {
		t.Errorf("the registry got %q", upstreamPaths)
	}
}

func TestNpmURLs(t *testing.T) {
	t.Parallel()
	o := npm.Options{Registry: "https://npm.example.com/api/npm/", Package: "@a/b"}
	if got, want := o.ExchangeURL(), "https://npm.example.com/-/npm/v1/oidc/token/exchange/package/@a%2fb"; got != want {
		t.Errorf("ExchangeURL = %s, want %s (the path is absolute, as in oidc.js)", got, want)
	}
	if got := (npm.Options{}).Audience(); got != "npm:registry.npmjs.org" {
		t.Errorf("Audience = %s", got)
	}
	if got := npm.AuthKey("https://npm.example.com/api/npm/"); got != "//npm.example.com/api/npm/:_authToken" {
		t.Errorf("AuthKey = %s", got)
	}
}

func TestNpmEnvWritesAPrivateNpmrc(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "state")
	c := &npm.Credentials{Token: secret.New("npm_T0KEN"), Registry: npm.DefaultRegistry}
	env, err := c.Env(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(env.Vars) != 4 || env.Vars[0].Name != "NPM_CONFIG_USERCONFIG" || env.Vars[1].Name != "NODE_AUTH_TOKEN" || env.Vars[1].Value.Reveal() != "npm_T0KEN" ||
		env.Vars[2].Name != "YARN_NPM_AUTH_TOKEN" || env.Vars[2].Value.Reveal() != "npm_T0KEN" ||
		env.Vars[3].Name != "YARN_NPM_PUBLISH_REGISTRY" || env.Vars[3].Value.Reveal() != npm.DefaultRegistry {
		t.Fatalf("vars = %+v", env.Vars)
	}
	// npm 11.5.1 and later would trade the used ID token again.
	if !slices.Contains(env.Unset, "NPM_ID_TOKEN") {
		t.Errorf("unset = %v, want NPM_ID_TOKEN among them", env.Unset)
	}
	path := env.Vars[0].Value.Reveal()
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("npmrc %s: %v %v", path, fi, err)
	}
	if di, err := os.Stat(filepath.Dir(path)); err != nil || di.Mode().Perm() != 0o700 {
		t.Errorf("npmrc's directory: %v %v", di, err)
	}
	b, _ := os.ReadFile(path)
	if string(b) != "registry=https://registry.npmjs.org/\n//registry.npmjs.org/:_authToken=${NODE_AUTH_TOKEN}\n" {
		t.Errorf("npmrc = %q", b)
	}
	if err := env.CloseAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Error("the npmrc is still there")
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Error("the state directory keyless made is still there")
	}
}

func TestNpmRefusals(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		faults []npmtest.Fault
		pkg    string
		job    oidctest.Job
		pub    *npmtest.Publisher
		kind   error
		wants  []string
	}{
		{name: "unknown-package", pkg: "@keyless-ci/other", kind: npm.ErrNotFound,
			wants: []string{"HTTP 404", "OIDC token exchange error - package not found", "cannot create a", "Top-level CI file path", ".gitlab-ci.yml"}},
		{name: "publisher-mismatch", pkg: "@keyless-ci/demo", pub: &npmtest.Publisher{Namespace: "keyless-ci", Project: "demo", CIFile: ".gitlab-ci.yml", Environment: "npm"},
			job: oidctest.Job{Environment: "staging"}, kind: npm.ErrUnauthorized,
			wants: []string{"HTTP 401", "unauthorized", "Namespace", "keyless-ci", "Environment name", "staging", "keyless policy npm --project keyless-ci/demo"}},
		{name: "wrong-audience", pkg: "@keyless-ci/demo", job: oidctest.Job{Audience: []string{"npm:registry.npmjs.org"}}, kind: npm.ErrAudience,
			wants: []string{"the token was not sent", "aud: npm:127.0.0.1"}},
		{name: "redirect", faults: []npmtest.Fault{{Status: 307, Location: "https://elsewhere.example/x?t=1"}}, pkg: "@keyless-ci/demo", kind: npm.ErrBadEndpoint, wants: []string{"redirect"}},
		{name: "not-a-registry", faults: []npmtest.Fault{{Status: 405, Body: "<html>no</html>", ContentType: "text/html"}}, pkg: "@keyless-ci/demo", kind: npm.ErrBadEndpoint, wants: []string{"--registry"}},
		{name: "no-token", faults: []npmtest.Fault{{Status: 201, Body: `{"ok":true}`, ContentType: "application/json"}}, pkg: "@keyless-ci/demo", kind: npm.ErrBadResponse, wants: []string{"it has no token"}},
		{name: "throttled", faults: []npmtest.Fault{npmtest.Throttled, npmtest.Throttled, npmtest.Throttled, npmtest.Throttled, npmtest.Throttled,
			npmtest.Throttled, npmtest.Throttled, npmtest.Throttled, npmtest.Throttled, npmtest.Throttled, {Hang: true}}, pkg: "@keyless-ci/demo", kind: npm.ErrThrottled},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, tc.faults...)
			if tc.pub != nil {
				f.srv.Packages[tc.pkg] = *tc.pub
			}
			tok := f.token(t, tc.job)
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			defer cancel()
			_, err := npm.Exchange(ctx, tok, npm.Options{Registry: f.srv.URL, Package: tc.pkg,
				Seams: exchange.Seams{Backoff: func(int) time.Duration { return time.Millisecond }}})
			if !errors.Is(err, tc.kind) {
				t.Fatalf("err = %v, want %v", err, tc.kind)
			}
			for _, want := range tc.wants {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("message lacks %q:\n%s", want, err)
				}
			}
			if strings.Contains(err.Error(), tok.Raw.Reveal()) || strings.Contains(err.Error(), "t=1") {
				t.Error("the message holds a secret")
			}
			if tc.kind == npm.ErrAudience && len(f.srv.Requests()) != 0 {
				t.Error("the ID token was sent to a registry it is not for")
			}
		})
	}
}

func TestNpmTransientRetried(t *testing.T) {
	t.Parallel()
	f := newFixture(t, npmtest.Unavailable)
	creds, err := f.run(t, f.token(t, oidctest.Job{}), "@keyless-ci/demo")
	if err != nil {
		t.Fatal(err)
	}
	if creds.Attempts != 2 {
		t.Errorf("attempts %d", creds.Attempts)
	}
}

func TestNpmValidate(t *testing.T) {
	t.Parallel()
	for _, o := range []npm.Options{{}, {Package: "Upper"}, {Package: "a b"}, {Package: "@s/"}, {Package: "x", Registry: "http://registry.npmjs.org/"},
		{Package: "x", Registry: "https://u:pw@registry.npmjs.org/"}} {
		err := o.Validate()
		if err == nil {
			t.Errorf("%+v: no error", o)
		} else if strings.Contains(err.Error(), "pw") {
			t.Errorf("%+v: the message quotes the password", o)
		}
	}
	for _, o := range []npm.Options{{Package: "left-pad"}, {Package: "@my-org/my.lib_2"}, {Package: "x", Registry: "http://127.0.0.1:4873"}} {
		if err := o.Validate(); err != nil {
			t.Errorf("%+v: %v", o, err)
		}
	}
}
