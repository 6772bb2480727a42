package lint

import "gitlab.com/keyless-ci/keyless/internal/detect"

// hardcodedVaultToken reports a HashiCorp Vault token written in the pipeline.
var hardcodedVaultToken = secretRule{
	rule: rule{Meta{
		ID:          "hardcoded-vault-token",
		Title:       "Vault token written in the pipeline",
		Description: "A Vault token written in the CI/CD configuration gives its policies to everyone who can read the repository. Vault's JWT auth method accepts the job's ID token: the keyless vault component logs in with it and revokes the token when the job ends.",
		Severity:    Critical,
		CWE:         []string{"CWE-798"},
		Group:       "secret",
	}},
	kinds:       []detect.Kind{detect.KindVaultToken},
	replacement: "vault",
	fix:         "revoke the token and store nothing: include component $CI_SERVER_FQDN/keyless-ci/keyless/vault@1 and extend .keyless-vault, which logs in with the job's ID token (see components/vault)",
}
