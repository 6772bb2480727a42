package lint

import "gitlab.com/keyless-ci/keyless/internal/detect"

// hardcodedGitLabToken reports a GitLab token written in the pipeline.
var hardcodedGitLabToken = secretRule{
	rule: rule{Meta{
		ID:          "hardcoded-gitlab-token",
		Title:       "GitLab token written in the pipeline",
		Description: "A personal, project, group or deploy token, runner token or trigger token written in the CI/CD configuration. GitLab does not exchange ID tokens for its own tokens, so OIDC does not replace it: use the job's own CI_JOB_TOKEN where its permissions reach, else keep the token in a masked and hidden CI/CD variable.",
		Severity:    Critical,
		CWE:         []string{"CWE-798"},
		Group:       "secret",
	}},
	kinds:       []detect.Kind{detect.KindGitLabToken},
	replacement: "",
	fix:         "revoke it; use $CI_JOB_TOKEN where its permissions reach, else move the token to a masked and hidden CI/CD variable",
}
