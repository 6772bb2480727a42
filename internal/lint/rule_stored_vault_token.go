package lint

import "strings"

// storedVaultToken reports jobs that log in to Vault with a stored token
// or AppRole secret.
var storedVaultToken = storedRule{
	rule: rule{Meta{
		ID:    "stored-vault-token",
		Title: "Job uses a stored Vault token or AppRole secret",
		Description: "The job authenticates to HashiCorp Vault (or OpenBao) with VAULT_TOKEN from a CI/CD variable, vault login with a stored token, or an AppRole secret_id. " +
			"Vault's JWT auth method accepts the job's ID token: the keyless vault component logs in with it and revokes the Vault token when the job ends.",
		Severity: Major,
		CWE:      []string{"CWE-798"},
		Group:    "stored",
	}},
	replacement: "vault",
	exchanged: func(ji *jobInfo) bool {
		return ji.extendsAny("keyless-vault") || ji.tokenFor("vault") ||
			ji.lineWith("auth/jwt/login", "method=jwt", "method=oidc", "keyless env", "keyless vault", "keyless exec") != nil
	},
	signals: func(ji *jobInfo) []signal {
		s := varSignals(ji, "VAULT_TOKEN", "BAO_TOKEN")
		for _, l := range ji.lines {
			v := l.Value
			switch {
			case strings.Contains(v, "approle"):
				s = append(s, signal{pos: ji.at(l, "approle"), key: "approle", conf: High, what: "logs in with an AppRole secret_id"})
			case strings.Contains(v, "vault login") && vaultTokenLogin(v):
				s = append(s, signal{pos: ji.at(l, "vault login"), key: "login", conf: High, what: "logs in with a stored Vault token (vault login)"})
			}
		}
		return s
	},
	fix: "replace the stored token: " + useComponent("vault") + ", then revoke the token or AppRole secret",
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
