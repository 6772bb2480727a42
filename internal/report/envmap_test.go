package report

import (
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"gitlab.com/keyless-ci/keyless/internal/gitlabapi/gitlabtest"
)

// newPairsFixture is issue 16's project: an AWS key pair stored under
// names of its own and passed to the AWS CLI inline, beside the group's
// AWS_* keys; and a project without a CI/CD configuration.
func newPairsFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{gl: gitlabtest.New(t)}
	gl := f.gl
	gl.AddGroup("acme")
	gl.AddProject("acme/site")
	gl.AddProject("acme/bare")
	gl.AddVariable("acme", gitlabtest.Variable{Key: "AWS_ACCESS_KEY_ID", Value: "AKIA" + f.plant(synthetic("group-id", 16, upperDigits))})
	gl.AddVariable("acme", gitlabtest.Variable{Key: "AWS_SECRET_ACCESS_KEY", Value: f.plant(synthetic("group-secret", 40, b64)), Masked: true})
	gl.AddVariable("acme/site", gitlabtest.Variable{Key: "S3_UPLOAD_KEY", Value: "AKIA" + f.plant(synthetic("s3-id", 16, upperDigits)), Masked: true})
	gl.AddVariable("acme/site", gitlabtest.Variable{Key: "S3_UPLOAD_SECRET", Value: f.plant(synthetic("s3-secret", 40, b64)), Masked: true})
	gl.AddVariable("acme/bare", gitlabtest.Variable{Key: "AWS_SECRET_ACCESS_KEY", Value: f.plant(synthetic("bare", 40, b64))})
	gl.AddFile("acme/site", "main", ".gitlab-ci.yml", `upload:
  script:
    - AWS_ACCESS_KEY_ID="$S3_UPLOAD_KEY" AWS_SECRET_ACCESS_KEY="$S3_UPLOAD_SECRET" aws s3 cp dist s3://site --recursive
exported:
  script:
    - export AWS_ACCESS_KEY_ID=$S3_UPLOAD_KEY AWS_SECRET_ACCESS_KEY=$S3_UPLOAD_SECRET
    - aws s3 sync dist s3://site
deploy:
  script:
    - aws cloudformation deploy --stack-name site
`)
	return f
}

// TestCollectPairByUse: a key pair stored under its own names is known by
// how the jobs pass it to the AWS CLI, and replaced by the aws component
// (issue 16, item 3).
func TestCollectPairByUse(t *testing.T) {
	f := newPairsFixture(t)
	rep, err := Collect(t.Context(), f.options(t, Scope{Kind: "group", Paths: []string{"acme"}}))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ key, env, pair string }{
		{"S3_UPLOAD_KEY", "AWS_ACCESS_KEY_ID", "S3_UPLOAD_SECRET as AWS_SECRET_ACCESS_KEY"},
		{"S3_UPLOAD_SECRET", "AWS_SECRET_ACCESS_KEY", "S3_UPLOAD_KEY as AWS_ACCESS_KEY_ID"},
	} {
		c := credByKey(t, rep, tc.key)
		if c.Kind != KindAWS || c.Replacement.Component != "aws" {
			t.Errorf("%s: kind %s, component %q (%s), want %s replaced by aws", tc.key, c.Kind, c.Replacement.Component, c.Evidence, KindAWS)
		}
		if !strings.Contains(c.Evidence, "passes it as "+tc.env) || !strings.Contains(c.Evidence, tc.pair) {
			t.Errorf("%s: evidence %q, want it passed as %s with %s", tc.key, c.Evidence, tc.env, tc.pair)
		}
		want := []string{
			"acme/site exported .gitlab-ci.yml:4 sets " + tc.env + " from $" + tc.key,
			"acme/site upload .gitlab-ci.yml:1 sets " + tc.env + " from $" + tc.key,
		}
		if d := cmp.Diff(want, usageText(c)); d != "" {
			t.Errorf("%s usage (-want +got):\n%s", tc.key, d)
		}
		if !strings.Contains(c.Replacement.Include, "upload:\n  extends: .keyless-aws") {
			t.Errorf("%s: include %q does not extend upload", tc.key, c.Replacement.Include)
		}
	}
	for _, f := range []string{"S3_UPLOAD_KEY", "S3_UPLOAD_SECRET"} {
		for _, u := range credByKey(t, rep, f).Usage {
			if u.Env == "" {
				t.Errorf("%s: usage %+v has no env", f, u)
			}
		}
	}
}

// TestCollectInlineNotUser: a job that sets AWS_* for its commands from
// other variables does not read the group's AWS_* variables (issue 16,
// item 5a).
func TestCollectInlineNotUser(t *testing.T) {
	f := newPairsFixture(t)
	rep, err := Collect(t.Context(), f.options(t, Scope{Kind: "group", Paths: []string{"acme"}}))
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} {
		var got []string
		for _, c := range rep.Credentials {
			if c.Key == key && c.Level == levelGroup {
				got = usageText(&c)
			}
		}
		want := []string{"acme/site deploy .gitlab-ci.yml:8 runs aws (reads AWS_* from the environment)"}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("group %s usage (-want +got):\n%s", key, d)
		}
	}
}

// TestCollectNoCIConfig: a project without a CI/CD configuration is
// marked so, and its credentials' replacement does not ask to add an
// include to a pipeline it does not have (issue 16, item 5b).
func TestCollectNoCIConfig(t *testing.T) {
	f := newPairsFixture(t)
	rep, err := Collect(t.Context(), f.options(t, Scope{Kind: "group", Paths: []string{"acme"}}))
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(rep.Projects, func(p Project) bool { return p.Path == "acme/bare" })
	if i < 0 || !rep.Projects[i].NoCIConfig {
		t.Fatalf("acme/bare: %+v, want no_ci_configuration", rep.Projects)
	}
	if j := slices.IndexFunc(rep.Projects, func(p Project) bool { return p.Path == "acme/site" }); j < 0 || rep.Projects[j].NoCIConfig {
		t.Errorf("acme/site has a CI/CD configuration: %+v", rep.Projects)
	}
	for _, c := range rep.Credentials {
		if c.Owner != "acme/bare" {
			continue
		}
		steps := strings.Join(c.Replacement.Steps, "\n")
		if strings.Contains(steps, "to the pipeline of") || !strings.Contains(steps, "acme/bare has no CI/CD configuration") {
			t.Errorf("%s steps:\n%s", c.Key, steps)
		}
	}
}

// TestCollectIncludeFetchedOnce: a file of another project that every
// project includes is read once per run, however the includes spell it
// and however many projects are read at once (issue 16, item 5d).
func TestCollectIncludeFetchedOnce(t *testing.T) {
	f := &fixture{gl: gitlabtest.New(t)}
	gl := f.gl
	gl.AddGroup("acme")
	gl.AddProject("acme/ci")
	gl.AddFile("acme/ci", "main", "templates/deploy.yml", "deploy:\n  script: [aws s3 ls]\n")
	spellings := []string{
		"project: acme/ci\n    file: /templates/deploy.yml",
		"project: acme/ci\n    file: templates/deploy.yml",
		"project: acme/ci\n    ref: main\n    file: /templates/deploy.yml",
		"project: acme/ci\n    ref: main\n    file: templates/deploy.yml",
	}
	for i := range 12 {
		p := "acme/app" + itoa(i)
		gl.AddProject(p)
		gl.AddFile(p, "main", ".gitlab-ci.yml", "include:\n  - "+spellings[i%len(spellings)]+"\n")
	}
	o := f.options(t, Scope{Kind: "group", Paths: []string{"acme"}})
	o.Concurrency = 8
	rep, err := Collect(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range rep.Projects {
		if p.Path != "acme/ci" && p.Jobs != 1 {
			t.Errorf("%s: %d jobs, want the included deploy", p.Path, p.Jobs)
		}
	}
	reads := 0
	for _, r := range gl.Requests() {
		if strings.HasPrefix(r.Path, "/api/v4/projects/acme%2Fci/repository/files/templates") {
			reads++
		}
	}
	if reads != 1 {
		t.Errorf("templates/deploy.yml of acme/ci read %d times, want once per run", reads)
	}
}
