package lint

import "gitlab.com/keyless-ci/keyless/internal/detect"

// hardcodedPackageToken reports an npm or PyPI token written in the pipeline.
var hardcodedPackageToken = secretRule{
	rule: rule{Meta{
		ID:          "hardcoded-package-token",
		Title:       "Package registry token written in the pipeline",
		Description: "An npm or PyPI publishing token written in the CI/CD configuration. npmjs.com and PyPI both accept trusted publishing from GitLab CI/CD: the job presents an ID token (id_tokens with the registry's audience) and no token is stored.",
		Severity:    Critical,
		CWE:         []string{"CWE-798"},
		Group:       "secret",
	}},
	kinds:       []detect.Kind{detect.KindPackageToken},
	replacement: "",
	fix:         "revoke it; publish with the registry's trusted publishing from GitLab CI/CD (an ID token, nothing stored), else keep the token in a masked and hidden CI/CD variable",
}
