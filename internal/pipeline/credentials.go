package pipeline

import (
	"bytes"
	"slices"
	"strings"
	"unicode/utf8"
)

// This file is the one model of which tools read which credentials from a
// job's environment (issue 15). internal/lint (the stored-* rules) and
// internal/report (which jobs use a stored CI/CD variable) both read it
// through JobView.CredentialUses, so that they cannot disagree on what a
// job's tools read.

// CredentialEnv is one kind of credential that tools read from their
// environment.
type CredentialEnv struct {
	// Name is "aws", "gcp", "azure", "vault" or "terraform".
	Name string
	// Title names it in a message: "AWS".
	Title string
	// Credentials are the variables that hold the credential.
	Credentials []string
	// Settings are variables that point the tools at the cloud without
	// holding a credential (a region, a project, an address): a job that
	// sets or expands one works with that cloud.
	Settings []string
	// Source is where the names come from.
	Source string
}

// CredentialEnvs are the kinds of credential the tools of EnvReaders read.
var CredentialEnvs = []CredentialEnv{
	{
		Name: "aws", Title: "AWS",
		Credentials: []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"},
		Settings:    []string{"AWS_REGION", "AWS_DEFAULT_REGION"},
		Source:      "https://docs.aws.amazon.com/cli/latest/userguide/cli-configure-envvars.html",
	},
	{
		Name: "gcp", Title: "Google Cloud",
		Credentials: []string{"GOOGLE_CREDENTIALS", "GOOGLE_CLOUD_KEYFILE_JSON", "GCLOUD_KEYFILE_JSON", "GOOGLE_APPLICATION_CREDENTIALS", "CLOUDSDK_AUTH_CREDENTIAL_FILE_OVERRIDE"},
		Settings: []string{"GOOGLE_PROJECT", "GOOGLE_CLOUD_PROJECT", "GCLOUD_PROJECT", "CLOUDSDK_CORE_PROJECT",
			"GOOGLE_REGION", "GCLOUD_REGION", "CLOUDSDK_COMPUTE_REGION", "GOOGLE_ZONE", "GCLOUD_ZONE", "CLOUDSDK_COMPUTE_ZONE"},
		Source: "https://registry.terraform.io/providers/hashicorp/google/latest/docs/guides/provider_reference#credentials-1",
	},
	{
		Name: "azure", Title: "Azure",
		Credentials: []string{"ARM_CLIENT_SECRET", "ARM_CLIENT_CERTIFICATE_PATH", "ARM_CLIENT_CERTIFICATE_PASSWORD",
			"AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PATH", "AZURE_CLIENT_CERTIFICATE_PASSWORD"},
		Settings: []string{"ARM_CLIENT_ID", "ARM_TENANT_ID", "ARM_SUBSCRIPTION_ID", "AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_SUBSCRIPTION_ID"},
		Source:   "https://registry.terraform.io/providers/hashicorp/azurerm/latest/docs/guides/service_principal_client_secret",
	},
	{
		Name: "vault", Title: "Vault",
		Credentials: []string{"VAULT_TOKEN", "BAO_TOKEN"},
		Settings:    []string{"VAULT_ADDR", "BAO_ADDR", "VAULT_NAMESPACE", "BAO_NAMESPACE"},
		Source:      "https://developer.hashicorp.com/vault/docs/commands#environment-variables",
	},
	{
		// Not a cloud: Terraform reads every TF_VAR_name as the input
		// variable name, credentials included (an AppRole secret_id for
		// the Vault provider's auth_login).
		Name: "terraform", Title: "Terraform input variable",
		Source: "https://developer.hashicorp.com/terraform/cli/config/environment-variables#tf_var_name",
	},
}

// Env returns the CredentialEnv named name, or nil.
func Env(name string) *CredentialEnv {
	for i := range CredentialEnvs {
		if CredentialEnvs[i].Name == name {
			return &CredentialEnvs[i]
		}
	}
	return nil
}

// Named returns the first of the env's credentials and settings that the
// job's environment names (sets in variables: of any level, or expands
// anywhere), "" for none.
func (e *CredentialEnv) Named(v *JobView) string {
	for _, list := range [][]string{e.Credentials, e.Settings} {
		for _, n := range list {
			if v.Reads(n) || v.Variable(n) != nil {
				return n
			}
		}
	}
	return ""
}

// NamedByJob is Named restricted to what the job itself writes: its own
// and its rules' variables, its rules' conditions and its lines; not the
// global variables every job inherits, which say little of one job.
func (e *CredentialEnv) NamedByJob(v *JobView) string {
	own := map[string]bool{}
	for _, va := range v.Variables {
		if va.Scope != "global" {
			own[va.Name] = true
			for _, r := range VarRefs(va.Value.Value) {
				own[r] = true
			}
		}
	}
	for _, l := range v.Lines {
		for _, r := range VarRefs(l.Value) {
			own[r] = true
		}
	}
	if rules := v.Job.Node.Get("rules"); rules != nil && rules.Kind == Seq {
		for _, r := range rules.Items {
			for _, ref := range VarRefs(r.Get("if").String()) {
				own[ref] = true
			}
		}
	}
	for _, list := range [][]string{e.Credentials, e.Settings} {
		for _, n := range list {
			if own[n] {
				return n
			}
		}
	}
	return ""
}

// EnvReader is a tool that reads a kind of credential from its environment
// when the job configures no other: the tool's documentation says so.
type EnvReader struct {
	// Tools are command names (CommandNames).
	Tools []string
	// Env names the CredentialEnv read.
	Env string
	// What names the reader in a message: "the AWS CLI", "the Terraform
	// AWS provider".
	What string
	// Vars are the variables it reads, as a report tells it; a name
	// ending in * is a prefix ("AWS_*": the tool's settings as well as
	// its keys).
	Vars []string
	// Keys are the credential variables, as a finding names them.
	Keys string
	// Default is set when the environment is where the reader looks first
	// for the credential: with nothing else in the job (no profile, no
	// sign-in), running it means reading the stored variable. gcloud
	// keeps its own credential store, so it is not a Default reader.
	Default bool
	// Program marks an interpreter running a program that reads the
	// credential only if it uses the cloud's SDK: it counts only when
	// the job itself names the credential's variables or settings
	// (CredentialEnv.NamedByJob), and a finding says it is less certain.
	Program bool
	// Only, when set, are the subcommands (the first argument that is not
	// a flag) that read credentials: "run" for go.
	Only []string
	// Skip are first arguments (subcommands or flags) with which the tool
	// reads none: "fmt", "validate", "--version".
	Skip []string
	// SkipArgs are arguments that, anywhere, mean no credential is read:
	// aws --no-sign-request.
	SkipArgs []string
	// Endpoint is a flag that points the tool at another service
	// (--endpoint-url), and Host the cloud's domain: a command whose
	// endpoint is not on Host (MinIO, Ceph, R2, a variable) uses that
	// service's keys, which the cloud's ID token exchange does not replace.
	Endpoint, Host string
	// Source is the documentation that says the tool reads them.
	Source string
}

// terraformTools run Terraform or OpenTofu, whose providers read the
// credentials: the CLIs themselves, Terragrunt, and GitLab's wrappers
// (https://gitlab.com/gitlab-org/terraform-images, the OpenTofu
// component's gitlab-tofu).
var terraformTools = []string{"terraform", "tofu", "terragrunt", "gitlab-terraform", "gitlab-tofu"}

// terraformSkip are the Terraform subcommands that read no provider
// credential (https://developer.hashicorp.com/terraform/cli/commands).
// init is among them: it reads a backend's credentials at most (an s3
// backend's), and a job that initializes also plans or applies, where a
// finding points.
var terraformSkip = []string{"init", "fmt", "validate", "version", "-version", "--version", "-v", "-help", "--help", "help",
	"get", "graph", "providers", "login", "logout", "metadata", "hclfmt", "render-json"}

// versionHelp are first arguments that only print a version or help.
var versionHelp = []string{"version", "--version", "-version", "-v", "-V", "help", "--help", "-help", "-h"}

// programs run a program that may use a cloud's SDK.
var programs = []string{"python", "python3", "node", "ts-node", "deno", "bun", "ruby", "go"}

// programSkip are first arguments with which an interpreter runs no
// program of the project: installers and environments.
var programSkip = append([]string{"pip", "pip3", "venv", "ensurepip", "setup.py", "build", "install", "get", "mod", "vet", "fmt", "test"}, versionHelp...)

// EnvReaders is the table of tools that read credentials from the
// environment, each entry citing the documentation that says so. Tools
// that do not are left out on purpose: the Azure CLI reads no credential
// from the environment (az login first; see
// https://github.com/Azure/azure-cli/issues/10241, open), Packer's azure
// plugin takes client_secret from the template or uses a managed
// identity (https://developer.hashicorp.com/packer/integrations/hashicorp/azure#authentication),
// and gcloud does not use GOOGLE_APPLICATION_CREDENTIALS
// (https://cloud.google.com/docs/authentication/provide-credentials-adc:
// "The gcloud CLI itself doesn't use ADC").
var EnvReaders = []EnvReader{
	// AWS: the AWS SDKs' credential provider chain, which all of these
	// use (CDK and SAM say they read what the AWS CLI reads; eksctl "what
	// works for AWS CLI"; Copilot "the default credential provider
	// chain"), starts with AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY.
	{Tools: []string{"aws"}, Env: "aws", What: "the AWS CLI", Vars: []string{"AWS_*"}, Keys: "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY", Default: true,
		// aws configure sets the CLI up; it reads no key to do so.
		Skip: append([]string{"configure"}, versionHelp...), SkipArgs: []string{"--no-sign-request"}, Endpoint: "--endpoint-url", Host: "amazonaws.com",
		Source: "https://docs.aws.amazon.com/cli/latest/userguide/cli-configure-envvars.html"},
	{Tools: terraformTools, Env: "aws", What: "the Terraform AWS provider", Vars: []string{"AWS_*"}, Keys: "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY", Default: true,
		Skip:   terraformSkip,
		Source: "https://registry.terraform.io/providers/hashicorp/aws/latest/docs#environment-variables"},
	{Tools: []string{"sls", "serverless"}, Env: "aws", What: "the Serverless Framework CLI", Vars: []string{"AWS_*"}, Keys: "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY", Default: true,
		Skip:   append([]string{"plugin", "create", "login", "logout"}, versionHelp...),
		Source: "https://www.serverless.com/framework/docs/providers/aws/guide/credentials"},
	{Tools: []string{"cdk"}, Env: "aws", What: "the AWS CDK CLI", Vars: []string{"AWS_*"}, Keys: "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY", Default: true,
		Skip:   append([]string{"init", "doctor", "docs", "acknowledge", "notices", "context"}, versionHelp...),
		Source: "https://docs.aws.amazon.com/cdk/v2/guide/configure-access.html"},
	{Tools: []string{"sam"}, Env: "aws", What: "the AWS SAM CLI", Vars: []string{"AWS_*"}, Keys: "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY", Default: true,
		Skip:   append([]string{"init", "build"}, versionHelp...),
		Source: "https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/serverless-getting-started-set-up-credentials.html"},
	{Tools: []string{"pulumi"}, Env: "aws", What: "the Pulumi AWS provider", Vars: []string{"AWS_*"}, Keys: "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY", Default: true,
		Skip:   append([]string{"plugin", "config", "new", "about"}, versionHelp...),
		Source: "https://www.pulumi.com/registry/packages/aws/installation-configuration/"},
	{Tools: []string{"packer"}, Env: "aws", What: "Packer's Amazon plugin", Vars: []string{"AWS_*"}, Keys: "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY", Default: true,
		Only:   []string{"build"},
		Source: "https://developer.hashicorp.com/packer/integrations/hashicorp/amazon#authentication"},
	{Tools: []string{"eksctl"}, Env: "aws", What: "the eksctl CLI", Vars: []string{"AWS_*"}, Keys: "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY", Default: true,
		Skip:   append([]string{"completion", "info"}, versionHelp...),
		Source: "https://github.com/eksctl-io/eksctl#installation"},
	{Tools: []string{"copilot"}, Env: "aws", What: "the AWS Copilot CLI", Vars: []string{"AWS_*"}, Keys: "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY", Default: true,
		// Copilot's own commands: another tool is called copilot too.
		Only:   []string{"init", "app", "env", "svc", "job", "task", "pipeline", "storage", "run", "deploy"},
		Source: "https://aws.github.io/copilot-cli/docs/credentials/"},
	{Tools: programs, Env: "aws", What: "an AWS SDK", Vars: []string{"AWS_*"}, Keys: "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY", Program: true,
		Skip:   programSkip,
		Source: "https://docs.aws.amazon.com/sdkref/latest/guide/standardized-credentials.html"},

	// Google Cloud.
	{Tools: terraformTools, Env: "gcp", What: "the Terraform Google provider", Keys: "a service account key (GOOGLE_CREDENTIALS or GOOGLE_APPLICATION_CREDENTIALS)", Default: true,
		Vars:   []string{"GOOGLE_CREDENTIALS", "GOOGLE_CLOUD_KEYFILE_JSON", "GCLOUD_KEYFILE_JSON", "GOOGLE_APPLICATION_CREDENTIALS"},
		Skip:   terraformSkip,
		Source: "https://registry.terraform.io/providers/hashicorp/google/latest/docs/guides/provider_reference#credentials-1"},
	{Tools: []string{"pulumi"}, Env: "gcp", What: "the Pulumi Google Cloud provider", Keys: "a service account key (GOOGLE_CREDENTIALS or GOOGLE_APPLICATION_CREDENTIALS)", Default: true,
		Vars:   []string{"GOOGLE_CREDENTIALS", "GOOGLE_APPLICATION_CREDENTIALS"},
		Skip:   append([]string{"plugin", "config", "new", "about"}, versionHelp...),
		Source: "https://www.pulumi.com/registry/packages/gcp/service-account/"},
	{Tools: []string{"packer"}, Env: "gcp", What: "Packer's Google Compute plugin (Application Default Credentials)", Keys: "a service account key (GOOGLE_APPLICATION_CREDENTIALS)", Default: true,
		Vars:   []string{"GOOGLE_APPLICATION_CREDENTIALS"},
		Only:   []string{"build"},
		Source: "https://developer.hashicorp.com/packer/integrations/hashicorp/googlecompute#authentication"},
	{Tools: []string{"gcloud"}, Env: "gcp", What: "gcloud (property auth/credential_file_override)", Keys: "CLOUDSDK_AUTH_CREDENTIAL_FILE_OVERRIDE",
		Vars:   []string{"CLOUDSDK_AUTH_CREDENTIAL_FILE_OVERRIDE"},
		Source: "https://cloud.google.com/sdk/gcloud/reference/topic/configurations"},
	{Tools: programs, Env: "gcp", What: "a Google Cloud client library (Application Default Credentials)", Keys: "a service account key (GOOGLE_APPLICATION_CREDENTIALS)", Program: true,
		Vars:   []string{"GOOGLE_APPLICATION_CREDENTIALS"},
		Skip:   programSkip,
		Source: "https://cloud.google.com/docs/authentication/application-default-credentials"},

	// Azure.
	{Tools: terraformTools, Env: "azure", What: "the Terraform azurerm provider", Vars: []string{"ARM_*"}, Keys: "ARM_CLIENT_SECRET", Default: true,
		Skip:   terraformSkip,
		Source: "https://registry.terraform.io/providers/hashicorp/azurerm/latest/docs/guides/service_principal_client_secret"},
	{Tools: []string{"pulumi"}, Env: "azure", What: "the Pulumi Azure Native provider", Vars: []string{"ARM_*"}, Keys: "ARM_CLIENT_SECRET", Default: true,
		Skip:   append([]string{"plugin", "config", "new", "about"}, versionHelp...),
		Source: "https://www.pulumi.com/registry/packages/azure-native/installation-configuration/"},
	{Tools: programs, Env: "azure", What: "the Azure Identity library (EnvironmentCredential)", Vars: []string{"AZURE_*"}, Keys: "AZURE_CLIENT_SECRET", Program: true,
		Skip:   programSkip,
		Source: "https://learn.microsoft.com/en-us/dotnet/api/azure.identity.environmentcredential"},

	// Vault and OpenBao.
	{Tools: []string{"vault"}, Env: "vault", What: "the Vault CLI", Vars: []string{"VAULT_TOKEN"}, Keys: "VAULT_TOKEN", Default: true,
		Skip:   append([]string{"server", "login", "status", "agent", "proxy", "operator"}, versionHelp...),
		Source: "https://developer.hashicorp.com/vault/docs/commands#vault_token"},
	{Tools: []string{"bao"}, Env: "vault", What: "the OpenBao CLI", Vars: []string{"BAO_TOKEN", "VAULT_TOKEN"}, Keys: "BAO_TOKEN (or VAULT_TOKEN)", Default: true,
		Skip:   append([]string{"server", "login", "status", "agent", "proxy", "operator"}, versionHelp...),
		Source: "https://openbao.org/docs/commands/"},
	{Tools: terraformTools, Env: "vault", What: "the Terraform Vault provider", Vars: []string{"VAULT_TOKEN"}, Keys: "VAULT_TOKEN", Default: true,
		Skip:   terraformSkip,
		Source: "https://registry.terraform.io/providers/hashicorp/vault/latest/docs#token"},
	{Tools: []string{"pulumi"}, Env: "vault", What: "the Pulumi Vault provider", Vars: []string{"VAULT_TOKEN"}, Keys: "VAULT_TOKEN", Default: true,
		Skip:   append([]string{"plugin", "config", "new", "about"}, versionHelp...),
		Source: "https://www.pulumi.com/registry/packages/vault/installation-configuration/"},

	// Terraform input variables (TF_VAR_name), credentials included.
	{Tools: terraformTools, Env: "terraform", What: "Terraform (input variables)", Vars: []string{"TF_VAR_*"}, Keys: "TF_VAR_*",
		Skip:   terraformSkip,
		Source: "https://developer.hashicorp.com/terraform/cli/config/environment-variables#tf_var_name"},
}

// MultiEnv reports whether a tool reads more than one cloud's
// credentials (terraform, pulumi, packer, the interpreters): running it
// alone does not tell which cloud the job works with. The "terraform"
// env is not a cloud and does not count.
func MultiEnv(tool string) bool {
	var envs []string
	for _, r := range readersByTool[tool] {
		if r.Env != "terraform" && !slices.Contains(envs, r.Env) {
			envs = append(envs, r.Env)
		}
	}
	return len(envs) > 1
}

// readersByTool indexes EnvReaders by tool.
var readersByTool = func() map[string][]*EnvReader {
	m := map[string][]*EnvReader{}
	for i := range EnvReaders {
		for _, t := range EnvReaders[i].Tools {
			m[t] = append(m[t], &EnvReaders[i])
		}
	}
	return m
}()

// ReadsVar reports whether the reader reads the variable name (Vars, with
// a trailing * matching a prefix).
func (r *EnvReader) ReadsVar(name string) bool {
	for _, v := range r.Vars {
		if p, ok := strings.CutSuffix(v, "*"); ok {
			if strings.HasPrefix(name, p) {
				return true
			}
		} else if v == name {
			return true
		}
	}
	return false
}

// reads reports whether the command c, as run, reads credentials: not a
// subcommand in Skip, one in Only when set, no argument in SkipArgs.
func (r *EnvReader) reads(c Command) bool {
	sub := ""
	for i, a := range c.Args {
		if sub == "" && slices.Contains(r.Skip, a) {
			return false // --version, -h
		}
		if slices.Contains(r.SkipArgs, a) {
			return false
		}
		if r.Endpoint != "" {
			url, ok := strings.CutPrefix(a, r.Endpoint+"=")
			if a == r.Endpoint && i+1 < len(c.Args) {
				url, ok = c.Args[i+1], true
			}
			if ok && !strings.Contains(url, r.Host) {
				return false
			}
		}
		if sub == "" && !strings.HasPrefix(a, "-") {
			sub = a
		}
	}
	if len(r.Only) > 0 {
		return slices.Contains(r.Only, sub)
	}
	if r.Program && c.Name == "go" {
		return sub == "run"
	}
	return !slices.Contains(r.Skip, sub)
}

// CredentialUse is a command of a job that reads a credential from the
// environment, by the EnvReaders table.
type CredentialUse struct {
	Reader  *EnvReader
	Command Command
}

// credentialUses are the commands of v that read credentials: every
// EnvReader of each command that reads (not a Skip subcommand); a Program
// reader only when the job itself names its env.
func credentialUses(v *JobView) []CredentialUse {
	var out []CredentialUse
	named := map[string]bool{} // env -> NamedByJob != "", computed once
	for _, c := range v.Commands {
		for _, r := range readersByTool[c.Name] {
			if !r.reads(c) {
				continue
			}
			if r.Program {
				n, ok := named[r.Env]
				if !ok {
					n = Env(r.Env).NamedByJob(v) != ""
					named[r.Env] = n
				}
				if !n {
					continue
				}
			}
			out = append(out, CredentialUse{Reader: r, Command: c})
		}
	}
	return out
}

// AppRoleSecretID reports whether a variable name holds a Vault (or
// OpenBao) AppRole secret_id: SECRET_ID with VAULT, BAO, APPROLE or ROLE
// in the name (VAULT_SECRET_ID, TF_VAR_login_approle_secret_id), and not
// an Azure Key Vault secret's id (TF_VAR_key_vault_secret_id). The Vault
// provider's auth_login reads its parameters from such input variables
// (https://registry.terraform.io/providers/hashicorp/vault/latest/docs#example-auth_login-usage).
func AppRoleSecretID(name string) bool {
	var buf [64]byte
	n := upper(name, buf[:0])
	if !bytes.Contains(n, []byte("SECRET_ID")) && !bytes.Contains(n, []byte("SECRETID")) {
		return false
	}
	if bytes.Contains(n, []byte("KEY_VAULT")) || bytes.Contains(n, []byte("KEYVAULT")) {
		return false
	}
	return bytes.Contains(n, []byte("VAULT")) || bytes.Contains(n, []byte("BAO")) || bytes.Contains(n, []byte("ROLE"))
}

// upper is strings.ToUpper(s) appended to buf: in buf, without
// allocating, for the ASCII names that fit (rules ask about every
// variable of every job, issue 15).
func upper(s string, buf []byte) []byte {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return append(buf, strings.ToUpper(s)...)
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		buf = append(buf, c)
	}
	return buf
}

// VaultPassword reports whether a variable name holds a password for a
// Vault password auth method (userpass, ldap): VAULT and PASSWORD (or
// PASS) in the name.
func VaultPassword(name string) bool {
	var buf [64]byte
	n := upper(name, buf[:0])
	return (bytes.Contains(n, []byte("VAULT")) || bytes.Contains(n, []byte("BAO_"))) &&
		(bytes.Contains(n, []byte("PASSWORD")) || bytes.HasSuffix(n, []byte("_PASS")))
}

// toolEnvNames are the variables of CredentialEnvs, and toolEnvPrefixes
// the prefixes of EnvReaders' Vars ("AWS_*").
var toolEnvNames, toolEnvPrefixes = func() (map[string]bool, []string) {
	names := map[string]bool{}
	for _, e := range CredentialEnvs {
		for _, n := range append(slices.Clone(e.Credentials), e.Settings...) {
			names[n] = true
		}
	}
	var prefixes []string
	for _, r := range EnvReaders {
		for _, v := range r.Vars {
			if p, ok := strings.CutSuffix(v, "*"); ok && !slices.Contains(prefixes, p) {
				prefixes = append(prefixes, p)
			} else if !ok {
				names[v] = true
			}
		}
	}
	return names, prefixes
}()

// ToolEnv reports whether tools of EnvReaders read the variable name from
// their environment: a credential or setting of CredentialEnvs, or a name
// an EnvReader reads (AWS_*, TF_VAR_*).
func ToolEnv(name string) bool {
	if toolEnvNames[name] {
		return true
	}
	for _, p := range toolEnvPrefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// EnvOf returns the CredentialEnv of which name is a credential
// (AWS_ACCESS_KEY_ID: aws), or nil.
func EnvOf(name string) *CredentialEnv {
	for i := range CredentialEnvs {
		if slices.Contains(CredentialEnvs[i].Credentials, name) {
			return &CredentialEnvs[i]
		}
	}
	return nil
}
