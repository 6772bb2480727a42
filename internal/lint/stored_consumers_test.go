package lint

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestImplicitConfidence: the evidence grades a finding's confidence, not
// only its message (issue 15). want is by "rule job".
func TestImplicitConfidence(t *testing.T) {
	for file, want := range map[string]map[string]Confidence{
		"stored_consumers_grading.yml": {
			"stored-aws-keys upload":          Medium, // the configuration references the key
			"stored-aws-keys upload-from-ec2": Low,    // ... but the runner tag suggests an instance profile
			"stored-gcp-key plan":             Medium, // a GitLab-hosted runner
		},
		"stored_consumers_aws.yml": {
			"stored-aws-keys terraform-apply": Medium, // a GitLab-hosted runner
			"stored-aws-keys deploy-prod":     Low,
			"stored-aws-keys sdk-program":     Low,
			"stored-aws-keys pulumi":          Low,
		},
		"stored_consumers_placeholder.yml": {
			"stored-aws-keys deploy_s3_terraform": Medium, // the job declares the keys empty
		},
		"stored_secret_manager.yml": {
			"stored-secret-manager-keys keyvault-aws":       High,
			"stored-secret-manager-keys vault-kv-aws":       High,
			"stored-secret-manager-keys secretsmanager-gcp": Low,
		},
	} {
		t.Run(file, func(t *testing.T) {
			fs, err := Run(load(t, filepath.Join("testdata/err", file)), Options{SkipRules: []string{"include"}})
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]Confidence{}
			for _, f := range fs {
				for k := range want {
					rule, job, _ := strings.Cut(k, " ")
					if f.Rule == rule && strings.Contains(f.Message, `job "`+job+`" `) {
						got[k] = f.Confidence
					}
				}
			}
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("confidence by rule and job (-want +got):\n%s", d)
			}
		})
	}
}
