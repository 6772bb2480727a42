package main

// The lint component (templates/lint.yml) run by gitlab-ci-local on a
// project with secrets written into its pipeline: the job fails, its Code
// Quality report points at the lines where the secrets are written (one in
// an included file), and no secret reaches the job log or a report.

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Synthetic test data, not credentials: an AWS key pair and a GitLab
// token shaped as the real ones are.
const (
	lintKeyID  = "AKIAZ7Q3K9W2M5T8X4RB"
	lintSecret = "q8Vn2Lr7Tz4Kp1Xw9Hc6Bf3Jm5Sd0Gy8Ua2Ne7Rk"
	lintGLPAT  = "glpat-Zq8Vn2Lr7Tz4Kp1Xw9Hc"
)

const lintPipeline = `include:
  - component: $CI_SERVER_FQDN/$CI_PROJECT_PATH/lint@$CI_COMMIT_SHA
    inputs:
      fail_on: major
  - local: ci/deploy.yml

stages: [test, deploy]

upload:
  stage: deploy
  variables:
    AWS_ACCESS_KEY_ID: {{keyid}}
    AWS_SECRET_ACCESS_KEY: {{secret}}
  script:
    - aws s3 cp build/ s3://bucket/ --recursive
`

const lintInclude = `.notify:
  script:
    - 'curl --header "PRIVATE-TOKEN: {{glpat}}" "$CI_API_V4_URL/projects/$CI_PROJECT_ID/issues"'

notify:
  stage: deploy
  extends: .notify
`

func TestE2EGitLabCILintComponent(t *testing.T) {
	p := e2e(t)
	g := newGCLProject(t, p, expand(lintPipeline, "{{keyid}}", lintKeyID, "{{secret}}", lintSecret))
	os.MkdirAll(filepath.Join(g.Dir, "ci"), 0o755)
	if err := os.WriteFile(filepath.Join(g.Dir, "ci", "deploy.yml"), []byte(expand(lintInclude, "{{glpat}}", lintGLPAT)), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := run(t, nil, "git", "-C", g.Dir, "add", "-A"); r.Code != 0 {
		t.Fatal(r.Stderr)
	}
	if r := run(t, nil, "git", "-C", g.Dir, "commit", "-q", "-m", "include"); r.Code != 0 {
		t.Fatal(r.Stderr)
	}

	r := g.run(t, filepath.Dir(p.Bin)+string(os.PathListSeparator)+pathWithout(), nil, "keyless-lint")
	out := r.Stdout + r.Stderr
	if r.Code == 0 || !strings.Contains(out, "FAIL 1") {
		t.Fatalf("keyless-lint should fail with exit code 1 on the secrets:\n%s", out)
	}
	for _, want := range []string{".gitlab-ci.yml:12:", "ci/deploy.yml:3:", "[hardcoded-aws-key]", "[hardcoded-gitlab-token]"} {
		if !strings.Contains(out, want) {
			t.Errorf("the job log does not show %q:\n%s", want, out)
		}
	}

	// The reports are the job's artifacts.
	build := filepath.Join(g.Dir, ".gitlab-ci-local", "builds", "keyless-lint")
	b, err := os.ReadFile(filepath.Join(build, "gl-code-quality-report.json"))
	if err != nil {
		t.Fatalf("no Code Quality report: %v\n%s", err, out)
	}
	var cq []struct {
		CheckName string `json:"check_name"`
		Severity  string `json:"severity"`
		Location  struct {
			Path  string `json:"path"`
			Lines struct {
				Begin int `json:"begin"`
			} `json:"lines"`
		} `json:"location"`
	}
	if err := json.Unmarshal(b, &cq); err != nil {
		t.Fatalf("the Code Quality report is not GitLab's format: %v", err)
	}
	found := map[string]bool{}
	for _, e := range cq {
		found[e.CheckName+"@"+e.Location.Path] = true
	}
	for _, want := range []string{"hardcoded-aws-key@.gitlab-ci.yml", "hardcoded-gitlab-token@ci/deploy.yml"} {
		if !found[want] {
			t.Errorf("the Code Quality report has no %s: %s", want, b)
		}
	}
	if _, err := os.Stat(filepath.Join(build, "gl-keyless-lint.sarif")); err != nil {
		t.Errorf("no SARIF report: %v", err)
	}
	// The log and the reports never hold a secret; the project's own files
	// (and gitlab-ci-local's copies of them) do, so they are not searched.
	logs, _ := filepath.Glob(filepath.Join(g.Dir, ".gitlab-ci-local", "output", "*"))
	for _, f := range append(logs, filepath.Join(build, "gl-code-quality-report.json"), filepath.Join(build, "gl-keyless-lint.sarif")) {
		b, _ := os.ReadFile(f)
		out += string(b)
	}
	for what, s := range map[string]string{"AWS secret key": lintSecret, "AWS key id": lintKeyID, "GitLab token": lintGLPAT} {
		if strings.Contains(out, s) {
			t.Errorf("the %s appears in the job log or a report", what)
		}
	}
}
