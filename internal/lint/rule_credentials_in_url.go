package lint

import "gitlab.com/keyless-ci/keyless/internal/detect"

// credentialsInURL reports a URL that carries a user name and password.
var credentialsInURL = secretRule{
	rule: rule{Meta{
		ID:          "credentials-in-url",
		Title:       "Credentials written in a URL",
		Description: "A URL of the form scheme://user:password@host written in the CI/CD configuration (a remote include, a git remote, a service URL). The password is readable by everyone who can read the repository and often reaches job logs with the URL.",
		Severity:    Critical,
		CWE:         []string{"CWE-798"},
		Group:       "secret",
	}},
	kinds:       []detect.Kind{detect.KindURLCredentials},
	replacement: "",
	fix:         "rotate the password and take it out of the URL: pass it from a masked and hidden CI/CD variable, or use $CI_JOB_TOKEN for GitLab URLs",
}
