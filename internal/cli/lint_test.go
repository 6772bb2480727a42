//go:build !keyless_slim

package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"gitlab.com/keyless-ci/keyless/internal/gitlabapi/gitlabtest"
)

// lintProject is a project with synthetic secrets (see its files).
const lintProject = "../../testdata/cli/lint-project"

// lintSecrets are the synthetic secrets written in lintProject: no output
// of keyless lint may hold one.
var lintSecrets = []string{"AKIAZ7Q3K9W2M5T8X4RB", "q8Vn2Lr7Tz4Kp1Xw9Hc6Bf3Jm5Sd0Gy8Ua2Ne7Rk", "glpat-Zq8Vn2Lr7Tz4Kp1Xw9Hc", "Hq3vL9sT2wX7nB4kR8mZ6cJ1"}

// copyProject copies lintProject to a temporary directory, so that tests
// can change it.
func copyProject(t *testing.T) string {
	t.Helper()
	dst := t.TempDir()
	if err := os.CopyFS(dst, os.DirFS(lintProject)); err != nil {
		t.Fatal(err)
	}
	return dst
}

// lintGolden compares o with testdata/cli/lint-NAME.golden, the project's
// directory written PROJECT, and checks that no secret is in it.
func lintGolden(t *testing.T, name, dir string, o outcome) {
	t.Helper()
	for _, s := range lintSecrets {
		if strings.Contains(o.Stdout+o.Stderr, s) {
			t.Errorf("a secret (%.4s…) is in keyless lint's output", s)
		}
	}
	for _, s := range []*string{&o.Stdout, &o.Stderr} {
		*s = strings.ReplaceAll(*s, dir, "PROJECT")
		*s = strings.ReplaceAll(*s, `"version": "`+Version+`"`, `"version": "VERSION"`)
	}
	outcomeGolden(t, "lint-"+name, o)
}

// outcomeGolden compares o, exit code and both streams, with
// testdata/cli/NAME.golden (go test ./internal/cli -update rewrites it).
func outcomeGolden(t *testing.T, name string, o outcome) {
	t.Helper()
	got := "exit " + itoa(o.Code) + "\n--- stdout\n" + o.Stdout + "--- stderr\n" + o.Stderr
	path := filepath.Join("..", "..", "testdata", "cli", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/cli -update)", err)
	}
	if d := cmp.Diff(string(want), got); d != "" {
		t.Errorf("%s (-want +got):\n%s", path, d)
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func TestLintGolden(t *testing.T) {
	t.Parallel()
	dir := copyProject(t)
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"text", nil},
		{"json", []string{"--format", "json"}},
		{"sarif", []string{"--format", "sarif"}},
		{"codequality", []string{"--format", "codequality"}},
		{"fail-on-never", []string{"--fail-on", "never", "--format", "json"}},
		{"fail-on-blocker", []string{"--fail-on", "blocker", "--rule", "deprecated-ci-job-jwt"}},
		{"rule", []string{"--rule", "hardcoded-aws-key,hardcoded-gitlab-token"}},
		{"skip-rule", []string{"--skip-rule", "hardcoded-aws-key", "--skip-rule", "include"}},
		{"bad-rule", []string{"--rule", "hardcoded-aws"}},
		{"bad-format", []string{"--format", "xml"}},
		{"bad-fail-on", []string{"--fail-on", "severe"}},
		{"bad-input", []string{"--input", "novalue"}},
		{"list-rules", []string{"--list-rules"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			o := keyless(t, nil, append(append([]string{"lint"}, tc.args...), dir)...)
			lintGolden(t, tc.name, dir, o)
		})
	}
}

func TestLintPathErrors(t *testing.T) {
	t.Parallel()
	empty := t.TempDir()
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"missing", []string{filepath.Join(empty, "nope")}, ExitUsage, "no such file or directory"},
		{"no-config", []string{empty}, ExitUsage, "no .gitlab-ci.yml in it: pass the configuration file itself, --ci-config FILE, or -r to search below it"},
		{"recursive-none", []string{"-r", empty}, ExitUsage, "no .gitlab-ci.yml below it"},
		{"ci-config-outside", []string{"--ci-config", "../x.yml", empty}, ExitUsage, "give the path inside the project directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			o := keyless(t, nil, append([]string{"lint"}, tc.args...)...)
			if o.Code != tc.code || !strings.Contains(o.Stderr, tc.want) {
				t.Errorf("exit %d, want %d with %q\n%s", o.Code, tc.code, tc.want, o.Stderr)
			}
		})
	}

	// A configuration file keyless cannot read is a failure (3); the
	// other projects are still linted and reported.
	unreadable := t.TempDir()
	os.Mkdir(filepath.Join(unreadable, ".gitlab-ci.yml"), 0o755) // a directory: read fails
	ok := copyProject(t)
	o := keyless(t, nil, "lint", "--format", "json", unreadable, ok)
	if o.Code != ExitFailure || !strings.Contains(o.Stderr, ".gitlab-ci.yml") || !strings.Contains(o.Stdout, "hardcoded-aws-key") {
		t.Errorf("an unreadable configuration: exit %d\n%s\n%s", o.Code, o.Stderr, o.Stdout)
	}
}

func TestLintOutputFileIsAtomic(t *testing.T) {
	t.Parallel()
	dir := copyProject(t)
	out := filepath.Join(t.TempDir(), "gl-code-quality-report.json")
	o := keyless(t, nil, "lint", "--format", "codequality", "--output", out, dir)
	if o.Code != ExitFindings || o.Stdout != "" {
		t.Fatalf("exit %d, stdout %q\n%s", o.Code, o.Stdout, o.Stderr)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var cq []map[string]any
	if err := json.Unmarshal(b, &cq); err != nil || len(cq) == 0 {
		t.Fatalf("the report is not Code Quality JSON: %v\n%s", err, b)
	}
	// Into a directory that does not exist: failure, nothing written.
	missing := filepath.Join(t.TempDir(), "no", "report.json")
	if o := keyless(t, nil, "lint", "--format", "json", "--output", missing, dir); o.Code != ExitFailure {
		t.Errorf("writing into a missing directory: exit %d\n%s", o.Code, o.Stderr)
	}
	if entries, _ := os.ReadDir(filepath.Dir(out)); len(entries) != 1 {
		t.Errorf("temporary files left beside the report: %v", entries)
	}
}

// A baseline accepts today's findings; a secret added later is new even
// on a line that had a finding, and moving code keeps the baseline valid.
func TestLintBaseline(t *testing.T) {
	t.Parallel()
	dir := copyProject(t)
	base := filepath.Join(t.TempDir(), "baseline.json")
	if o := keyless(t, nil, "lint", "--baseline", base, "--write-baseline", dir); o.Code != ExitOK || !strings.Contains(o.Stderr, "wrote 6 findings to the baseline") {
		t.Fatalf("write-baseline: exit %d\n%s", o.Code, o.Stderr)
	}
	b, _ := os.ReadFile(base)
	for _, s := range lintSecrets {
		if strings.Contains(string(b), s) {
			t.Errorf("the baseline holds a secret (%.4s…)", s)
		}
	}
	if o := keyless(t, nil, "lint", "--baseline", base, dir); o.Code != ExitOK || !strings.Contains(o.Stdout, "no findings") {
		t.Errorf("with the baseline: exit %d\n%s", o.Code, o.Stdout)
	}

	// Move everything down three lines, and add a new token.
	ci := filepath.Join(dir, ".gitlab-ci.yml")
	src, _ := os.ReadFile(ci)
	moved := "# moved\n# down\n# three lines\n" + string(src) + "\nlater:\n  script:\n    - 'curl -H \"PRIVATE-TOKEN: glpat-Mw4Rt8Yp2Qs6Ux1Zc9Vb\" \"$CI_API_V4_URL\"'\n"
	if err := os.WriteFile(ci, []byte(moved), 0o644); err != nil {
		t.Fatal(err)
	}
	o := keyless(t, nil, "lint", "--baseline", base, "--format", "json", dir)
	var rep struct {
		Findings []struct{ Rule, Path string }
	}
	if err := json.Unmarshal([]byte(o.Stdout), &rep); err != nil {
		t.Fatal(err)
	}
	if o.Code != ExitFindings || len(rep.Findings) != 1 || rep.Findings[0].Rule != "hardcoded-gitlab-token" || rep.Findings[0].Path != ".gitlab-ci.yml" {
		t.Errorf("after moving code and adding a token: exit %d, %+v", o.Code, rep.Findings)
	}
	if o := keyless(t, nil, "lint", "--baseline", filepath.Join(dir, "nope.json"), dir); o.Code != ExitUsage || !strings.Contains(o.Stderr, "--write-baseline") {
		t.Errorf("a missing baseline: exit %d\n%s", o.Code, o.Stderr)
	}
}

// With several projects, paths are relative to the working directory and
// each project's findings keep their own fingerprints.
func TestLintRecursive(t *testing.T) {
	root := t.TempDir()
	for _, name := range []string{"a", "b/c"} {
		dst := filepath.Join(root, name)
		src := copyProject(t)
		os.MkdirAll(filepath.Dir(dst), 0o755)
		if err := os.Rename(src, dst); err != nil {
			t.Fatal(err)
		}
	}
	t.Chdir(root)
	o := keyless(t, nil, "lint", "-r", "--format", "json", "--rule", "hardcoded-gitlab-token", ".")
	var rep struct {
		Findings []struct{ Path, Fingerprint string }
	}
	if err := json.Unmarshal([]byte(o.Stdout), &rep); err != nil {
		t.Fatalf("%v\n%s", err, o.Stderr)
	}
	var paths []string
	for _, f := range rep.Findings {
		paths = append(paths, f.Path)
	}
	if d := cmp.Diff([]string{"a/ci/deploy.yml", "b/c/ci/deploy.yml"}, paths); d != "" {
		t.Error(d)
	}
}

// The same key in two projects under -r has two fingerprints, and a
// baseline written for one project does not silence the other: prefixes
// are part of the fingerprint (issue 14).
func TestLintRecursiveFingerprintsPerProject(t *testing.T) {
	root := t.TempDir()
	for _, name := range []string{"a", "b"} {
		if err := os.Rename(copyProject(t), filepath.Join(root, name)); err != nil {
			t.Fatal(err)
		}
	}
	t.Chdir(root)
	type finding struct{ Rule, Path, Fingerprint string }
	lintJSON := func(args ...string) (int, []finding) {
		t.Helper()
		o := keyless(t, nil, append([]string{"lint", "-r", "--format", "json", "--rule", "hardcoded-aws-key"}, args...)...)
		var rep struct{ Findings []finding }
		if err := json.Unmarshal([]byte(o.Stdout), &rep); err != nil {
			t.Fatalf("%v\n%s", err, o.Stderr)
		}
		return o.Code, rep.Findings
	}
	_, all := lintJSON(".")
	byFingerprint := map[string]string{}
	var inA, inB int
	for _, f := range all {
		if other, ok := byFingerprint[f.Fingerprint]; ok {
			t.Errorf("%s and %s have the same fingerprint %s", other, f.Path, f.Fingerprint)
		}
		byFingerprint[f.Fingerprint] = f.Path
		switch {
		case strings.HasPrefix(f.Path, "a/"):
			inA++
		case strings.HasPrefix(f.Path, "b/"):
			inB++
		}
	}
	if inA == 0 || inA != inB || inA+inB != len(all) {
		t.Fatalf("findings: %+v", all)
	}

	base := filepath.Join(t.TempDir(), "baseline.json")
	if o := keyless(t, nil, "lint", "-r", "--rule", "hardcoded-aws-key", "--baseline", base, "--write-baseline", "a"); o.Code != ExitOK {
		t.Fatalf("write-baseline for a: exit %d\n%s", o.Code, o.Stderr)
	}
	code, left := lintJSON("--baseline", base, ".")
	if code != ExitFindings || len(left) != inB {
		t.Fatalf("with a's baseline: exit %d, %d findings, want %d (b's)\n%+v", code, len(left), inB, left)
	}
	for _, f := range left {
		if !strings.HasPrefix(f.Path, "b/") {
			t.Errorf("with a's baseline, a finding in %s", f.Path)
		}
	}
}

// Files named one by one keep the path they were given, once.
func TestLintSeveralFiles(t *testing.T) {
	root := t.TempDir()
	for _, dir := range []string{"a", "b"} {
		os.MkdirAll(filepath.Join(root, dir), 0o755)
		if err := os.WriteFile(filepath.Join(root, dir, "ci.yml"), []byte("job:\n  script:\n    - echo $CI_JOB_JWT_V2\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Chdir(root)
	o := keyless(t, nil, "lint", "--format", "json", "a/ci.yml", "b/ci.yml")
	var rep struct{ Findings []struct{ Path string } }
	if err := json.Unmarshal([]byte(o.Stdout), &rep); err != nil || len(rep.Findings) == 0 {
		t.Fatalf("%v %+v\n%s", err, rep, o.Stderr)
	}
	for _, f := range rep.Findings {
		if f.Path != "a/ci.yml" && f.Path != "b/ci.yml" {
			t.Errorf("finding path %q, want a/ci.yml or b/ci.yml", f.Path)
		}
	}
}

// --online reads project: and template: includes through the GitLab API
// (the fake GitLab, through client-go), so a secret in an included file of
// another project is found there.
func TestLintOnline(t *testing.T) {
	t.Parallel()
	gl := gitlabtest.New(t)
	gl.AddProject("platform/ci-templates")
	// Synthetic test data shaped as a GitLab token.
	gl.AddFile("platform/ci-templates", "main", "deploy.yml", ".deploy:\n  script:\n    - 'curl -H \"PRIVATE-TOKEN: glpat-Rt5Yu8Io2Pa4Sd6Fg1Hj\" \"$CI_API_V4_URL\"'\n")
	gl.AddTemplate("Jobs/Build", "build:\n  script: [make]\n")
	dir := t.TempDir()
	ci := "include:\n  - project: platform/ci-templates\n    ref: main\n    file: deploy.yml\n  - template: Jobs/Build.gitlab-ci.yml\n\ndeploy:\n  extends: .deploy\n"
	if err := os.WriteFile(filepath.Join(dir, ".gitlab-ci.yml"), []byte(ci), 0o644); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"GITLAB_TOKEN": gl.Token}
	o := keyless(t, env, "lint", "--online", "--gitlab-url", gl.URL, "--format", "json", dir)
	var rep struct {
		Findings []struct{ Rule, Path string }
	}
	if err := json.Unmarshal([]byte(o.Stdout), &rep); err != nil {
		t.Fatalf("%v\n%s", err, o.Stderr)
	}
	var got []string
	for _, f := range rep.Findings {
		got = append(got, f.Rule+"@"+f.Path)
	}
	if d := cmp.Diff([]string{"hardcoded-gitlab-token@project:platform/ci-templates@main:/deploy.yml"}, got); d != "" {
		t.Errorf("online findings (-want +got):\n%s\n%s", d, o.Stderr)
	}
	if strings.Contains(o.Stdout+o.Stderr, gl.Token) || strings.Contains(o.Stdout+o.Stderr, "glpat-Rt5Yu8") {
		t.Error("a token is in the output")
	}
	// Offline the same project notes what it did not read.
	if o := keyless(t, nil, "lint", "--format", "json", dir); !strings.Contains(o.Stdout, "read them") {
		t.Errorf("offline: %s", o.Stdout)
	}
	if o := keyless(t, map[string]string{"GITLAB_TOKEN": ""}, "lint", "--online", dir); o.Code != ExitUsage || !strings.Contains(o.Stderr, "set GITLAB_TOKEN") {
		t.Errorf("--online without a token: exit %d\n%s", o.Code, o.Stderr)
	}
}

// A child pipeline from another project (trigger:include:project) is read
// with --online, as project includes are, and linted with its parent
// (issue 15).
func TestLintOnlineChildPipeline(t *testing.T) {
	gl := gitlabtest.New(t)
	gl.AddProject("platform/pipelines")
	gl.AddFile("platform/pipelines", "main", "deploy.yml",
		"upload:\n  variables:\n    AWS_SECRET_ACCESS_KEY: $PROD_AWS_SECRET_ACCESS_KEY\n  script:\n    - aws s3 sync public/ s3://example-site/\n")
	dir := t.TempDir()
	ci := "deploy:\n  trigger:\n    include:\n      - project: platform/pipelines\n        ref: main\n        file: deploy.yml\n"
	if err := os.WriteFile(filepath.Join(dir, ".gitlab-ci.yml"), []byte(ci), 0o644); err != nil {
		t.Fatal(err)
	}
	o := keyless(t, map[string]string{"GITLAB_TOKEN": gl.Token}, "lint", "--online", "--gitlab-url", gl.URL, "--format", "json", dir)
	var rep struct {
		Findings []struct {
			Rule, Path string
			Line       int
		}
	}
	if err := json.Unmarshal([]byte(o.Stdout), &rep); err != nil {
		t.Fatalf("%v\n%s", err, o.Stderr)
	}
	var got []string
	for _, f := range rep.Findings {
		got = append(got, fmt.Sprintf("%s@%s:%d", f.Rule, f.Path, f.Line))
	}
	if d := cmp.Diff([]string{"stored-aws-keys@project:platform/pipelines@main:/deploy.yml:3"}, got); d != "" {
		t.Errorf("findings (-want +got):\n%s\n%s", d, o.Stderr)
	}
}
