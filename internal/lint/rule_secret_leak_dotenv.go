package lint

// secretLeakDotenv reports secrets a job writes to its dotenv report.
var secretLeakDotenv = leakRule{
	rule: rule{Meta{
		ID:    "secret-leak-dotenv",
		Title: "Secret written to an artifacts:reports:dotenv file",
		Description: "The job writes a stored secret, an ID token or a credential it made at run time to the file of its artifacts:reports:dotenv. " +
			"GitLab makes every line of it a variable of every later job and of downstream pipelines (docs.gitlab.com/ci/variables/dotenv_variables): " +
			"a new variable that is not masked, so any later job that prints it or traces its script shows the secret, and the report is kept as an artifact of the job.",
		Severity: Critical,
		CWE:      []string{"CWE-538"},
		Group:    "leak",
	}},
	sinks: []sink{sinkDotenv},
	fix: func(leak) string {
		return "a dotenv report is for values that are not secret: have each job that needs the secret read it itself, from a CI/CD variable or with secrets: and its ID token"
	},
}
