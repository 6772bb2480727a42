//go:build !keyless_slim

package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"

	"gitlab.com/keyless-ci/keyless/internal/gitlabapi/gitlabtest"
)

const (
	compileProject = "../../testdata/cli/compile-project"
	compileBroken  = "../../testdata/cli/compile-broken"
)

// compileGolden compares o with testdata/cli/compile-NAME.golden, the
// fixtures' directory written PROJECT.
func compileGolden(t *testing.T, name string, o outcome) {
	t.Helper()
	for _, s := range []*string{&o.Stdout, &o.Stderr} {
		*s = strings.ReplaceAll(*s, compileProject, "PROJECT")
		*s = strings.ReplaceAll(*s, compileBroken, "PROJECT")
	}
	outcomeGolden(t, "compile-"+name, o)
}

func TestCompileGolden(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"yaml", []string{compileProject}},
		// Flags after the path, as before it.
		{"json", []string{compileProject, "--format", "json"}},
		{"file", []string{"--format=json", filepath.Join(compileProject, "ci", "templates.yml"), "--input", "image=debian:12"}},
		{"problems", []string{compileBroken}},
		{"bad-format", []string{"--format", "toml", compileProject}},
		{"two-paths", []string{compileProject, compileBroken}},
		{"unknown-flag", []string{compileProject, "--verbose"}},
		{"help", []string{"--help"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			compileGolden(t, tc.name, keyless(t, nil, append([]string{"compile"}, tc.args...)...))
		})
	}
}

func TestCompileDefaultPath(t *testing.T) {
	want := keyless(t, nil, "compile", compileProject)
	abs, err := filepath.Abs(compileProject)
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(abs)
	got := keyless(t, nil, "compile")
	if got.Code != ExitOK || got.Stdout != want.Stdout {
		t.Errorf("keyless compile in the project: exit %d\n%s\n%s", got.Code, got.Stderr, cmp.Diff(want.Stdout, got.Stdout))
	}
	// -h after the path is help, as before it.
	if o := keyless(t, nil, "compile", ".", "-h"); o.Code != ExitOK || !strings.Contains(o.Stdout, "keyless compile - print the configuration") {
		t.Errorf("compile . -h: exit %d\n%s", o.Code, o.Stdout)
	}
}

func TestCompilePathErrors(t *testing.T) {
	empty := t.TempDir()
	unreadable := t.TempDir()
	os.Mkdir(filepath.Join(unreadable, ".gitlab-ci.yml"), 0o755) // a directory: read fails
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"missing", []string{filepath.Join(empty, "nope")}, ExitUsage, "no such file or directory"},
		{"no-config", []string{empty}, ExitUsage, "no .gitlab-ci.yml in it: pass the configuration file itself, or --ci-config FILE"},
		{"ci-config-outside", []string{"--ci-config", "../x.yml", empty}, ExitUsage, "give the path inside the project directory"},
		{"bad-input", []string{"--input", "novalue", compileProject}, ExitUsage, `--input "novalue": write NAME=VALUE`},
		{"flag-without-value", []string{compileProject, "--format"}, ExitUsage, "flag needs an argument: --format"},
		{"unreadable", []string{unreadable}, ExitFailure, "is a directory"},
		{"online-without-token", []string{"--online", compileProject}, ExitUsage, "set GITLAB_TOKEN"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := keyless(t, nil, append([]string{"compile"}, tc.args...)...)
			if o.Code != tc.code || !strings.Contains(o.Stderr, tc.want) || o.Stdout != "" {
				t.Errorf("exit %d, want %d with %q\nstdout: %s\nstderr: %s", o.Code, tc.code, tc.want, o.Stdout, o.Stderr)
			}
		})
	}
}

// --ci-config names the main file of a project directory; its local
// includes are read from the project's root, as GitLab reads them.
func TestCompileCIConfig(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "child"), 0o755)
	os.WriteFile(filepath.Join(dir, "common.yml"), []byte(".common:\n  script: [echo common]\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "child", ".gitlab-ci.yml"), []byte("include: common.yml\njob:\n  extends: .common\n"), 0o644)
	o := keyless(t, map[string]string{"KEYLESS_COMPILE_CI_CONFIG": "child/.gitlab-ci.yml"}, "compile", dir)
	var got map[string]map[string]any
	if err := yaml.Unmarshal([]byte(o.Stdout), &got); o.Code != ExitOK || err != nil {
		t.Fatalf("exit %d, %v\n%s", o.Code, err, o.Stderr)
	}
	if d := cmp.Diff(map[string]any{"script": []any{"echo common"}, "extends": ".common"}, got["job"]); d != "" {
		t.Errorf("job (-want +got):\n%s", d)
	}
}

// --online reads remote includes through the GitLab API, as lint does.
func TestCompileOnline(t *testing.T) {
	gl := gitlabtest.New(t)
	gl.AddProject("platform/ci-templates")
	gl.AddFile("platform/ci-templates", "main", "deploy.yml", ".deploy:\n  script: [./deploy.sh]\n")
	gl.AddTemplate("Jobs/Build", "build:\n  script: [make]\n")
	dir := t.TempDir()
	ci := "include:\n  - project: platform/ci-templates\n    ref: main\n    file: deploy.yml\n  - template: Jobs/Build.gitlab-ci.yml\n\ndeploy:\n  extends: .deploy\n"
	if err := os.WriteFile(filepath.Join(dir, ".gitlab-ci.yml"), []byte(ci), 0o644); err != nil {
		t.Fatal(err)
	}
	o := keyless(t, map[string]string{"GITLAB_TOKEN": gl.Token}, "compile", dir, "--online", "--gitlab-url", gl.URL)
	want := ".deploy:\n  script:\n    - ./deploy.sh\nbuild:\n  script:\n    - make\ndeploy:\n  script:\n    - ./deploy.sh\n  extends: .deploy\n"
	if o.Code != ExitOK || o.Stdout != want {
		t.Errorf("exit %d\n%s\n%s", o.Code, o.Stderr, cmp.Diff(want, o.Stdout))
	}
	if strings.Contains(o.Stdout+o.Stderr, gl.Token) {
		t.Error("the GitLab token is in the output")
	}
	// Offline the includes are problems, and the advice names compile.
	o = keyless(t, nil, "compile", dir)
	if o.Code != ExitFindings || !strings.Contains(o.Stderr, "run keyless compile --online") || strings.Contains(o.Stderr, "keyless lint") {
		t.Errorf("offline: exit %d\n%s", o.Code, o.Stderr)
	}
}

// TestCompileDocs keeps docs/compile.md's example in step with the code:
// the project's files as they are, and what keyless compile prints for
// them.
func TestCompileDocs(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "compile.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	for _, name := range []string{".gitlab-ci.yml", "ci/templates.yml"} {
		src, err := os.ReadFile(filepath.Join(compileProject, filepath.FromSlash(name)))
		if err != nil {
			t.Fatal(err)
		}
		var body []string
		for _, line := range strings.SplitAfter(string(src), "\n") {
			if !strings.HasPrefix(line, "# Test data") {
				body = append(body, line)
			}
		}
		if block := "```yaml\n# " + name + "\n" + strings.Join(body, "") + "```"; !strings.Contains(doc, block) {
			t.Errorf("docs/compile.md does not show %s as it is:\n%s", name, block)
		}
	}
	o := keyless(t, nil, "compile", compileProject)
	if block := "`keyless compile` prints:\n\n```yaml\n" + o.Stdout + "```"; o.Code != ExitOK || !strings.Contains(doc, block) {
		t.Errorf("docs/compile.md does not show what keyless compile prints:\n%s", block)
	}
}
