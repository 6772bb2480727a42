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
				if got := jobUse(v, tc.key); got != tc.want {
					t.Errorf("jobUse(%s, %s) = %q, want %q", tc.job, tc.key, got, tc.want)
				}
			}
		}
	}
}
