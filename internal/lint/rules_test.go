package lint

import (
	"strings"
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
		case "leak":
			if len(m.CWE) == 0 {
				t.Errorf("rule %s: no CWE", m.ID)
			}
		default:
			t.Errorf("rule %s: group %q", m.ID, m.Group)
		}
	}
}

func TestAssignedValue(t *testing.T) {
	for _, c := range []struct {
		line, name, v string
		ok            bool
	}{
		{`export VAULT_ADDR=http://vault.example.com:8200`, "VAULT_ADDR", "http://vault.example.com:8200", true},
		{`VAULT_ADDR="http://vault:8200" vault status`, "VAULT_ADDR", "http://vault:8200", true},
		{`$env:VAULT_ADDR = 'http://vault:8200'`, "VAULT_ADDR", "http://vault:8200", true},
		{`export VAULT_ADDR=http://vault:8200; vault status`, "VAULT_ADDR", "http://vault:8200", true},
		{`test "$VAULT_ADDR" = http://vault:8200`, "VAULT_ADDR", "", false},
		{`[ ${VAULT_ADDR} == http://vault:8200 ]`, "VAULT_ADDR", "", false},
		{`export KEYLESS_VAULT_ADDR=https://vault:8200`, "VAULT_ADDR", "", false},
	} {
		v, ok := assignedValue(c.line, c.name)
		if v != c.v || ok != c.ok {
			t.Errorf("assignedValue(%q, %q) = %q, %v; want %q, %v", c.line, c.name, v, ok, c.v, c.ok)
		}
	}
}

func TestPlainHTTP(t *testing.T) {
	for v, want := range map[string]string{
		"http://vault.example.com:8200":    "vault.example.com",
		`"HTTP://vault.example.com/v1/"`:   "vault.example.com",
		"http://[::1]:8200":                "::1",
		"http://user:pw@vault.example.com": "vault.example.com",
		"https://vault.example.com":        "",
		"$VAULT_ADDR":                      "",
		"http://$VAULT_HOST:8200":          "",
		"http://${VAULT_HOST}:8200":        "",
		"http://":                          "",
	} {
		got := ""
		if u := plainHTTP(v); u != nil {
			got = u.Hostname()
		}
		if got != want {
			t.Errorf("plainHTTP(%q) host %q; want %q", v, got, want)
		}
	}
}

func TestDisplayURLHidesUserInfo(t *testing.T) {
	plain, secure := displayURL(plainHTTP("http://user:pw@vault.example.com:8200/v1/auth?token=x#f"))
	if plain != "http://vault.example.com:8200/v1/auth" || secure != "https://vault.example.com:8200/v1/auth" {
		t.Errorf("displayURL = %q, %q", plain, secure)
	}
}

func TestServiceAliases(t *testing.T) {
	p := pipeline.Parse(".", ".gitlab-ci.yml", []byte(`
job:
  services:
    - registry.example.com:5000/group/vault:1.18@sha256:abc
    - name: hashicorp/vault:1.18
      alias: vault,secrets
    - name: $REGISTRY/minio
  script: [./test]
`), pipeline.Options{})
	got := serviceAliases(p.Jobs[0].Node)
	want := map[string]string{
		"registry.example.com__group__vault": "registry.example.com__group__vault",
		"registry.example.com-group-vault":   "registry.example.com-group-vault",
		"vault":                              "vault", "secrets": "secrets",
		"hashicorp__vault": "hashicorp__vault", "hashicorp-vault": "hashicorp-vault",
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("serviceAliases (-want +got):\n%s", d)
	}
}

func TestXtraceChange(t *testing.T) {
	for _, tc := range []struct {
		cmd    string
		change int
		traced bool
	}{
		{"set -x", 1, false},
		{"set -ex", 1, false},
		{"set -euxo pipefail", 1, false},
		{"set -o xtrace", 1, false},
		{"set -o pipefail -o xtrace", 1, false},
		{"  then set -x", 1, false},
		{"set +x", -1, false},
		{"set +o xtrace", -1, false},
		{"set +xv", -1, false},
		{`set "-$__keyless_trace"`, 2, false},
		{"set -euo pipefail", 0, false},
		{"set -e", 0, false},
		{"set -- -x", 0, false},
		{"echo set -x", 0, false},
		{"bash -x ./ci/run.sh", 0, true},
		{"/bin/sh -ex deploy.sh", 0, true},
		{"bash -o xtrace run.sh", 0, true},
		{"bash ./ci/run.sh -x", 0, false},
		{"bash --norc run.sh", 0, false},
		{"xargs -x", 0, false},
	} {
		change, traced, _ := xtraceChange(strings.Fields(tc.cmd))
		if change != tc.change || traced != tc.traced {
			t.Errorf("%q: change %d traced %v, want %d %v", tc.cmd, change, traced, tc.change, tc.traced)
		}
	}
	got := pipelines("if ! make; then set -x; make -k || true; fi && echo 'a; set -x' | tee log")
	want := [][]string{{"if ! make"}, {" then set -x"}, {" make -k "}, {" true"}, {" fi "}, {" echo 'a; set -x' ", " tee log"}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("pipelines (-want +got):\n%s", d)
	}
}
