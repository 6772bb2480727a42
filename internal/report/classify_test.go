package report

import (
	"testing"

	"gitlab.com/keyless-ci/keyless/internal/gitlabapi"
	"gitlab.com/keyless-ci/keyless/internal/secret"
)

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		v    gitlabapi.Variable
		want string // kind confidence, "" for not a credential
	}{
		{gitlabapi.Variable{Key: "AWS_SECRET_ACCESS_KEY", Hidden: true}, "aws-iam-user-key high"},
		{gitlabapi.Variable{Key: "MY_AWS_SECRET", Hidden: true}, "aws-iam-user-key medium"},
		{gitlabapi.Variable{Key: "GOOGLE_APPLICATION_CREDENTIALS", Type: gitlabapi.File, Hidden: true}, "gcp-service-account-key high"},
		{gitlabapi.Variable{Key: "GOOGLE_APPLICATION_CREDENTIALS", Type: gitlabapi.EnvVar, Value: secret.New("/tmp/key.json")}, ""},
		{gitlabapi.Variable{Key: "CI_SERVICE_ACCOUNT_KEY", Hidden: true}, "gcp-service-account-key medium"},
		{gitlabapi.Variable{Key: "ARM_CLIENT_SECRET", Hidden: true}, "azure-client-secret high"},
		{gitlabapi.Variable{Key: "VAULT_APPROLE_SECRET_ID", Hidden: true}, "vault-token medium"},
		{gitlabapi.Variable{Key: "VAULT_SECRET_ID", Hidden: true}, "vault-token medium"},
		{gitlabapi.Variable{Key: "TF_VAR_login_approle_secret_id", Hidden: true}, "vault-token medium"},
		{gitlabapi.Variable{Key: "VAULT_LDAP_PASSWORD", Hidden: true}, "vault-token medium"},
		{gitlabapi.Variable{Key: "TF_VAR_key_vault_secret_id", Value: secret.New("https://kv.vault.azure.net/secrets/db")}, ""},
		{gitlabapi.Variable{Key: "RELEASE_PAT", Hidden: true}, "gitlab-token medium"},
		{gitlabapi.Variable{Key: "HARBOR_REGISTRY_PASSWORD", Hidden: true}, "registry-password medium"},
		{gitlabapi.Variable{Key: "SLACK_WEBHOOK_TOKEN", Hidden: true}, "other medium"},
		// Hidden: a name the tools read as a credential is that
		// credential; the name alone is less (issue 16).
		{gitlabapi.Variable{Key: "VAULT_TOKEN", Hidden: true}, "vault-token high"},
		{gitlabapi.Variable{Key: "VAULT_TOKEN"}, "vault-token medium"},
		{gitlabapi.Variable{Key: "SLACK_WEBHOOK_TOKEN"}, "other low"},
		{gitlabapi.Variable{Key: "DEPLOY_REGION", Value: secret.New("eu-west-1")}, ""},
		{gitlabapi.Variable{Key: "DEPLOY_REGION", Hidden: true}, ""},
		{gitlabapi.Variable{Key: "AWS_SECRET_ACCESS_KEY", Value: secret.New("changeme")}, ""},
		{gitlabapi.Variable{Key: "AWS_SECRET_ACCESS_KEY", Value: secret.New("$OTHER_SECRET")}, ""},
		// A name that says credential, a value that does not look like one.
		{gitlabapi.Variable{Key: "VAULT_TOKEN", Value: secret.New("k9 Lm 2x")}, "vault-token low"},
		{gitlabapi.Variable{Key: "API_KEY", Value: secret.New(synthetic("api", 32, b64url))}, "other medium"},
	} {
		c, ok := classify(&tc.v)
		got := ""
		if ok {
			got = c.kind + " " + c.confidence
		}
		if got != tc.want {
			t.Errorf("%s: %q (%s), want %q", tc.v.Key, got, c.evidence, tc.want)
		}
	}
}

// classifyVariables drops every value it read.
func TestClassifyVariablesDropsValues(t *testing.T) {
	vs := []gitlabapi.Variable{
		{Key: "AWS_SECRET_ACCESS_KEY", Value: secret.New(synthetic("drop", 40, b64))},
		{Key: "DEPLOY_REGION", Value: secret.New("eu-west-1")},
	}
	cs := classifyVariables(levelProject, "g/p", vs)
	if len(cs) != 1 || cs[0].ID != "project:g/p:AWS_SECRET_ACCESS_KEY:*" {
		t.Errorf("credentials: %+v", cs)
	}
	for _, v := range vs {
		if !v.Value.IsZero() {
			t.Errorf("%s still holds its value", v.Key)
		}
	}
}
