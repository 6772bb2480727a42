package lint

import "gitlab.com/keyless-ci/keyless/internal/detect"

// hardcodedSecret reports a secret-named variable with a literal, high-entropy value.
var hardcodedSecret = secretRule{
	rule: rule{Meta{
		ID:          "hardcoded-secret",
		Title:       "Secret written in a secret-named variable",
		Description: "A variable whose name says it holds a secret (PASSWORD, TOKEN, API_KEY…) with a literal value that looks random. Test-database passwords, placeholders and references to other variables are not reported.",
		Severity:    Critical,
		CWE:         []string{"CWE-798"},
		Group:       "secret",
	}},
	kinds:       []detect.Kind{detect.KindGeneric},
	replacement: "",
	fix:         "rotate it and move it to a masked and hidden CI/CD variable, or read it from a secret manager with the job's ID token (keyless vault component)",
}
