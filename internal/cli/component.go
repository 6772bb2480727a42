package cli

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/urfave/cli/v2"
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

// inJobWords rewrites err, written for a terminal, in the words of the job
// that configured p through variables: --sts-endpoint becomes sts_endpoint
// where p's component set it, KEYLESS_AWS_STS_ENDPOINT (the variable the job
// set) otherwise; "--ca-file (KEYLESS_AWS_CA_FILE)" names it once. A keyless
// command line quoted as advice keeps its flags.
func (p provider) inJobWords(app *cli.App, env Env, err error) error {
	component := env.Getenv(p.componentVar()) != ""
	inputs := map[string]string{}
	if component {
		for _, in := range componentInputs[p.name] {
			inputs[in.Var] = in.Name
		}
	}
	words := map[string]string{}              // flag name -> the job's word
	fallbacks := map[string]map[string]bool{} // flag name -> its variables
	for _, fl := range p.flags() {
		d, ok := fl.(cli.DocGenerationFlag)
		if !ok || len(d.GetEnvVars()) == 0 {
			continue
		}
		vars := d.GetEnvVars()
		word := vars[0]
		for _, v := range vars {
			if env.Getenv(v) != "" {
				word = v
				break
			}
		}
		for _, v := range vars {
			if in, ok := inputs[v]; ok {
				word = in
			}
		}
		for _, n := range fl.Names() {
			words[n] = word
			fallbacks[n] = map[string]bool{}
			for _, v := range vars {
				fallbacks[n][v] = true
			}
		}
	}
	var commands []string
	for _, c := range app.Commands {
		commands = append(commands, regexp.QuoteMeta(c.Name))
	}
	re := regexp.MustCompile("keyless (?:" + strings.Join(commands, "|") + `)\b[^\n'"` + "`" + `)]*` +
		`|--([a-z][a-z0-9-]*)(?: \((?:or set )?\$?([A-Z][A-Z0-9_]*)\))?`)
	msg := re.ReplaceAllStringFunc(err.Error(), func(m string) string {
		sm := re.FindStringSubmatch(m)
		w, ok := words[sm[1]]
		if sm[1] == "" || !ok {
			return m // a keyless command line, or not p's option
		}
		if sm[2] != "" && !fallbacks[sm[1]][sm[2]] {
			return w + m[len("--"+sm[1]):]
		}
		return w
	})
	return &jobError{err: err, msg: msg, component: component}
}
