package aws

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"gitlab.com/keyless-ci/keyless/internal/policy"
)

// mutate returns a copy of c with the changes applied.
func mutate(c policy.Claims, muts ...func(policy.Claims)) policy.Claims {
	out := policy.Claims{}
	for k, v := range c {
		out[k] = v
	}
	for _, m := range muts {
		m(out)
	}
	return out
}

// set changes claims, and sub with them when a component of it changes.
func set(kv ...string) func(policy.Claims) {
	return func(c policy.Claims) {
		sub, _ := c.String("sub")
		parts := strings.Split(sub, ":")
		for i := 0; i+1 < len(kv); i += 2 {
			c[kv[i]] = kv[i+1]
			for j := 0; j+1 < len(parts); j += 2 {
				if parts[j] == kv[i] {
					parts[j+1] = kv[i+1]
				}
			}
		}
		if _, ok := c["sub"]; ok && kv[0] != "sub" {
			c["sub"] = strings.Join(parts, ":")
		}
	}
}

// cloudFormationTrust is the trust policy of a generated template as
// CloudFormation would create it, its !Ref resolved to an ARN.
func cloudFormationTrust(t *testing.T, body, arn string) []byte {
	t.Helper()
	var tpl struct {
		Resources map[string]struct {
			Properties map[string]any `yaml:"Properties"`
		} `yaml:"Resources"`
	}
	if err := yaml.Unmarshal([]byte(body), &tpl); err != nil {
		t.Fatal(err)
	}
	doc := tpl.Resources["GitLabCIRole"].Properties["AssumeRolePolicyDocument"].(map[string]any)
	for _, st := range doc["Statement"].([]any) {
		st.(map[string]any)["Principal"] = map[string]any{"Federated": arn}
	}
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Generated trust admits the job it was made from and refuses jobs that
// differ in what the spec pins: in JSON, and in CloudFormation's form.
func TestRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		job  policy.Claims
		spec func(policy.Claims) policy.Spec
		// admits and refuses are changes to the job's claims.
		admits, refuses map[string]func(policy.Claims)
		// warnings are the IDs Generate must report: what the spec asks
		// for and AWS cannot pin.
		warnings []string
	}{
		{
			name: "a protected branch, default sub",
			job:  loadClaims(t, "main"),
			refuses: map[string]func(policy.Claims){
				"another project":        set("project_path", "acme/api", "project_id", "44"),
				"a project named alike":  set("project_path", "acme/web-evil"),
				"another branch":         set("ref", "dev"),
				"a tag named like it":    set("ref_type", "tag"),
				"another audience":       set("aud", "https://vault.example.com"),
				"another issuer":         set("iss", "https://gitlab.example.com"),
				"an issuer with a slash": set("iss", "https://gitlab.com/"),
			},
			admits: map[string]func(policy.Claims){
				// The default sub says nothing of protection: AWS cannot
				// refuse this, and Generate says so.
				"the same branch unprotected": set("ref_protected", "false"),
			},
			warnings: []string{"protection-not-pinned"},
		},
		{
			name: "a protected branch, ref_protected in sub",
			job:  loadClaims(t, "protected-sub"),
			refuses: map[string]func(policy.Claims){
				"an unprotected ref": set("ref_protected", "false"),
				"another project":    set("project_path", "acme/platform/web"),
				"another branch":     set("ref", "main2"),
				"an audience list without sts.amazonaws.com": func(c policy.Claims) {
					c["aud"] = []any{"https://vault.example.com", "api://AzureADTokenExchange"}
				},
			},
			admits: map[string]func(policy.Claims){
				"an audience list with sts.amazonaws.com": func(c policy.Claims) {
					c["aud"] = []any{"https://vault.example.com", "sts.amazonaws.com"}
				},
			},
		},
		{
			name: "a release tag on a self-managed instance under a path",
			job:  loadClaims(t, "release-tag"),
			refuses: map[string]func(policy.Claims){
				"another tag":                     set("ref", "v1.4.1"),
				"a branch named like it":          set("ref_type", "branch"),
				"another project":                 set("project_path", "infra/deploy/other"),
				"the instance without its path":   set("iss", "https://gitlab.example.com"),
				"another audience":                set("aud", "sts.amazonaws.com.evil"),
				"a sub of the default components": set("sub", "project_path:infra/deploy/site:ref_type:tag:ref:v1.4.0"),
			},
			admits: map[string]func(policy.Claims){
				// sub pins environment_protected as * (the spec leaves it
				// open) and AWS cannot see environment: both warned about.
				"an unprotected environment": set("environment_protected", "false", "environment", "staging"),
			},
			warnings: []string{"environment-not-pinned"},
		},
		{
			name: "release branches of a group",
			job:  mutate(loadClaims(t, "main"), set("project_path", "acme/sub/api", "ref", "release-1.2")),
			spec: func(policy.Claims) policy.Spec {
				return policy.Spec{Issuer: "https://gitlab.com", Group: "acme", Ref: "release-*", RefType: "branch"}
			},
			admits: map[string]func(policy.Claims){
				"another project of the group": set("project_path", "acme/web"),
				"another release branch":       set("ref", "release-2"),
			},
			refuses: map[string]func(policy.Claims){
				"a project of another group":  set("project_path", "other/web"),
				"a group named alike":         set("project_path", "acme-evil/web"),
				"the group's name as a path":  set("project_path", "acme"),
				"main":                        set("ref", "main"),
				"a release tag":               set("ref_type", "tag"),
				"another audience":            set("aud", "https://vault.example.com"),
				"another instance's project":  set("iss", "https://gitlab.example.com"),
				"a sub with wrong components": set("sub", "project_path:acme/sub/api:ref:release-1.2:ref_type:branch"),
			},
			warnings: []string{"group-wildcard", "ref-wildcard"},
		},
		{
			name: "protected refs of a group, ref_protected in sub",
			job:  loadClaims(t, "protected-sub"),
			spec: func(policy.Claims) policy.Spec {
				return policy.Spec{Issuer: "https://gitlab.com", Group: "acme/platform", ProtectedOnly: true, SubComponents: []string{"project_path", "ref_type", "ref", "ref_protected"}}
			},
			admits: map[string]func(policy.Claims){
				"a protected tag of another project": set("project_path", "acme/platform/db", "ref_type", "tag", "ref", "v1"),
			},
			refuses: map[string]func(policy.Claims){
				"an unprotected ref":             set("ref_protected", "false"),
				"a project of the parent group":  set("project_path", "acme/web"),
				"a subgroup named alike":         set("project_path", "acme/platform-evil/web"),
				"an audience of another service": set("aud", "api://AzureADTokenExchange"),
			},
			warnings: []string{"group-wildcard"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec, err := policy.SpecFromClaims(tc.job, nil)
			if tc.spec != nil {
				spec, err = tc.spec(tc.job), nil
			}
			if err != nil {
				t.Fatal(err)
			}
			docs, warnings, err := New().Generate(spec, "json")
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, w := range warnings {
				ids = append(ids, w.ID)
			}
			for _, id := range tc.warnings {
				if !slices.Contains(ids, id) {
					t.Errorf("Generate warned %v, not %s", ids, id)
				}
			}
			cfn, _, err := New().Generate(spec, "cloudformation")
			if err != nil {
				t.Fatal(err)
			}
			forms := map[string][]byte{
				"json":           []byte(docs[0].Body),
				"cloudformation": cloudFormationTrust(t, cfn[0].Body, "arn:aws:iam::123456789012:oidc-provider/"+spec.Host()),
			}
			for form, doc := range forms {
				explain := func(c policy.Claims) *policy.Result {
					t.Helper()
					res, err := New().Explain(doc, c)
					if err != nil {
						t.Fatalf("%s: %v", form, err)
					}
					return res
				}
				if res := explain(tc.job); !res.Admitted {
					t.Fatalf("%s: the job itself is refused: %s\n%+v", form, res.Verdict, res.Checks)
				}
				for name, mut := range tc.admits {
					if res := explain(mutate(tc.job, mut)); !res.Admitted {
						t.Errorf("%s: %s: refused: %s", form, name, res.Verdict)
					}
				}
				for name, mut := range tc.refuses {
					res := explain(mutate(tc.job, mut))
					switch {
					case res.Admitted:
						t.Errorf("%s: %s: admitted", form, name)
					case res.Fix == "" || !strings.HasPrefix(res.Verdict, "no statement allows it: in Statement[0], "):
						t.Errorf("%s: %s: refused without a fix or a reason: %q, %q", form, name, res.Verdict, res.Fix)
					}
				}
			}
		})
	}
}
