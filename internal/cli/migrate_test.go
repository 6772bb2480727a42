//go:build !keyless_slim

package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"gitlab.com/keyless-ci/keyless/internal/gitlabapi/gitlabtest"
)

const migrateProject = "../../testdata/cli/migrate-project"

// migrateGolden compares o with testdata/cli/migrate-NAME.golden, the
// fixture's directory written PROJECT.
func migrateGolden(t *testing.T, name string, o outcome) {
	t.Helper()
	for _, s := range []*string{&o.Stdout, &o.Stderr} {
		*s = strings.ReplaceAll(*s, migrateProject, "PROJECT")
	}
	outcomeGolden(t, "migrate-"+name, o)
}

func TestMigrateGolden(t *testing.T) {
	role := "arn:aws:iam::123456789012:role/gitlab-deploy"
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"diff", []string{migrateProject, "--aws-role-arn", role, "--vault-addr", "https://vault.example.com", "--vault-role", "ci"}},
		// Flags after the path, as before it.
		{"json", []string{"--format", "json", migrateProject, "--aws-role-arn", role}},
		{"bad-format", []string{migrateProject, "--format", "yaml"}},
		{"half-identity", []string{migrateProject, "--vault-addr", "https://vault.example.com"}},
		{"two-paths", []string{migrateProject, migrateProject}},
		{"no-map", []string{migrateProject, "--map", "no-such-map.yml"}},
		{"help", []string{"--help"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			migrateGolden(t, tc.name, keyless(t, nil, append([]string{"migrate"}, tc.args...)...))
		})
	}
}

// TestMigrateWrite: --write changes the files, a second run finds
// nothing to change, and the diff and plan hold no value of a variable.
func TestMigrateWrite(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{".gitlab-ci.yml", "ci/common.yml"} {
		b, err := os.ReadFile(filepath.Join(migrateProject, f))
		if err != nil {
			t.Fatal(err)
		}
		os.MkdirAll(filepath.Dir(filepath.Join(dir, f)), 0o755)
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	mapFile := filepath.Join(t.TempDir(), "map.yml")
	os.WriteFile(mapFile, []byte("UPLOAD_KEY_ID:\n  role_arn: arn:aws:iam::123456789012:role/upload\nVAULT_CI_TOKEN:\n  addr: https://vault.example.com\n  role: ci\n"), 0o600)
	env := map[string]string{"UPLOAD_KEY_ID": "AKIAIOSFODNN7EXAMPLE", "VAULT_CI_TOKEN": "hvs.CAESIJlU1Jm6kFZfSECRETVALUE"}
	o := keyless(t, env, "migrate", dir, "--map", mapFile, "--write")
	if o.Code != ExitFindings {
		t.Fatalf("exit %d, want 1 (backup is refused)\n%s", o.Code, o.Stderr)
	}
	for _, v := range env {
		if strings.Contains(o.Stdout+o.Stderr, v) {
			t.Errorf("a variable's value is in the output")
		}
	}
	after, _ := os.ReadFile(filepath.Join(dir, ".gitlab-ci.yml"))
	if !strings.Contains(string(after), "extends: .keyless-aws") || strings.Contains(string(after), "aws configure set") {
		t.Errorf("--write did not apply the change:\n%s", after)
	}
	if fi, _ := os.Stat(filepath.Join(dir, ".gitlab-ci.yml")); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want the file's own 0600", fi.Mode().Perm())
	}
	again := keyless(t, nil, "migrate", dir, "--map", mapFile, "--format", "json")
	var plan struct {
		Files   []string
		Refused []struct{ Job, Reason string }
	}
	if err := json.Unmarshal([]byte(again.Stdout), &plan); err != nil {
		t.Fatalf("%v\n%s", err, again.Stdout)
	}
	if len(plan.Files) != 0 {
		t.Errorf("a second migrate changes %v", plan.Files)
	}
	if d := cmp.Diff([]struct{ Job, Reason string }{{"backup", "dynamic"}}, plan.Refused); d != "" {
		t.Errorf("refused (-want +got):\n%s", d)
	}
}

// TestMigrateOpenMR: --open-mr against the fake GitLab creates the branch,
// the commit and the merge request; a second run with another identity
// commits again and updates the same merge request. No value of a
// variable, nor the token, reaches the description or the output.
func TestMigrateOpenMR(t *testing.T) {
	s := gitlabtest.New(t)
	s.AddProject("g/app")
	for _, f := range []string{".gitlab-ci.yml", "ci/common.yml"} {
		b, err := os.ReadFile(filepath.Join(migrateProject, f))
		if err != nil {
			t.Fatal(err)
		}
		s.AddFile("g/app", "main", f, string(b))
	}
	env := map[string]string{"GITLAB_TOKEN": s.Token, "UPLOAD_KEY_ID": "AKIAIOSFODNN7EXAMPLE", "VAULT_CI_TOKEN": "hvs.CAESIJlU1Jm6kFZfSECRETVALUE"}
	args := []string{"migrate", migrateProject, "--open-mr", "--project", "g/app", "--gitlab-url", s.URL,
		"--vault-addr", "https://vault.example.com", "--vault-role", "ci"}
	o := keyless(t, env, append(args, "--aws-role-arn", "arn:aws:iam::123456789012:role/first")...)
	if o.Code != ExitFindings || !strings.Contains(o.Stderr, "merge request !1 opened") {
		t.Fatalf("exit %d, want 1 (backup is refused) with the merge request opened\n%s", o.Code, o.Stderr)
	}
	if got, _ := s.FileAt("g/app", "keyless/migrate", ".gitlab-ci.yml"); !strings.Contains(got, "extends: .keyless-aws") || !strings.Contains(got, "role/first") {
		t.Errorf("the branch does not hold the migrated configuration:\n%s", got)
	}
	if got, _ := s.FileAt("g/app", "main", ".gitlab-ci.yml"); strings.Contains(got, "keyless") {
		t.Errorf("main changed")
	}
	mrs := s.MergeRequests("g/app")
	if len(mrs) != 1 || mrs[0].SourceBranch != "keyless/migrate" || mrs[0].TargetBranch != "main" {
		t.Fatalf("merge requests: %+v", mrs)
	}
	d := mrs[0].Description
	for _, want := range []string{
		"aws_iam_openid_connect_provider",             // the trust, as Terraform
		"project_path:g/app:ref_type:branch:ref:main", // for the project's target branch
		"vault write auth/",                           // Vault's, as its CLI
		"| `stored-aws-keys` | 2 | 1 |",               // lint before and after (backup is refused)
		"- [ ] deactivate the key",                    // the retirement checklist
		"`UPLOAD_KEY_ID`, `UPLOAD_SECRET`",
		"`backup` (aws, dynamic)",
	} {
		if !strings.Contains(d, want) {
			t.Errorf("the description lacks %q:\n%s", want, d)
		}
	}
	for _, v := range env {
		if strings.Contains(d, v) || strings.Contains(o.Stdout+o.Stderr, v) {
			t.Errorf("a value of the environment (a variable or the token) reached the description or the output")
		}
	}

	o = keyless(t, env, append(args, "--aws-role-arn", "arn:aws:iam::123456789012:role/second")...)
	if !strings.Contains(o.Stderr, "merge request !1 updated") {
		t.Fatalf("second run: exit %d\n%s", o.Code, o.Stderr)
	}
	mrs = s.MergeRequests("g/app")
	if len(mrs) != 1 || !strings.Contains(mrs[0].Description, "role/second") {
		t.Errorf("second run: %d merge requests, or the description not updated", len(mrs))
	}
	if c := s.Commits("g/app"); len(c) != 2 || c[1].Branch != "keyless/migrate" {
		t.Errorf("commits: %+v", c)
	}
	if got, _ := s.FileAt("g/app", "keyless/migrate", ".gitlab-ci.yml"); !strings.Contains(got, "role/second") {
		t.Errorf("the branch does not hold the second change")
	}
	// The same change a third time commits nothing.
	keyless(t, env, append(args, "--aws-role-arn", "arn:aws:iam::123456789012:role/second")...)
	if c := s.Commits("g/app"); len(c) != 2 {
		t.Errorf("the same change again made a commit: %d commits", len(c))
	}
}

func TestMigrateOpenMRStaleCheckout(t *testing.T) {
	s := gitlabtest.New(t)
	s.AddProject("g/app")
	s.AddFile("g/app", "main", ".gitlab-ci.yml", "# changed upstream\n")
	s.AddFile("g/app", "main", "ci/common.yml", "")
	o := keyless(t, map[string]string{"GITLAB_TOKEN": s.Token}, "migrate", migrateProject, "--open-mr", "--project", "g/app", "--gitlab-url", s.URL,
		"--aws-role-arn", "arn:aws:iam::123456789012:role/x", "--vault-addr", "https://vault.example.com", "--vault-role", "ci")
	if o.Code != ExitFailure || !strings.Contains(o.Stderr, "git pull") || len(s.MergeRequests("g/app")) != 0 {
		t.Errorf("exit %d, want 3 with the fix named and no merge request\n%s", o.Code, o.Stderr)
	}
	if o := keyless(t, nil, "migrate", migrateProject, "--open-mr", "--aws-role-arn", "x"); o.Code != ExitUsage || !strings.Contains(o.Stderr, "--project") {
		t.Errorf("--open-mr without --project: exit %d\n%s", o.Code, o.Stderr)
	}
}

// TestMigrateFromReport: a job lint is not sure of (a tool that reads
// keys from the environment) is migrated once keyless report shows it
// using stored keys, under the identity the report's variable names.
func TestMigrateFromReport(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, ".gitlab-ci.yml"), []byte("publish:\n  script:\n    - aws s3 cp dist/ s3://releases/ --recursive\n"), 0o644)
	rep := filepath.Join(t.TempDir(), "report.json")
	// The shape of keyless report --format json (internal/report.Report).
	os.WriteFile(rep, []byte(`{"version": 1, "credentials": [{"key": "AWS_ACCESS_KEY_ID", "level": "project", "owner": "g/app", "kind": "aws",
  "usage": [{"project": "g/app", "job": "publish", "file": ".gitlab-ci.yml", "line": 3, "how": "runs aws (reads AWS_* from the environment)"}],
  "replacement": {"component": "aws", "steps": []}}], "projects": [{"path": "g/app", "status": "ok", "jobs": 1}]}`), 0o644)
	mapFile := filepath.Join(t.TempDir(), "map.yml")
	os.WriteFile(mapFile, []byte("AWS_ACCESS_KEY_ID:\n  role_arn: arn:aws:iam::123456789012:role/releases\n"), 0o644)

	if o := keyless(t, nil, "migrate", dir, "--map", mapFile); o.Code != ExitFindings || !strings.Contains(o.Stderr, "low-confidence") {
		t.Errorf("without the report: exit %d, want 1 (low-confidence)\n%s", o.Code, o.Stderr)
	}
	o := keyless(t, nil, "migrate", dir, "--map", mapFile, "--from-report", rep, "--format", "json")
	if o.Code != ExitOK || !strings.Contains(o.Stdout, "role/releases") || !strings.Contains(o.Stdout, `"job": "publish"`) {
		t.Errorf("with the report: exit %d\n%s%s", o.Code, o.Stdout, o.Stderr)
	}
	if o := keyless(t, nil, "migrate", dir, "--from-report", filepath.Join(dir, ".gitlab-ci.yml")); o.Code != ExitUsage || !strings.Contains(o.Stderr, "keyless report --format json") {
		t.Errorf("a file that is not a report: exit %d\n%s", o.Code, o.Stderr)
	}
}

// TestMigrateNpmPackage: an npm job whose package.json migrate cannot
// read is refused with --npm-package as the step; the flag then names
// the package, a bad name is a usage error, and --install reaches the
// npm include though no identity flag of npm's is given (issue 18).
func TestMigrateNpmPackage(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, ".gitlab-ci.yml"), []byte("publish:\n  variables:\n    NODE_AUTH_TOKEN: $NPM_TOKEN\n  script:\n    - cd \"$PKG_DIR\"\n    - npm publish\n"), 0o644)
	if o := keyless(t, nil, "migrate", dir); o.Code != ExitFindings || !strings.Contains(o.Stderr, "npm-package") || !strings.Contains(o.Stderr, "--npm-package NAME") {
		t.Errorf("without --npm-package: exit %d, want 1 (npm-package)\n%s", o.Code, o.Stderr)
	}
	if o := keyless(t, nil, "migrate", dir, "--npm-package", "@example/web", "--install", "path"); o.Code != ExitOK ||
		!strings.Contains(o.Stdout, `package: "@example/web"`) || !strings.Contains(o.Stdout, "install: path") {
		t.Errorf("with --npm-package: exit %d\n%s%s", o.Code, o.Stdout, o.Stderr)
	}
	if o := keyless(t, nil, "migrate", dir, "--npm-package", "Example Web"); o.Code != ExitUsage || !strings.Contains(o.Stderr, `--npm-package "Example Web"`) {
		t.Errorf("a bad package name: exit %d, want 2\n%s", o.Code, o.Stderr)
	}
	os.WriteFile(filepath.Join(dir, ".gitlab-ci.yml"), []byte("publish:\n  variables:\n    NODE_AUTH_TOKEN: $NPM_TOKEN\n  script:\n    - npm publish\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "package.json"), []byte(`{"name": "@example/app"}`), 0o644)
	if o := keyless(t, nil, "migrate", dir, "--install", "path"); o.Code != ExitOK || !strings.Contains(o.Stdout, `package: "@example/app"`) || !strings.Contains(o.Stdout, "install: path") {
		t.Errorf("package.json and --install: exit %d\n%s%s", o.Code, o.Stdout, o.Stderr)
	}
}
