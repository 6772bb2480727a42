package aws

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"

	"gitlab.com/keyless-ci/keyless/internal/policy"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// job is a GitLab job's claims as its ID token carries them.
func job(mut ...func(policy.Claims)) policy.Claims {
	c := policy.Claims{
		"iss": "https://gitlab.com", "aud": "sts.amazonaws.com",
		"sub":          "project_path:acme/web:ref_type:branch:ref:main",
		"project_path": "acme/web", "project_id": "42", "namespace_id": "7", "namespace_path": "acme",
		"ref": "main", "ref_type": "branch", "ref_protected": "true", "user_login": "dev",
	}
	for _, m := range mut {
		m(c)
	}
	return c
}

func trustWith(cond string) string {
	return `{"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
		"Principal": {"Federated": "arn:aws:iam::123456789012:oidc-provider/gitlab.com"},
		"Action": "sts:AssumeRoleWithWebIdentity", "Condition": ` + cond + `}]}`
}

func TestExplain(t *testing.T) {
	for _, tc := range []struct {
		name     string
		doc      string
		claims   policy.Claims
		admitted bool
		// failed lists the Where of each check that must fail; note and
		// fix are substrings of the notes and the fix.
		failed   []string
		note     string
		fix      string
		warnings []string
	}{
		{
			name:     "GitLab's documented policy",
			doc:      trustWith(`{"StringEquals": {"gitlab.com:aud": "sts.amazonaws.com", "gitlab.com:sub": "project_path:acme/web:ref_type:branch:ref:main"}}`),
			claims:   job(),
			admitted: true,
		},
		{
			name:     "StringLike on a group, any branch",
			doc:      trustWith(`{"StringEquals": {"gitlab.com:aud": "sts.amazonaws.com"}, "StringLike": {"gitlab.com:sub": "project_path:acme/*:ref_type:branch:ref:*"}}`),
			claims:   job(),
			admitted: true,
			warnings: []string{"group-wildcard"},
		},
		{
			name:   "a wildcard in StringEquals is literal",
			doc:    trustWith(`{"StringEquals": {"gitlab.com:aud": "sts.amazonaws.com", "gitlab.com:sub": "project_path:acme/web:ref_type:branch:ref:*"}}`),
			claims: job(),
			failed: []string{`Statement[0].Condition.StringEquals["gitlab.com:sub"]`},
			note:   "takes * and ? literally",
			fix:    `use StringLike instead of StringEquals for "gitlab.com:sub" in Statement[0]`,
		},
		{
			name:   "another branch",
			doc:    trustWith(`{"StringEquals": {"gitlab.com:aud": "sts.amazonaws.com", "gitlab.com:sub": "project_path:acme/web:ref_type:branch:ref:main"}}`),
			claims: job(func(c policy.Claims) { c["ref"], c["sub"] = "dev", "project_path:acme/web:ref_type:branch:ref:dev" }),
			failed: []string{`Statement[0].Condition.StringEquals["gitlab.com:sub"]`},
			fix:    `set "gitlab.com:sub" in Statement[0].Condition.StringEquals to "project_path:acme/web:ref_type:branch:ref:dev"`,
		},
		{
			name:   "case-mismatched project path",
			doc:    trustWith(`{"StringEquals": {"gitlab.com:aud": "sts.amazonaws.com", "gitlab.com:sub": "project_path:Acme/Web:ref_type:branch:ref:main"}}`),
			claims: job(),
			failed: []string{`Statement[0].Condition.StringEquals["gitlab.com:sub"]`},
			note:   "only in case",
		},
		{
			name:   "audience with a trailing slash",
			doc:    trustWith(`{"StringEquals": {"gitlab.com:aud": "https://gitlab.com/", "gitlab.com:sub": "project_path:acme/web:ref_type:branch:ref:main"}}`),
			claims: job(func(c policy.Claims) { c["aud"] = "https://gitlab.com" }),
			failed: []string{`Statement[0].Condition.StringEquals["gitlab.com:aud"]`},
			note:   "trailing slash",
			fix:    `set "gitlab.com:aud" in Statement[0].Condition.StringEquals to "https://gitlab.com"`,
		},
		{
			name:   "condition keys with https://",
			doc:    trustWith(`{"StringEquals": {"https://gitlab.com:aud": "sts.amazonaws.com"}}`),
			claims: job(),
			failed: []string{`Statement[0].Condition.StringEquals["https://gitlab.com:aud"]`},
			note:   "without https://",
			fix:    `rename the condition key "https://gitlab.com:aud" to "gitlab.com:aud"`,
		},
		{
			name: "the provider of another instance",
			doc: `{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Principal": {"Federated": "arn:aws:iam::123456789012:oidc-provider/gitlab.example.com"},
				"Action": "sts:AssumeRoleWithWebIdentity", "Condition": {"StringEquals": {"gitlab.com:aud": "sts.amazonaws.com", "gitlab.com:sub": "project_path:acme/web:ref_type:branch:ref:main"}}}}`,
			claims: job(),
			failed: []string{"Statement[0].Principal.Federated"},
			fix:    "set Statement[0].Principal.Federated to arn:aws:iam::123456789012:oidc-provider/gitlab.com",
		},
		{
			name:     "no sub condition",
			doc:      trustWith(`{"StringEquals": {"gitlab.com:aud": "sts.amazonaws.com"}}`),
			claims:   job(),
			admitted: true,
			warnings: []string{"no-sub-condition"},
		},
		{
			name: "a Deny overrides the Allow",
			doc: `{"Version": "2012-10-17", "Statement": [
				{"Effect": "Allow", "Principal": {"Federated": "arn:aws:iam::123456789012:oidc-provider/gitlab.com"}, "Action": "sts:AssumeRoleWithWebIdentity",
				 "Condition": {"StringLike": {"gitlab.com:sub": "project_path:acme/*"}, "StringEquals": {"gitlab.com:aud": "sts.amazonaws.com"}}},
				{"Effect": "Deny", "Principal": {"Federated": "arn:aws:iam::123456789012:oidc-provider/gitlab.com"}, "Action": "sts:*",
				 "Condition": {"StringNotLike": {"gitlab.com:sub": "*:ref_type:branch:ref:release-*"}}}]}`,
			claims: job(),
			note:   "",
			fix:    "narrow Statement[1]'s conditions",
		},
		{
			name:     "ForAllValues on an absent key holds",
			doc:      trustWith(`{"StringEquals": {"gitlab.com:sub": "project_path:acme/web:ref_type:branch:ref:main"}, "ForAllValues:StringEquals": {"gitlab.com:amr": "mfa"}}`),
			claims:   job(),
			admitted: true,
			warnings: []string{"no-sub-condition"}[:0],
		},
		{
			name:   "ForAnyValue on an absent key fails",
			doc:    trustWith(`{"ForAnyValue:StringEquals": {"gitlab.com:amr": "mfa"}, "StringEquals": {"gitlab.com:sub": "project_path:acme/web:ref_type:branch:ref:main"}}`),
			claims: job(),
			failed: []string{`Statement[0].Condition.ForAnyValue:StringEquals["gitlab.com:amr"]`},
		},
		{
			name:   "a GitLab claim AWS never sees",
			doc:    trustWith(`{"StringEquals": {"gitlab.com:sub": "project_path:acme/web:ref_type:branch:ref:main", "gitlab.com:ref_protected": "true"}}`),
			claims: job(),
			failed: []string{`Statement[0].Condition.StringEquals["gitlab.com:ref_protected"]`},
			note:   "IAM passes only aud, sub",
		},
		{
			name:   "customised sub",
			doc:    trustWith(`{"StringEquals": {"gitlab.com:aud": "sts.amazonaws.com", "gitlab.com:sub": "project_path:acme/web:ref_type:branch:ref:main"}}`),
			claims: job(func(c policy.Claims) { c["sub"] = "project_path:acme/web:ref:main:ref_protected:true" }),
			failed: []string{`Statement[0].Condition.StringEquals["gitlab.com:sub"]`},
			note:   "ci_id_token_sub_claim_components",
		},
		{
			name:     "keys are case-insensitive, IgnoreCase values too",
			doc:      trustWith(`{"StringEqualsIgnoreCase": {"GitLab.com:SUB": "PROJECT_PATH:acme/web:ref_type:branch:ref:main"}, "StringEquals": {"gitlab.com:aud": "sts.amazonaws.com"}}`),
			claims:   job(),
			admitted: true,
		},
		{
			name:   "sts:AssumeRole is not the web identity action",
			doc:    strings.Replace(trustWith(`{"StringEquals": {"gitlab.com:sub": "project_path:acme/web:ref_type:branch:ref:main"}}`), "sts:AssumeRoleWithWebIdentity", "sts:AssumeRole", 1),
			claims: job(),
			failed: []string{"Statement[0].Action"},
			fix:    `add "sts:AssumeRoleWithWebIdentity" to Statement[0].Action`,
		},
		{
			name:     "StringNotEquals on another branch holds",
			doc:      trustWith(`{"StringLike": {"gitlab.com:sub": "project_path:acme/web:*"}, "StringNotEquals": {"gitlab.com:sub": "project_path:acme/web:ref_type:branch:ref:dev"}}`),
			claims:   job(),
			admitted: true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := New().Explain([]byte(tc.doc), tc.claims)
			if err != nil {
				t.Fatal(err)
			}
			if res.Admitted != tc.admitted {
				t.Errorf("admitted = %v, want %v: %s", res.Admitted, tc.admitted, res.Verdict)
			}
			var failed, notes []string
			for _, c := range res.Checks {
				if !c.Held {
					failed = append(failed, c.Where)
				}
				notes = append(notes, c.Note)
			}
			if tc.failed != nil {
				if d := cmp.Diff(tc.failed, failed); d != "" {
					t.Errorf("failed checks (-want +got):\n%s\n%+v", d, res.Checks)
				}
			}
			if tc.note != "" && !strings.Contains(strings.Join(notes, "|"), tc.note) {
				t.Errorf("no note containing %q in %q", tc.note, notes)
			}
			if !strings.Contains(res.Fix, tc.fix) {
				t.Errorf("fix %q does not contain %q", res.Fix, tc.fix)
			}
			if tc.admitted && res.Fix != "" {
				t.Errorf("an admitted token has a fix: %q", res.Fix)
			}
			var ids []string
			for _, w := range res.Warnings {
				ids = append(ids, w.ID)
			}
			if tc.warnings != nil && !cmp.Equal(tc.warnings, ids, cmpEmpty) {
				t.Errorf("warnings %q, want %q", ids, tc.warnings)
			}
		})
	}
}

var cmpEmpty = cmp.Comparer(func(a, b []string) bool { return strings.Join(a, ",") == strings.Join(b, ",") })

func TestExplainRejectsNonPolicies(t *testing.T) {
	for _, doc := range []string{``, `[]`, `{}`, `{"Statement": []}`, `{"Statement": [{"Effect": "allow", "Principal": "*", "Action": "sts:*"}]}`,
		`{"Statement": 3}`, `{"Statement": [{"Effect": "Allow", "Principal": 5}]}`} {
		if _, err := New().Explain([]byte(doc), job()); err == nil {
			t.Errorf("%q: no error", doc)
		}
	}
	// aws iam get-role's output, whole, is read.
	doc := `{"Role": {"RoleName": "deploy", "AssumeRolePolicyDocument": ` + trustWith(`{"StringEquals": {"gitlab.com:sub": "project_path:acme/web:ref_type:branch:ref:main"}}`) + `}}`
	if res, err := New().Explain([]byte(doc), job()); err != nil || !res.Admitted {
		t.Errorf("get-role output: %v %+v", err, res)
	}
}

// Generated trust admits the job it was made from and no other.
func TestRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		spec func(policy.Claims) policy.Spec
		// admits and refuses are changes to the job's claims.
		admits, refuses map[string]func(policy.Claims)
	}{
		{
			name: "from the token",
			spec: func(c policy.Claims) policy.Spec { s, _ := policy.SpecFromClaims(c, nil); return s },
			refuses: map[string]func(policy.Claims){
				"another project":  func(c policy.Claims) { c["sub"] = "project_path:acme/api:ref_type:branch:ref:main" },
				"another branch":   func(c policy.Claims) { c["sub"] = "project_path:acme/web:ref_type:branch:ref:dev" },
				"a tag":            func(c policy.Claims) { c["sub"] = "project_path:acme/web:ref_type:tag:ref:main" },
				"another audience": func(c policy.Claims) { c["aud"] = "https://vault.example.com" },
				"another issuer":   func(c policy.Claims) { c["iss"] = "https://gitlab.example.com" },
			},
		},
		{
			name: "protected refs of a group, ref_protected in sub",
			spec: func(c policy.Claims) policy.Spec {
				return policy.Spec{Issuer: "https://gitlab.com", Group: "acme", ProtectedOnly: true, SubComponents: []string{"project_path", "ref_type", "ref", "ref_protected"}}
			},
			admits: map[string]func(policy.Claims){
				"a protected tag of another project": func(c policy.Claims) {
					c["sub"] = "project_path:acme/api:ref_type:tag:ref:v1:ref_protected:true"
				},
			},
			refuses: map[string]func(policy.Claims){
				"an unprotected ref":         func(c policy.Claims) { c["sub"] = "project_path:acme/web:ref_type:branch:ref:main:ref_protected:false" },
				"a project of another group": func(c policy.Claims) { c["sub"] = "project_path:evil/web:ref_type:branch:ref:main:ref_protected:true" },
				"a group named alike": func(c policy.Claims) {
					c["sub"] = "project_path:acme-evil/web:ref_type:branch:ref:main:ref_protected:true"
				},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := job()
			if strings.Contains(tc.name, "ref_protected") {
				base["sub"] = "project_path:acme/web:ref_type:branch:ref:main:ref_protected:true"
			}
			spec := tc.spec(base)
			docs, _, err := New().Generate(spec, "json")
			if err != nil {
				t.Fatal(err)
			}
			explain := func(c policy.Claims) *policy.Result {
				res, err := New().Explain([]byte(docs[0].Body), c)
				if err != nil {
					t.Fatal(err)
				}
				return res
			}
			if res := explain(base); !res.Admitted {
				t.Fatalf("the job itself is refused: %s\n%+v", res.Verdict, res.Checks)
			}
			for name, mut := range tc.admits {
				c := job(mut)
				if res := explain(c); !res.Admitted {
					t.Errorf("%s: refused: %s", name, res.Verdict)
				}
			}
			for name, mut := range tc.refuses {
				c := job(func(c policy.Claims) { c["sub"] = base["sub"] }, mut)
				if res := explain(c); res.Admitted {
					t.Errorf("%s: admitted", name)
				} else if res.Fix == "" {
					t.Errorf("%s: refused without a fix", name)
				}
			}
		})
	}
}

func TestGenerateGolden(t *testing.T) {
	spec := policy.Spec{Issuer: "https://gitlab.com", ProjectPath: "acme/web", Ref: "main", RefType: "branch"}
	group := policy.Spec{Issuer: "https://gitlab.example.com", Group: "acme/platform", Ref: "release-*", RefType: "tag", ProtectedOnly: true, Environment: "production"}
	for name, spec := range map[string]policy.Spec{"project": spec, "group": group} {
		for _, format := range New().Formats() {
			docs, warnings, err := New().Generate(spec, format)
			if err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			for _, d := range docs {
				switch d.Format {
				case "json":
					if !json.Valid([]byte(d.Body)) {
						t.Errorf("%s: not JSON", d.Name)
					}
				case "cloudformation":
					var v map[string]any
					if err := yaml.Unmarshal([]byte(d.Body), &v); err != nil || v["Resources"] == nil {
						t.Errorf("%s: not a CloudFormation template: %v", d.Name, err)
					}
				}
				b.WriteString("==> " + d.Name + " (" + d.Format + ")\n" + d.Body)
			}
			for _, w := range warnings {
				b.WriteString("warning [" + w.ID + "]: " + w.Message + "\n")
			}
			path := filepath.Join("testdata", name+"."+format+".golden")
			if *update {
				if err := os.MkdirAll("testdata", 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (go test ./internal/policy/aws -update writes it)", err)
			}
			if d := cmp.Diff(string(want), b.String()); d != "" {
				t.Errorf("%s (-want +got):\n%s", path, d)
			}
		}
	}
	if _, _, err := New().Generate(spec, "yaml"); err == nil {
		t.Error("an unknown format: no error")
	}
}

func TestGlob(t *testing.T) {
	for _, tc := range []struct {
		p, s string
		want bool
	}{
		{"*", "", true}, {"a*c", "abc", true}, {"a*c", "ab", false}, {"a?c", "abc", true}, {"a?c", "ac", false},
		{"project_path:acme/*:ref_type:branch:ref:*", "project_path:acme/x/y:ref_type:branch:ref:main", true},
		{"ABC", "abc", false}, {"*a*a*a*a*a*b", strings.Repeat("a", 200), false},
	} {
		if got := glob(tc.p, tc.s); got != tc.want {
			t.Errorf("glob(%q, %q) = %v", tc.p, tc.s, got)
		}
	}
}

func FuzzExplain(f *testing.F) {
	f.Add([]byte(trustWith(`{"StringLike": {"gitlab.com:sub": "project_path:acme/*"}}`)))
	f.Add([]byte(`{"Statement": {"Effect": "Deny", "Principal": "*", "NotAction": "x", "Condition": {"Null": {"gitlab.com:sub": true}}}}`))
	f.Add([]byte(`{"Role": {"AssumeRolePolicyDocument": "{}"}}`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		res, err := New().Explain(doc, job())
		if err == nil && res == nil {
			t.Fatal("nil result without an error")
		}
		if err == nil && res.Admitted && res.Fix != "" {
			t.Fatal("admitted with a fix")
		}
	})
}
