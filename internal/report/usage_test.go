package report

import "testing"

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
