package azure

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"gitlab.com/keyless-ci/keyless/internal/policy"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

func job(mut ...func(policy.Claims)) policy.Claims {
	c := policy.Claims{
		"iss": "https://gitlab.com", "aud": "api://AzureADTokenExchange",
		"sub":          "project_path:acme/web:ref_type:branch:ref:main",
		"project_path": "acme/web", "project_id": "42", "namespace_id": "7",
		"ref": "main", "ref_type": "branch", "ref_protected": "true",
	}
	for _, m := range mut {
		m(c)
	}
	return c
}

func cred(subject string) string {
	return `{"name": "gitlab-main", "issuer": "https://gitlab.com", "subject": "` + subject + `", "audiences": ["api://AzureADTokenExchange"]}`
}

func TestExplain(t *testing.T) {
	for _, tc := range []struct {
		name     string
		doc      string
		claims   policy.Claims
		admitted bool
		failed   []string
		note     string
		fix      string
	}{
		{name: "GitLab's documented credential", doc: cred("project_path:acme/web:ref_type:branch:ref:main"), claims: job(), admitted: true},
		{
			name: "a case-mismatched subject", doc: cred("project_path:Acme/Web:ref_type:branch:ref:main"), claims: job(),
			failed: []string{"[0] gitlab-main subject"}, note: "only in case",
			fix: `set "gitlab-main"'s subject to "project_path:acme/web:ref_type:branch:ref:main"`,
		},
		{
			name: "an issuer with a trailing slash", doc: strings.Replace(cred("project_path:acme/web:ref_type:branch:ref:main"), `"https://gitlab.com"`, `"https://gitlab.com/"`, 1),
			claims: job(), failed: []string{"[0] gitlab-main issuer"}, note: "trailing slash",
		},
		{
			name: "another audience", doc: cred("project_path:acme/web:ref_type:branch:ref:main"),
			claims: job(func(c policy.Claims) { c["aud"] = "https://gitlab.com" }), failed: []string{"[0] gitlab-main audiences"},
		},
		{
			name: "a wildcard in subject is literal", doc: cred("project_path:acme/web:ref_type:branch:ref:*"), claims: job(),
			failed: []string{"[0] gitlab-main subject"}, note: "claimsMatchingExpression",
		},
		{
			name: "customised sub", doc: cred("project_path:acme/web:ref_type:branch:ref:main"),
			claims: job(func(c policy.Claims) { c["sub"] = "project_path:acme/web:ref:main:ref_protected:true" }),
			failed: []string{"[0] gitlab-main subject"}, note: "ci_id_token_sub_claim_components",
		},
		{
			name: "a flexible credential", claims: job(func(c policy.Claims) { c["sub"] = "project_path:acme/api:ref_type:branch:ref:main" }), admitted: true,
			doc: `{"name": "acme", "issuer": "https://gitlab.com", "audiences": ["api://AzureADTokenExchange"],
				"claimsMatchingExpression": {"value": "claims['sub'] matches 'project_path:acme/*:ref_type:branch:ref:main'", "languageVersion": 1}}`,
		},
		{
			name: "a flexible credential, another branch", claims: job(func(c policy.Claims) { c["sub"] = "project_path:acme/web:ref_type:branch:ref:dev" }),
			doc: `{"name": "acme", "issuer": "https://gitlab.com", "audiences": ["api://AzureADTokenExchange"],
				"claimsMatchingExpression": {"value": "claims['sub'] matches 'project_path:acme/*:ref_type:branch:ref:main' and claims['sub'] matches 'project_path:acme/web:*'", "languageVersion": 1}}`,
			failed: []string{"[0] acme claimsMatchingExpression"},
		},
		{
			name: "the second of az's list matches", claims: job(), admitted: true,
			doc: `[` + cred("project_path:acme/web:ref_type:branch:ref:dev") + `, ` + strings.Replace(cred("project_path:acme/web:ref_type:branch:ref:main"), "gitlab-main", "second", 1) + `]`,
		},
		{
			name: "Graph's value list, none matches", claims: job(),
			doc:    `{"value": [` + cred("project_path:acme/web:ref_type:tag:ref:main") + `]}`,
			failed: []string{"[0] gitlab-main subject"},
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
			if tc.admitted {
				return
			}
			var failed, notes []string
			for _, c := range res.Checks {
				if !c.Held {
					failed = append(failed, c.Where)
				}
				notes = append(notes, c.Note)
			}
			if d := cmp.Diff(tc.failed, failed); d != "" {
				t.Errorf("failed checks (-want +got):\n%s", d)
			}
			if !strings.Contains(strings.Join(notes, "|"), tc.note) {
				t.Errorf("no note containing %q in %q", tc.note, notes)
			}
			if !strings.Contains(res.Fix, tc.fix) || res.Fix == "" {
				t.Errorf("fix %q does not contain %q", res.Fix, tc.fix)
			}
		})
	}
}

func TestExplainErrors(t *testing.T) {
	for _, doc := range []string{``, `{`, `[]`, `{"value": []}`, `{"name": "x"}`,
		`{"name": "x", "issuer": "https://gitlab.com", "subject": "s", "claimsMatchingExpression": {"value": "claims['sub'] eq 's'", "languageVersion": 1}}`,
		`{"name": "x", "issuer": "https://gitlab.com", "claimsMatchingExpression": {"value": "claims['sub'] like 's'", "languageVersion": 1}}`,
		`{"name": "x", "issuer": "https://gitlab.com", "claimsMatchingExpression": {"value": "claims['sub'] eq 's'", "languageVersion": 2}}`,
		`{"name": "x", "issuer": "https://gitlab.com", "claimsMatchingExpression": {"value": "claims['sub'] eq 's' or claims['x'] eq 'y'", "languageVersion": 1}}`,
	} {
		if _, err := New().Explain([]byte(doc), job()); err == nil {
			t.Errorf("%q: no error", doc)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	base := job(func(c policy.Claims) { c["sub"] = "project_path:acme/web:ref_type:branch:ref:main:ref_protected:true" })
	fromToken, err := policy.SpecFromClaims(base, nil)
	if err != nil {
		t.Fatal(err)
	}
	for name, spec := range map[string]policy.Spec{
		"from the token": fromToken,
		"a group":        {Issuer: "https://gitlab.com", Group: "acme", Ref: "main", RefType: "branch", ProtectedOnly: true, SubComponents: []string{"project_path", "ref_type", "ref", "ref_protected"}},
	} {
		t.Run(name, func(t *testing.T) {
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
				t.Fatalf("the job itself is refused: %s %+v", res.Verdict, res.Checks)
			}
			for what, mut := range map[string]func(policy.Claims){
				"another group":      func(c policy.Claims) { c["sub"] = "project_path:evil/web:ref_type:branch:ref:main:ref_protected:true" },
				"another branch":     func(c policy.Claims) { c["sub"] = "project_path:acme/web:ref_type:branch:ref:dev:ref_protected:true" },
				"an unprotected ref": func(c policy.Claims) { c["sub"] = "project_path:acme/web:ref_type:branch:ref:main:ref_protected:false" },
				"another audience":   func(c policy.Claims) { c["aud"] = "sts.amazonaws.com" },
				"another issuer":     func(c policy.Claims) { c["iss"] = "https://gitlab.example.com" },
			} {
				c := job(func(c policy.Claims) { c["sub"] = base["sub"] }, mut)
				if res := explain(c); res.Admitted || res.Fix == "" {
					t.Errorf("%s: admitted %v, fix %q", what, res.Admitted, res.Fix)
				}
			}
		})
	}
}

func TestGenerateGolden(t *testing.T) {
	specs := map[string]policy.Spec{
		"project": {Issuer: "https://gitlab.com", ProjectPath: "acme/web", Ref: "main", RefType: "branch"},
		"group":   {Issuer: "https://gitlab.example.com", Group: "acme/platform", RefType: "tag", Environment: "production"},
	}
	for name, spec := range specs {
		for _, format := range New().Formats() {
			docs, warnings, err := New().Generate(spec, format)
			if err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			for _, d := range docs {
				if d.Format == "json" && !json.Valid([]byte(d.Body)) {
					t.Errorf("%s: not JSON", d.Name)
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
				t.Fatalf("%v (go test ./internal/policy/azure -update writes it)", err)
			}
			if d := cmp.Diff(string(want), b.String()); d != "" {
				t.Errorf("%s (-want +got):\n%s", path, d)
			}
		}
	}
}

func FuzzExplain(f *testing.F) {
	f.Add([]byte(cred("project_path:acme/web:ref_type:branch:ref:main")))
	f.Add([]byte(`{"name": "a", "issuer": "https://gitlab.com", "audiences": ["x"], "claimsMatchingExpression": {"value": "claims['sub'] matches 'a*b*' and claims['ref'] eq 'main'", "languageVersion": 1}}`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		res, err := New().Explain(doc, job())
		if err == nil && (res == nil || res.Admitted && res.Fix != "") {
			t.Fatalf("inconsistent result %+v", res)
		}
	})
}
