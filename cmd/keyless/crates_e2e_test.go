package main

import (
	"cmp"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"gitlab.com/keyless-ci/keyless/internal/exchange/crates/cratestest"
	"gitlab.com/keyless-ci/keyless/internal/exchange/exchangetest"
)

// A release job that used a stored CARGO_REGISTRY_TOKEN, on the crates
// component instead (issue 18), and a second job running cargo publish as
// keyless crates's command: each writes a crate with no dependencies and
// the real cargo publishes it, with the token the fake crates.io (trusting
// only the test issuer) issued for the job's ID token, to the fake's
// publish API, which cargo finds through the sparse index's config.json.
// registry: fake makes keyless set CARGO_REGISTRIES_FAKE_TOKEN, as a
// publish to any registry but crates.io needs; crates.io itself is out of
// reach here. The component's after_script (keyless cleanup) and the
// end of the command revoke the tokens. Nothing stores a token; neither
// token reaches the job log or a file.
const gclCratesPipeline = `include:
  - component: $CI_SERVER_FQDN/$CI_PROJECT_PATH/crates@$CI_COMMIT_SHA
    inputs:
      registry_url: {{url}}
      aud: {{aud}}
      registry: fake
      install: path

stages: [component, exec]

component:
  stage: component
  extends: .keyless-crates
  script:
    - printf '%s\n' "$KEYLESS_TEST_MANIFEST" | sed 's/VERSION/0.1.0/' > Cargo.toml
    - mkdir -p src && echo 'pub fn demo() {}' > src/lib.rs
    - cargo publish --registry fake --no-verify --allow-dirty

exec:
  stage: exec
  id_tokens:
    CRATES_EXEC_ID_TOKEN:
      aud: {{aud}}
  script:
    - printf '%s\n' "$KEYLESS_TEST_MANIFEST" | sed 's/VERSION/0.2.0/' > Cargo.toml
    - mkdir -p src && echo 'pub fn demo() {}' > src/lib.rs
    - keyless crates --token-var CRATES_EXEC_ID_TOKEN --registry-url {{url}} --registry fake -- cargo publish --registry fake --no-verify --allow-dirty
`

const cargoManifest = `[package]
name = "keyless-demo"
version = "VERSION"
edition = "2021"
description = "keyless e2e"
license = "MIT"`

func TestE2EGitLabCICratesPublish(t *testing.T) {
	p := e2e(t)
	if _, err := exec.LookPath("cargo"); err != nil {
		t.Fatal("cargo is missing: install a Rust toolchain (rustup)")
	}
	reg := cratestest.New(t)
	reg.Issuer = p.IssuerURL
	reg.Verify = exchangetest.TrustIssuer(p.IssuerURL, reg.Audience())
	reg.Configs = []cratestest.Config{{Crate: "keyless-demo", Namespace: "keyless-ci", Project: "demo", WorkflowFilepath: ".gitlab-ci.yml"}}
	g := newGCLProject(t, p, expand(gclCratesPipeline, "{{url}}", reg.URL, "{{aud}}", reg.Audience()))
	home, _ := os.UserHomeDir()
	cargoHome := t.TempDir()
	vars := map[string]string{
		"KEYLESS_TEST_MANIFEST":       cargoManifest,
		"CARGO_REGISTRIES_FAKE_INDEX": "sparse+" + reg.URL + "/index/",
		"CARGO_HOME":                  cargoHome,
		"RUSTUP_HOME":                 cmp.Or(os.Getenv("RUSTUP_HOME"), filepath.Join(home, ".rustup")),
		"CARGO_TERM_COLOR":            "never",
	}
	tokens := map[string]string{}
	for _, job := range []string{"component", "exec"} {
		for name, tok := range p.mintIDTokens(t, g, job) {
			tokens[name], vars[name] = tok, tok
		}
	}
	if len(tokens) != 2 {
		t.Fatalf("ID tokens %v, want one per job", tokens)
	}
	r := g.run(t, filepath.Dir(p.Bin)+string(os.PathListSeparator)+pathWithout(), vars)
	if r.Code != 0 {
		t.Fatalf("gitlab-ci-local: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	var got []string
	for _, c := range reg.Published() {
		got = append(got, c.Name+" "+c.Version)
	}
	if strings.Join(got, ", ") != "keyless-demo 0.1.0, keyless-demo 0.2.0" {
		t.Fatalf("published %q\n%s%s", got, r.Stdout, r.Stderr)
	}
	if reg.Live() != 0 || reg.Revoked() != 2 {
		t.Errorf("tokens live %d, revoked %d; want every token revoked\n%s%s", reg.Live(), reg.Revoked(), r.Stdout, r.Stderr)
	}
	out := r.Stdout + r.Stderr
	for _, want := range []string{"keyless: crates:", "keyless: crates: revoked the publish token at " + reg.URL} {
		if !strings.Contains(out, want) {
			t.Errorf("the job log lacks %q:\n%s", want, out)
		}
	}
	secrets := map[string]string{}
	for i, tok := range reg.Issued() {
		secrets["publish token "+string(rune('1'+i))] = tok
	}
	for name, tok := range tokens {
		secrets["ID token "+name] = tok
	}
	assertNothingLeaks(t, r, g.Dir, secrets)
	assertNoWindowLeaks(t, r, secrets, g.Dir, g.Home, g.Tmp, cargoHome)
}
