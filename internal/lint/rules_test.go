package lint

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"gitlab.com/keyless-ci/keyless/internal/pipeline"
)

func TestVarRefs(t *testing.T) {
	for in, want := range map[string][]string{
		`echo $A ${B_1} $env:C %D% $(date) $$ $1`: {"A", "B_1", "C", "D"},
		`no refs`:            nil,
		`100% sure, 50% off`: nil,
	} {
		if d := cmp.Diff(want, varRefs(in)); d != "" {
			t.Errorf("varRefs(%q): %s", in, d)
		}
	}
}

func TestAssignFrom(t *testing.T) {
	for _, c := range []struct {
		line, name, ref string
		ok              bool
	}{
		{`export AWS_SECRET_ACCESS_KEY=${AMI_KEY}`, "AWS_SECRET_ACCESS_KEY", "AMI_KEY", true},
		{`AWS_SECRET_ACCESS_KEY="$X" aws s3 ls`, "AWS_SECRET_ACCESS_KEY", "X", true},
		{`-e GOOGLE_APPLICATION_CREDENTIALS=$GOOGLE_APPLICATION_CREDENTIALS`, "GOOGLE_APPLICATION_CREDENTIALS", "", false},
		{`export AWS_ACCESS_KEY_ID=$(jq -r .AccessKeyId creds.json)`, "AWS_ACCESS_KEY_ID", "", false},
		{`export MY_AWS_ACCESS_KEY_ID=$X`, "AWS_ACCESS_KEY_ID", "", false},
		{`export AWS_ACCESS_KEY_ID=$CI_JOB_TOKEN`, "AWS_ACCESS_KEY_ID", "", false},
	} {
		ref, ok := assignFrom(c.line, c.name)
		if ref != c.ref || ok != c.ok {
			t.Errorf("assignFrom(%q, %q) = %q, %v; want %q, %v", c.line, c.name, ref, ok, c.ref, c.ok)
		}
	}
}

func TestRuns(t *testing.T) {
	for line, want := range map[string]bool{
		"aws s3 ls":                        true,
		"cd x && aws s3 ls":                true,
		"x=$(aws sts get-caller-identity)": true,
		"echo aws is great":                false,
		"brew install awscli":              false,
	} {
		if got := runs(line, "aws "); got != want {
			t.Errorf("runs(%q) = %v", line, got)
		}
	}
}

func TestRulesAdmit(t *testing.T) {
	rules := func(conds ...[2]string) *pipeline.Node {
		n := &pipeline.Node{Kind: pipeline.Seq}
		for _, c := range conds {
			r := &pipeline.Node{Kind: pipeline.Map}
			if c[0] != "" {
				r.Pairs = append(r.Pairs, pipeline.Pair{Key: "if", Value: &pipeline.Node{Kind: pipeline.Scalar, Value: c[0]}})
			}
			if c[1] != "" {
				r.Pairs = append(r.Pairs, pipeline.Pair{Key: "when", Value: &pipeline.Node{Kind: pipeline.Scalar, Value: c[1]}})
			}
			n.Items = append(n.Items, r)
		}
		return n
	}
	for _, c := range []struct {
		name     string
		rules    *pipeline.Node
		open, mr bool
	}{
		{"none", nil, true, false},
		{"protected", rules([2]string{`$CI_COMMIT_REF_PROTECTED == "true"`, ""}), false, false},
		{"default branch or tag", rules([2]string{`$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH`, ""}, [2]string{`$CI_COMMIT_TAG`, ""}), false, false},
		{"merge requests", rules([2]string{`$CI_PIPELINE_SOURCE == "merge_request_event"`, ""}), true, true},
		{"MR into default branch", rules([2]string{`$CI_PIPELINE_SOURCE == "merge_request_event" && $CI_MERGE_REQUEST_TARGET_BRANCH_NAME == $CI_DEFAULT_BRANCH`, ""}), true, true},
		{"never unprotected first", rules([2]string{`$CI_COMMIT_REF_PROTECTED != "true"`, "never"}, [2]string{"", "manual"}), false, false},
		{"untagged", rules([2]string{`$CI_COMMIT_TAG == null`, ""}), true, false},
		{"changes only", rules([2]string{"", ""}), true, false},
	} {
		open, mr := rulesAdmit(c.rules)
		if open != c.open || mr != c.mr {
			t.Errorf("%s: open %v mr %v; want %v %v", c.name, open, mr, c.open, c.mr)
		}
	}
}

func TestRegistry(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range registry {
		m := r.Meta()
		if seen[m.ID] {
			t.Errorf("rule %s registered twice", m.ID)
		}
		seen[m.ID] = true
		if m.Title == "" || m.Description == "" || m.Severity == 0 {
			t.Errorf("rule %s: incomplete meta", m.ID)
		}
		switch m.Group {
		case "secret", "stored":
			if len(m.CWE) == 0 || m.CWE[0] != "CWE-798" {
				t.Errorf("rule %s: no CWE-798", m.ID)
			}
		case "oidc":
		default:
			t.Errorf("rule %s: group %q", m.ID, m.Group)
		}
	}
}
