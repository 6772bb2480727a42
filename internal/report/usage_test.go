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

func TestRunsCommand(t *testing.T) {
	for _, tc := range []struct {
		line, cmd string
		want      bool
	}{
		{"aws s3 ls", "aws", true},
		{"cd x && aws sts get-caller-identity", "aws", true},
		{"/usr/local/bin/aws s3 ls", "aws", true},
		{"aws", "aws", true},
		{"echo laws and paws", "aws", false},
		{"aws-vault exec x", "aws", false},
		{"terraform init", "terraform", true},
		{"cd terraform/", "terraform", false},
		{"vault kv get secret/x", "vault", true},
		{"echo $VAULT_ADDR", "vault", false},
	} {
		if got := runsCommand(tc.line, tc.cmd); got != tc.want {
			t.Errorf("runsCommand(%q, %q) = %v", tc.line, tc.cmd, got)
		}
	}
}

func TestVarRefs(t *testing.T) {
	for s, want := range map[string]string{
		"echo $A ${B} $env:C %D% $1 $$": "A B C D",
		"no refs":                       "",
		"${AWS_SECRET_ACCESS_KEY}x":     "AWS_SECRET_ACCESS_KEY",
	} {
		got := ""
		for i, r := range varRefs(s) {
			if i > 0 {
				got += " "
			}
			got += r
		}
		if got != want {
			t.Errorf("varRefs(%q) = %q, want %q", s, got, want)
		}
	}
}
