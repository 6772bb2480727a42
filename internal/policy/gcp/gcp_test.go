package gcp

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

const providerName = "projects/123456789012/locations/global/workloadIdentityPools/gitlab/providers/gitlab"

func job(mut ...func(policy.Claims)) policy.Claims {
	c := policy.Claims{
		"iss": "https://gitlab.com", "aud": "https://iam.googleapis.com/" + providerName,
		"sub":          "project_path:acme/web:ref_type:branch:ref:main",
		"project_path": "acme/web", "project_id": "42", "namespace_id": "7", "namespace_path": "acme",
		"ref": "main", "ref_type": "branch", "ref_protected": "true", "user_login": "dev",
	}
	for _, m := range mut {
		m(c)
	}
	return c
}

// doc is a provider as gcloud describes it, with GitLab's documented
// mapping and the given condition.
func doc(condition string) string {
	d := map[string]any{
		"name":  providerName,
		"state": "ACTIVE",
		"attributeMapping": map[string]string{
			"google.subject": "assertion.sub", "attribute.project_path": "assertion.project_path",
			"attribute.namespace_id": "assertion.namespace_id", "attribute.ref": "assertion.ref",
		},
		"attributeCondition": condition,
		"oidc":               map[string]any{"issuerUri": "https://gitlab.com"},
	}
	b, _ := json.Marshal(d)
	return string(b)
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
		{name: "GitLab's documented provider", doc: doc(`assertion.namespace_id == "7"`), claims: job(), admitted: true},
		{
			name: "the token's audience in the // form", doc: doc(`assertion.namespace_id == "7"`), admitted: true,
			claims: job(func(c policy.Claims) { c["aud"] = "//iam.googleapis.com/" + providerName }),
		},
		{
			name: "another branch", doc: doc(`assertion.namespace_id == "7" && assertion.ref == "main"`),
			claims: job(func(c policy.Claims) { c["ref"] = "dev" }),
			failed: []string{"attributeCondition && [1]"}, fix: `change assertion.ref == "main" to accept ref "dev"`,
		},
		{
			name: "no condition on gitlab.com", doc: doc(""), claims: job(),
			failed: []string{"attributeCondition"}, note: "requires an attribute condition",
		},
		{
			name: "an id compared as a number", doc: doc(`assertion.project_id == 42`), claims: job(),
			failed: []string{"attributeCondition"}, note: "as a string",
		},
		{
			name: "a case-mismatched path", doc: doc(`assertion.project_path == "Acme/Web" && assertion.ref_protected == "true"`), claims: job(),
			failed: []string{"attributeCondition && [0]"},
		},
		{
			name: "an issuer with a trailing slash", doc: strings.Replace(doc(`true`), `"issuerUri":"https://gitlab.com"`, `"issuerUri":"https://gitlab.com/"`, 1),
			claims: job(), failed: []string{"oidc.issuerUri"}, note: "trailing slash",
		},
		{
			name: "another audience", doc: doc(`true`), claims: job(func(c policy.Claims) { c["aud"] = "https://gitlab.com" }),
			failed: []string{"oidc.allowedAudiences"},
		},
		{
			name: "a mapping of a claim the token lacks", claims: job(),
			doc:    strings.Replace(doc(`true`), `"attribute.ref":"assertion.ref"`, `"attribute.env":"assertion.environment"`, 1),
			failed: []string{`attributeMapping["attribute.env"]`}, note: "no such key",
		},
		{
			name: "google.subject too long", doc: doc(`true`),
			claims: job(func(c policy.Claims) {
				c["sub"] = "project_path:" + strings.Repeat("very-long-group/", 8) + "web:ref_type:branch:ref:feature/a-long-branch-name"
			}),
			failed: []string{`attributeMapping["google.subject"]`}, note: "at most 127",
		},
		{
			name: "the members of the binding", claims: job(), admitted: true,
			doc: strings.Replace(doc(`true`), `"name":`, `"members":["principalSet://iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/gitlab/attribute.project_path/acme/web"],"name":`, 1),
		},
		{
			name: "a member of an unmapped attribute", claims: job(),
			doc:    strings.Replace(doc(`true`), `"name":`, `"members":["principalSet://iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/gitlab/attribute.project_id/42"],"name":`, 1),
			failed: []string{"members"}, fix: "map attribute.project_id",
		},
		{
			name: "a disabled provider", claims: job(), doc: strings.Replace(doc(`true`), `"state":"ACTIVE"`, `"state":"ACTIVE","disabled":true`, 1),
			failed: []string{"state"},
		},
		{
			name: "extract in a mapping", claims: job(), admitted: true,
			doc: strings.Replace(doc(`attribute.ref == "main"`), `"attribute.ref":"assertion.ref"`, `"attribute.ref":"assertion.sub.extract(':ref:{ref}')"`, 1),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := New().Explain([]byte(tc.doc), tc.claims)
			if err != nil {
				t.Fatal(err)
			}
			if res.Admitted != tc.admitted {
				t.Errorf("admitted = %v, want %v: %s\n%+v", res.Admitted, tc.admitted, res.Verdict, res.Checks)
			}
			if tc.admitted {
				return
			}
			var failed, notes []string
			for _, c := range res.Checks {
				if !c.Held {
					failed = append(failed, c.Where)
				}
				notes = append(notes, c.Note+" "+c.Value)
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
	for _, d := range []string{``, `[]`, `{}`, `{"oidc": 3}`, `{"attributeMapping": {"a": "b"}, "oidc": {"issuerUri": "x"}, "attributeCondition": "` + strings.Repeat("a", 10000) + `"}`} {
		res, err := New().Explain([]byte(d), job())
		if err == nil && res.Admitted {
			t.Errorf("%.40q: admitted", d)
		}
	}
	// A condition that would run long stops at the cost limit.
	slow := doc(`[1,2,3,4,5,6,7,8,9,10].all(a, [1,2,3,4,5,6,7,8,9,10].all(b, [1,2,3,4,5,6,7,8,9,10].all(c, [1,2,3,4,5,6,7,8,9,10].all(d, [1,2,3,4,5,6,7,8,9,10].all(e, a+b+c+d+e > 0)))))`)
	res, err := New().Explain([]byte(slow), job())
	if err != nil || res.Admitted {
		t.Errorf("a costly condition: %v admitted=%v", err, res != nil && res.Admitted)
	}
}

func TestConjuncts(t *testing.T) {
	for src, want := range map[string][]string{
		`a == "x" && b == "y"`:            {`a == "x"`, `b == "y"`},
		`(a == "&&" && f(b && c)) `:       {`a == "&&"`, `f(b && c)`},
		`a || b && c`:                     {`a || b`, `c`},
		`(a && b) || c`:                   {`(a && b) || c`},
		`assertion.ref.matches('^a&&b$')`: {`assertion.ref.matches('^a&&b$')`},
	} {
		if got := conjuncts(src); !cmp.Equal(got, want) {
			t.Errorf("conjuncts(%q) = %q, want %q", src, got, want)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	base := job()
	fromToken, err := policy.SpecFromClaims(base, nil)
	if err != nil {
		t.Fatal(err)
	}
	fromToken.Audience = "" // the provider's own name, the default
	for name, spec := range map[string]policy.Spec{
		"from the token": fromToken,
		"a group by id":  {Issuer: "https://gitlab.com", Group: "acme", NamespaceID: "7", Ref: "ma*", ProtectedOnly: true},
	} {
		t.Run(name, func(t *testing.T) {
			docs, _, err := New().Generate(spec, "json")
			if err != nil {
				t.Fatal(err)
			}
			// The generated provider is named with placeholders; the token's
			// audience follows them.
			aud := "//iam.googleapis.com/" + resourceName()
			explain := func(c policy.Claims) *policy.Result {
				res, err := New().Explain([]byte(docs[0].Body), c)
				if err != nil {
					t.Fatal(err)
				}
				return res
			}
			withAud := func(c policy.Claims) { c["aud"] = aud }
			if res := explain(job(withAud)); !res.Admitted {
				t.Fatalf("the job itself is refused: %s %+v", res.Verdict, res.Checks)
			}
			for what, mut := range map[string]func(policy.Claims){
				"another project":    func(c policy.Claims) { c["project_path"], c["project_id"], c["namespace_id"] = "evil/web", "66", "66" },
				"another branch":     func(c policy.Claims) { c["ref"] = "dev" },
				"an unprotected ref": func(c policy.Claims) { c["ref_protected"] = "false" },
				"another audience":   func(c policy.Claims) { c["aud"] = "sts.amazonaws.com" },
				"another issuer":     func(c policy.Claims) { c["iss"] = "https://gitlab.example.com" },
			} {
				if res := explain(job(withAud, mut)); res.Admitted || res.Fix == "" {
					t.Errorf("%s: admitted %v, fix %q", what, res.Admitted, res.Fix)
				}
			}
		})
	}
}

func TestGenerateGolden(t *testing.T) {
	specs := map[string]policy.Spec{
		"project": {Issuer: "https://gitlab.com", ProjectPath: "acme/web", ProjectID: "42", Ref: "main", RefType: "branch", ProtectedOnly: true},
		"group":   {Issuer: "https://gitlab.example.com", Group: "acme/platform", Ref: "release-*", Environment: "production", Audience: "https://gitlab.example.com"},
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
				t.Fatalf("%v (go test ./internal/policy/gcp -update writes it)", err)
			}
			if d := cmp.Diff(string(want), b.String()); d != "" {
				t.Errorf("%s (-want +got):\n%s", path, d)
			}
		}
	}
}

func TestExtract(t *testing.T) {
	for _, tc := range []struct{ s, tmpl, want string }{
		{"project_path:a/b:ref_type:branch:ref:main", "project_path:{p}:ref_type", "a/b"},
		{"project_path:a/b:ref_type:branch:ref:main", ":ref:{r}", "main"},
		{"x", "y{z}", ""}, {"x", "no placeholder", ""},
	} {
		if got := extract(tc.s, tc.tmpl); got != tc.want {
			t.Errorf("extract(%q, %q) = %q, want %q", tc.s, tc.tmpl, got, tc.want)
		}
	}
}

func FuzzExplain(f *testing.F) {
	f.Add([]byte(doc(`assertion.namespace_id == "7" && assertion.ref.matches("^ma.*$")`)))
	f.Add([]byte(`{"attributeMapping": {"google.subject": "assertion.sub.extract('{x}')"}, "attributeCondition": "(((", "oidc": {"issuerUri": "x"}}`))
	f.Fuzz(func(t *testing.T, d []byte) {
		res, err := New().Explain(d, job())
		if err == nil && (res == nil || res.Admitted && res.Fix != "") {
			t.Fatalf("inconsistent result %+v", res)
		}
	})
}
