package lint

import (
	"fmt"
	"regexp"
	"strings"

	"gitlab.com/keyless-ci/keyless/internal/detect"
	"gitlab.com/keyless-ci/keyless/internal/pipeline"
)

// storedVaultPassword reports jobs that log in to Vault with a password
// auth method (userpass, ldap, okta, radius) and a stored password.
var storedVaultPassword = storedRule{
	rule: rule{Meta{
		ID:    "stored-vault-password",
		Title: "Job logs in to Vault with a stored password",
		Description: "The job logs in to HashiCorp Vault (or OpenBao) with a username and password: vault login -method=userpass or ldap, vault write auth/userpass/login/…, or the HTTP API's /v1/auth/ldap/login. " +
			"The password is a CI/CD variable that does not expire; an LDAP password is often a directory account's, valid far beyond Vault. " +
			"Vault's JWT auth method accepts the job's ID token instead: the keyless vault component logs in with it.",
		Severity: Major,
		CWE:      []string{"CWE-798"},
		Group:    "stored",
	}},
	replacement: "vault",
	exchanged:   vaultExchanged,
	signals: func(ji *jobInfo, _ *configFacts) []signal {
		if ownVault(ji) {
			return nil
		}
		var s []signal
		if !ji.grams.mayHave("login") {
			return nil
		}
		for _, l := range ji.lines {
			how := vaultPasswordLogin(l.Value)
			if how == "" {
				continue
			}
			if secret := passwordRef(l.Value); secret != "" {
				s = append(s, signal{pos: ji.at(l, "login"), key: "password\x00" + secret, conf: High,
					what: fmt.Sprintf("logs in to Vault with the stored password $%s (%s)", secret, how)})
			} else {
				s = append(s, signal{pos: ji.at(l, "login"), key: "password", conf: Medium,
					what: fmt.Sprintf("logs in to Vault with a password (%s)", how)})
			}
		}
		return s
	},
	fix: "replace the password: " + useComponent("vault") + ", then remove the job's Vault user (or the directory account's access to Vault) and delete the password's CI/CD variable",
}

// The password auth methods (https://developer.hashicorp.com/vault/docs/auth/userpass,
// …/auth/ldap, …/auth/okta, …/auth/radius): on the CLI by -method, on
// the API by the login path of a mount named for its method.
var (
	passwordMethod = regexp.MustCompile(`\b(?:vault|bao) login\b.*-method[= ]+["']?(userpass|ldap|okta|radius)\b`)
	passwordPath   = regexp.MustCompile(`\bauth/((?:userpass|ldap|okta|radius)[A-Za-z0-9_.-]*)/login\b`)
)

// vaultPasswordLogin tells how a line logs in with a password auth
// method ("vault login -method=ldap", "auth/userpass/login"), "" when it
// does not.
func vaultPasswordLogin(line string) string {
	// Each pattern only where its literal is: spare the regexps most
	// lines (docker login, npm login).
	if !strings.Contains(line, "login") {
		return ""
	}
	if strings.Contains(line, "-method") {
		if m := passwordMethod.FindStringSubmatch(line); m != nil {
			return "vault login -method=" + m[1]
		}
	}
	if !strings.Contains(line, "auth/") {
		return ""
	}
	if m := passwordPath.FindStringSubmatch(line); m != nil {
		return "auth/" + m[1] + "/login"
	}
	return ""
}

// passwordRef is the first variable a login line expands that holds a
// password (detect.SecretName, pipeline.VaultPassword), "" for none.
func passwordRef(line string) string {
	for _, r := range varRefs(line) {
		if !predefined(r) && (detect.SecretName(r) || pipeline.VaultPassword(r)) {
			return r
		}
	}
	return ""
}
