package aws

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"

	"gitlab.com/keyless-ci/keyless/internal/policy"
	"gitlab.com/keyless-ci/keyless/internal/policy/policytest"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// loadClaims reads a job's claims from testdata/claims, written by hand in
// the shape of GitLab's ID token payload.
func loadClaims(t *testing.T, name string) policy.Claims {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "claims", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := policy.ParseClaims(b)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var goldenSpecs = map[string]policy.Spec{
	"project": {Issuer: "https://gitlab.com", ProjectPath: "acme/web", Ref: "main", RefType: "branch"},
	"group":   {Issuer: "https://gitlab.example.com", Group: "acme/platform", Ref: "release-*", RefType: "tag", ProtectedOnly: true, Environment: "production"},
}

func TestGenerateGolden(t *testing.T) {
	policytest.CheckGenerated(t, New(), goldenSpecs, *update, func(t *testing.T, d policy.Document) {
		if d.Format != "cloudformation" {
			return
		}
		var v map[string]any
		if err := yaml.Unmarshal([]byte(d.Body), &v); err != nil || v["Resources"] == nil {
			t.Errorf("%s: not a CloudFormation template: %v", d.Name, err)
		}
	})
}

func TestGenerateErrors(t *testing.T) {
	if _, _, err := New().Generate(goldenSpecs["project"], "yaml"); err == nil || !strings.Contains(err.Error(), "json, terraform or cloudformation") {
		t.Errorf("an unknown format: %v", err)
	}
	if _, _, err := New().Generate(policy.Spec{Issuer: "https://gitlab.com"}, "json"); err == nil {
		t.Error("a spec without project or group: no error")
	}
}

func TestGenerateWarnings(t *testing.T) {
	base := policy.Spec{Issuer: "https://gitlab.com", ProjectPath: "acme/web", Ref: "main", RefType: "branch"}
	with := func(f func(*policy.Spec)) policy.Spec { s := base; f(&s); return s }
	for _, tc := range []struct {
		name string
		spec policy.Spec
		want []string
	}{
		{"exact", base, nil},
		{"environment", with(func(s *policy.Spec) { s.Environment = "production" }), []string{"environment-not-pinned"}},
		{"protected with the default sub", with(func(s *policy.Spec) { s.Ref, s.ProtectedOnly = "", true }), []string{"protection-not-pinned"}},
		{"protected with ref_protected in sub", with(func(s *policy.Spec) {
			s.Ref, s.ProtectedOnly, s.SubComponents = "", true, []string{"project_path", "ref_type", "ref", "ref_protected"}
		}), nil},
		{"Azure's audience", with(func(s *policy.Spec) { s.Audience = "api://AzureADTokenExchange" }), []string{"shared-audience"}},
		{"a Google pool", with(func(s *policy.Spec) {
			s.Audience = "https://iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/gitlab"
		}), []string{"shared-audience"}},
		{"a Vault server", with(func(s *policy.Spec) { s.Audience = "https://vault.example.com" }), []string{"shared-audience"}},
		{"the instance URL", with(func(s *policy.Spec) { s.Audience = "https://gitlab.com" }), []string{"shared-audience"}},
		{"an audience of its own", with(func(s *policy.Spec) { s.Audience = "aws-prod" }), nil},
		{"http", with(func(s *policy.Spec) { s.Issuer = "http://gitlab.internal" }), []string{"issuer-not-https"}},
		{"a group on any ref", policy.Spec{Issuer: "https://gitlab.com", Group: "acme"}, []string{"group-wildcard", "any-ref"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, ws, err := New().Generate(tc.spec, "json")
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, w := range ws {
				ids = append(ids, w.ID)
			}
			if d := cmp.Diff(tc.want, ids); d != "" {
				t.Errorf("warnings (-want +got):\n%s\n%v", d, ws)
			}
		})
	}
}

// Values reach the shell, HCL and YAML as data, never as syntax.
func TestGenerateQuotes(t *testing.T) {
	spec := policy.Spec{Issuer: "https://gitlab.com", ProjectPath: "acme/web", Ref: "main", RefType: "branch", Audience: "it's ${x} & %{y}"}
	docs, _, err := New().Generate(spec, "json")
	if err != nil {
		t.Fatal(err)
	}
	if want := `--client-id-list 'it'\''s ${x} & %{y}'`; !strings.Contains(docs[1].Body, want) {
		t.Errorf("create.sh does not quote the audience as %s:\n%s", want, docs[1].Body)
	}
	docs, _, _ = New().Generate(spec, "terraform")
	if want := `client_id_list = ["it's $${x} & %%{y}"]`; !strings.Contains(docs[0].Body, want) {
		t.Errorf("main.tf does not escape the audience as %s:\n%s", want, docs[0].Body)
	}
	docs, _, _ = New().Generate(spec, "cloudformation")
	var tpl map[string]any
	if err := yaml.Unmarshal([]byte(docs[0].Body), &tpl); err != nil {
		t.Fatal(err)
	}
	got := tpl["Resources"].(map[string]any)["GitLabOIDCProvider"].(map[string]any)["Properties"].(map[string]any)["ClientIdList"].([]any)[0]
	if got != spec.Audience {
		t.Errorf("template.yaml reads back ClientIdList %q, want %q", got, spec.Audience)
	}
	for s, want := range map[string]string{"https://gitlab.com": "https://gitlab.com", "": "''", "a b": "'a b'", "$(id)": "'$(id)'"} {
		if got := shellWord(s); got != want {
			t.Errorf("shellWord(%q) = %s, want %s", s, got, want)
		}
	}
}

// ConditionJSON, which the aws exchange quotes when STS denies a job, is
// the Condition of the trust-policy.json Generate writes (issue 14).
func TestConditionJSONIsTheGeneratedCondition(t *testing.T) {
	for name, spec := range goldenSpecs {
		docs, _, err := New().Generate(spec, "json")
		if err != nil {
			t.Fatal(err)
		}
		sub, _ := spec.Subject()
		want := "      " + ConditionJSON(spec.Host(), audience(spec), sub, "      ") + "\n"
		if !strings.Contains(docs[0].Body, want) {
			t.Errorf("%s: trust-policy.json does not contain\n%s\nit is\n%s", name, want, docs[0].Body)
		}
	}
}
