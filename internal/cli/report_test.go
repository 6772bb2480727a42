//go:build !keyless_slim

package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gitlab.com/keyless-ci/keyless/internal/gitlabapi/gitlabtest"
)

// Synthetic test data shaped as real credentials; none is valid.
const (
	reportKeyID  = "AKIAQ4RT7YU2IO9PA3SD"
	reportSecret = "Zk3vQ8wL1pR6tY9uI2oP5aS7dF0gH4jK8lX1cV3b"
	reportVault  = "hvs.CAESIJk3vQ8wL1pR6tY9uI2oP5aS7dF0gH4jK8lX"
)

// reportFixture is a small group on the fake GitLab: a group-level AWS key
// pair, a project-level Vault token, a pipeline that uses both, and an
// ordinary variable that is no credential.
func reportFixture(t *testing.T) *gitlabtest.Server {
	t.Helper()
	gl := gitlabtest.New(t)
	gl.AddGroup("acme")
	gl.AddProject("acme/deploy")
	gl.AddVariable("acme", gitlabtest.Variable{Key: "AWS_ACCESS_KEY_ID", Value: reportKeyID, EnvironmentScope: "*"})
	gl.AddVariable("acme", gitlabtest.Variable{Key: "AWS_SECRET_ACCESS_KEY", Value: reportSecret, Masked: true, EnvironmentScope: "*"})
	gl.AddVariable("acme/deploy", gitlabtest.Variable{Key: "VAULT_TOKEN", Value: reportVault, Protected: true, Masked: true, EnvironmentScope: "*"})
	gl.AddVariable("acme/deploy", gitlabtest.Variable{Key: "DEPLOY_REGION", Value: "eu-west-1", EnvironmentScope: "*"})
	gl.AddFile("acme/deploy", "main", ".gitlab-ci.yml", "upload:\n  script:\n    - aws s3 sync public/ s3://site/\nsecrets:\n  script:\n    - vault kv get -field=password secret/ci/db\n")
	return gl
}

func reportEnv(gl *gitlabtest.Server) map[string]string {
	return map[string]string{"GITLAB_TOKEN": gl.Token, "KEYLESS_GITLAB_URL": gl.URL}
}

// noSecrets fails when s holds any 8 characters of a value past its first
// four (a kind's public prefix: AKIA, hvs., glpa).
func noSecrets(t *testing.T, what, s string, gl *gitlabtest.Server) {
	t.Helper()
	for n, v := range []string{reportKeyID, reportSecret, reportVault, gl.Token} {
		for i := 4; i+8 <= len(v); i++ {
			if strings.Contains(s, v[i:i+8]) {
				t.Errorf("%s holds part of secret %d (characters %d to %d)", what, n, i, i+8)
				break
			}
		}
	}
}

func TestReportFormats(t *testing.T) {
	t.Parallel()
	gl := reportFixture(t)
	dir := t.TempDir()
	for _, format := range []string{"json", "markdown", "csv", "html"} {
		out := filepath.Join(dir, "report."+format)
		o := keyless(t, reportEnv(gl), "report", "--group", "acme", "--format", format, "--output", out, "--debug")
		if o.Code != 0 {
			t.Fatalf("%s: exit %d\n%s", format, o.Code, o.Stderr)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		noSecrets(t, format+" report", string(b), gl)
		noSecrets(t, format+" log (--debug)", o.Stdout+o.Stderr, gl)
		for _, want := range []string{"AWS_SECRET_ACCESS_KEY", "VAULT_TOKEN"} {
			if !strings.Contains(string(b), want) {
				t.Errorf("the %s report does not list %s", format, want)
			}
		}
		if strings.Contains(string(b), "DEPLOY_REGION") {
			t.Errorf("the %s report lists DEPLOY_REGION, which is no credential", format)
		}
	}
	var rep struct {
		Version     int
		Credentials []struct {
			Key, Kind, Level, Owner string
			Usage                   []struct{ Project, Job string }
			Replacement             struct{ Component string }
		}
	}
	b, _ := os.ReadFile(filepath.Join(dir, "report.json"))
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	found := map[string]string{}
	for _, c := range rep.Credentials {
		found[c.Key] = c.Kind + "/" + c.Level + "/" + c.Replacement.Component
		if c.Key == "AWS_SECRET_ACCESS_KEY" && (len(c.Usage) == 0 || c.Usage[0].Job != "upload") {
			t.Errorf("the group's AWS key is not shown used by acme/deploy's upload job: %+v", c.Usage)
		}
	}
	if found["AWS_SECRET_ACCESS_KEY"] != "aws-iam-user-key/group/aws" || found["VAULT_TOKEN"] != "vault-token/project/vault" {
		t.Errorf("credentials: %v", found)
	}
}

func TestReportUsageErrors(t *testing.T) {
	t.Parallel()
	gl := reportFixture(t)
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"no scope", reportEnv(gl), nil, "name one scope"},
		{"two scopes", reportEnv(gl), []string{"--group", "acme", "--instance"}, "name one scope"},
		{"no token", map[string]string{"GITLAB_TOKEN": ""}, []string{"--group", "acme"}, "set GITLAB_TOKEN"},
		{"bad shard", reportEnv(gl), []string{"--group", "acme", "--shard", "5/4"}, "write I/N"},
		{"shard markdown", reportEnv(gl), []string{"--group", "acme", "--shard", "1/2", "--format", "markdown"}, "partial JSON"},
		{"bad format", reportEnv(gl), []string{"--group", "acme", "--format", "pdf"}, "use one of"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			o := keyless(t, tc.env, append([]string{"report"}, tc.args...)...)
			if o.Code != ExitUsage || !strings.Contains(o.Stderr, tc.want) {
				t.Errorf("exit %d, want 2 with %q\n%s", o.Code, tc.want, o.Stderr)
			}
		})
	}
	// A wrong token is a failure, said plainly, without the token.
	o := keyless(t, map[string]string{"GITLAB_TOKEN": "glpat-wrongwrongwrongwrong", "KEYLESS_GITLAB_URL": gl.URL}, "report", "--group", "acme")
	if o.Code != ExitFailure || strings.Contains(o.Stderr, "glpat-wrong") {
		t.Errorf("a wrong token: exit %d\n%s", o.Code, o.Stderr)
	}
}

// Two shards merged give the whole report; the merged report is published
// as one issue, updated (not duplicated) on the next run.
func TestReportShardsMergeAndPublish(t *testing.T) {
	t.Parallel()
	gl := reportFixture(t)
	gl.AddProject("acme/web")
	gl.AddVariable("acme/web", gitlabtest.Variable{Key: "ARM_CLIENT_SECRET", Value: "Xy8Q~abcdefghijklmnopqrstuvwxyz0123456", EnvironmentScope: "*"})
	dir := t.TempDir()
	whole := filepath.Join(dir, "whole.json")
	if o := keyless(t, reportEnv(gl), "report", "--group", "acme", "--format", "json", "-o", whole); o.Code != 0 {
		t.Fatalf("whole: %d %s", o.Code, o.Stderr)
	}
	var parts []string
	for _, s := range []string{"1/2", "2/2"} {
		p := filepath.Join(dir, "part-"+s[:1]+".json")
		if o := keyless(t, reportEnv(gl), "report", "--group", "acme", "--shard", s, "-o", p); o.Code != 0 {
			t.Fatalf("shard %s: %d %s", s, o.Code, o.Stderr)
		}
		parts = append(parts, p)
	}
	merged := filepath.Join(dir, "merged.json")
	if o := keyless(t, reportEnv(gl), append([]string{"report", "merge", "--format", "json", "-o", merged}, parts...)...); o.Code != 0 {
		t.Fatalf("merge: %d %s", o.Code, o.Stderr)
	}
	keys := func(path string) string {
		var r struct {
			Credentials []struct{ ID string }
			Projects    []struct{ Path string }
		}
		b, _ := os.ReadFile(path)
		json.Unmarshal(b, &r)
		var ids []string
		for _, c := range r.Credentials {
			ids = append(ids, c.ID)
		}
		for _, p := range r.Projects {
			ids = append(ids, p.Path)
		}
		return strings.Join(ids, ",")
	}
	if keys(merged) != keys(whole) || keys(whole) == "" {
		t.Errorf("merged shards differ from the whole run:\nmerged %s\nwhole  %s", keys(merged), keys(whole))
	}
	if o := keyless(t, reportEnv(gl), "report", "merge", parts[0]); o.Code != ExitUsage {
		t.Errorf("merging one shard of two: exit %d\n%s", o.Code, o.Stderr)
	}

	gl.AddProject("acme/security")
	for i := 0; i < 2; i++ {
		o := keyless(t, reportEnv(gl), append([]string{"report", "merge", "--publish-issue", "acme/security", "-o", filepath.Join(dir, "r.md")}, parts...)...)
		if o.Code != 0 {
			t.Fatalf("publish: %d %s", o.Code, o.Stderr)
		}
	}
	issues := gl.Issues("acme/security")
	if len(issues) != 1 {
		t.Fatalf("%d issues, want one, updated", len(issues))
	}
	for _, f := range issues[0] {
		noSecrets(t, "the published issue", f, gl)
	}
}

// TestReportResumeRemovesPartial: once a resumed run has written its
// report, the partial report it continued is removed; it stays when the
// report was written over it (issue 16, item 5e).
func TestReportResumeRemovesPartial(t *testing.T) {
	t.Parallel()
	gl := reportFixture(t)
	dir := t.TempDir()
	partial := filepath.Join(dir, "keyless-report.partial.json")
	// A report of the same scope resumes as a partial one whose every
	// project was read.
	if o := keyless(t, reportEnv(gl), "report", "--group", "acme", "--format", "json", "-o", partial); o.Code != 0 {
		t.Fatalf("first run: %d %s", o.Code, o.Stderr)
	}
	out := filepath.Join(dir, "report.json")
	if o := keyless(t, reportEnv(gl), "report", "--group", "acme", "--format", "json", "--resume", partial, "-o", out); o.Code != 0 {
		t.Fatalf("resumed run: %d %s", o.Code, o.Stderr)
	}
	if _, err := os.Stat(out); err != nil {
		t.Fatalf("report not written: %v", err)
	}
	if _, err := os.Stat(partial); !os.IsNotExist(err) {
		t.Errorf("the partial report is still there after a successful --resume (%v)", err)
	}

	// Resumed into the same file: the report stays.
	if o := keyless(t, reportEnv(gl), "report", "--group", "acme", "--format", "json", "--resume", out, "-o", out); o.Code != 0 {
		t.Fatalf("resumed into itself: %d %s", o.Code, o.Stderr)
	}
	if _, err := os.Stat(out); err != nil {
		t.Errorf("the report written over the partial one was removed: %v", err)
	}
}
