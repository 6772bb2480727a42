package report

import (
	"strings"
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
		// Families no component replaces, by name (issue 16).
		{gitlabapi.Variable{Key: "SLACK_WEBHOOK_TOKEN", Hidden: true}, "chat-webhook medium slack-webhook"},
		{gitlabapi.Variable{Key: "SLACK_WEBHOOK_URL", Hidden: true}, "chat-webhook medium slack-webhook"},
		{gitlabapi.Variable{Key: "SLACK_CHANNEL", Value: secret.New("#deploys")}, ""},
		{gitlabapi.Variable{Key: "SLACK_WEBHOOK_CHANNEL", Value: secret.New("#deploys")}, ""},
		{gitlabapi.Variable{Key: "TEAMS_WEBHOOK", Hidden: true}, "chat-webhook medium teams-webhook"},
		{gitlabapi.Variable{Key: "NPM_TOKEN", Hidden: true}, "package-registry-token medium npm"},
		{gitlabapi.Variable{Key: "GITHUB_PAT", Hidden: true}, "saas-api-key medium github"},
		{gitlabapi.Variable{Key: "DD_API_KEY", Value: secret.New(synthetic("dd", 32, "0123456789abcdef"))}, "saas-api-key low datadog"},
		{gitlabapi.Variable{Key: "TWILIO_AUTH_TOKEN", Hidden: true}, "saas-api-key medium twilio"},
		{gitlabapi.Variable{Key: "NUGET_API_KEY", Hidden: true}, "package-registry-token medium nuget"},
		{gitlabapi.Variable{Key: "JWT_SECRET", Value: secret.New(synthetic("jwt", 48, b64url))}, "signing-secret medium"},
		{gitlabapi.Variable{Key: "POSTGRES_PASSWORD", Hidden: true}, "database-password medium"},
		{gitlabapi.Variable{Key: "SLACK_WEBHOOK_URL", Value: secret.New("https://hooks.slack.com/services/T" + synthetic("slack-t", 10, upperDigits) + "/B" + synthetic("slack-b", 10, upperDigits) + "/" + synthetic("slack", 24, b64url[:62]))}, "chat-webhook high slack-webhook"},
		{gitlabapi.Variable{Key: "DATABASE_URL", Value: secret.New("postgresql://app:" + synthetic("db", 20, b64url[:62]) + "@db.internal:5432/app")}, "database-password high postgresql"},
		{gitlabapi.Variable{Key: "NOTIFY", Value: secret.New("https://user:" + synthetic("https", 20, b64url[:62]) + "@hooks.example.com/x")}, "other high"},
		{gitlabapi.Variable{Key: "STRIPE_KEY", Value: secret.New("sk_live_" + synthetic("stripe", 32, b64url[:62]))}, "saas-api-key high stripe"},
		// Hidden: a name the tools read as a credential is that
		// credential; the name alone is less (issue 16).
		{gitlabapi.Variable{Key: "VAULT_TOKEN", Hidden: true}, "vault-token high"},
		{gitlabapi.Variable{Key: "VAULT_TOKEN"}, "vault-token medium"},
		{gitlabapi.Variable{Key: "SLACK_WEBHOOK_TOKEN"}, "chat-webhook medium slack-webhook"},
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
			got = strings.TrimSpace(c.kind + " " + c.confidence + " " + c.service)
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
