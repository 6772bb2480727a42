// Package detect decides what counts as a long-lived secret in a string:
// a value written in CI/CD configuration, or a stored variable's value.
// Each detector has its own true- and false-positive samples
// (testdata/samples). Values never leave this package: a Match carries
// offsets and a Hint (the first four characters and the length), never the
// secret itself.
package detect

// Kind is the kind of credential a match is, as the migration report
// groups them.
type Kind string

const (
	KindAWSAccessKey     Kind = "aws-access-key" // AKIA/ASIA access key id or its secret key
	KindGCPServiceKey    Kind = "gcp-service-account-key"
	KindAzureSecret      Kind = "azure-client-secret"
	KindGitLabToken      Kind = "gitlab-token"
	KindVaultToken       Kind = "vault-token"
	KindPrivateKey       Kind = "private-key"
	KindRegistryPassword Kind = "registry-password"
	KindURLCredentials   Kind = "url-credentials"
	KindPackageToken     Kind = "package-registry-token" // npm, PyPI, RubyGems
	KindGeneric          Kind = "generic-secret"         // a secret-named variable with a high-entropy literal

	// Kinds that do not map to a workload-identity migration but show up
	// in CI files all the same.
	KindGCPAPIKey       Kind = "gcp-api-key"
	KindAzureStorageKey Kind = "azure-storage-key"
	KindGitHubToken     Kind = "github-token"
	KindSlackToken      Kind = "slack-token"
	KindChatWebhook     Kind = "chat-webhook" // Slack, Discord, Teams, Google Chat, Mattermost (issue 16)
	KindSaaSToken       Kind = "saas-api-key" // Stripe, SendGrid (issue 16)
)

// Confidence is how sure a detector is.
type Confidence uint8

const (
	Low Confidence = iota + 1
	Medium
	High
)

// Context is what is known about where a value is written. Detectors use it
// to tell a secret from a look-alike (a variable named *_SECRET_KEY with a
// 40-character value, a password after docker login -p).
type Context struct {
	// Key is the variable name or mapping key holding the value
	// ("AWS_SECRET_ACCESS_KEY"), empty in a script line.
	Key string
	// Script is true when the value is a shell command line (script,
	// before_script, after_script, a services command).
	Script bool
	// Alias is a services: entry's alias, when the value is one of its
	// variables (placeholders such as changeme are fine there).
	Alias string
}

// Match is one secret found in a value.
type Match struct {
	// Detector is the detector's id, e.g. "aws-access-key-id".
	Detector string
	Kind     Kind
	// Start and End are byte offsets of the secret in the value.
	Start, End int
	Confidence Confidence
	// Hint is the first four characters and the length, e.g.
	// "AKIA… (20 chars)": what findings may show.
	Hint string
	// Description says what was found, without the value, e.g.
	// "AWS access key id".
	Description string
	// Paired is set on an access key id whose secret key appears in the
	// same scope (Pair), and the other way round.
	Paired bool
	// Host is the host of a url-credentials match's URL (no port): where
	// the password is sent, not a secret.
	Host string
	// SameUser is set on a url-credentials match whose password is its
	// user name (postgres://keycloak:keycloak@db/), the shape of a
	// throw-away test database's credentials (issue 15).
	SameUser bool
	// Scheme is a url-credentials match's URL scheme in lower case
	// ("postgres"): what the password is for, not a secret.
	Scheme string
}
