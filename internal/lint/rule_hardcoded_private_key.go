package lint

import "gitlab.com/keyless-ci/keyless/internal/detect"

// hardcodedPrivateKey reports a private key written in the pipeline.
var hardcodedPrivateKey = secretRule{
	rule: rule{Meta{
		ID:          "hardcoded-private-key",
		Title:       "Private key written in the pipeline",
		Description: "A PEM or OpenSSH private key (SSH deploy key, signing key, TLS key) written in the CI/CD configuration. Keys cannot be federated: keep it in a masked and hidden CI/CD variable of type File, or fetch it from Vault with the keyless vault component.",
		Severity:    Critical,
		CWE:         []string{"CWE-798"},
		Group:       "secret",
	}},
	kinds:       []detect.Kind{detect.KindPrivateKey},
	replacement: "",
	fix:         "replace the key pair and move the private key to a masked and hidden CI/CD variable of type File, or read it from Vault with the keyless vault component",
}
