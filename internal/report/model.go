// Package report builds the migration report of long-lived credentials
// stored in GitLab CI/CD variables: which are stored where, how exposed
// each is, which jobs use it, and what replaces it. Collect walks a scope
// through internal/gitlabapi; the renderers (markdown, json, csv, html)
// write a Report. Variable values are classified by internal/detect inside
// Collect and never stored in a Report.
package report

import "time"

// Version is the version of the JSON form of a Report (and of shard files).
const Version = 1

// Report is the result of one run over a scope, or of one shard of it.
type Report struct {
	Version     int       `json:"version"`
	Tool        Tool      `json:"tool"`
	GitLabURL   string    `json:"gitlab_url"`
	Scope       Scope     `json:"scope"`
	GeneratedAt time.Time `json:"generated_at"`
	// Shard is set on a partial report (--shard i/n), nil on a whole one.
	Shard       *Shard       `json:"shard,omitempty"`
	Summary     Summary      `json:"summary"`
	Credentials []Credential `json:"credentials"`
	Projects    []Project    `json:"projects"`
	// Errors are failures not tied to one project (a group's variables
	// that could not be read, instance variables without admin).
	Errors []Error `json:"errors"`
}

// Tool names the program that wrote the report.
type Tool struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

// Scope is what was inventoried.
type Scope struct {
	Kind  string   `json:"kind"`  // "group", "project" or "instance"
	Paths []string `json:"paths"` // the groups or projects given; empty for instance
}

// Shard is one part of a run split across jobs.
type Shard struct {
	Index int `json:"index"` // 1-based, as CI_NODE_INDEX
	Total int `json:"total"`
}

// Summary counts what the report holds.
type Summary struct {
	// Groups and Subgroups are the top-level groups and the subgroups
	// whose CI/CD variables were read (issue 16).
	Groups         int            `json:"groups"`
	Subgroups      int            `json:"subgroups"`
	Projects       int            `json:"projects"`
	ProjectsFailed int            `json:"projects_failed"` // 401/403/404 or another error
	Credentials    int            `json:"credentials"`
	ByKind         map[string]int `json:"by_kind"`
	ByExposure     map[string]int `json:"by_exposure"`
	ByLevel        map[string]int `json:"by_level"`
	Findings       int            `json:"lint_findings"`
	// Requests counts the GitLab API requests of the run, when the API
	// client counts them (gitlabapi.Client does): sent, answered 429 and
	// retried (issue 16). A merge adds its shards' counts.
	Requests *Requests `json:"api_requests,omitempty"`
}

// Requests counts the GitLab API requests of a run.
type Requests struct {
	Sent      int64 `json:"sent"`      // every request, retries included
	Throttled int64 `json:"throttled"` // answered 429
	Retried   int64 `json:"retried"`   // sent again after a 429 or 5xx
}

// Kinds of credentials.
const (
	KindAWS      = "aws-iam-user-key"
	KindGCP      = "gcp-service-account-key"
	KindAzure    = "azure-client-secret"
	KindVault    = "vault-token"
	KindGitLab   = "gitlab-token"
	KindRegistry = "registry-password"
	// Kinds no keyless component replaces (issue 16): the steps say
	// what does, if anything (families.go).
	KindPackage     = "package-registry-token" // npm, PyPI, RubyGems, NuGet
	KindChatWebhook = "chat-webhook"           // Slack, Discord, Teams, Google Chat, Mattermost
	KindSaaS        = "saas-api-key"           // GitHub, Slack, Stripe, SendGrid, Twilio, Datadog
	KindPrivateKey  = "private-key"
	KindDatabase    = "database-password"
	KindSigning     = "signing-secret" // JWT, session and HMAC secrets, by name
	KindOther       = "other"
)

// Exposures of a stored credential.
const (
	ExposureUnprotected = "unprotected"      // available to jobs on unprotected refs
	ExposureUnmasked    = "unmasked"         // printed in clear if a job echoes it
	ExposureNotHidden   = "not-hidden"       // readable in the settings UI and API by maintainers
	ExposureAllEnvs     = "all-environments" // environment_scope "*"
	ExposureGroup       = "group-level"      // every project of the group (and subgroups) gets it
	ExposureInstance    = "instance-level"   // every project of the instance gets it
	ExposureKeyFile     = "env-var-key-file" // a key file's content in an env_var variable
)

// Credential is one stored variable that holds (or is named as) a
// long-lived credential.
type Credential struct {
	// ID is stable across runs: level, owner, key and environment scope.
	ID               string `json:"id"`
	Key              string `json:"key"`
	Level            string `json:"level"` // "instance", "group" or "project"
	Owner            string `json:"owner"` // group or project path; "" for the instance
	EnvironmentScope string `json:"environment_scope"`
	Type             string `json:"variable_type"` // "env_var" or "file"
	Protected        bool   `json:"protected"`
	Masked           bool   `json:"masked"`
	Hidden           bool   `json:"hidden"`
	Raw              bool   `json:"raw"`
	Description      string `json:"description,omitempty"`
	Kind             string `json:"kind"`
	// Service is the product a credential is for ("slack-webhook",
	// "npm", "postgresql"), when the detector or the name says;
	// the steps point at its rotation documentation.
	Service string `json:"service,omitempty"`
	// Evidence says how the kind was decided, never with the value:
	// "value: AWS access key id AKIA… (20 chars)" or "name: hidden
	// variable AWS_SECRET_ACCESS_KEY".
	Evidence   string   `json:"evidence"`
	Confidence string   `json:"confidence"` // "high", "medium", "low"
	Exposure   []string `json:"exposure"`
	// Usage lists the jobs that would break if the variable were deleted.
	Usage       []Usage     `json:"usage"`
	Replacement Replacement `json:"replacement"`
}

// Usage is one job that uses a credential.
type Usage struct {
	Project string `json:"project"`
	Job     string `json:"job"`
	// Child is the configuration file of the child pipeline the job runs
	// in (trigger:include); "" for the project's own pipeline.
	Child string `json:"child,omitempty"`
	File  string `json:"file"`
	Line  int    `json:"line"`
	// How: "references $KEY", "sets AWS_ACCESS_KEY_ID from $KEY" or
	// "runs aws (reads AWS_* from the environment)".
	How string `json:"how"`
	// Env is the credential variable of a tool the job passes it as
	// ("AWS_ACCESS_KEY_ID"), "" when it passes it as none.
	Env string `json:"env,omitempty"`
}

// Where names the job as the report shows it: "deploy", or "deploy
// (child pipeline ci/deploy.yml)".
func (u Usage) Where() string {
	if u.Child == "" {
		return u.Job
	}
	return u.Job + " (child pipeline " + u.Child + ")"
}

// Replacement is what replaces a credential.
type Replacement struct {
	// Component is the keyless component ("aws", "gcp", "azure", "vault"),
	// "" when no ID token exchange replaces the credential.
	Component string `json:"component,omitempty"`
	// Include is the YAML to add to the pipeline.
	Include string `json:"include,omitempty"`
	// Trust is the cloud-side trust to create (a trust policy, a
	// federated credential, a provider condition, a role), as text.
	Trust string `json:"trust,omitempty"`
	// Steps retire the stored key, in order.
	Steps []string `json:"steps"`
}

// Project is one project of the scope.
type Project struct {
	Path   string `json:"path"`
	ID     int64  `json:"id"`
	WebURL string `json:"web_url,omitempty"`
	// Status is "ok", or "unauthorized", "forbidden", "not-found",
	// "error" when a call for the project failed (Error says which).
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
	// DefaultBranch is the branch whose pipeline was read; the ref of the
	// sub claim in the project's trust (Replacement.Trust).
	DefaultBranch string `json:"default_branch,omitempty"`
	// Archived projects run no pipelines: their variables are reported,
	// their pipeline is not read (Jobs 0, no usage).
	Archived bool `json:"archived,omitempty"`
	// CIConfigPath is the configuration file read ("" when none).
	CIConfigPath string `json:"ci_config_path,omitempty"`
	// NoCIConfig is set when the project has no CI/CD configuration at
	// its default branch (or no default branch): it runs no pipeline, so
	// no job of it uses a credential.
	NoCIConfig                bool      `json:"no_ci_configuration,omitempty"`
	IDTokenSubClaimComponents []string  `json:"id_token_sub_claim_components,omitempty"`
	Jobs                      int       `json:"jobs"`
	Findings                  []Finding `json:"lint_findings"`
}

// Finding is a keyless lint finding of a project's pipeline.
type Finding struct {
	Rule     string `json:"rule"`
	Severity string `json:"severity"`
	File     string `json:"file"`
	Line     int    `json:"line"`
	Message  string `json:"message"`
}

// Error is a failure not tied to one project.
type Error struct {
	What   string `json:"what"`   // "group variables of acme/platform"
	Status string `json:"status"` // as Project.Status
	Error  string `json:"error"`
}
