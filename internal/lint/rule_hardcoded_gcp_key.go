package lint

import "gitlab.com/keyless-ci/keyless/internal/detect"

// hardcodedGCPKey reports a Google Cloud service account key written in the pipeline.
var hardcodedGCPKey = secretRule{
	rule: rule{Meta{
		ID:          "hardcoded-gcp-key",
		Title:       "Google Cloud service account key written in the pipeline",
		Description: "A service account key (JSON with a private_key) written in the CI/CD configuration is a credential that never expires until it is deleted. Workload identity federation with the keyless gcp component gives the job a short-lived access token for its ID token instead.",
		Severity:    Critical,
		CWE:         []string{"CWE-798"},
		Group:       "secret",
	}},
	kinds:       []detect.Kind{detect.KindGCPServiceKey},
	replacement: "gcp",
	fix:         "delete the key in IAM and store nothing: include component $CI_SERVER_FQDN/keyless-ci/keyless/gcp@1 and extend .keyless-gcp (see components/gcp)",
}
