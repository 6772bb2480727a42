package main

// npm trusted publishing against a real registry (issue 18): Verdaccio, a
// real npm registry, behind the fake exchange endpoint (npmtest with
// Upstream and Issue), which answers an exchange with a token Verdaccio
// issued by logging in as npm login does. npm, pnpm, yarn 1 and yarn 4 then
// publish with that token, under gitlab-ci-local, with no stored token; npm
// 11.5.1 and later does the exchange itself.

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"gitlab.com/keyless-ci/keyless/internal/exchange/exchangetest"
	"gitlab.com/keyless-ci/keyless/internal/exchange/npm/npmtest"
)

// verdaccio is a Verdaccio registry on loopback, with one user that may
// publish.
type verdaccio struct {
	URL            string
	user, password string

	mu     sync.Mutex
	issued []string // every token login returned
}

// verdaccioConfig lets anyone read and only a logged-in user publish; no
// uplink, so nothing leaves the machine
// (https://verdaccio.org/docs/configuration, https://verdaccio.org/docs/packages).
const verdaccioConfig = `storage: ./storage
auth:
  htpasswd:
    file: ./htpasswd
    max_users: 1
uplinks: {}
packages:
  '**':
    access: $all
    publish: $authenticated
    unpublish: $authenticated
log: {type: stdout, format: pretty, level: warn}
`

// startVerdaccio starts Verdaccio ($KEYLESS_TOOLS/bin/verdaccio, from
// scripts/install-peers.sh) with its config and storage in a new
// directory, and adds the publishing user.
func startVerdaccio(t *testing.T, p peers) *verdaccio {
	t.Helper()
	bin := filepath.Join(p.Tools, "bin", "verdaccio")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("Verdaccio is missing at %s: run scripts/install-peers.sh", bin)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "config.yaml"), []byte(verdaccioConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	var log bytes.Buffer
	cmd := exec.Command(bin, "--config", filepath.Join(dir, "config.yaml"), "--listen", addr)
	cmd.Dir, cmd.Stdout, cmd.Stderr = dir, &log, &log
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	v := &verdaccio{URL: "http://" + addr, user: "keyless-ci-publisher", password: randomHex(t)}
	for i := 0; ; i++ {
		resp, err := http.Get(v.URL + "/-/ping")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if i == 300 {
			t.Fatalf("Verdaccio did not come up at %s:\n%s", v.URL, log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, err := v.putUser(false); err != nil {
		t.Fatalf("Verdaccio: add user: %v", err)
	}
	return v
}

func randomHex(t *testing.T) string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// putUser is npm login against the registry (npm-profile 12.0.2,
// lib/index.js, adduserCouch and loginCouch): PUT
// /-/user/org.couchdb.user:NAME with the user document; the first creates
// the user, a later one with the user's basic auth logs in. Verdaccio
// answers both with {"ok": ..., "token": ...} (@verdaccio/api user routes).
func (v *verdaccio) putUser(login bool) (string, error) {
	body, _ := json.Marshal(map[string]any{
		"_id": "org.couchdb.user:" + v.user, "name": v.user, "password": v.password,
		"type": "user", "roles": []string{}, "date": time.Now().UTC().Format(time.RFC3339),
	})
	req, err := http.NewRequest(http.MethodPut, v.URL+"/-/user/org.couchdb.user:"+url.PathEscape(v.user), bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	if login {
		req.SetBasicAuth(v.user, v.password)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var r struct {
		Token string `json:"token"`
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated || json.Unmarshal(b, &r) != nil || r.Token == "" {
		return "", fmt.Errorf("PUT user: %s", resp.Status) // the body may hold a token
	}
	return r.Token, nil
}

// Login issues a new token for the publishing user and remembers it, so
// that the test can look for it where it must not be.
func (v *verdaccio) Login(string) (string, error) {
	tok, err := v.putUser(true)
	if err == nil {
		v.mu.Lock()
		v.issued = append(v.issued, tok)
		v.mu.Unlock()
	}
	return tok, err
}

func (v *verdaccio) Issued() []string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return slices.Clone(v.issued)
}

// Versions returns the versions Verdaccio serves for the package.
func (v *verdaccio) Versions(t *testing.T, name string) []string {
	t.Helper()
	resp, err := http.Get(v.URL + "/" + url.PathEscape(name))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return nil
	}
	var doc struct {
		Versions map[string]json.RawMessage `json:"versions"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s %v", name, resp.Status, err)
	}
	var l []string
	for k := range doc.Versions {
		l = append(l, k)
	}
	slices.Sort(l)
	return l
}

// npmRegistry is Verdaccio behind the fake exchange endpoint, trusting the
// test issuer for the demo project's .gitlab-ci.yml.
func npmRegistry(t *testing.T, p peers, pkg string) (*verdaccio, *npmtest.Server) {
	t.Helper()
	v := startVerdaccio(t, p)
	front := npmtest.New(t)
	front.Upstream, _ = url.Parse(v.URL)
	front.Issue = v.Login
	front.Verify = exchangetest.TrustIssuer(p.IssuerURL, front.Audience())
	front.Packages[pkg] = npmtest.Publisher{Namespace: "keyless-ci", Project: "demo", CIFile: ".gitlab-ci.yml"}
	return v, front
}

// A release pipeline that published with a stored NPM_TOKEN, on the npm
// component instead: every client publishes a version of its own, one
// stage after the other, with the token the exchange gave keyless; the
// last job is npm alone, which exchanges NPM_ID_TOKEN itself. npm 11.5.1
// and later would exchange the ID token again itself wherever it finds
// it (pnpm 10 publishes through npm); keyless env unsets it once it
// has exchanged it, so what publishes is the token keyless handed on (the
// exchange count below fails if it does not).
const gclNpmPipeline = `include:
  - component: $CI_SERVER_FQDN/$CI_PROJECT_PATH/npm@$CI_COMMIT_SHA
    inputs:
      package: keyless-demo
      registry: {{registry}}
      aud: {{aud}}
      install: path

stages: [npm, pnpm, yarn1, yarn4, exec, json, native]

variables:
  # yarn 2+ refuses plain http but to the hosts listed; the test registry is on loopback.
  YARN_UNSAFE_HTTP_WHITELIST: 127.0.0.1

npm:
  stage: npm
  extends: .keyless-npm
  script:
    - echo "$NPM_CONFIG_USERCONFIG" >> "$KEYLESS_TEST_SPY"
    - printf '{"name":"keyless-demo","version":"%s"}\n' 1.0.0 > package.json
    - npm publish

pnpm:
  stage: pnpm
  extends: .keyless-npm
  script:
    - echo "$NPM_CONFIG_USERCONFIG" >> "$KEYLESS_TEST_SPY"
    - printf '{"name":"keyless-demo","version":"%s"}\n' 1.0.1 > package.json
    - pnpm publish --no-git-checks

yarn1:
  stage: yarn1
  extends: .keyless-npm
  script:
    - echo "$NPM_CONFIG_USERCONFIG" >> "$KEYLESS_TEST_SPY"
    - printf '{"name":"keyless-demo","version":"%s"}\n' 1.0.2 > package.json
    - yarn1 publish --non-interactive

yarn4:
  stage: yarn4
  extends: .keyless-npm
  variables:
    YARN_ENABLE_IMMUTABLE_INSTALLS: "false"
  script:
    - echo "$NPM_CONFIG_USERCONFIG" >> "$KEYLESS_TEST_SPY"
    - printf '{"name":"keyless-demo","version":"%s"}\n' 1.0.3 > package.json
    - yarn4 install
    - yarn4 npm publish

exec:
  stage: exec
  id_tokens:
    NPM_ID_TOKEN:
      aud: {{aud}}
  script:
    - printf '{"name":"keyless-demo","version":"%s"}\n' 1.0.4 > package.json
    - keyless npm --token-var NPM_ID_TOKEN --package keyless-demo --registry {{registry}} -- sh -c 'echo "$NPM_CONFIG_USERCONFIG" >> "$KEYLESS_TEST_SPY"; exec npm publish'

json:
  stage: json
  id_tokens:
    NPM_ID_TOKEN:
      aud: {{aud}}
  script:
    - printf '{"name":"keyless-demo","version":"%s"}\n' 1.0.5 > package.json
    - printf '%s\n' 'registry={{registry}}' '//{{host}}/:_authToken=${NODE_AUTH_TOKEN}' > .npmrc
    - NODE_AUTH_TOKEN=$(keyless npm --token-var NPM_ID_TOKEN --package keyless-demo --registry {{registry}} --format json | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>process.stdout.write(JSON.parse(s).token))')
    - export NODE_AUTH_TOKEN
    - unset NPM_ID_TOKEN
    - npm publish

native:
  stage: native
  id_tokens:
    NPM_ID_TOKEN:
      aud: {{aud}}
  script:
    - printf '{"name":"keyless-demo","version":"%s"}\n' 1.0.6 > package.json
    - npm publish --registry {{registry}}
`

func TestE2EGitLabCINpmClientsPublishToVerdaccio(t *testing.T) {
	p := e2e(t)
	for _, bin := range []string{"pnpm", "yarn1", "yarn4"} {
		if _, err := os.Stat(filepath.Join(p.Tools, "bin", bin)); err != nil {
			t.Fatalf("%s is missing in %s/bin: run scripts/install-peers.sh", bin, p.Tools)
		}
	}
	v, front := npmRegistry(t, p, "keyless-demo")
	u, _ := url.Parse(front.URL)
	g := newGCLProject(t, p, expand(gclNpmPipeline, "{{registry}}", front.URL+"/", "{{aud}}", front.Audience(), "{{host}}", u.Host))
	tokens := p.mintIDTokens(t, g, "native")
	spy := filepath.Join(t.TempDir(), "npmrc-paths")
	vars := map[string]string{"KEYLESS_TEST_SPY": spy}
	for name, tok := range tokens {
		vars[name] = tok
	}
	path := strings.Join([]string{filepath.Dir(p.Bin), filepath.Join(p.Tools, "bin"), pathWithout()}, string(os.PathListSeparator))
	r := g.run(t, path, vars)
	if r.Code != 0 {
		t.Fatalf("gitlab-ci-local: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	want := []string{"1.0.0", "1.0.1", "1.0.2", "1.0.3", "1.0.4", "1.0.5", "1.0.6"}
	if got := v.Versions(t, "keyless-demo"); !slices.Equal(got, want) {
		t.Fatalf("Verdaccio serves keyless-demo %v, want %v\n%s%s", got, want, r.Stdout, r.Stderr)
	}

	// Who exchanged: keyless for the six keyless jobs, npm itself for the
	// last, each once.
	var byKeyless, byNpm int
	for _, req := range front.Requests() {
		if !strings.HasPrefix(req.RawPath, npmtest.ExchangePath) {
			continue
		}
		if req.NpmCommand != "publish" {
			t.Errorf("an exchange from %q has npm-command %q, want publish", req.UserAgent, req.NpmCommand)
		}
		switch {
		case strings.HasPrefix(req.UserAgent, "npm/11.5.1 keyless/"):
			// keyless speaks as the first npm that exchanges, then names itself.
			byKeyless++
		case strings.HasPrefix(req.UserAgent, "npm/"):
			byNpm++
			t.Logf("npm's exchange request: User-Agent %q, npm-command %q", req.UserAgent, req.NpmCommand)
		default:
			t.Errorf("an exchange from %q", req.UserAgent)
		}
	}
	if byKeyless != 6 || byNpm != 1 {
		t.Errorf("exchanges: %d by keyless, %d by npm; want 6 and 1", byKeyless, byNpm)
	}

	// The npmrc keyless wrote for each job is gone when the job ends.
	b, err := os.ReadFile(spy)
	if err != nil {
		t.Fatalf("the jobs did not record their npmrc: %v", err)
	}
	npmrcs := strings.Fields(string(b))
	if len(npmrcs) != 5 {
		t.Errorf("npmrc paths recorded: %q, want 5", npmrcs)
	}
	for _, f := range npmrcs {
		if !filepath.IsAbs(f) || !strings.HasPrefix(filepath.Base(f), "npmrc-") {
			t.Errorf("NPM_CONFIG_USERCONFIG = %q, want keyless's npmrc", f)
		}
		if _, err := os.Lstat(f); !os.IsNotExist(err) {
			t.Errorf("the npmrc %s outlived its job (%v)", f, err)
		}
	}

	issued := v.Issued()
	if len(issued) != 7 {
		t.Errorf("Verdaccio issued %d tokens, want 7 (one per exchange)", len(issued))
	}
	secrets := map[string]string{}
	for i, tok := range issued {
		secrets[fmt.Sprintf("publish token %d", i+1)] = tok
	}
	for name, tok := range tokens {
		secrets["ID token "+name] = tok
	}
	assertNothingLeaks(t, r, g.Dir, secrets)
	assertNoWindowLeaks(t, r, secrets, g.Dir, g.Home, g.Tmp)
}

// Without keyless, or with no ID token, the same publish is refused: what
// made the jobs above publish is the token the exchange issued.
func TestE2ENpmPublishWithoutKeylessFails(t *testing.T) {
	p := e2e(t)
	v, front := npmRegistry(t, p, "keyless-demo")
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "package.json"), []byte(`{"name":"keyless-demo","version":"9.9.9"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	r := run(t, []string{"GITLAB_CI=true"}, "sh", "-c", "cd '"+dir+"' && npm publish --registry "+front.URL+"/")
	if r.Code == 0 {
		t.Fatalf("npm publish with no token succeeded:\n%s%s", r.Stdout, r.Stderr)
	}
	if got := v.Versions(t, "keyless-demo"); len(got) != 0 {
		t.Errorf("Verdaccio serves keyless-demo %v after a publish with no token", got)
	}
	if n := len(v.Issued()); n != 0 {
		t.Errorf("Verdaccio issued %d tokens with no ID token", n)
	}
}
