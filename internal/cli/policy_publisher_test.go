package cli

import (
	"encoding/json"
	"strings"
	"testing"

	"gitlab.com/keyless-ci/keyless/internal/oidctest"
)

func TestPolicyPyPIAndNpm(t *testing.T) {
	t.Parallel()
	cases := []struct {
		args  []string
		env   map[string]string
		code  int
		out   []string
		warns bool
	}{
		{args: []string{"policy", "pypi", "--project", "acme/tools/web", "--environment", "pypi"}, out: []string{"Namespace                     acme/tools",
			"Top-level pipeline file path  .gitlab-ci.yml", "Environment name              pypi", "keyless pypi --token-var PYPI_ID_TOKEN -- twine upload dist/*"}},
		{args: []string{"policy", "npm", "--package", "@acme/web", "--ci-config", "./ci/release.yml"}, env: map[string]string{"CI_PROJECT_PATH": "acme/web"},
			out: []string{"npm trust gitlab @acme/web --project acme/web --file ci/release.yml", "Top-level CI file path  ci/release.yml"}, warns: true},
		{args: []string{"policy", "npm", "--project", "web"}, code: 2},
		{args: []string{"policy", "pypi", "--project", "a/b", "--ci-config", "../x.yml"}, code: 2},
		{args: []string{"policy", "pypi"}, code: 2},
		{args: []string{"policy", "crates", "--project", "acme/tools/web", "--environment", "release"}, out: []string{"Namespace          acme/tools",
			"Workflow filepath  .gitlab-ci.yml", "Environment        release", `aud: "crates.io"`, "keyless crates --token-var CRATES_ID_TOKEN -- cargo publish"}},
		{args: []string{"policy", "crates", "--project", "acme/web"}, out: []string{"(empty: any job"}, warns: true},
	}
	for _, tc := range cases {
		o := keyless(t, tc.env, tc.args...)
		if o.Code != tc.code {
			t.Errorf("%v: exit %d, want %d\n%s", tc.args, o.Code, tc.code, o.Stderr)
			continue
		}
		for _, want := range tc.out {
			if !strings.Contains(o.Stdout, want) {
				t.Errorf("%v: stdout lacks %q:\n%s", tc.args, want, o.Stdout)
			}
		}
		if got := strings.Contains(o.Stderr, "warning: no --environment"); got != tc.warns {
			t.Errorf("%v: warning %v, want %v:\n%s", tc.args, got, tc.warns, o.Stderr)
		}
	}
}

func TestExplainPyPIAndNpm(t *testing.T) {
	t.Parallel()
	iss := oidctest.NewServer(t)
	tok := iss.MustMint(t, oidctest.Job{Audience: []string{"pypi"}, Environment: "release"})
	env := map[string]string{"KEYLESS_ID_TOKEN": tok}
	o := keyless(t, env, "explain", "pypi", "--project", "keyless-ci/demo", "--environment", "release")
	if o.Code != 0 || !strings.Contains(o.Stdout, "admitted: every field of the publisher matches the job") {
		t.Errorf("exit %d\n%s%s", o.Code, o.Stdout, o.Stderr)
	}
	o = keyless(t, env, "explain", "npm", "--project", "keyless-ci/demo", "--ci-config", "release.yml", "--format", "json")
	var res struct {
		Admitted bool   `json:"admitted"`
		Verdict  string `json:"verdict"`
		Fix      string `json:"fix"`
	}
	if o.Code != 1 || json.Unmarshal([]byte(o.Stdout), &res) != nil || res.Admitted || res.Verdict != "Top-level CI file path does not match the job" ||
		!strings.Contains(res.Fix, "keyless policy npm --project keyless-ci/demo --ci-config .gitlab-ci.yml") {
		t.Errorf("exit %d %+v\n%s%s", o.Code, res, o.Stdout, o.Stderr)
	}
	if strings.Contains(o.Stdout+o.Stderr, tok) {
		t.Error("explain printed the token")
	}
	// The test issuer is not https://gitlab.com, the one issuer crates.io
	// supports: the other fields match, the issuer does not.
	o = keyless(t, env, "explain", "crates", "--project", "keyless-ci/demo", "--environment", "RELEASE", "--format", "json")
	if o.Code != 1 || json.Unmarshal([]byte(o.Stdout), &res) != nil || res.Verdict != "Issuer does not match the job" {
		t.Errorf("explain crates: exit %d %+v\n%s%s", o.Code, res, o.Stdout, o.Stderr)
	}
}
