package report

import (
	"fmt"
	"strings"

	"gitlab.com/keyless-ci/keyless/internal/detect"
)

// Credential families that no keyless component replaces (issue 16): what
// the report calls each and what it says to do instead. A family with an
// ID token exchange of its own (a package registry's trusted publishing,
// a database's cloud IAM or Vault login) gets that; the rest stay stored
// variables, kept masked, hidden and protected, and rotated.

// service is one product a credential belongs to, with where its owner
// rotates it.
type service struct {
	name   string // "Slack", shown in steps
	rotate string // the vendor's documentation of rotating or revoking it
}

// services are keyed by Credential.Service. The links are the vendors'
// own pages on creating, rolling or revoking the credential.
var services = map[string]service{
	"slack-webhook":       {"Slack", "https://api.slack.com/messaging/webhooks (remove the webhook in the app's Incoming Webhooks page, add a new one)"},
	"discord-webhook":     {"Discord", "https://support.discord.com/hc/en-us/articles/228383668 (Server Settings > Integrations > Webhooks: delete it, create a new one)"},
	"teams-webhook":       {"Microsoft Teams", "https://learn.microsoft.com/en-us/microsoftteams/platform/webhooks-and-connectors/how-to/add-incoming-webhook (remove the connector or workflow, create a new one)"},
	"google-chat-webhook": {"Google Chat", "https://developers.google.com/workspace/chat/quickstart/webhooks (Apps & integrations: delete the webhook, add a new one)"},
	"mattermost-webhook":  {"Mattermost", "https://developers.mattermost.com/integrate/webhooks/incoming/ (Integrations > Incoming Webhooks: delete it, add a new one)"},
	"slack":               {"Slack", "https://api.slack.com/authentication/rotation (token rotation), or reinstall the app to issue a new token"},
	"github":              {"GitHub", "https://docs.github.com/en/authentication/keeping-your-account-and-data-secure/managing-your-personal-access-tokens (a fine-grained token with an expiry, or a GitHub App installation token that lasts an hour)"},
	"stripe":              {"Stripe", "https://docs.stripe.com/keys (roll the key; prefer a restricted key, rk_, with only the permissions the job needs)"},
	"sendgrid":            {"SendGrid", "https://www.twilio.com/docs/sendgrid/ui/account-and-settings/api-keys (create a key with restricted access, delete the old one)"},
	"twilio":              {"Twilio", "https://www.twilio.com/docs/iam/api-keys (use an API key and secret, not the account's auth token; delete the old key)"},
	"datadog":             {"Datadog", "https://docs.datadoghq.com/account_management/api-app-keys/ (add a new key, revoke the old one; scope application keys)"},
	"npm":                 {"npm", "https://docs.npmjs.com/revoking-access-tokens"},
	"pypi":                {"PyPI", "https://pypi.org/help/#apitoken (a token scoped to one project; remove the old one in Account settings > API tokens)"},
	"crates":              {"crates.io", "https://crates.io/settings/tokens (a token scoped to publish-update of given crates, with an expiry; revoke the old one)"},
	"rubygems":            {"RubyGems.org", "https://guides.rubygems.org/api-key-scopes/ (a key scoped to push one gem; delete the old one)"},
	"nuget":               {"NuGet", "https://learn.microsoft.com/en-us/nuget/nuget-org/scoped-api-keys (a key scoped to push given packages, with an expiry; delete the old one)"},
}

// serviceOf is the report kind and service of a value match, by its
// detector: "" service for a kind with no product (a private key).
func serviceOf(m detect.Match) (kind, svc string) {
	switch m.Detector {
	case "slack-webhook-url":
		return KindChatWebhook, "slack-webhook"
	case "discord-webhook-url":
		return KindChatWebhook, "discord-webhook"
	case "teams-webhook-url":
		return KindChatWebhook, "teams-webhook"
	case "google-chat-webhook-url":
		return KindChatWebhook, "google-chat-webhook"
	case "mattermost-webhook-url":
		return KindChatWebhook, "mattermost-webhook"
	case "npm-token", "npmrc-auth-token":
		return KindPackage, "npm"
	case "pypi-token":
		return KindPackage, "pypi"
	case "rubygems-api-key":
		return KindPackage, "rubygems"
	case "github-token":
		return KindSaaS, "github"
	case "slack-token":
		return KindSaaS, "slack"
	case "stripe-secret-key":
		return KindSaaS, "stripe"
	case "sendgrid-api-key":
		return KindSaaS, "sendgrid"
	case "private-key":
		return KindPrivateKey, ""
	case "url-credentials":
		if db := databaseScheme(m.Scheme); db != "" {
			return KindDatabase, db
		}
	}
	return reportKind(m.Kind), ""
}

// databaseScheme names the database a URL scheme connects to, "" for
// another scheme (https://user:pass@host is not a database's).
func databaseScheme(scheme string) string {
	scheme = strings.TrimPrefix(scheme, "jdbc:")
	switch scheme {
	case "postgres", "postgresql", "postgis", "pgsql":
		return "postgresql"
	case "mysql", "mysql2", "mariadb":
		return "mysql"
	case "mongodb", "mongodb+srv":
		return "mongodb"
	case "redis", "rediss":
		return "redis"
	case "sqlserver", "mssql":
		return "sqlserver"
	case "amqp", "amqps":
		return "rabbitmq"
	case "clickhouse", "cockroachdb", "oracle", "snowflake":
		return scheme
	}
	return ""
}

// serviceByName classifies a variable by a name that says which product
// its secret is for: a hidden variable's only evidence, and what a
// generic high-entropy value is for. k is the key in upper case.
func serviceByName(k string) (kind, svc string, ok bool) {
	has := strings.Contains
	secret := detect.SecretName(k)
	switch {
	case webhookName(k):
		for _, s := range []struct{ word, svc string }{
			{"SLACK", "slack-webhook"}, {"DISCORD", "discord-webhook"}, {"TEAMS", "teams-webhook"},
			{"GOOGLE_CHAT", "google-chat-webhook"}, {"GCHAT", "google-chat-webhook"}, {"MATTERMOST", "mattermost-webhook"},
		} {
			if has(k, s.word) {
				return KindChatWebhook, s.svc, true
			}
		}
		return "", "", false
	case !secret && k != "PGPASSWORD":
		return "", "", false
	case has(k, "NPM") || k == "NODE_AUTH_TOKEN":
		return KindPackage, "npm", true
	case has(k, "PYPI") || k == "TWINE_PASSWORD":
		return KindPackage, "pypi", true
	case has(k, "CRATES") || k == "CARGO_REGISTRY_TOKEN":
		return KindPackage, "crates", true
	case has(k, "RUBYGEMS") || k == "GEM_HOST_API_KEY":
		return KindPackage, "rubygems", true
	case has(k, "NUGET"):
		return KindPackage, "nuget", true
	case has(k, "GITHUB") || strings.HasPrefix(k, "GH_"):
		return KindSaaS, "github", true
	case has(k, "SLACK"):
		return KindSaaS, "slack", true
	case has(k, "STRIPE"):
		return KindSaaS, "stripe", true
	case has(k, "SENDGRID"):
		return KindSaaS, "sendgrid", true
	case has(k, "TWILIO"):
		return KindSaaS, "twilio", true
	case has(k, "DATADOG") || strings.HasPrefix(k, "DD_"):
		return KindSaaS, "datadog", true
	case has(k, "JWT") || k == "SECRET_KEY_BASE" || has(k, "SESSION_SECRET") || has(k, "COOKIE_SECRET") || has(k, "HMAC"):
		return KindSigning, "", true
	case k == "PGPASSWORD" || has(k, "PASSWORD") && databaseWord(k):
		return KindDatabase, "", true
	}
	return "", "", false
}

// webhookName reports whether a name says it holds a webhook URL:
// SLACK_WEBHOOK, TEAMS_WEBHOOK_URL, SLACK_HOOK_URL, not
// SLACK_WEBHOOK_CHANNEL.
func webhookName(k string) bool {
	if !strings.Contains(k, "HOOK") {
		return false
	}
	for _, end := range []string{"WEBHOOK", "HOOK_URL", "HOOK_URI", "WEBHOOK_TOKEN", "WEBHOOK_SECRET", "WEBHOOK_URLS"} {
		if strings.HasSuffix(k, end) {
			return true
		}
	}
	return false
}

// databaseWord reports whether a name names a database (DB_PASSWORD,
// POSTGRES_PASSWORD, MYSQL_ROOT_PASSWORD).
func databaseWord(k string) bool {
	for _, w := range []string{"DB", "DATABASE", "POSTGRES", "PG", "MYSQL", "MARIADB", "MONGO", "REDIS", "MSSQL", "SQL"} {
		for _, part := range strings.FieldsFunc(k, func(r rune) bool { return r == '_' || r == '-' }) {
			if part == w || strings.HasPrefix(part, w) && w != "PG" && w != "DB" {
				return true
			}
		}
	}
	return false
}

// familySteps are the steps for a credential of a kind no keyless
// component replaces, and the YAML to add when the service has an ID
// token exchange of its own (npm and PyPI trusted publishing).
// keep is the conditional advice for a credential an exchange can
// replace; stay is the advice for one that must stay stored.
func familySteps(c *Credential, keep, where string) (include string, steps []string) {
	stay := fmt.Sprintf("Keep %s as a masked and hidden, protected variable (protected branches and tags only), scoped to the environments that need it, with the least rights the service allows.", c.Key)
	rotate := fmt.Sprintf("Rotate it now that it has been stored this way, and delete the variable %s %s when nothing uses it.", c.Key, where)
	if s, ok := services[c.Service]; ok {
		rotate = fmt.Sprintf("Rotate it (%s: %s), and delete the variable %s %s when nothing uses it.", s.name, s.rotate, c.Key, where)
	}
	switch c.Kind {
	case KindChatWebhook:
		return "", []string{
			"A webhook URL is its own credential: anyone who has it can post to the channel, and no ID token exchange replaces it.",
			stay,
			rotate,
		}
	case KindPackage:
		switch c.Service {
		case "npm":
			return "publish:\n  id_tokens:\n    NPM_ID_TOKEN:\n      aud: \"npm:registry.npmjs.org\"\n  script:\n    - npm publish # npm 11.5.1 or later exchanges NPM_ID_TOKEN\n",
				[]string{
					"npm trusted publishing takes a GitLab ID token instead of a stored token (https://docs.npmjs.com/trusted-publishers): add the project and its publishing job's file as the package's trusted publisher on npmjs.com (keyless policy npm prints it), and give the publishing job the id_tokens shown. pnpm, yarn and npm before 11.5.1 do not exchange the token themselves: have the job extend .keyless-npm of the keyless npm component (components/npm) instead.",
					"Run the publish, then in the package's settings disallow tokens for publishing. A token that only installs private packages cannot be replaced this way: make it a read-only granular token.",
					keep,
					rotate,
				}
		case "pypi":
			return "include:\n  - component: $CI_SERVER_FQDN/keyless-ci/keyless/pypi@1\n\npublish:\n  extends: .keyless-pypi\n  script:\n    - twine upload dist/* # or uv publish, poetry publish\n",
				[]string{
					"PyPI trusted publishing takes a GitLab ID token instead of a stored token (https://docs.pypi.org/trusted-publishers/): add the project, its CI file and (ideally) a protected environment as the PyPI project's trusted publisher (keyless policy pypi prints it), and have the publishing job extend .keyless-pypi of the keyless pypi component (components/pypi), which exchanges the job's ID token for a 15-minute upload token and hands it to twine, uv and Poetry.",
					"Run the publish, then remove the API token from PyPI.",
					keep,
					rotate,
				}
		case "crates":
			return "include:\n  - component: $CI_SERVER_FQDN/keyless-ci/keyless/crates@1\n\npublish:\n  extends: .keyless-crates\n  environment: release\n  script:\n    - cargo publish\n",
				[]string{
					"crates.io trusted publishing takes a GitLab ID token instead of a stored token (https://crates.io/docs/trusted-publishing; GitLab CI/CD in public beta): add a GitLab config (namespace, project, workflow filepath and, ideally, a protected environment) in the crate's Trusted Publishing settings on crates.io, and have the publishing job extend .keyless-crates of the keyless crates component (components/crates), which exchanges the job's ID token for a 30-minute publish token, hands it to cargo publish as CARGO_REGISTRY_TOKEN and revokes it in after_script. A new crate's first version still needs an API token.",
					"Run the publish, then revoke the API token on crates.io.",
					keep,
					rotate,
				}
		}
		return "", []string{
			"Check whether the registry offers trusted publishing for GitLab CI/CD (RubyGems.org's covers GitHub Actions only so far: https://github.com/rubygems/rubygems.org/issues/4844); until it does, the token stays a stored variable.",
			stay,
			rotate,
		}
	case KindDatabase:
		return "", []string{
			"Where the database is a cloud one, log in with the job's cloud identity instead of a password: RDS and Aurora IAM authentication (keyless aws component), Cloud SQL IAM database authentication (gcp), Microsoft Entra authentication for Azure Database (azure).",
			"Elsewhere, Vault's database secrets engine issues a short-lived user per job (keyless vault component: secrets: DB_USER=database/creds/ROLE#username, DB_PASSWORD=database/creds/ROLE#password).",
			keep + " A throw-away test database in a services: container needs no stored password at all: write it in the job.",
			fmt.Sprintf("Change the database user's password (ALTER USER ... PASSWORD), and delete the variable %s %s when nothing uses it.", c.Key, where),
		}
	case KindPrivateKey:
		return "", []string{
			"For SSH to hosts, Vault's SSH secrets engine signs a short-lived certificate for a key the job generates (keyless vault component); for Git over SSH use $CI_JOB_TOKEN over HTTPS or a deploy key with read access only.",
			"For a signing key (packages, images, commits), keyless signing with Sigstore takes a GitLab ID token (id_tokens: SIGSTORE_ID_TOKEN: aud: sigstore) instead of a stored key.",
			keep + " Store it as a file-type variable: a key in an env_var variable cannot be masked.",
			fmt.Sprintf("Generate a new key pair, install its public half where the old one is trusted, remove the old public key, and delete the variable %s %s when nothing uses it.", c.Key, where),
		}
	case KindSigning:
		return "", []string{
			"A JWT or session signing secret is the application's, not the pipeline's: no ID token exchange replaces it. Deploy jobs can read it from the application's secret store (Vault through the keyless vault component, or the cloud's secret manager) instead of a CI/CD variable.",
			stay,
			fmt.Sprintf("Rotate it (generate a new secret; accept the old one for verification only until the tokens signed with it expire), and delete the variable %s %s when nothing uses it.", c.Key, where),
		}
	case KindSaaS:
		return "", []string{
			"No ID token exchange replaces this key: the service does not accept GitLab ID tokens.",
			stay,
			rotate,
		}
	}
	return "", nil
}
