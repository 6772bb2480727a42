package lint

import "gitlab.com/keyless-ci/keyless/internal/detect"

// hardcodedRegistryPassword reports a container registry password written in the pipeline.
var hardcodedRegistryPassword = secretRule{
	rule: rule{Meta{
		ID:          "hardcoded-registry-password",
		Title:       "Container registry password written in the pipeline",
		Description: "A password or token for docker login (or a registry auth config) written in the CI/CD configuration. The GitLab registry needs none: log in with CI_REGISTRY_USER and CI_REGISTRY_PASSWORD, which GitLab sets per job. Amazon ECR, Google Artifact Registry and Azure Container Registry accept the short-lived credentials of the keyless aws, gcp and azure components.",
		Severity:    Critical,
		CWE:         []string{"CWE-798"},
		Group:       "secret",
	}},
	kinds:       []detect.Kind{detect.KindRegistryPassword},
	replacement: "",
	fix:         "rotate it; for the GitLab registry log in with $CI_REGISTRY_USER and $CI_REGISTRY_PASSWORD, for ECR, Artifact Registry or ACR use the keyless aws, gcp or azure component, else move it to a masked and hidden CI/CD variable",
}
