package lint

// storedAWSKeys reports jobs that use stored AWS access keys where an ID
// token exchange could replace them.
var storedAWSKeys = storedRule{
	rule: rule{Meta{
		ID:    "stored-aws-keys",
		Title: "Job uses stored AWS access keys",
		Description: "The job reads AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY from CI/CD variables (or copies them from other variables), or runs a tool that reads them from the environment " +
			"(the AWS CLI, Terraform, Serverless, CDK, SAM, Pulumi, Packer, eksctl, Copilot, an AWS SDK program), so a long-lived IAM user key sits in the project's settings. " +
			"With the keyless aws component the job exchanges its ID token for a one-hour role session and no key is stored.",
		Severity: Major,
		CWE:      []string{"CWE-798"},
		Group:    "stored",
	}},
	replacement: "aws",
	exchanged: func(ji *jobInfo) bool {
		return ji.extendsAny("keyless-aws") || ji.tokenFor("aws") ||
			ji.varSet("AWS_WEB_IDENTITY_TOKEN_FILE", "KEYLESS_AWS_ROLE_ARN") ||
			ji.lineWith("assume-role-with-web-identity", "AWS_WEB_IDENTITY_TOKEN_FILE", "web_identity_token", "keyless env", "keyless aws", "keyless exec") != nil
	},
	signals: func(ji *jobInfo, cfg *configFacts) []signal {
		s := varSignals(ji, "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
		s = append(s, commandSignal(ji, High, "configure\x00aws_secret_access_key",
			"stores a secret access key with aws configure set", "aws configure set aws_secret_access_key", "aws_secret_access_key =")...)
		if len(s) > 0 || ji.lineWith("AWS_ACCESS_KEY_ID", "aws_access_key_id", "AWS_SECRET_ACCESS_KEY", "aws_secret_access_key") != nil ||
			ji.varGiven("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_CONTAINER_CREDENTIALS_FULL_URI") {
			return s
		}
		// The tools read AWS_ACCESS_KEY_ID from the environment: a job
		// that runs one with no keys and no exchange in sight probably
		// gets them from project or group variables (or from the
		// runner's instance role, which this cannot see: hence low
		// confidence unless the configuration says more).
		return implicitSignals(ji, "aws", cfg)
	},
	fix: "replace the stored key: " + useComponent("aws") + ", then delete the key and its CI/CD variables",
}
