package main

import (
	"os"
	"path/filepath"
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
}
