package lint

import "gitlab.com/keyless-ci/keyless/internal/detect"

// hardcodedAWSKey reports an AWS access key id or secret access key written in the pipeline; a key id with its secret key in the same job is a blocker.
var hardcodedAWSKey = secretRule{
	rule: rule{Meta{
		ID:          "hardcoded-aws-key",
		Title:       "AWS access key written in the pipeline",
		Description: "An AWS access key id (AKIA…) or secret access key written in the CI/CD configuration can be read by everyone who can read the repository, and stays in its history after it is removed. With the keyless aws component the job gets short-lived credentials from STS for its ID token and nothing is stored.",
		Severity:    Critical,
		CWE:         []string{"CWE-798"},
		Group:       "secret",
	}},
	kinds:       []detect.Kind{detect.KindAWSAccessKey},
	replacement: "aws",
	fix:         "deactivate the key in IAM and store nothing: include component $CI_SERVER_FQDN/keyless-ci/keyless/aws@1 and extend .keyless-aws (see components/aws)",
}
