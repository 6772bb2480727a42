package lint

import (
	"fmt"
	"strings"

	"gitlab.com/keyless-ci/keyless/internal/pipeline"
)

// storedSecretManagerKeys reports jobs that fetch static cloud keys from a
// secret manager they sign in to with a stored credential: two long-lived
// credentials where the ID token needs none (issue 15).
var storedSecretManagerKeys = secretManagerRule{rule{Meta{
	ID:    "stored-secret-manager-keys",
	Title: "Job fetches static cloud keys from a secret manager with a stored credential",
	Description: "The job sets a cloud credential variable (AWS_SECRET_ACCESS_KEY, GOOGLE_CREDENTIALS, ARM_CLIENT_SECRET, VAULT_TOKEN …) from a secret manager " +
		"(Azure Key Vault, AWS Secrets Manager or Parameter Store, Google Secret Manager, a Vault KV store) that it signs in to with a stored credential of its own. " +
		"The keys in the secret manager are as static as a CI/CD variable, and the sign-in secret is one more. The cloud of the keys accepts the job's ID token directly: " +
		"the keyless component for it replaces both.",
	Severity: Major,
	CWE:      []string{"CWE-798"},
	Group:    "stored",
}}}

type secretManagerRule struct{ rule }

// secretManager is a command that reads a stored secret, and the stored
// rules whose credentials sign in to it.
type secretManager struct {
	name   string // "Azure Key Vault"
	cmd    string // what the command substitution runs: "az keyvault secret show"
	signIn []storedRule
	// identity are lines that sign in with an identity of the runner's,
	// which stores nothing: az login --identity (a managed identity).
	identity []string
}

var (
	azureSignIn = []storedRule{storedAzureSecret}
	vaultLogins = []storedRule{storedVaultToken, storedVaultPassword}
	managedID   = []string{"az login --identity", "az login -i "}
)

var secretManagers = []secretManager{
	{"Azure Key Vault", "az keyvault secret show", azureSignIn, managedID},
	{"Azure Key Vault", "az keyvault secret download", azureSignIn, managedID},
	{"AWS Secrets Manager", "aws secretsmanager get-secret-value", []storedRule{storedAWSKeys}, nil},
	{"AWS Systems Manager Parameter Store", "aws ssm get-parameter", []storedRule{storedAWSKeys}, nil},
	{"Google Secret Manager", "gcloud secrets versions access", []storedRule{storedGCPKey}, nil},
	{"Vault", "vault kv get", vaultLogins, nil},
	{"Vault", "vault read", vaultLogins, nil},
	{"OpenBao", "bao kv get", vaultLogins, nil},
	{"OpenBao", "bao read", vaultLogins, nil},
}

// managerCmds are the cmd of each secretManagers entry.
var managerCmds = func() []string {
	var out []string
	for _, m := range secretManagers {
		out = append(out, m.cmd)
	}
	return out
}()

// fetched is a cloud credential variable a job sets from a secret manager.
type fetched struct {
	line    *pipeline.Node
	name    string // AWS_SECRET_ACCESS_KEY
	env     string // "aws"
	manager *secretManager
}

func (r secretManagerRule) Check(p *Pass) {
	var sites siteFindings
	cfg := p.configFacts()
	for _, ji := range p.jobInfos() {
		for _, f := range fetchedKeys(ji) {
			sf, ok := signInSignal(ji, f.manager, cfg)
			if !ok {
				continue // signed in with the ID token
			}
			conf, how := Low, "signing in with credentials the configuration does not show"
			if sf != nil {
				conf, how = sf.conf, "after it "+sf.what
			}
			title := pipeline.Env(f.env).Title
			what := fmt.Sprintf("sets %s from %s (%s) %s; a static %s credential then sits behind a stored one", f.name, f.manager.name, f.manager.cmd, how, title)
			fix := fmt.Sprintf("replace both: %s, then delete the %s credential from %s and the sign-in's CI/CD variable", useComponent(f.env), title, f.manager.name)
			sites.add(ji.job.Name, Finding{Pos: ji.at(f.line, f.name), Key: "fetch\x00" + f.name + "\x00" + f.manager.cmd, Confidence: conf, Replacement: f.env},
				func(jobs string) string { return fmt.Sprintf("%s %s: %s", jobs, what, fix) })
		}
	}
	sites.report(p)
}

// signInSignal is the strongest sign that the job signs in to m with a
// stored credential, nil when it shows none; ok is false when the job
// signs in with its ID token.
func signInSignal(ji *jobInfo, m *secretManager, cfg *configFacts) (s *signal, ok bool) {
	var all []signal
	for _, r := range m.signIn {
		if r.exchanged(ji) {
			return nil, false
		}
		all = append(all, r.signals(ji, cfg)...)
	}
	if len(m.identity) > 0 && ji.lineWith(m.identity...) != nil {
		return nil, false
	}
	return strongest(all), true
}

// fetchedKeys are the cloud credential variables the job sets from a
// secret manager: NAME=$(az keyvault secret show …), directly or through
// one variable (KEYS=$(…); AWS_ACCESS_KEY_ID=$(echo "$KEYS" | jq …)), and
// aws configure set aws_secret_access_key $(…).
func fetchedKeys(ji *jobInfo) []fetched {
	if !ji.grams.mayHaveAny(managerCmds) {
		return nil // every fetch starts with a manager's command
	}
	from := map[string]*secretManager{} // variables holding a fetched secret
	var out []fetched
	for _, l := range ji.lines {
		for _, a := range setFromOutput(l.Value) {
			m := managerOf(a.body)
			if m == nil {
				for _, ref := range varRefs(a.body) {
					if from[ref] != nil {
						m = from[ref]
						break
					}
				}
			}
			if m == nil {
				continue
			}
			from[a.name] = m
			if env := credentialEnv(a.name); env != "" {
				out = append(out, fetched{line: l, name: a.name, env: env, manager: m})
			}
		}
	}
	return out
}

// credentialEnv is the env whose credential variable name is, "" for
// none.
func credentialEnv(name string) string {
	for _, e := range pipeline.CredentialEnvs {
		for _, c := range e.Credentials {
			if c == name {
				return e.Name
			}
		}
	}
	if name == "aws_secret_access_key" || name == "aws_access_key_id" {
		return "aws" // aws configure set
	}
	return ""
}

// managerOf is the secret manager a command substitution reads, nil for
// none. vault read of a secrets engine that issues credentials
// (aws/creds/…, database/creds/…) reads no static secret.
func managerOf(body string) *secretManager {
	for i := range secretManagers {
		m := &secretManagers[i]
		j := strings.Index(body, m.cmd)
		if j < 0 || !runs(body, m.cmd) {
			continue
		}
		if strings.HasSuffix(m.cmd, " read") {
			for _, w := range strings.Fields(body[j+len(m.cmd):]) {
				if strings.HasPrefix(w, "-") {
					continue
				}
				if dynamicSecret(strings.Trim(w, `"'`)) {
					return nil
				}
				break
			}
		}
		return m
	}
	return nil
}

// dynamicSecret reports whether a Vault path is one of a secrets engine
// that issues short-lived credentials
// (https://developer.hashicorp.com/vault/docs/secrets/aws#usage and the
// like), or no secret at all (auth/, sys/).
func dynamicSecret(path string) bool {
	for _, p := range []string{"aws/", "gcp/", "azure/", "database/", "auth/", "sys/"} {
		if strings.HasPrefix(path, p) {
			return true
		}
	}
	for _, s := range []string{"/creds/", "/sts/", "/token/", "/static-creds/"} {
		if strings.Contains(path, s) {
			return true
		}
	}
	return false
}

// substitution is NAME=$(body) or NAME=`body` in a line, and aws
// configure set NAME $(body).
type substitution struct{ name, body string }

// setFromOutput lists the variables a line sets from a command's output
// or from another variable (then body is the reference).
func setFromOutput(line string) []substitution {
	var out []substitution
	for i := 0; i < len(line); i++ {
		if line[i] != '=' || i == 0 {
			continue
		}
		j := i
		for j > 0 && isNameByte(line[j-1]) {
			j--
		}
		name := line[j:i]
		if !isName(name) || j > 0 && line[j-1] != ' ' && line[j-1] != '\t' && line[j-1] != ';' && line[j-1] != '\n' {
			continue
		}
		if body, ok := substitutionBody(line[i+1:]); ok {
			out = append(out, substitution{name, body})
		}
	}
	const set = "aws configure set "
	for k := strings.Index(line, set); k >= 0; {
		rest := strings.Fields(line[k+len(set):])
		if len(rest) >= 2 {
			if body, ok := substitutionBody(strings.Join(rest[1:], " ")); ok {
				out = append(out, substitution{strings.TrimPrefix(rest[0], "default."), body})
			}
		}
		n := strings.Index(line[k+len(set):], set)
		if n < 0 {
			break
		}
		k += len(set) + n
	}
	return out
}

// substitutionBody is the command of a value that starts with $( or a
// backquote (quoted or not), or the variable it is ($X, "${X}").
func substitutionBody(v string) (string, bool) {
	v = strings.TrimLeft(v, `"'`)
	switch {
	case strings.HasPrefix(v, "$("):
		depth := 0
		for k := 1; k < len(v); k++ {
			switch v[k] {
			case '(':
				depth++
			case ')':
				depth--
				if depth == 0 {
					return v[2:k], true
				}
			}
		}
		return v[2:], true
	case strings.HasPrefix(v, "`"):
		if end := strings.IndexByte(v[1:], '`'); end >= 0 {
			return v[1 : end+1], true
		}
	case strings.HasPrefix(v, "$"):
		if refs := varRefs(v); len(refs) > 0 {
			return "$" + refs[0], true
		}
	}
	return "", false
}
