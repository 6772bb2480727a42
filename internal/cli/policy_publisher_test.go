package cli

import (
	"strings"
	"testing"
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
