package main

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gitlab.com/keyless-ci/keyless/internal/exchange/exchangetest"
	"gitlab.com/keyless-ci/keyless/internal/exchange/pypi/pypitest"
)

// A release job that used a stored TWINE_PASSWORD, on the pypi component
// instead (issue 18): the job builds a wheel and twine uploads it, with
// the token PyPI's mint-token (the fake, trusting only the test issuer)
// issued for the job's ID token. Nothing stores a token; neither token
// reaches the job log or a file.
const gclPyPIPipeline = `include:
  - component: $CI_SERVER_FQDN/$CI_PROJECT_PATH/pypi@$CI_COMMIT_SHA
    inputs:
      index_url: {{index}}
      install: path

publish:
  extends: .keyless-pypi
  script:
    - mkdir -p dist
    - python3 -c "$KEYLESS_TEST_BUILD" dist/keyless_demo-0.1.0-py3-none-any.whl
    - twine upload --non-interactive --disable-progress-bar dist/*
`

// buildWheel is the smallest wheel twine reads (PEP 427: the .dist-info's
// METADATA, WHEEL and RECORD), built by the job.
const buildWheel = `import sys, zipfile
info = "keyless_demo-0.1.0.dist-info/"
with zipfile.ZipFile(sys.argv[1], "w") as z:
    z.writestr("keyless_demo/__init__.py", "")
    z.writestr(info + "METADATA", "Metadata-Version: 2.1\nName: keyless_demo\nVersion: 0.1.0\nSummary: keyless e2e\n")
    z.writestr(info + "WHEEL", "Wheel-Version: 1.0\nGenerator: keyless-e2e\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
    z.writestr(info + "RECORD", "")
`

func TestE2EGitLabCIPyPIComponentPublishes(t *testing.T) {
	p := e2e(t)
	if _, err := os.Stat("/usr/bin/twine"); err != nil {
		t.Fatal("twine is missing: run scripts/install-peers.sh (Debian's twine)")
	}
	index := pypitest.New(t)
	index.Verify = exchangetest.TrustIssuer(p.IssuerURL, "pypi")
	index.Publishers = []pypitest.Publisher{{Namespace: "keyless-ci", Project: "demo", WorkflowFilepath: ".gitlab-ci.yml"}}
	g := newGCLProject(t, p, expand(gclPyPIPipeline, "{{index}}", index.URL))
	tokens := p.mintIDTokens(t, g, "publish")
	vars := map[string]string{"KEYLESS_TEST_BUILD": buildWheel}
	for name, tok := range tokens {
		vars[name] = tok
	}
	r := g.run(t, filepath.Dir(p.Bin)+string(os.PathListSeparator)+pathWithout(), vars)
	if r.Code != 0 {
		t.Fatalf("gitlab-ci-local: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	up := index.Uploads()
	if len(up) != 1 || up[0].Name != "keyless-demo" || up[0].Version != "0.1.0" {
		t.Fatalf("uploads = %+v\n%s%s", up, r.Stdout, r.Stderr)
	}
	if !strings.Contains(r.Stderr+r.Stdout, "keyless: pypi:") {
		t.Errorf("keyless's summary line is missing from the job log:\n%s%s", r.Stdout, r.Stderr)
	}
	secrets := map[string]string{"minted PyPI token": index.Token}
	for name, tok := range tokens {
		secrets["ID token "+name] = tok
	}
	assertNothingLeaks(t, r, g.Dir, secrets)
	assertNoWindowLeaks(t, r, secrets, g.Dir, g.Home, g.Tmp)
}

// The pypi component for Poetry, and keyless pypi's exec and json modes
// for twine, each job with an ID token of its own (PyPI refuses a token
// used twice). The index is the fake: PyPI is out of reach here, so no real
// index (pypiserver, devpi) or uv can be installed; twine and Poetry are
// Debian's. repository: fake makes keyless set POETRY_PYPI_TOKEN_FAKE and
// POETRY_REPOSITORIES_FAKE_URL, as a job publishing anywhere but PyPI
// needs.
const gclPyPIClientsPipeline = `include:
  - component: $CI_SERVER_FQDN/$CI_PROJECT_PATH/pypi@$CI_COMMIT_SHA
    inputs:
      index_url: {{index}}
      repository: fake
      install: path

stages: [poetry, exec, json]

poetry:
  stage: poetry
  extends: .keyless-pypi
  variables:
    POETRY_VIRTUALENVS_CREATE: "false"
  script:
    - printf '%s\n' "$KEYLESS_TEST_PYPROJECT" > pyproject.toml
    - mkdir -p keyless_demo && touch keyless_demo/__init__.py
    - poetry build --format wheel
    - poetry publish --repository fake --no-interaction

exec:
  stage: exec
  id_tokens:
    PYPI_EXEC_ID_TOKEN:
      aud: pypi
  script:
    - mkdir -p dist
    - python3 -c "$KEYLESS_TEST_BUILD" dist/keyless_demo-0.1.0-py3-none-any.whl
    - keyless pypi --token-var PYPI_EXEC_ID_TOKEN --index-url {{index}} -- twine upload --non-interactive --disable-progress-bar dist/*

json:
  stage: json
  id_tokens:
    PYPI_JSON_ID_TOKEN:
      aud: pypi
  script:
    - mkdir -p dist
    - python3 -c "$KEYLESS_TEST_BUILD" dist/keyless_demo-0.1.0-py3-none-any.whl
    - TWINE_PASSWORD=$(keyless pypi --token-var PYPI_JSON_ID_TOKEN --index-url {{index}} --format json | python3 -c 'import json, sys; print(json.load(sys.stdin)["token"])')
    - export TWINE_PASSWORD
    - twine upload --non-interactive --disable-progress-bar --username __token__ --repository-url {{index}}/legacy/ dist/*
`

// pyproject is the smallest Poetry project (Poetry 1.3's [tool.poetry]
// section, https://python-poetry.org/docs/1.3/pyproject/).
const pyproject = `[tool.poetry]
name = "keyless-demo"
version = "0.2.0"
description = "keyless e2e"
authors = ["keyless e2e <e2e@keyless.invalid>"]
packages = [{include = "keyless_demo"}]

[build-system]
requires = ["poetry-core"]
build-backend = "poetry.core.masonry.api"`

func TestE2EGitLabCIPyPIClientsPublish(t *testing.T) {
	p := e2e(t)
	for _, bin := range []string{"/usr/bin/twine", "/usr/bin/poetry"} {
		if _, err := os.Stat(bin); err != nil {
			t.Fatalf("%s is missing: run scripts/install-peers.sh (Debian's twine and python3-poetry)", bin)
		}
	}
	index := pypitest.New(t)
	index.Verify = exchangetest.TrustIssuer(p.IssuerURL, "pypi")
	index.Publishers = []pypitest.Publisher{{Namespace: "keyless-ci", Project: "demo", WorkflowFilepath: ".gitlab-ci.yml"}}
	g := newGCLProject(t, p, expand(gclPyPIClientsPipeline, "{{index}}", index.URL))
	vars := map[string]string{"KEYLESS_TEST_BUILD": buildWheel, "KEYLESS_TEST_PYPROJECT": pyproject}
	tokens := map[string]string{}
	for _, job := range []string{"poetry", "exec", "json"} {
		for name, tok := range p.mintIDTokens(t, g, job) {
			tokens[name], vars[name] = tok, tok
		}
	}
	if len(tokens) != 3 {
		t.Fatalf("ID tokens %v, want one per job", slices.Collect(maps.Keys(tokens)))
	}
	r := g.run(t, filepath.Dir(p.Bin)+string(os.PathListSeparator)+pathWithout(), vars)
	if r.Code != 0 {
		t.Fatalf("gitlab-ci-local: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	var got []string
	for _, u := range index.Uploads() {
		got = append(got, u.Name+" "+u.Version+" "+u.Filename)
	}
	want := []string{
		"keyless-demo 0.2.0 keyless_demo-0.2.0-py2.py3-none-any.whl", // Poetry tags a pure wheel py2.py3
		"keyless-demo 0.1.0 keyless_demo-0.1.0-py3-none-any.whl",
		"keyless-demo 0.1.0 keyless_demo-0.1.0-py3-none-any.whl",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("uploads:\n%q\nwant\n%q\n%s%s", got, want, r.Stdout, r.Stderr)
	}
	secrets := map[string]string{"minted PyPI token": index.Token}
	for name, tok := range tokens {
		secrets["ID token "+name] = tok
	}
	assertNothingLeaks(t, r, g.Dir, secrets)
	assertNoWindowLeaks(t, r, secrets, g.Dir, g.Home, g.Tmp)
}
