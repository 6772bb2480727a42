package lint

import (
	"slices"
	"strings"
)

// storedGCPKey reports jobs that sign in to Google Cloud with a stored
// service account key.
var storedGCPKey = storedRule{
	rule: rule{Meta{
		ID:    "stored-gcp-key",
		Title: "Job uses a stored Google Cloud service account key",
		Description: "The job activates a service account key (gcloud auth activate-service-account, GOOGLE_APPLICATION_CREDENTIALS pointing at a stored key file, or a key written from a variable to a file), " +
			"or runs a tool that reads a key from the environment (Terraform's Google provider, Pulumi, Packer, a Google Cloud client library program) in a job set up for Google Cloud. " +
			"Service account keys do not expire until deleted. Workload identity federation with the keyless gcp component gives the job a short-lived access token for its ID token.",
		Severity: Major,
		CWE:      []string{"CWE-798"},
		Group:    "stored",
	}},
	replacement: "gcp",
	exchanged: func(ji *jobInfo) bool {
		// identity: google_cloud is GitLab's own workload identity
		// federation (https://docs.gitlab.com/ci/yaml/#identity).
		return ji.extendsAny("keyless-gcp", "oidc") || ji.tokenFor("gcp") || ji.job.Node.Get("identity") != nil ||
			ji.lineWith("create-cred-config", "external_account", "workloadIdentityPools", "sts.googleapis.com", "keyless env", "keyless gcp", "keyless exec") != nil
	},
	signals: func(ji *jobInfo, cfg *configFacts) []signal {
		var s []signal
		if l, pos := ji.lineAt("auth activate-service-account"); l != nil {
			conf := Medium
			if strings.Contains(l.Value, "key-file") {
				conf = High
			}
			s = append(s, signal{pos: pos, key: "activate", conf: conf, what: "signs in with a service account key (gcloud auth activate-service-account)"})
		}
		written := ji.lines
		if !ji.grams.mayHaveAny(gcpCloudWords) {
			written = nil // no line names a gcpKeyName variable
		}
		for _, l := range written {
			if !strings.Contains(l.Value, ">") {
				continue
			}
			for _, r := range varRefs(l.Value) {
				if gcpKeyName(r) {
					s = append(s, signal{pos: ji.at(l, r), key: "write\x00" + r, conf: High,
						what: "writes the service account key in $" + r + " to a file"})
					break
				}
			}
		}
		if v := ji.lookup("GOOGLE_APPLICATION_CREDENTIALS"); v != nil {
			if ref, ok := onlyRef(v.Value.Value); ok && !predefined(ref) {
				s = append(s, signal{pos: v.Value.Pos, key: "adc\x00" + ref, conf: Medium,
					what: "points GOOGLE_APPLICATION_CREDENTIALS at the stored key file $" + ref})
			}
		}
		for _, l := range ji.lines {
			if ref, ok := assignFrom(l.Value, "GOOGLE_APPLICATION_CREDENTIALS"); ok {
				s = append(s, signal{pos: ji.at(l, "GOOGLE_APPLICATION_CREDENTIALS"), key: "adc\x00" + ref, conf: Medium,
					what: "points GOOGLE_APPLICATION_CREDENTIALS at the stored key file $" + ref})
			}
		}
		// A sign-in or key the job shows is judged above, not guessed.
		if len(s) > 0 || ji.lineWith(gcpSignInLines...) != nil || ji.varGiven(gcpKeyVars...) {
			return s
		}
		return implicitSignals(ji, "gcp", cfg)
	},
	fix: "replace the key: " + useComponent("gcp") + ", then delete the key in IAM and its CI/CD variable",
}

// gcpKeyVars are the variables Google Cloud's tools read a key or a
// token from; gcpSignInLines what a line that signs in has (made once,
// not for each job).
var (
	gcpKeyVars = []string{"GOOGLE_APPLICATION_CREDENTIALS", "GOOGLE_CREDENTIALS", "GOOGLE_CLOUD_KEYFILE_JSON", "GCLOUD_KEYFILE_JSON",
		"GOOGLE_OAUTH_ACCESS_TOKEN", "CLOUDSDK_AUTH_CREDENTIAL_FILE_OVERRIDE", "CLOUDSDK_AUTH_ACCESS_TOKEN_FILE"}
	gcpSignInLines = append([]string{"gcloud auth"}, gcpKeyVars...)
)

// gcpCloudWords are the words one of which a gcpKeyName has.
var gcpCloudWords = []string{"GCP", "GCLOUD", "GOOGLE", "GCE", "SERVICE_ACCOUNT"}

// gcpKeyName reports whether a variable name looks like it holds a
// Google Cloud service account key.
func gcpKeyName(name string) bool {
	n := strings.ToUpper(name)
	cloud := slices.ContainsFunc(gcpCloudWords, func(w string) bool { return strings.Contains(n, w) })
	key := strings.Contains(n, "KEY") || strings.Contains(n, "JSON") || strings.Contains(n, "CRED")
	return cloud && key
}
