package vault

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
		"iss": "https://gitlab.com", "aud": "https://vault.example.com",
		"sub":          "project_path:acme/web:ref_type:branch:ref:main",
		"project_path": "acme/web", "project_id": "42", "namespace_id": "7", "namespace_path": "acme",
		"ref": "main", "ref_type": "branch", "ref_protected": "true", "user_email": "dev@example.com",
		"groups_direct": []any{"acme", "acme/platform"},
	}
	for _, m := range mut {
		m(c)
	}
	return c
}

// gitlabDocsRole is the role GitLab's Vault documentation shows.
const gitlabDocsRole = `{
  "role_type": "jwt",
  "policies": ["myproject-production"],
  "token_explicit_max_ttl": 60,
  "user_claim": "user_email",
  "bound_audiences": "https://vault.example.com",
  "bound_claims_type": "glob",
  "bound_claims": {"project_id": "42", "ref_protected": "true", "ref_type": "branch", "ref": "auto-deploy-*"}
}`

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
		{
			name:     "GitLab's documented role, an auto-deploy branch",
			doc:      gitlabDocsRole,
			claims:   job(func(c policy.Claims) { c["ref"] = "auto-deploy-2024" }),
			admitted: true,
		},
		{
			name:   "GitLab's documented role, main",
			doc:    gitlabDocsRole,
			claims: job(),
			failed: []string{"bound_claims.ref"},
			fix:    `set bound_claims.ref to "main"`,
		},
		{
			name:     "vault read's output, wrapped in data",
			doc:      `{"request_id": "x", "data": {"role_type": "jwt", "bound_audiences": ["https://vault.example.com"], "user_claim": "project_id", "bound_claims": {"project_id": ["41", "42"]}}}`,
			claims:   job(),
			admitted: true,
		},
		{
			name:   "no bound_audiences on Vault 1.17+",
			doc:    `{"role_type": "jwt", "user_claim": "project_id", "bound_claims": {"project_id": "42"}}`,
			claims: job(),
			failed: []string{"bound_audiences"},
			note:   "1.17",
			fix:    `set bound_audiences to "https://vault.example.com"`,
		},
		{
			name:   "an audience with a trailing slash",
			doc:    `{"role_type": "jwt", "user_claim": "project_id", "bound_audiences": ["https://vault.example.com/"], "bound_claims": {"project_id": "42"}}`,
			claims: job(),
			failed: []string{"bound_audiences"},
			note:   "trailing slash",
		},
		{
			name:   "a glob with bound_claims_type string",
			doc:    `{"role_type": "jwt", "user_claim": "project_id", "bound_audiences": "https://vault.example.com", "bound_claims": {"project_path": "acme/*"}}`,
			claims: job(),
			failed: []string{"bound_claims.project_path"},
			note:   "* is literal",
			fix:    `set bound_claims_type to "glob"`,
		},
		{
			name:   "an oidc role",
			doc:    `{"role_type": "oidc", "user_claim": "sub", "bound_audiences": "https://vault.example.com", "bound_claims": {"project_id": "42"}}`,
			claims: job(),
			failed: []string{"role_type"},
			fix:    `set role_type to "jwt"`,
		},
		{
			name:   "ref_protected on an unprotected branch",
			doc:    `{"role_type": "jwt", "user_claim": "project_id", "bound_audiences": "https://vault.example.com", "bound_claims": {"project_id": "42", "ref_protected": "true"}}`,
			claims: job(func(c policy.Claims) { c["ref_protected"] = "false" }),
			failed: []string{"bound_claims.ref_protected"},
		},
		{
			name:   "a case-mismatched project path",
			doc:    `{"role_type": "jwt", "user_claim": "project_id", "bound_audiences": "https://vault.example.com", "bound_claims": {"project_path": "Acme/Web"}}`,
			claims: job(),
			failed: []string{"bound_claims.project_path"},
			note:   "only in case",
		},
		{
			name:   "a user_claim the token lacks",
			doc:    `{"role_type": "jwt", "user_claim": "email", "bound_audiences": "https://vault.example.com", "bound_claims": {"project_id": "42"}}`,
			claims: job(),
			failed: []string{"user_claim"},
		},
		{
			name:     "a list claim and a JSON pointer key",
			doc:      `{"role_type": "jwt", "user_claim": "project_id", "bound_audiences": "a,https://vault.example.com", "bound_claims": {"/groups_direct": "acme/platform", "project_id": "42"}}`,
			claims:   job(),
			admitted: true,
		},
		{
			name:   "bound_subject with the default sub",
			doc:    `{"role_type": "jwt", "user_claim": "project_id", "bound_audiences": "https://vault.example.com", "bound_subject": "project_path:acme/web:ref_type:branch:ref:main"}`,
			claims: job(func(c policy.Claims) { c["sub"] = "project_path:acme/web:ref:main:ref_protected:true" }),
			failed: []string{"bound_subject"},
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
			if d := cmp.Diff(tc.failed, failed); d != "" {
				t.Errorf("failed checks (-want +got):\n%s", d)
			}
			if !strings.Contains(strings.Join(notes, "|"), tc.note) {
				t.Errorf("no note containing %q in %q", tc.note, notes)
			}
			if !strings.Contains(res.Fix, tc.fix) {
				t.Errorf("fix %q does not contain %q", res.Fix, tc.fix)
			}
		})
	}
}

func TestExplainErrors(t *testing.T) {
	for _, doc := range []string{``, `[]`, `{}`, `{"data": {"foo": 1}}`, `{"role_type": "jwt", "bound_claims": [1]}`,
		`{"role_type": "jwt", "bound_claims_type": "regex", "bound_claims": {"a": "b"}}`, `{"role_type": "jwt", "bound_audiences": {"a": 1}}`} {
		if _, err := New().Explain([]byte(doc), job()); err == nil {
			t.Errorf("%q: no error", doc)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	base := job()
	for name, spec := range map[string]policy.Spec{
		"from the token": func() policy.Spec {
			s, err := policy.SpecFromClaims(base, nil)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}(),
		"a group's protected refs": {Issuer: "https://gitlab.com", Group: "acme", ProtectedOnly: true, Audience: "https://vault.example.com"},
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
			refuses := map[string]func(policy.Claims){
				"an unprotected ref": func(c policy.Claims) { c["ref_protected"] = "false" },
				"another audience":   func(c policy.Claims) { c["aud"] = "sts.amazonaws.com" },
				"another group":      func(c policy.Claims) { c["project_path"], c["project_id"] = "evil/web", "66" },
			}
			if spec.Group == "" {
				refuses["another project"] = func(c policy.Claims) { c["project_path"], c["project_id"] = "acme/api", "43" }
				refuses["another branch"] = func(c policy.Claims) { c["ref"] = "dev" }
			}
			for what, mut := range refuses {
				if res := explain(job(mut)); res.Admitted || res.Fix == "" {
					t.Errorf("%s: admitted %v, fix %q", what, res.Admitted, res.Fix)
				}
			}
		})
	}
}

func TestGenerateGolden(t *testing.T) {
	specs := map[string]policy.Spec{
		"project": {Issuer: "https://gitlab.com", ProjectPath: "acme/web", ProjectID: "42", Ref: "main", RefType: "branch", ProtectedOnly: true, Audience: "https://vault.example.com"},
		"group":   {Issuer: "https://gitlab.example.com", Group: "acme/platform", Environment: "production"},
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
				t.Fatalf("%v (go test ./internal/policy/vault -update writes it)", err)
			}
			if d := cmp.Diff(string(want), b.String()); d != "" {
				t.Errorf("%s (-want +got):\n%s", path, d)
			}
		}
	}
}

func TestGlob(t *testing.T) {
	for _, tc := range []struct {
		p, s string
		want bool
	}{{"*", "x", true}, {"acme/*", "acme/a/b", true}, {"acme/*", "acme", false}, {"a*b*c", "abxc", true}, {"a*b*c", "acb", false}, {"a?", "ab", false}, {"x", "x", true}} {
		if got := glob(tc.p, tc.s); got != tc.want {
			t.Errorf("glob(%q, %q) = %v", tc.p, tc.s, got)
		}
	}
}

func FuzzExplain(f *testing.F) {
	f.Add([]byte(gitlabDocsRole))
	f.Add([]byte(`{"data": {"role_type": "jwt", "bound_claims": {"/a/b~1c": ["x", 1, true]}, "user_claim_json_pointer": true, "user_claim": "/a"}}`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		res, err := New().Explain(doc, job())
		if err == nil && (res == nil || res.Admitted && res.Fix != "") {
			t.Fatalf("inconsistent result %+v", res)
		}
	})
}
