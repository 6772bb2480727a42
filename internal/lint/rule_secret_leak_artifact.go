package lint

// secretLeakArtifact reports secrets a job writes to a file it keeps as
// an artifact or in its cache.
var secretLeakArtifact = leakRule{
	rule: rule{Meta{
		ID:    "secret-leak-artifact",
		Title: "Secret written to a file kept as an artifact or cache",
		Description: "The job writes a stored secret, an ID token or a credential it made at run time to a file (echo > file, tee, a here-document, cp, env > file) that it keeps: " +
			"artifacts:paths matches it (globs as GitLab Runner reads them, less artifacts:exclude), artifacts:untracked keeps it, it is another artifacts:reports file, or cache:paths saves it. " +
			"Anyone who can download the job's artifacts reads it, and every later job gets it; a cache goes to every later job that restores it. " +
			"GitLab masks variables in job logs only, never in artifacts or caches. A file written outside the project directory, or removed before the job ends, is not kept.",
		Severity: Critical,
		CWE:      []string{"CWE-538"},
		Group:    "leak",
	}},
	sinks: []sink{sinkArtifact, sinkCache},
	fix: func(lk leak) string {
		keep := "the artifacts (artifacts:exclude)"
		if lk.sink == sinkCache {
			keep = "cache:paths"
		}
		return "write it outside the project directory (a file of mktemp) and remove it when done, or keep the file out of " + keep
	},
}
