package lint

import "gitlab.com/keyless-ci/keyless/internal/detect"

// hardcodedAzureSecret reports an Azure client secret written in the pipeline.
var hardcodedAzureSecret = secretRule{
	rule: rule{Meta{
		ID:          "hardcoded-azure-secret",
		Title:       "Azure client secret written in the pipeline",
		Description: "A Microsoft Entra application's client secret written in the CI/CD configuration lasts until it expires or is removed. A federated credential on the app registration with the keyless azure component lets the job sign in with its ID token instead.",
		Severity:    Critical,
		CWE:         []string{"CWE-798"},
		Group:       "secret",
	}},
	kinds:       []detect.Kind{detect.KindAzureSecret},
	replacement: "azure",
	fix:         "remove the secret from the app registration and store nothing: add a federated credential, include component $CI_SERVER_FQDN/keyless-ci/keyless/azure@1 and extend .keyless-azure (see components/azure)",
}
