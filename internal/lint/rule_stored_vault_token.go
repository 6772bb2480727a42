package lint

import (
	"fmt"
	"regexp"
	"strings"

	"gitlab.com/keyless-ci/keyless/internal/pipeline"
)

// storedVaultToken reports jobs that log in to Vault with a stored token
// or AppRole secret.
var storedVaultToken = storedRule{
	rule: rule{Meta{
		ID:    "stored-vault-token",
		Title: "Job uses a stored Vault token or AppRole secret",
		Description: "The job authenticates to HashiCorp Vault (or OpenBao) with VAULT_TOKEN from a CI/CD variable, vault login with a stored token, or an AppRole secret_id " +
			"(an approle login, VAULT_SECRET_ID, or a TF_VAR_… secret_id handed to the Terraform Vault provider's auth_login), or runs a tool that reads VAULT_TOKEN from the environment with no login in sight. " +
			"Vault's JWT auth method accepts the job's ID token: the keyless vault component logs in with it and revokes the Vault token when the job ends.",
		Severity: Major,
		CWE:      []string{"CWE-798"},
		Group:    "stored",
	}},
	replacement: "vault",
	exchanged:   vaultExchanged,
	signals: func(ji *jobInfo, cfg *configFacts) []signal {
		s := varSignals(ji, "VAULT_TOKEN", "BAO_TOKEN")
		for _, l := range ji.lines {
			if !ji.grams.mayHaveAny(storedLogins) {
				break
			}
			v := l.Value
			switch {
			case appRoleLogin(v):
				s = append(s, signal{pos: ji.at(l, "approle"), key: "approle", conf: High, what: "logs in with an AppRole secret_id"})
			case strings.Contains(v, "vault login") && vaultTokenLogin(v):
				s = append(s, signal{pos: ji.at(l, "vault login"), key: "login", conf: High, what: "logs in with a stored Vault token (vault login)"})
			}
		}
		s = append(s, appRoleSignals(ji)...)
		if len(s) > 0 || vaultSignIn(ji) {
			return s
		}
		return implicitSignals(ji, "vault", cfg)
	},
	fix: "replace the stored token: " + useComponent("vault") + ", then revoke the token or AppRole secret",
}

// appRoleSecretIDs: every name pipeline.AppRoleSecretID accepts holds
// one of them, in some case.
var appRoleSecretIDs = []string{"secret_id", "secretid"}

// storedLogins are what a line that logs in to Vault with a stored
// secret holds (appRoleLogin, vaultTokenLogin).
var storedLogins = []string{"approle", "vault login"}

// vaultExchanged reports whether the job logs in to Vault with its ID
// token.
func vaultExchanged(ji *jobInfo) bool {
	return ji.extendsAny("keyless-vault") || ji.tokenFor("vault") ||
		ji.lineWith("auth/jwt/login", "method=jwt", "method=oidc", "keyless env", "keyless vault", "keyless exec") != nil
}

// vaultSignIn reports whether the job shows where its Vault token comes
// from, so that VAULT_TOKEN read implicitly would be a guess: a login of
// any method, a token set or named, Vault Agent, or a Vault server of the
// job's own (vault server -dev, a vault service).
func vaultSignIn(ji *jobInfo) bool {
	return ownVault(ji) || ji.lineWith("vault login", "bao login", "/login", "vault agent", "bao agent", "VAULT_TOKEN", "BAO_TOKEN") != nil ||
		ji.varGiven("VAULT_TOKEN", "BAO_TOKEN")
}

// ownVault reports whether the job runs a Vault of its own to test
// against (vault server -dev, a vault or openbao service, not the job's
// image, which may just carry the CLI): its logins use test
// credentials, not stored ones.
func ownVault(ji *jobInfo) bool {
	if ji.lineWith("vault server", "bao server") != nil {
		return true
	}
	for _, svc := range items(ji.job.Node.Get("services")) {
		name := svc
		if svc.Kind == pipeline.Map {
			name = svc.Get("name")
		}
		if v := name.String(); strings.Contains(v, "vault") || strings.Contains(v, "openbao") {
			return true
		}
	}
	return false
}

// appRoleSignals are the AppRole secret_ids the job takes from stored
// variables outside an approle login line: variables named for one
// (VAULT_SECRET_ID, TF_VAR_login_approle_secret_id, pipeline.AppRoleSecretID)
// set from a stored variable, terraform -var …secret_id=$X, or a line
// that reads one.
func appRoleSignals(ji *jobInfo) []signal {
	var out []signal
	runsTerraform := false
	for _, u := range ji.view.CredentialUses {
		if u.Reader.Env == "terraform" {
			runsTerraform = true
		}
	}
	var secrets []int
	if ji.names != nil {
		secrets = ji.names.secrets
	}
	for _, i := range secrets {
		v := ji.vars[i]
		if !pipeline.AppRoleSecretID(v.Name) {
			continue
		}
		ref := storedRef(v.Value.Value)
		if ref == "" {
			continue
		}
		what := fmt.Sprintf("sets %s from the stored AppRole secret_id $%s", v.Name, ref)
		if strings.HasPrefix(v.Name, "TF_VAR_") && runsTerraform {
			what = fmt.Sprintf("hands the stored AppRole secret_id $%s to the Terraform Vault provider (%s)", ref, v.Name)
		}
		out = append(out, signal{pos: v.Value.Pos, key: "approle-var\x00" + v.Name + "\x00" + ref, conf: High, what: what})
	}
	for _, l := range ji.lines {
		if !ji.grams.mayHaveAny(appRoleSecretIDs) {
			break
		}
		if appRoleLogin(l.Value) {
			continue // the approle login signal
		}
		for _, r := range varRefs(l.Value) {
			if !pipeline.AppRoleSecretID(r) || predefined(r) || ji.lookup(r) != nil {
				continue
			}
			switch tfvar := tfVarFrom(l.Value, r); {
			case runsTerraform && tfvar != "":
				out = append(out, signal{pos: ji.at(l, r), key: "approle-tfvar\x00" + r, conf: High,
					what: fmt.Sprintf("hands the stored AppRole secret_id $%s to the Terraform Vault provider (%s)", r, tfvar)})
			default:
				out = append(out, signal{pos: ji.at(l, r), key: "approle-read\x00" + r, conf: Medium,
					what: fmt.Sprintf("reads the stored AppRole secret_id $%s", r)})
			}
			break
		}
	}
	return out
}

// appRoleLoginRE matches an AppRole login: the API path of a mount named
// for it (auth/approle/login, auth/ci-approle/login) or vault login
// -method=approle.
var appRoleLoginRE = regexp.MustCompile(`\bauth/[A-Za-z0-9_.-]*approle[A-Za-z0-9_.-]*/login\b|-method[= ]+["']?approle\b`)

// appRoleLogin reports whether a line logs in with AppRole.
func appRoleLogin(line string) bool {
	return strings.Contains(line, "approle") && appRoleLoginRE.MatchString(line)
}

// tfVarFrom returns the Terraform input variable a line hands the
// variable ref to: TF_VAR_x=$ref, or terraform -var x=$ref; "" for none.
func tfVarFrom(line, ref string) string {
	for _, stages := range pipelines(line) {
		for _, stage := range stages {
			if f := tfVarIn(parseCommand(stage), ref); f != "" {
				return f
			}
		}
	}
	return ""
}

// tfVarIn is tfVarFrom for one simple command.
func tfVarIn(c command, ref string) string {
	for _, a := range c.assigns {
		if strings.HasPrefix(a.name, "TF_VAR_") && refersTo(a.value, ref) {
			return a.name
		}
	}
	words := c.args
	for i, w := range words {
		w = strings.TrimPrefix(strings.TrimPrefix(w, "-var="), "--var=")
		if i > 0 && (words[i-1] == "-var" || words[i-1] == "--var") || w != words[i] {
			w = strings.Trim(w, `"'`)
			if name, value, ok := strings.Cut(w, "="); ok && refersTo(value, ref) {
				return "-var " + name
			}
		}
	}
	return ""
}

// vaultTokenLogin reports whether a vault login line uses a token: no
// -method, or -method=token.
func vaultTokenLogin(line string) bool {
	i := strings.Index(line, "vault login")
	rest := line[i+len("vault login"):]
	if nl := strings.IndexByte(rest, '\n'); nl >= 0 {
		rest = rest[:nl]
	}
	if strings.Contains(rest, "method=") {
		return strings.Contains(rest, "method=token")
	}
	return strings.Contains(rest, "$") || strings.Contains(rest, "token=")
}
