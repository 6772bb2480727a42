package cli

import (
	"errors"
	"fmt"
	"strings"

	"gitlab.com/keyless-ci/keyless/internal/option"
)

// A catalog component (templates/<name>.yml) passes its inputs to `keyless
// env` as KEYLESS_* variables and names its hidden job in
// KEYLESS_<PROVIDER>_COMPONENT. In such a job the person reading an error
// wrote inputs in an include, not flags on a command line, so keyless env and
// exec speak of role_arn, not --role-arn (issue 13; STYLE.md habit 22).

// componentInput is an input of a provider's component that reaches keyless
// as a variable.
type componentInput struct {
	Name     string // as the include writes it: role_arn
	Var      string // the variable the component sets from it: KEYLESS_AWS_ROLE_ARN
	Required bool   // the spec gives it no default
}

// componentInputs is, per provider, every input its component hands to
// keyless; TestComponentInputsMatchTemplates holds it to templates/*.yml.
var componentInputs = map[string][]componentInput{
	"aws": {
		{"role_arn", "KEYLESS_AWS_ROLE_ARN", true},
		{"aud", "KEYLESS_AWS_AUDIENCE", false},
		{"region", "KEYLESS_AWS_REGION", false},
		{"session_duration", "KEYLESS_AWS_DURATION", false},
		{"sts_endpoint", "KEYLESS_AWS_STS_ENDPOINT", false},
	},
	"gcp": {
		{"provider", "KEYLESS_GCP_PROVIDER", true},
		{"service_account", "KEYLESS_GCP_SERVICE_ACCOUNT", false},
		{"project", "KEYLESS_GCP_PROJECT", false},
		{"lifetime", "KEYLESS_GCP_LIFETIME", false},
		{"scopes", "KEYLESS_GCP_SCOPES", false},
	},
	"sts": {
		{"token_url", "KEYLESS_STS_TOKEN_URL", true},
		{"aud", "KEYLESS_STS_EXPECTED_AUD", true},
		{"audience", "KEYLESS_STS_AUDIENCE", false},
		{"resource", "KEYLESS_STS_RESOURCE", false},
		{"scope", "KEYLESS_STS_SCOPE", false},
		{"requested_token_type", "KEYLESS_STS_REQUESTED_TOKEN_TYPE", false},
		{"subject_token_type", "KEYLESS_STS_SUBJECT_TOKEN_TYPE", false},
		{"client_id", "KEYLESS_STS_CLIENT_ID", false},
		{"client_secret_variable", "KEYLESS_STS_CLIENT_SECRET_ENV", false},
		{"client_assertion_type", "KEYLESS_STS_CLIENT_ASSERTION_TYPE", false},
		{"token_variable", "KEYLESS_STS_ENV", false},
	},
	"azure": {
		{"client_id", "KEYLESS_AZURE_CLIENT_ID", true},
		{"tenant_id", "KEYLESS_AZURE_TENANT_ID", true},
		{"aud", "KEYLESS_AZURE_AUDIENCE", false},
		{"scope", "KEYLESS_AZURE_SCOPE", false},
		{"authority_host", "KEYLESS_AZURE_AUTHORITY_HOST", false},
	},
	"vault": {
		{"addr", "KEYLESS_VAULT_ADDR", true},
		{"role", "KEYLESS_VAULT_ROLE", true},
		{"aud", "KEYLESS_VAULT_AUDIENCE", true},
		{"mount", "KEYLESS_VAULT_MOUNT", false},
		{"namespace", "KEYLESS_VAULT_NAMESPACE", false},
		{"secrets", "KEYLESS_VAULT_SECRETS", false},
		{"secret_files", "KEYLESS_VAULT_SECRET_FILES", false},
		{"export_token", "KEYLESS_VAULT_EXPORT_TOKEN", false},
	},
	// index_url has a default (https://pypi.org): the component always sets
	// KEYLESS_PYPI_INDEX_URL, which is what makes keyless env run pypi.
	"pypi": {
		{"index_url", "KEYLESS_PYPI_INDEX_URL", false},
		{"repository", "KEYLESS_PYPI_REPOSITORY", false},
	},
	"npm": {
		{"package", "KEYLESS_NPM_PACKAGE", true},
		{"registry", "KEYLESS_NPM_REGISTRY", false},
	},
	// registry_url has a default (https://crates.io), as pypi's index_url.
	"crates": {
		{"registry_url", "KEYLESS_CRATES_REGISTRY_URL", false},
		{"registry", "KEYLESS_CRATES_REGISTRY", false},
	},
}

// componentVar is the variable the provider's component sets to the name
// of its hidden job (KEYLESS_AWS_COMPONENT: .keyless-aws).
func (p provider) componentVar() string { return "KEYLESS_" + strings.ToUpper(p.name) + "_COMPONENT" }

// jobError is an error of keyless env or keyless exec, whose options come
// from variables: its message names each option as the job set it, the
// component's input or else the variable. In a component's job no
// `keyless --help` follows it: the job's author typed no keyless command.
type jobError struct {
	err       error
	msg       string
	component bool
}

func (e *jobError) Error() string { return e.msg }
func (e *jobError) Unwrap() error { return e.err }

// checkComponentInputs fails when a component marks the job as using it but
// left a required input empty, as `role_arn: $DEPLOY_ROLE_ARN` does with the
// variable unset for this job. keyless env used to skip such a provider, so
// the job went on without the credentials it asked for, or with the
// runner's own (an EC2 instance profile, IRSA) (issue 13).
func checkComponentInputs(env Env) error {
	var empty []string
	example := ""
	for _, p := range providers {
		as := env.Getenv(p.componentVar())
		if as == "" {
			continue
		}
		for _, in := range componentInputs[p.name] {
			if in.Required && strings.TrimSpace(env.Getenv(in.Var)) == "" {
				empty = append(empty, fmt.Sprintf("%s: the %s input of the %s component is empty in this job, which extends %s", p.name, in.Name, p.name, as))
				if example == "" {
					example = in.Name
				}
			}
		}
	}
	if len(empty) == 0 {
		return nil
	}
	it := "it"
	if len(empty) > 1 {
		it = "each"
	}
	msg := strings.Join(empty, "\nkeyless: ") + "\n" +
		fmt.Sprintf("Give %s a value in the include's inputs:. If it names a variable (%s: $MY_VARIABLE), that variable is empty or not set "+
			"for this job: a protected variable reaches only pipelines of protected branches and tags, and one scoped to an environment "+
			"only jobs of that environment.", it, example)
	return &jobError{err: &UsageError{Err: errors.New(msg)}, msg: msg, component: true}
}

// inJobWords says the options of err (package option) in the words of the
// job that configured p through variables: sts_endpoint where p's
// component set it, else the variable the job set (KEYLESS_AWS_STS_ENDPOINT,
// or KEYLESS_CA_FILE where that one is set), else p's own variable. The
// job's author wrote that one word, so every form of a reference is that
// word alone. An option that no variable sets keeps its flag; text that is
// no reference, such as a command line given as advice, stays as it is.
func (p provider) inJobWords(env Env, err error) error {
	component := env.Getenv(p.componentVar()) != ""
	var inputs []componentInput
	if component {
		inputs = componentInputs[p.name]
	}
	m, flags := p.optionFlags(), p.flags()
	word := func(n option.Name, _ option.Form) string {
		vars := envVars(flags, m.flag(n))
		if len(vars) == 0 {
			return "--" + m.flag(n)
		}
		if in := inputOf(inputs, vars); in != "" {
			return in
		}
		for _, v := range vars {
			if env.Getenv(v) != "" {
				return v
			}
		}
		return vars[0]
	}
	return &jobError{err: err, msg: option.Render(option.Text(err), word), component: component}
}
