package report

import (
	"testing"

	"gitlab.com/keyless-ci/keyless/internal/pipeline"
)

func TestEnvScopeMatches(t *testing.T) {
	for _, tc := range []struct {
		scope, env string
		want       bool
	}{
		{"*", "", true},
		{"production", "", false},
		{"production", "production", true},
		{"production", "staging", false},
		{"review/*", "review/feature-1", true},
		{"review/*", "review", false},
		{"*/eu", "prod/eu", true},
		{"prod*eu*", "prod-west-eu-1", true},
		{"review/*", "review/$CI_COMMIT_REF_SLUG", true},
		{"production", "review/$CI_COMMIT_REF_SLUG", false},
		{"production", "$DEPLOY_ENV", true},
	} {
		if got := envScopeMatches(tc.scope, tc.env); got != tc.want {
			t.Errorf("envScopeMatches(%q, %q) = %v", tc.scope, tc.env, got)
		}
	}
}

// A stored TF_VAR_ variable is used by the jobs that run terraform, and a
// program's use of stored keys counts only in a job that names the cloud
// (pipeline.EnvReaders, as lint's stored rules read it).
func TestJobUseTable(t *testing.T) {
	src := `plan:
  script: [terraform plan]
fmt:
  script: [terraform fmt -check]
sdk:
  variables: {AWS_REGION: eu-west-1}
  script: [python deploy.py]
tests:
  script: [python -m pytest]
`
	views := jobViews(pipeline.Parse("", ".gitlab-ci.yml", []byte(src), pipeline.Options{}))
	for _, tc := range []struct{ job, key, want string }{
		{"plan", "TF_VAR_login_approle_secret_id", "runs terraform (reads TF_VAR_* from the environment)"},
		{"plan", "ARM_CLIENT_SECRET", "runs terraform (reads ARM_* from the environment)"},
		{"fmt", "TF_VAR_login_approle_secret_id", ""},
		{"sdk", "AWS_SECRET_ACCESS_KEY", "runs python (reads AWS_* from the environment)"},
		{"tests", "AWS_SECRET_ACCESS_KEY", ""},
	} {
		for i := range views {
			if v := &views[i]; v.Job.Name == tc.job {
				if got, _ := jobUse(v, tc.key); got != tc.want {
					t.Errorf("jobUse(%s, %s) = %q, want %q", tc.job, tc.key, got, tc.want)
				}
			}
		}
	}
}

// A stored key used only by a job of a child pipeline (trigger:include) is
// used: the report reads every pipeline a push runs, as lint does (issue
// 15), and names the child. The fixture is lint's child-pipeline case.
func TestUsageInChildPipelines(t *testing.T) {
	p, err := pipeline.LoadProject("../lint/testdata/err/child_pipeline", pipeline.Options{})
	if err != nil {
		t.Fatal(err)
	}
	c := &Credential{ID: "project:acme/web:PROD_AWS_SECRET_ACCESS_KEY:*", Key: "PROD_AWS_SECRET_ACCESS_KEY", Level: "project", Owner: "acme/web", EnvironmentScope: "*"}
	uses := projectUsage("acme/web", jobViews(p), []*Credential{c})[c.ID]
	if len(uses) != 1 || uses[0].Job != "upload" || uses[0].Child != "ci/deploy.yml" || uses[0].File != "ci/deploy.yml" {
		t.Errorf("uses of PROD_AWS_SECRET_ACCESS_KEY = %+v, want job upload of the child pipeline ci/deploy.yml", uses)
	}
}
