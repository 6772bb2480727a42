package lint

// secretLeakLog reports secrets a job prints to its log.
var secretLeakLog = leakRule{
	rule: rule{Meta{
		ID:    "secret-leak-log",
		Title: "Secret printed to the job log",
		Description: "The job prints a stored secret, an ID token or a credential it made at run time to its log: echo or printf of it (or of a variable made from it), " +
			"cat of a file it wrote the secret to, a here-document, a tee, or every variable at once (env, printenv, set, export -p, declare -p). " +
			"Everyone who can read the job's log reads it, for as long as the log is kept. GitLab masks a variable's value in the log only when the variable is masked and the value can be " +
			"(a single line of 8 characters or more from a limited alphabet), masks ID tokens, and masks nothing the job makes at run time or encodes. " +
			"Tracing (set -x) is xtrace-with-secrets'.",
		Severity: Major,
		CWE:      []string{"CWE-532"},
		Group:    "leak",
	}},
	sinks: []sink{sinkLog},
	fix: func(lk leak) string {
		switch {
		case lk.dump:
			return "print only the variables you need, by name, or only the names (env | cut -d= -f1)"
		case lk.secrets[0].pseudo:
			return "evaluate keyless env's output (eval \"$(keyless env)\"), never print it"
		case onlyKind(lk.secrets, idTokenSecret):
			return "to debug, print the token's claims (cut -d. -f2 | base64 -d), never the token"
		}
		return "do not print it; to check that it is set, print its length (${#" + lk.secrets[0].name + "})"
	},
}
