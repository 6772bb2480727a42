package lint

import "strings"

// storedAzureSecret reports jobs that sign in to Azure with a stored
// client secret.
var storedAzureSecret = storedRule{
	rule: rule{Meta{
		ID:    "stored-azure-secret",
		Title: "Job uses a stored Azure client secret",
		Description: "The job signs in as a service principal with a client secret (az login --service-principal with a password, ARM_CLIENT_SECRET or AZURE_CLIENT_SECRET from a CI/CD variable), " +
			"or runs a tool that reads ARM_CLIENT_SECRET from the environment (Terraform's azurerm provider, Pulumi, an Azure Identity program) in a job set up for Azure. " +
			"A federated credential on the app registration and the keyless azure component let the job sign in with its ID token instead.",
		Severity: Major,
		CWE:      []string{"CWE-798"},
		Group:    "stored",
	}},
	replacement: "azure",
	exchanged: func(ji *jobInfo) bool {
		return ji.extendsAny("keyless-azure") || ji.tokenFor("azure") || ji.varSet("ARM_USE_OIDC", "ARM_OIDC_TOKEN") ||
			ji.lineWith("--federated-token", "ARM_USE_OIDC", "ARM_OIDC_TOKEN", "AZURE_FEDERATED_TOKEN", "keyless env", "keyless azure", "keyless exec") != nil
	},
	signals: func(ji *jobInfo, cfg *configFacts) []signal {
		s := varSignals(ji, "ARM_CLIENT_SECRET", "AZURE_CLIENT_SECRET")
		for _, l := range ji.lines {
			if !ji.grams.mayHave("az login") {
				break
			}
			if strings.Contains(l.Value, "az login") && strings.Contains(l.Value, "--service-principal") && azurePassword(l.Value) {
				s = append(s, signal{pos: ji.at(l, "az login"), key: "login", conf: High,
					what: "signs in with a client secret (az login --service-principal with a password)"})
			}
		}
		// A sign-in the job shows (az login of any kind, a managed or
		// workload identity, a certificate) is judged above, not guessed.
		if len(s) > 0 || ji.lineWith(azureSignInLines...) != nil || ji.varGiven(azureSignInVars...) {
			return s
		}
		return implicitSignals(ji, "azure", cfg)
	},
	fix: "replace the secret: add a federated credential to the app registration, " + useComponent("azure") + ", then remove the client secret",
}

// azurePassword reports whether an az login line passes a password.
func azurePassword(line string) bool {
	for _, f := range strings.Fields(line) {
		switch {
		case f == "-p", f == "--password", f == "--secret", f == "--client-secret",
			strings.HasPrefix(f, "-p="), strings.HasPrefix(f, "--password="), strings.HasPrefix(f, "--client-secret="):
			return true
		}
	}
	return false
}

// azureSignInVars are the variables that sign a job in to Azure some other
// way than a stored secret, or with one; azureSignInLines what a line
// that signs in has (made once, not for each job).
var (
	azureSignInVars = []string{"ARM_CLIENT_SECRET", "AZURE_CLIENT_SECRET", "ARM_CLIENT_CERTIFICATE_PATH", "AZURE_CLIENT_CERTIFICATE_PATH",
		"ARM_USE_MSI", "ARM_USE_CLI", "ARM_USE_AKS_WORKLOAD_IDENTITY", "AZURE_FEDERATED_TOKEN_FILE"}
	azureSignInLines = append([]string{"az login", "Connect-AzAccount"}, azureSignInVars...)
)
