package vault

import (
	"encoding/json"
	"flag"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"gitlab.com/keyless-ci/keyless/internal/policy"
	"gitlab.com/keyless-ci/keyless/internal/policy/policytest"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// gitlabPayload is a GitLab CI/CD ID token's payload as GitLab documents
// it (https://docs.gitlab.com/ci/secrets/id_token_authentication/#token-payload),
// for a protected main branch deploying to production, with the Vault
// server as its audience as GitLab's Vault tutorial asks.
const gitlabPayload = `{
  "namespace_id": "7",
  "namespace_path": "acme",
  "project_id": "42",
  "project_path": "acme/web",
  "user_id": "1001",
  "user_login": "dev",
  "user_email": "dev@example.com",
  "user_access_level": "maintainer",
  "groups_direct": ["acme", "acme/platform"],
  "pipeline_id": "1519139981",
  "pipeline_source": "push",
  "job_id": "8222997048",
  "ref": "main",
  "ref_type": "branch",
  "ref_path": "refs/heads/main",
  "ref_protected": "true",
  "environment": "production",
  "environment_protected": "true",
  "deployment_tier": "production",
  "runner_id": 12270835,
  "runner_environment": "gitlab-hosted",
  "sha": "8fe1b322a576d59fe6257052a4107df7dc1b8c78",
  "project_visibility": "private",
  "ci_config_ref_uri": "gitlab.com/acme/web//.gitlab-ci.yml@refs/heads/main",
  "ci_config_sha": "8fe1b322a576d59fe6257052a4107df7dc1b8c78",
  "jti": "1b1e2d8e-4f55-4a3c-9d7c-1c2f4e6a8b9d",
  "iss": "https://gitlab.com",
  "iat": 1727000000,
  "nbf": 1726999995,
  "exp": 1727003600,
  "sub": "project_path:acme/web:ref_type:branch:ref:main",
  "aud": "https://vault.example.com"
}`

// job returns gitlabPayload's claims, changed by muts.
func job(t testing.TB, muts ...func(policy.Claims)) policy.Claims {
	t.Helper()
	return policytest.Claims(t, []byte(gitlabPayload), muts...)
}

var set, unset = policytest.Set, policytest.Unset

// gitlabProductionRole is the production role of GitLab's Vault tutorial
// (https://docs.gitlab.com/ci/secrets/hashicorp_vault_tutorial/), with the
// bound_audiences GitLab added for Vault 1.17.
const gitlabProductionRole = `{
  "role_type": "jwt",
  "policies": ["myproject-production"],
  "token_explicit_max_ttl": 60,
  "user_claim": "user_email",
  "bound_audiences": "https://vault.example.com",
  "bound_claims_type": "glob",
  "bound_claims": {"project_id": "42", "ref_protected": "true", "ref_type": "branch", "ref": "main"}
}`

// gitlabStagingRole is the tutorial's staging role as it stood before
// Vault 1.17: no bound_audiences, and a * in a string-typed bound claim.
const gitlabStagingRole = `{
  "role_type": "jwt",
  "policies": ["myproject-staging"],
  "token_explicit_max_ttl": 60,
  "user_claim": "user_email",
  "bound_claims": {"project_id": "42", "ref": "staging*", "ref_type": "branch"}
}`

// vaultRead wraps a role's data as vault read -format=json prints it.
func vaultRead(data string) string {
	return `{"request_id": "5b3e4c1a-0000-0000-0000-000000000000", "lease_id": "", "lease_duration": 0, "renewable": false,
		"data": ` + data + `, "warnings": null}`
}

// outcome is what a person reads of a Result: the verdict, the conditions
// that failed, the fix and the warnings.
type outcome struct {
	Admitted bool
	Failed   []string
	Fix      string
	Warnings []string
}

func summarize(res *policy.Result) (outcome, string) {
	o := outcome{Admitted: res.Admitted, Fix: res.Fix}
	var notes []string
	for _, c := range res.Checks {
		if !c.Held {
			o.Failed = append(o.Failed, c.Where)
		}
		notes = append(notes, c.Note)
	}
	for _, w := range res.Warnings {
		o.Warnings = append(o.Warnings, w.ID)
	}
	return o, strings.Join(notes, "|")
}

func TestExplain(t *testing.T) {
	for _, tc := range []struct {
		name   string
		doc    string
		claims policy.Claims
		want   outcome
		// note must appear among the checks' notes.
		note string
	}{
		{
			name:   "GitLab's production role",
			doc:    gitlabProductionRole,
			claims: job(t),
			want:   outcome{Admitted: true, Warnings: []string{"user-claim-person"}},
		},
		{
			name:   "GitLab's production role, an unprotected branch",
			doc:    gitlabProductionRole,
			claims: job(t, set("ref_protected", "false")),
			want:   outcome{Failed: []string{"bound_claims.ref_protected"}, Fix: `set bound_claims.ref_protected to "false"`, Warnings: []string{"user-claim-person"}},
		},
		{
			name:   "GitLab's old staging role on Vault 1.17: no bound_audiences, and a literal *",
			doc:    vaultRead(gitlabStagingRole),
			claims: job(t, set("ref", "staging-2", "ref_protected", "false")),
			want: outcome{
				Failed:   []string{"bound_audiences", "bound_claims.ref"},
				Fix:      `add bound_audiences ["https://vault.example.com"]; and set bound_claims_type to "glob"`,
				Warnings: []string{"ref-wildcard", "user-claim-person"},
			},
			note: `audience claim found in JWT but no audiences bound to the role`,
		},
		{
			name:   "a glob with bound_claims_type string",
			doc:    `{"role_type": "jwt", "user_claim": "project_id", "bound_audiences": ["https://vault.example.com"], "bound_claims": {"project_path": "acme/*", "ref": "main"}}`,
			claims: job(t),
			want:   outcome{Failed: []string{"bound_claims.project_path"}, Fix: `set bound_claims_type to "glob"`},
			note:   `bound_claims_type is "string", so * is literal`,
		},
		{
			name:   "ref_protected as a JSON boolean",
			doc:    `{"role_type": "jwt", "user_claim": "project_id", "bound_audiences": ["https://vault.example.com"], "bound_claims": {"project_id": "42", "ref_protected": true}}`,
			claims: job(t),
			want:   outcome{Failed: []string{"bound_claims.ref_protected"}, Fix: `set bound_claims.ref_protected to the string "true"`},
			note:   `bound_claims.ref_protected is the JSON boolean true, and GitLab writes "true" as a string`,
		},
		{
			name:   "project_id as a JSON number",
			doc:    `{"role_type": "jwt", "user_claim": "project_id", "bound_audiences": ["https://vault.example.com"], "bound_claims": {"project_id": 42, "ref": "main"}}`,
			claims: job(t),
			want:   outcome{Failed: []string{"bound_claims.project_id"}, Fix: `set bound_claims.project_id to the string "42"`},
			note:   "the JSON number 42",
		},
		{
			name:   "runner_id, a number in the token, bound as a string",
			doc:    `{"role_type": "jwt", "user_claim": "project_id", "bound_audiences": ["https://vault.example.com"], "bound_claims": {"project_id": "42", "ref": "main", "runner_id": "12270835"}}`,
			claims: job(t),
			want:   outcome{Failed: []string{"bound_claims.runner_id"}, Fix: "write bound_claims.runner_id as the number 12270835, unquoted"},
		},
		{
			name:   "an audience with a trailing slash",
			doc:    `{"role_type": "jwt", "user_claim": "project_id", "bound_audiences": ["https://vault.example.com/"], "bound_claims": {"project_id": "42", "ref": "main"}}`,
			claims: job(t),
			want:   outcome{Failed: []string{"bound_audiences"}, Fix: `add "https://vault.example.com" to bound_audiences, or set the jobs' id_tokens: aud to "https://vault.example.com/"`},
			note:   "trailing slash",
		},
		{
			name:   "the job asks for another audience",
			doc:    gitlabProductionRole,
			claims: job(t, set("aud", "sts.amazonaws.com")),
			want:   outcome{Failed: []string{"bound_audiences"}, Fix: `add "sts.amazonaws.com" to bound_audiences, or set the jobs' id_tokens: aud to "https://vault.example.com"`, Warnings: []string{"user-claim-person"}},
		},
		{
			name:   "an oidc role",
			doc:    `{"role_type": "oidc", "user_claim": "sub", "bound_audiences": "https://vault.example.com", "bound_claims": {"project_id": "42", "ref": "main"}, "allowed_redirect_uris": ["http://localhost:8250/oidc/callback"]}`,
			claims: job(t),
			want:   outcome{Failed: []string{"role_type"}, Fix: `set role_type to "jwt"`},
			note:   "browser logins",
		},
		{
			name:   "no role_type: Vault's default is oidc",
			doc:    `{"user_claim": "project_id", "bound_audiences": "https://vault.example.com", "bound_claims": {"project_id": "42", "ref": "main"}}`,
			claims: job(t),
			want:   outcome{Failed: []string{"role_type"}, Fix: `set role_type to "jwt"`},
			note:   `Vault makes the role "oidc"`,
		},
		{
			name:   "a case-mismatched project path",
			doc:    `{"role_type": "jwt", "user_claim": "project_id", "bound_audiences": "https://vault.example.com", "bound_claims": {"project_path": "Acme/Web", "ref": "main"}}`,
			claims: job(t),
			want:   outcome{Failed: []string{"bound_claims.project_path"}, Fix: `set bound_claims.project_path to "acme/web"`},
			note:   "only in case",
		},
		{
			name:   "an environment bound, a job without one",
			doc:    `{"role_type": "jwt", "user_claim": "project_id", "bound_audiences": "https://vault.example.com", "bound_claims": {"project_id": "42", "environment": "production"}}`,
			claims: job(t, unset("environment", "environment_protected", "deployment_tier")),
			want:   outcome{Failed: []string{"bound_claims.environment"}, Fix: "remove environment from bound_claims, or run the job where GitLab sets it"},
			note:   "GitLab sets it only for jobs with an environment:",
		},
		{
			name:   "a user_claim the token lacks",
			doc:    `{"role_type": "jwt", "user_claim": "email", "bound_audiences": "https://vault.example.com", "bound_claims": {"project_id": "42", "ref": "main"}}`,
			claims: job(t),
			want:   outcome{Failed: []string{"user_claim"}, Fix: `set user_claim to a string claim every GitLab token has, such as "project_id" (not "email")`},
			note:   `claim "email" not found in token`,
		},
		{
			name:   "a number as user_claim",
			doc:    `{"role_type": "jwt", "user_claim": "runner_id", "bound_audiences": "https://vault.example.com", "bound_claims": {"project_id": "42", "ref": "main"}}`,
			claims: job(t),
			want:   outcome{Failed: []string{"user_claim"}, Fix: `set user_claim to a string claim every GitLab token has, such as "project_id" (not "runner_id")`},
			note:   "could not be converted to string",
		},
		{
			name:   "a claim mapping of a number",
			doc:    `{"role_type": "jwt", "user_claim": "project_id", "bound_audiences": "https://vault.example.com", "bound_claims": {"project_id": "42", "ref": "main"}, "claim_mappings": {"runner_id": "runner", "project_path": "project_path", "nope": "nope"}}`,
			claims: job(t),
			want:   outcome{Failed: []string{"claim_mappings"}, Fix: "remove runner_id from claim_mappings"},
		},
		{
			name:   "vault read's output: lists, a list claim and a JSON pointer",
			doc:    vaultRead(`{"role_type": "jwt", "bound_audiences": ["https://other.example.com", "https://vault.example.com"], "bound_claims": {"/groups_direct/1": "acme/platform", "groups_direct": ["ops", "acme"], "project_id": ["41", "42"], "ref": "main"}, "bound_claims_type": "string", "bound_subject": "", "claim_mappings": null, "groups_claim": "groups_direct", "user_claim": "project_id", "user_claim_json_pointer": false, "token_policies": ["deploy"], "token_ttl": 900}`),
			claims: job(t),
			want:   outcome{Admitted: true},
		},
		{
			name:   "bound_subject written for the default sub",
			doc:    `{"role_type": "jwt", "user_claim": "project_id", "bound_audiences": "https://vault.example.com", "bound_subject": "project_path:acme/web:ref_type:branch:ref:main"}`,
			claims: job(t, set("sub", "project_path:acme/web:ref:main:ref_protected:true")),
			want:   outcome{Failed: []string{"bound_subject"}, Fix: `set bound_subject to "project_path:acme/web:ref:main:ref_protected:true"`, Warnings: []string{"any-ref"}},
		},
		{
			name:   "a group glob without a slash, and no ref",
			doc:    `{"role_type": "jwt", "user_claim": "project_id", "bound_audiences": "https://vault.example.com", "bound_claims_type": "glob", "bound_claims": {"project_path": "acme*"}}`,
			claims: job(t, set("project_path", "acme-evil/web")),
			want:   outcome{Admitted: true, Warnings: []string{"prefix-glob", "any-ref"}},
		},
		{
			name:   "a glob bound to a boolean",
			doc:    `{"role_type": "jwt", "user_claim": "project_id", "bound_audiences": "https://vault.example.com", "bound_claims_type": "glob", "bound_claims": {"project_id": "42", "ref_protected": true}}`,
			claims: job(t),
			want:   outcome{Failed: []string{"bound_claims.ref_protected"}, Fix: `write bound_claims.ref_protected as the string "true"`},
			note:   "glob takes only strings",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := New().Explain([]byte(tc.doc), tc.claims)
			if err != nil {
				t.Fatal(err)
			}
			got, notes := summarize(res)
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("(-want +got):\n%s\nverdict: %s\nnotes: %s", d, res.Verdict, notes)
			}
			if !strings.Contains(notes, tc.note) {
				t.Errorf("no note holds %q:\n%s", tc.note, notes)
			}
		})
	}
}

// TestExplainChecks pins the whole explanation of the classic failure.
func TestExplainChecks(t *testing.T) {
	doc := `{"role_type": "jwt", "user_claim": "project_id", "bound_claims": {"project_id": "42", "ref_protected": "true"}}`
	res, err := New().Explain([]byte(doc), job(t))
	if err != nil {
		t.Fatal(err)
	}
	want := &policy.Result{
		Provider: "vault",
		Checks: []policy.Check{
			{Where: "role_type", Test: `role_type is "jwt"`, Value: `"jwt"`, Held: true},
			{
				Where: "bound_audiences", Test: "bound_audiences is set, since the token has an aud", Claim: "aud", Value: `"https://vault.example.com"`,
				Note: `Vault 1.17 (and 1.16.3) refuse a token with an aud claim when the role binds no audience: "audience claim found in JWT but no audiences bound to the role" (https://developer.hashicorp.com/vault/docs/upgrading/upgrade-to-1.17.x#jwt-auth-login-requires-bound-audiences-on-the-role)`,
			},
			{Where: "bound_claims.project_id", Test: `project_id is "42"`, Claim: "project_id", Value: `"42"`, Held: true},
			{Where: "bound_claims.ref_protected", Test: `ref_protected is "true"`, Claim: "ref_protected", Value: `"true"`, Held: true},
			{Where: "user_claim", Test: `the token has the string claim "project_id"`, Claim: "project_id", Value: `"42"`, Held: true},
		},
		Verdict: "the role refuses the token: bound_audiences failed",
		Fix:     `add bound_audiences ["https://vault.example.com"]`,
	}
	if d := cmp.Diff(want, res); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
}

func TestExplainErrors(t *testing.T) {
	for _, tc := range []struct{ name, doc, want string }{
		{"empty", ``, "not a JSON object"},
		{"a list", `[]`, "not a JSON object"},
		{"nothing of a role", `{}`, "no role_type"},
		{"vault read of something else", `{"data": {"foo": 1}}`, "no role_type"},
		{"bound_claims a list", `{"role_type": "jwt", "bound_claims": [1]}`, "bound_claims: not a JSON object"},
		{"regex claims type", `{"role_type": "jwt", "bound_claims_type": "regex", "bound_claims": {"a": "b"}}`, `bound_claims_type "regex"`},
		{"bound_audiences an object", `{"role_type": "jwt", "bound_audiences": {"a": 1}}`, "bound_audiences"},
		{"claim_mappings a list", `{"role_type": "jwt", "user_claim": "sub", "claim_mappings": ["a"]}`, "claim_mappings"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New().Explain([]byte(tc.doc), job(t))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// TestRoundTrip generates a role from a job's claims (and for groups) and
// evaluates it: it admits the job and refuses every other.
func TestRoundTrip(t *testing.T) {
	fromToken, err := policy.SpecFromClaims(job(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	for name, spec := range map[string]policy.Spec{
		"from the token":                {},
		"a group's protected refs":      {Issuer: "https://gitlab.com", Group: "acme", ProtectedOnly: true, Audience: "https://vault.example.com"},
		"a group's release branches":    {Issuer: "https://gitlab.com", Group: "acme", NamespaceID: "7", Ref: "ma*", RefType: "branch", ProtectedOnly: true, Audience: "https://vault.example.com"},
		"a project's protected refs":    {Issuer: "https://gitlab.com", ProjectPath: "acme/web", ProjectID: "42", ProtectedOnly: true, Audience: "https://vault.example.com"},
		"a project's main, placeholder": {Issuer: "https://gitlab.com", ProjectPath: "acme/web", ProjectID: "42", Ref: "main", RefType: "branch"},
	} {
		if name == "from the token" {
			spec = fromToken
		}
		t.Run(name, func(t *testing.T) {
			docs, _, err := New().Generate(spec, "json")
			if err != nil {
				t.Fatal(err)
			}
			explain := func(c policy.Claims) *policy.Result {
				t.Helper()
				res, err := New().Explain([]byte(docs[0].Body), c)
				if err != nil {
					t.Fatal(err)
				}
				return res
			}
			if res := explain(job(t)); !res.Admitted {
				t.Fatalf("the job itself is refused: %s\n%+v", res.Verdict, res.Checks)
			}
			refused := map[string]func(policy.Claims){
				"another audience":        set("aud", "sts.amazonaws.com"),
				"another group's project": set("project_path", "evil/web", "project_id", "66", "namespace_id", "9"),
				"a look-alike group":      set("project_path", "acme-evil/web", "project_id", "66", "namespace_id", "9"),
			}
			if spec.Group == "" {
				refused["another project of the group"] = set("project_path", "acme/api", "project_id", "43")
				refused["the path, taken over by another project"] = set("project_id", "4242")
			}
			if spec.ProtectedOnly {
				refused["an unprotected ref"] = set("ref_protected", "false")
			}
			if spec.Ref != "" {
				refused["another branch"] = set("ref", "dev")
				refused["a tag of the same name"] = set("ref_type", "tag")
			}
			if spec.Environment != "" {
				refused["another environment"] = set("environment", "staging")
				refused["no environment"] = unset("environment")
			}
			for what, mut := range refused {
				if res := explain(job(t, mut)); res.Admitted || res.Fix == "" {
					t.Errorf("%s: admitted %v, fix %q", what, res.Admitted, res.Fix)
				}
			}
		})
	}
}

// goldenSpecs are the specs whose documents testdata/ holds.
var goldenSpecs = map[string]policy.Spec{
	"project": {Issuer: "https://gitlab.com", ProjectPath: "acme/web", ProjectID: "42", Ref: "main", RefType: "branch", ProtectedOnly: true, Audience: "https://vault.example.com"},
	"group":   {Issuer: "https://gitlab.example.com", Group: "acme/platform", NamespaceID: "7", Environment: "production"},
	"release": {Issuer: "https://gitlab.com", ProjectPath: "acme/web", Ref: "release-*", RefType: "branch", Audience: "api://AzureADTokenExchange"},
}

func TestGenerateGolden(t *testing.T) {
	policytest.CheckGenerated(t, New(), goldenSpecs, *update, nil)
}

func TestGenerateErrors(t *testing.T) {
	if _, _, err := New().Generate(goldenSpecs["project"], "hcl"); err == nil || !strings.Contains(err.Error(), "shell, json or terraform") {
		t.Errorf("an unknown format: %v", err)
	}
	if _, _, err := New().Generate(policy.Spec{Issuer: "https://gitlab.com"}, "json"); err == nil {
		t.Error("a spec without project or group: no error")
	}
}

func TestGlob(t *testing.T) {
	for _, tc := range []struct {
		p, s string
		want bool
	}{
		{"*", "x", true},
		{"", "", true},
		{"", "x", false},
		{"acme/*", "acme/a/b", true},
		{"acme/*", "acme", false},
		{"acme*", "acme-evil/x", true},
		{"a*b*c", "abxc", true},
		{"a*b*c", "acb", false},
		{"*b*b", "ab", false},
		{"a?", "ab", false},
		{"a?", "a?", true},
		{"Main", "main", false},
	} {
		if got := glob(tc.p, tc.s); got != tc.want {
			t.Errorf("glob(%q, %q) = %v, want %v", tc.p, tc.s, got, tc.want)
		}
	}
}

// FuzzExplain varies the role and one claim's JSON value together.
func FuzzExplain(f *testing.F) {
	f.Add([]byte(gitlabProductionRole), []byte(`"true"`))
	f.Add([]byte(vaultRead(gitlabStagingRole)), []byte(`["staging-1", 2, null, {"a": true}]`))
	f.Add([]byte(`{"data": {"role_type": "jwt", "bound_claims": {"/ref_protected/0": ["x", 1, true], "/a~1b/c": "*"}, "bound_claims_type": "glob", "user_claim_json_pointer": true, "user_claim": "/ref_protected/0", "claim_mappings": {"ref_protected": "p"}, "groups_claim": "ref_protected"}}`), []byte(`[1.5, "x"]`))
	base := job(f)
	f.Fuzz(func(t *testing.T, doc, protected []byte) {
		claims := policy.Claims{}
		for k, v := range base {
			claims[k] = v
		}
		var v any
		if json.Unmarshal(protected, &v) == nil {
			claims["ref_protected"] = v
		}
		res, err := New().Explain(doc, claims)
		if err != nil {
			return
		}
		if res == nil || res.Verdict == "" || res.Admitted == (res.Fix != "") {
			t.Fatalf("inconsistent result %+v", res)
		}
	})
}
