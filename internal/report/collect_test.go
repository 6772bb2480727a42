package report

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"gitlab.com/keyless-ci/keyless/internal/gitlabapi"
	"gitlab.com/keyless-ci/keyless/internal/gitlabapi/gitlabtest"
	"gitlab.com/keyless-ci/keyless/internal/secret"
)

// fixed is the clock of every test run.
var fixed = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// synthetic returns n random characters of alphabet: test data shaped as
// credentials, never a real one. The generator is seeded per name, so a
// fixture is the same in every run.
func synthetic(name string, n int, alphabet string) string {
	var seed uint64
	for _, c := range name {
		seed = seed*31 + uint64(c)
	}
	r := rand.New(rand.NewPCG(seed, 7))
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[r.IntN(len(alphabet))]
	}
	return string(b)
}

const (
	upperDigits = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	b64         = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	b64url      = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"
)

// fixture is a GitLab instance on the fake and the random parts of every
// value planted in it (the canaries no output may hold).
type fixture struct {
	gl       *gitlabtest.Server
	canaries []string
}

func (f *fixture) plant(s string) string {
	f.canaries = append(f.canaries, s)
	return s
}

// newFixture builds acme, acme/platform and acme/apps: group AWS keys, a
// hidden group Azure secret scoped to production, a group GCP key JSON in
// an env_var variable, an ordinary DEPLOY_REGION, project VAULT_TOKEN and
// DOCKER_AUTH_CONFIG; projects whose pipelines use them explicitly,
// implicitly and per environment; one project whose variables answer 403,
// an archived one and one without a pipeline.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{gl: gitlabtest.New(t)}
	gl := f.gl
	gl.AddGroup("acme/platform")
	gl.AddGroup("acme/apps")
	gl.AddProject("acme/platform/infra")
	gl.AddProject("acme/apps/web")
	gl.AddProject("acme/apps/locked")
	gl.AddProject("acme/apps/old").Archived = true
	gl.AddProject("acme/apps/empty")

	gl.AddVariable("acme", gitlabtest.Variable{Key: "AWS_ACCESS_KEY_ID", Value: "AKIA" + f.plant(synthetic("key-id", 16, upperDigits))})
	gl.AddVariable("acme", gitlabtest.Variable{Key: "AWS_SECRET_ACCESS_KEY", Value: f.plant(synthetic("secret-key", 40, b64)), Masked: true})
	gl.AddVariable("acme", gitlabtest.Variable{Key: "DEPLOY_REGION", Value: "eu-west-1"})
	gl.AddVariable("acme/apps", gitlabtest.Variable{Key: "AZURE_CLIENT_SECRET", Value: "Qx8Q~" + f.plant(synthetic("azure", 35, b64url)),
		Masked: true, Hidden: true, Protected: true, EnvironmentScope: "production"})
	var pem strings.Builder
	body := f.plant(synthetic("gcp-key", 640, b64))
	for i := 0; i < len(body); i += 64 {
		pem.WriteString(body[i:i+64] + `\n`)
	}
	gcpKey := `{"type": "service_account", "project_id": "synthetic-proj", "private_key_id": "` + f.plant(synthetic("gcp-key-id", 40, "0123456789abcdef")) +
		`", "private_key": "-----BEGIN PRIVATE KEY-----\n` + pem.String() + `-----END PRIVATE KEY-----\n", "client_email": "ci@synthetic-proj.iam.gserviceaccount.com"}`
	gl.AddVariable("acme/platform", gitlabtest.Variable{Key: "GCP_SA_KEY", Value: gcpKey, Protected: true})
	gl.AddVariable("acme/apps/web", gitlabtest.Variable{Key: "VAULT_TOKEN", Value: "hvs." + f.plant(synthetic("vault", 90, b64url)), Protected: true, Masked: true})
	auth := base64.StdEncoding.EncodeToString([]byte("deploybot:" + f.plant(synthetic("registry", 24, b64url))))
	gl.AddVariable("acme/apps/web", gitlabtest.Variable{Key: "DOCKER_AUTH_CONFIG", Value: `{"auths":{"registry.acme.io":{"auth":"` + f.plant(auth) + `"}}}`})
	gl.AddVariable("acme/apps/old", gitlabtest.Variable{Key: "GITLAB_TOKEN", Value: "glpat-" + f.plant(synthetic("glpat", 20, b64url))})
	gl.AddVariable("acme/apps/locked", gitlabtest.Variable{Key: "AWS_SECRET_ACCESS_KEY", Value: f.plant(synthetic("locked", 40, b64))})
	gl.Forbid("projects/acme/apps/locked/variables")

	gl.AddFile("acme/platform/infra", "main", ".gitlab-ci.yml", `include:
  - local: ci/deploy.yml
stages: [build, deploy]
upload:
  stage: build
  script:
    - echo "${AWS_SECRET_ACCESS_KEY}" | wc -c
gcp:
  stage: deploy
  script:
    - echo "$GCP_SA_KEY" > key.json
    - gcloud auth activate-service-account --key-file key.json
lint:
  script: [make lint]
`)
	gl.AddFile("acme/platform/infra", "main", "ci/deploy.yml", `deploy:
  stage: deploy
  environment: production
  script:
    - aws s3 ls s3://site
`)
	gl.AddFile("acme/apps/web", "main", ".gitlab-ci.yml", `build:
  image: registry.acme.io/team/builder:1
  script: [make]
review:
  environment:
    name: review/$CI_COMMIT_REF_SLUG
  script:
    - az login --service-principal -u "$AZURE_CLIENT_ID" -p "$AZURE_CLIENT_SECRET" --tenant "$AZURE_TENANT_ID"
deploy-prod:
  environment: production
  script:
    - az login --service-principal -u "$AZURE_CLIENT_ID" -p "$AZURE_CLIENT_SECRET" --tenant "$AZURE_TENANT_ID"
secrets:
  script:
    - vault kv get -field=password secret/ci/db
.hidden:
  script: [echo $AWS_SECRET_ACCESS_KEY]
`)
	gl.AddFile("acme/apps/locked", "main", ".gitlab-ci.yml", "sync:\n  script:\n    - aws s3 sync . s3://x\n")
	gl.AddFile("acme/apps/old", "main", ".gitlab-ci.yml", "old:\n  script:\n    - aws s3 ls\n")
	return f
}

func (f *fixture) api(t *testing.T) gitlabapi.API {
	t.Helper()
	api, err := gitlabapi.New(gitlabapi.Options{BaseURL: f.gl.URL, Token: secret.New(f.gl.Token), RequestsPerSecond: 1000, Burst: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return api
}

func (f *fixture) options(t *testing.T, scope Scope) Options {
	api := f.api(t)
	return Options{
		API:         api,
		Fetcher:     gitlabapi.NewFetcher(t.Context(), api, nil),
		Scope:       scope,
		Now:         func() time.Time { return fixed },
		GitLabURL:   "https://gitlab.example.com",
		ToolVersion: "1.2.3",
	}
}

var acme = Scope{Kind: "group", Paths: []string{"acme"}}

func credByKey(t *testing.T, r *Report, key string) *Credential {
	t.Helper()
	for i := range r.Credentials {
		if r.Credentials[i].Key == key {
			return &r.Credentials[i]
		}
	}
	t.Fatalf("no credential %s in the report", key)
	return nil
}

func usageText(c *Credential) []string {
	var out []string
	for _, u := range c.Usage {
		out = append(out, u.Project+" "+u.Job+" "+u.File+":"+itoa(u.Line)+" "+u.How)
	}
	return out
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func TestCollectGroup(t *testing.T) {
	f := newFixture(t)
	rep, err := Collect(t.Context(), f.options(t, acme))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, c := range rep.Credentials {
		got[c.ID] = c.Kind + " " + c.Confidence + " " + strings.Join(c.Exposure, ",")
	}
	want := map[string]string{
		"group:acme:AWS_ACCESS_KEY_ID:*":                 "aws-iam-user-key high unprotected,unmasked,not-hidden,all-environments,group-level",
		"group:acme:AWS_SECRET_ACCESS_KEY:*":             "aws-iam-user-key high unprotected,not-hidden,all-environments,group-level",
		"group:acme/apps:AZURE_CLIENT_SECRET:production": "azure-client-secret high group-level",
		"group:acme/platform:GCP_SA_KEY:*":               "gcp-service-account-key high unmasked,not-hidden,all-environments,group-level,env-var-key-file",
		"project:acme/apps/web:VAULT_TOKEN:*":            "vault-token high not-hidden,all-environments",
		"project:acme/apps/web:DOCKER_AUTH_CONFIG:*":     "registry-password high unprotected,unmasked,not-hidden,all-environments",
		"project:acme/apps/old:GITLAB_TOKEN:*":           "gitlab-token high unprotected,unmasked,not-hidden,all-environments",
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("credentials (-want +got):\n%s", d)
	}

	for key, want := range map[string][]string{
		"AWS_SECRET_ACCESS_KEY": {
			"acme/apps/locked sync .gitlab-ci.yml:1 runs aws (reads AWS_* from the environment)",
			"acme/platform/infra deploy ci/deploy.yml:1 runs aws (reads AWS_* from the environment)",
			"acme/platform/infra upload .gitlab-ci.yml:4 references $AWS_SECRET_ACCESS_KEY",
		},
		"AWS_ACCESS_KEY_ID": {
			"acme/apps/locked sync .gitlab-ci.yml:1 runs aws (reads AWS_* from the environment)",
			"acme/platform/infra deploy ci/deploy.yml:1 runs aws (reads AWS_* from the environment)",
		},
		"AZURE_CLIENT_SECRET": {"acme/apps/web deploy-prod .gitlab-ci.yml:9 references $AZURE_CLIENT_SECRET"},
		"GCP_SA_KEY":          {"acme/platform/infra gcp .gitlab-ci.yml:8 references $GCP_SA_KEY"},
		"VAULT_TOKEN":         {"acme/apps/web secrets .gitlab-ci.yml:13 runs vault (reads VAULT_TOKEN from the environment)"},
		"DOCKER_AUTH_CONFIG":  {"acme/apps/web build .gitlab-ci.yml:1 pulls its image or services (the runner reads DOCKER_AUTH_CONFIG)"},
		"GITLAB_TOKEN":        nil,
	} {
		if d := cmp.Diff(want, usageText(credByKey(t, rep, key))); d != "" {
			t.Errorf("usage of %s (-want +got):\n%s", key, d)
		}
	}

	for key, want := range map[string][]string{
		"AWS_SECRET_ACCESS_KEY": {"aws", "keyless/aws@1.2.3", "role_arn: arn:aws:iam::ACCOUNT_ID:role/ROLE", "upload:\n  extends: .keyless-aws",
			`"gitlab.example.com:sub": [`, `"project_path:acme/platform/infra:ref_type:branch:ref:main"`, `"gitlab.example.com:aud": "sts.amazonaws.com"`,
			"oidc-provider/gitlab.example.com", "get-access-key-last-used"},
		"AZURE_CLIENT_SECRET": {"azure", `"issuer": "https://gitlab.example.com"`, `"subject": "project_path:acme/apps/web:ref_type:branch:ref:main"`, "api://AzureADTokenExchange"},
		"GCP_SA_KEY":          {"gcp", "--issuer-uri=https://gitlab.example.com", "assertion.project_path == 'acme/platform/infra'"},
		"VAULT_TOKEN":         {"vault", "bound_issuer=https://gitlab.example.com", `"project_path": "acme/apps/web"`, `"ref_protected": "true"`},
		"GITLAB_TOKEN":        {"", "CI_JOB_TOKEN"},
		"DOCKER_AUTH_CONFIG":  {"", "dependency proxy", "deploy token"},
	} {
		c := credByKey(t, rep, key)
		if c.Replacement.Component != want[0] {
			t.Errorf("%s: component %q, want %q", key, c.Replacement.Component, want[0])
		}
		text := c.Replacement.Include + "\n" + c.Replacement.Trust + "\n" + strings.Join(c.Replacement.Steps, "\n")
		for _, s := range want[1:] {
			if !strings.Contains(text, s) {
				t.Errorf("%s: the replacement lacks %q:\n%s", key, s, text)
			}
		}
	}

	projects := map[string]string{}
	for _, p := range rep.Projects {
		projects[p.Path] = p.Status + " " + itoa(p.Jobs) + " " + p.CIConfigPath
	}
	if d := cmp.Diff(map[string]string{
		"acme/apps/empty":     "ok 0 ",
		"acme/apps/locked":    "forbidden 1 .gitlab-ci.yml",
		"acme/apps/old":       "ok 0 ",
		"acme/apps/web":       "ok 4 .gitlab-ci.yml",
		"acme/platform/infra": "ok 4 .gitlab-ci.yml",
	}, projects); d != "" {
		t.Errorf("projects (-want +got):\n%s", d)
	}
	for _, p := range rep.Projects {
		if p.Path == "acme/apps/locked" && !strings.Contains(p.Error, "403") {
			t.Errorf("the 403 is not said: %q", p.Error)
		}
		if p.Path == "acme/apps/old" && !p.Archived {
			t.Error("the archived project is not marked")
		}
	}
	s := rep.Summary
	if s.Projects != 5 || s.ProjectsFailed != 1 || s.Credentials != 7 ||
		s.ByLevel["group"] != 4 || s.ByLevel["project"] != 3 || s.ByKind[KindAWS] != 2 || s.ByExposure[ExposureKeyFile] != 1 {
		t.Errorf("summary: %+v", s)
	}
	if len(rep.Errors) != 0 {
		t.Errorf("errors: %+v", rep.Errors)
	}
	if rep.Scope.Kind != "group" || rep.Tool.Version != "1.2.3" || !rep.GeneratedAt.Equal(fixed) || rep.Shard != nil {
		t.Errorf("report header: %+v %+v %v", rep.Scope, rep.Tool, rep.GeneratedAt)
	}
}

// No value, nor any part of one,
// reaches the report, an error or the debug log.
func TestCollectCanary(t *testing.T) {
	f := newFixture(t)
	var logs bytes.Buffer
	o := f.options(t, acme)
	o.Log = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	rep, err := Collect(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var errs []string
	// Errors too: a run cut short, and one whose token is refused.
	ctx, cancel := context.WithCancel(t.Context())
	o.Progress = func(done, total int) { cancel() }
	if _, err := Collect(ctx, o); err != nil {
		errs = append(errs, err.Error())
	} else {
		t.Error("a cancelled run returned no error")
	}
	bad, _ := gitlabapi.New(gitlabapi.Options{BaseURL: f.gl.URL, Token: secret.New("glpat-" + f.plant(synthetic("wrong", 20, b64url)))})
	o.API, o.Progress = bad, nil
	if rep, err := Collect(t.Context(), o); err == nil || rep != nil {
		t.Errorf("a refused token: %v, %v", rep, err)
	} else {
		errs = append(errs, err.Error())
	}
	if logs.Len() == 0 || !strings.Contains(logs.String(), "acme/apps/web") {
		t.Errorf("the debug log names no project:\n%s", logs.String())
	}
	for what, s := range map[string]string{"the JSON report": string(b), "the errors": strings.Join(errs, "\n"), "the debug log": logs.String()} {
		for _, c := range append(f.canaries, f.gl.Token) {
			for i := 0; i+8 <= len(c); i += 4 {
				if strings.Contains(s, c[i:i+8]) {
					t.Errorf("%s holds part of a value (…%s…)", what, c[i:i+2])
					break
				}
			}
		}
	}
}

// Per-project failures are recorded, not fatal; a scope that cannot be
// read at all is.
// The reports of the fixture instance, read from the fake through
// client-go, in every text format: what a security team reads, pinned.
// None holds any part of a planted value.
func TestCollectGolden(t *testing.T) {
	f := newFixture(t)
	rep, err := Collect(t.Context(), f.options(t, acme))
	if err != nil {
		t.Fatal(err)
	}
	for _, format := range []string{"markdown", "json", "csv"} {
		t.Run(format, func(t *testing.T) {
			// The fake's port changes from run to run.
			got := strings.ReplaceAll(renderString(t, format, rep), f.gl.URL, "https://gitlab.example.com")
			checkGolden(t, filepath.Join("testdata", "collect", "acme."+renderExt[format]), got)
			for _, c := range f.canaries {
				for i := 0; i+8 <= len(c); i += 4 {
					if strings.Contains(got, c[i:i+8]) {
						t.Fatalf("the %s report holds part of a value (…%s…)", format, c[i:i+2])
					}
				}
			}
		})
	}
}

func TestCollectScopes(t *testing.T) {
	f := newFixture(t)
	o := f.options(t, Scope{Kind: "project", Paths: []string{"acme/apps/web", "acme/nope"}})
	rep, err := Collect(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	var st []string
	for _, p := range rep.Projects {
		st = append(st, p.Path+" "+p.Status)
	}
	if d := cmp.Diff([]string{"acme/apps/web ok", "acme/nope not-found"}, st); d != "" {
		t.Errorf("projects (-want +got):\n%s", d)
	}
	// The project inherits acme's and acme/apps's variables.
	credByKey(t, rep, "AWS_SECRET_ACCESS_KEY")
	if c := credByKey(t, rep, "AZURE_CLIENT_SECRET"); len(c.Usage) != 1 {
		t.Errorf("AZURE_CLIENT_SECRET usage: %v", usageText(c))
	}
	if rep.Summary.ProjectsFailed != 1 {
		t.Errorf("summary: %+v", rep.Summary)
	}

	o.Scope = Scope{Kind: "project", Paths: []string{"acme/nope"}}
	if rep, err := Collect(t.Context(), o); err == nil || rep != nil || !errors.Is(err, gitlabapi.ErrNotFound) {
		t.Errorf("only a missing project: %v, %v", rep, err)
	}
	o.Scope = Scope{Kind: "group", Paths: []string{"nope"}}
	if rep, err := Collect(t.Context(), o); err == nil || rep != nil || !errors.Is(err, gitlabapi.ErrNotFound) {
		t.Errorf("a missing group: %v, %v", rep, err)
	}

	// Instance: without an administrator the instance variables are an
	// error of the report, not of the run.
	f.gl.AddVariable("", gitlabtest.Variable{Key: "DOCKERHUB_TOKEN", Value: "dckr_pat_" + f.plant(synthetic("hub", 27, b64url))})
	o.Scope = Scope{Kind: "instance", Paths: []string{}}
	rep, err = Collect(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Errors) != 1 || rep.Errors[0].Status != "forbidden" || !strings.Contains(rep.Errors[0].Error, "administrator") {
		t.Errorf("errors: %+v", rep.Errors)
	}
	if rep.Summary.Projects != 5 || rep.Summary.Credentials != 7 {
		t.Errorf("instance summary: %+v", rep.Summary)
	}
	f.gl.Admin = true
	rep, err = Collect(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	c := credByKey(t, rep, "DOCKERHUB_TOKEN")
	if c.ID != "instance::DOCKERHUB_TOKEN:*" || c.Kind != KindRegistry || !strings.Contains(strings.Join(c.Exposure, ","), ExposureInstance) || len(rep.Errors) != 0 {
		t.Errorf("instance credential: %+v, errors %+v", c, rep.Errors)
	}
}

// Groups without projects of their own are read (issue 16): an archive
// group and a subgroup, both holding credentials, and a parent whose
// projects all live in subgroups. The summary counts the groups, the
// subgroups and the projects read.
func TestCollectGroupsWithoutProjects(t *testing.T) {
	f := newFixture(t)
	f.gl.AddGroup("acme-archive")
	f.gl.AddVariable("acme-archive", gitlabtest.Variable{Key: "AWS_SECRET_ACCESS_KEY", Value: f.plant(synthetic("archive", 40, b64))})
	f.gl.AddGroup("acme/archive")
	f.gl.AddVariable("acme/archive", gitlabtest.Variable{Key: "GITLAB_TOKEN", Value: "glpat-" + f.plant(synthetic("sub-archive", 20, b64url))})
	f.gl.AddProject("holding/team/svc")
	f.gl.AddVariable("holding", gitlabtest.Variable{Key: "VAULT_TOKEN", Value: "hvs." + f.plant(synthetic("holding", 90, b64url))})
	f.gl.Admin = true

	type counts struct{ Groups, Subgroups, Projects int }
	for _, tc := range []struct {
		scope Scope
		want  []string // credential IDs of the project-less groups
		n     counts
	}{
		{Scope{Kind: "instance", Paths: []string{}},
			[]string{"group:acme-archive:AWS_SECRET_ACCESS_KEY:*", "group:acme/archive:GITLAB_TOKEN:*", "group:holding:VAULT_TOKEN:*"},
			counts{3, 4, 6}}, // acme, acme-archive, holding; acme/{apps,archive,platform}, holding/team
		{acme, []string{"group:acme/archive:GITLAB_TOKEN:*"}, counts{1, 3, 5}},
	} {
		rep, err := Collect(t.Context(), f.options(t, tc.scope))
		if err != nil {
			t.Fatal(err)
		}
		ids := map[string]bool{}
		for _, c := range rep.Credentials {
			ids[c.ID] = true
		}
		for _, id := range tc.want {
			if !ids[id] {
				t.Errorf("%s: no credential %s in %v", scopeString(tc.scope), id, ids)
			}
		}
		got := counts{rep.Summary.Groups, rep.Summary.Subgroups, rep.Summary.Projects}
		if got != tc.n || len(rep.Errors) != 0 {
			t.Errorf("%s: summary %+v, want %+v; errors %+v", scopeString(tc.scope), got, tc.n, rep.Errors)
		}
	}
}

func reportJSON(t *testing.T, r *Report) string {
	t.Helper()
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Three shards merged are the whole run.
func TestCollectShardsMerge(t *testing.T) {
	f := newFixture(t)
	whole, err := Collect(t.Context(), f.options(t, acme))
	if err != nil {
		t.Fatal(err)
	}
	var parts []*Report
	seen := map[string]int{}
	for i := 1; i <= 3; i++ {
		o := f.options(t, acme)
		o.Shard = &Shard{Index: i, Total: 3}
		p, err := Collect(t.Context(), o)
		if err != nil {
			t.Fatal(err)
		}
		if *p.Shard != *o.Shard {
			t.Errorf("shard %d written as %+v", i, p.Shard)
		}
		for _, pr := range p.Projects {
			seen[pr.Path]++
		}
		parts = append(parts, p)
	}
	for path, n := range seen {
		if n != 1 {
			t.Errorf("%s is in %d shards", path, n)
		}
	}
	// The order of the parts does not matter.
	merged, err := Merge(parts[2], parts[0], parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var sum Requests
	for _, p := range parts {
		sum.Sent += p.Summary.Requests.Sent
	}
	if merged.Summary.Requests == nil || merged.Summary.Requests.Sent != sum.Sent || sum.Sent == 0 {
		t.Errorf("merged api_requests %+v, want the shards' sum %+v", merged.Summary.Requests, sum)
	}
	// The shards send more requests than the whole run: each lists the
	// projects itself.
	if d := cmp.Diff(reportJSON(t, withoutRequests(whole)), reportJSON(t, withoutRequests(merged))); d != "" {
		t.Errorf("merged shards differ from the whole run (-whole +merged):\n%s", d)
	}

	for _, tc := range []struct {
		parts []*Report
		want  string
	}{
		{nil, "no partial reports"},
		{parts[:2], "shard 3/3 missing"},
		{[]*Report{parts[0], parts[1], parts[1], parts[2]}, "given twice"},
		{[]*Report{whole}, "whole report"},
		{[]*Report{parts[0], {Version: Version, Tool: parts[0].Tool, GitLabURL: parts[0].GitLabURL, Scope: Scope{Kind: "group", Paths: []string{"other"}}, Shard: &Shard{2, 3}}}, "merge the shards of one run"},
		{[]*Report{parts[0], {Version: Version, Tool: Tool{"keyless", "9.9.9"}, GitLabURL: parts[0].GitLabURL, Scope: acme, Shard: &Shard{2, 3}}}, "same keyless"},
		{[]*Report{parts[0], {Version: Version, Tool: parts[0].Tool, GitLabURL: parts[0].GitLabURL, Scope: acme, Shard: &Shard{2, 4}}}, "one of 3 shards"},
	} {
		if _, err := Merge(tc.parts...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Merge of %d parts: %v, want %q", len(tc.parts), err, tc.want)
		}
	}
}

// projectReads counts the requests that read a project's variables or
// files, by project path.
func projectReads(reqs []gitlabtest.Request) map[string]int {
	out := map[string]int{}
	for _, r := range reqs {
		rest, ok := strings.CutPrefix(r.Path, "/api/v4/projects/")
		if !ok {
			continue
		}
		id, tail, _ := strings.Cut(rest, "/")
		if strings.HasPrefix(tail, "variables") || strings.HasPrefix(tail, "repository/files") {
			p := strings.ReplaceAll(id, "%2F", "/")
			out[p]++
		}
	}
	return out
}

// A run cancelled after two projects returns what it read with the
// cancellation; resumed, it reads only the rest and gives the whole run.
func TestCollectResume(t *testing.T) {
	f := newFixture(t)
	whole, err := Collect(t.Context(), f.options(t, acme))
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	o := f.options(t, acme)
	o.Concurrency = 1
	var calls [][2]int
	o.Progress = func(done, total int) {
		calls = append(calls, [2]int{done, total})
		if done == 2 {
			cancel()
		}
	}
	partial, err := Collect(ctx, o)
	if !errors.Is(err, context.Canceled) || partial == nil {
		t.Fatalf("cancelled run: %v, %v", partial, err)
	}
	if len(partial.Projects) != 2 || partial.Summary.Projects != 2 {
		t.Fatalf("partial report: %d projects", len(partial.Projects))
	}
	if d := cmp.Diff([][2]int{{1, 5}, {2, 5}}, calls); d != "" {
		t.Errorf("progress (-want +got):\n%s", d)
	}
	// The partial report goes through JSON, as the CLI saves it.
	var saved Report
	if err := json.Unmarshal([]byte(reportJSON(t, partial)), &saved); err != nil {
		t.Fatal(err)
	}

	before := len(f.gl.Requests())
	o = f.options(t, acme)
	o.Resume = &saved
	calls = nil
	o.Progress = func(done, total int) { calls = append(calls, [2]int{done, total}) }
	resumed, err := Collect(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(reportJSON(t, withoutRequests(whole)), reportJSON(t, withoutRequests(resumed))); d != "" {
		t.Errorf("the resumed run differs from the whole run (-whole +resumed):\n%s", d)
	}
	reads := projectReads(f.gl.Requests()[before:])
	for _, p := range saved.Projects {
		if reads[p.Path] != 0 {
			t.Errorf("%s was read again on resume (%d requests)", p.Path, reads[p.Path])
		}
	}
	if len(reads) != 3 {
		t.Errorf("resume read %v, want the 3 projects left", reads)
	}
	if len(calls) == 0 || calls[0] != [2]int{2, 5} || calls[len(calls)-1] != [2]int{5, 5} {
		t.Errorf("progress on resume: %v", calls)
	}

	// A saved report of another scope is refused.
	o.Scope = Scope{Kind: "group", Paths: []string{"acme/apps"}}
	if _, err := Collect(t.Context(), o); err == nil || !strings.Contains(err.Error(), "resume") {
		t.Errorf("resume of another scope: %v", err)
	}
}

// withoutRequests is r without the run's request counts, which differ
// between runs that read the same.
func withoutRequests(r *Report) *Report {
	c := *r
	c.Summary.Requests = nil
	return &c
}

// A ci_config_path in another project ("ci/shared.yml@acme/ci") is read
// once per run, with the files it includes locally, however many
// projects name it, and read by many workers at once.
// https://docs.gitlab.com/ci/pipelines/settings/#specify-a-custom-cicd-configuration-file
func TestCollectSharedCIConfigReadOnce(t *testing.T) {
	gl := gitlabtest.New(t)
	gl.AddProject("acme/ci")
	gl.AddFile("acme/ci", "main", "ci/shared.yml", "include:\n  - local: ci/common.yml\nbuild:\n  script:\n    - make\n")
	gl.AddFile("acme/ci", "main", "ci/common.yml", "test:\n  script:\n    - make test\n")
	const projects = 24
	for i := range projects {
		gl.AddProject("acme/apps/p" + itoa(i)).CIConfigPath = "ci/shared.yml@acme/ci"
	}
	f := &fixture{gl: gl}
	o := f.options(t, acme)
	o.Concurrency = 8
	rep, err := Collect(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	jobs := 0
	for _, p := range rep.Projects {
		jobs += p.Jobs
	}
	if jobs != 2*projects {
		t.Errorf("%d jobs in the report, want %d (2 per project)", jobs, 2*projects)
	}
	reads := map[string]int{}
	for _, r := range gl.Requests() {
		if strings.Contains(r.Path, "/repository/files/") {
			reads[r.Path+" "+r.Query.Get("ref")]++
		}
	}
	want := map[string]int{
		"/api/v4/projects/acme%2Fci/repository/files/ci%2Fshared%2Eyml/raw ":      1,
		"/api/v4/projects/acme%2Fci/repository/files/ci%2Fcommon%2Eyml/raw ":      1,
		"/api/v4/projects/acme%2Fci/repository/files/%2Egitlab-ci%2Eyml/raw main": 1, // acme/ci's own
	}
	if d := cmp.Diff(want, reads); d != "" {
		t.Errorf("file reads (-want +got):\n%s", d)
	}
}
