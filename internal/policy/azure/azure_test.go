package azure

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
// for a protected main branch deploying to production, with the project's
// sub customised to carry ref_protected.
const gitlabPayload = `{
  "namespace_id": "7",
  "namespace_path": "acme",
  "project_id": "42",
  "project_path": "acme/web",
  "user_id": "1001",
  "user_login": "dev",
  "user_email": "dev@example.com",
  "user_access_level": "maintainer",
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
  "sub": "project_path:acme/web:ref_type:branch:ref:main:ref_protected:true",
  "aud": "api://AzureADTokenExchange"
}`

// job returns gitlabPayload's claims, changed by muts.
func job(t testing.TB, muts ...func(policy.Claims)) policy.Claims {
	t.Helper()
	c, err := policy.ParseClaims([]byte(gitlabPayload))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range muts {
		m(c)
	}
	return c
}

func set(kv ...string) func(policy.Claims) {
	return func(c policy.Claims) {
		for i := 0; i+1 < len(kv); i += 2 {
			c[kv[i]] = kv[i+1]
		}
	}
}

// defaultSub gives the job GitLab's default sub.
var defaultSub = set("sub", "project_path:acme/web:ref_type:branch:ref:main")

// cred is a credential as az ad app federated-credential show prints it.
func cred(name, subject string) string {
	return `{"audiences": ["api://AzureADTokenExchange"], "description": "", "id": "9a1c4a4e-0000-0000-0000-000000000000",
		"issuer": "https://gitlab.com", "name": "` + name + `", "subject": "` + subject + `"}`
}

// flexible is a flexible credential as Microsoft Graph beta returns it.
func flexible(name, expr string) string {
	b, _ := json.Marshal(expr)
	return `{"id": "2f0e0000-0000-0000-0000-000000000000", "name": "` + name + `", "issuer": "https://gitlab.com", "subject": null,
		"description": null, "audiences": ["api://AzureADTokenExchange"],
		"claimsMatchingExpression": {"value": ` + string(b) + `, "languageVersion": 1}}`
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
			name:   "the credential GitLab's Azure guide creates",
			doc:    cred("gitlab-main", "project_path:acme/web:ref_type:branch:ref:main"),
			claims: job(t, defaultSub),
			want:   outcome{Admitted: true},
		},
		{
			name:   "a case-mismatched subject",
			doc:    cred("gitlab-main", "project_path:Acme/Web:ref_type:branch:ref:main"),
			claims: job(t, defaultSub),
			want:   outcome{Failed: []string{"gitlab-main.subject"}, Fix: `set "subject" to "project_path:acme/web:ref_type:branch:ref:main"`},
			note:   "differs from sub only in case",
		},
		{
			name:   "an issuer with a trailing slash",
			doc:    strings.Replace(cred("gitlab-main", "project_path:acme/web:ref_type:branch:ref:main"), `"https://gitlab.com"`, `"https://gitlab.com/"`, 1),
			claims: job(t, defaultSub),
			want:   outcome{Failed: []string{"gitlab-main.issuer"}, Fix: `set "issuer" to "https://gitlab.com"`},
			note:   "trailing slash",
		},
		{
			name:   "an http issuer",
			doc:    strings.Replace(cred("gitlab-main", "project_path:acme/web:ref_type:branch:ref:main"), `"https://gitlab.com"`, `"http://gitlab.com"`, 1),
			claims: job(t, defaultSub),
			want:   outcome{Failed: []string{"gitlab-main.issuer"}, Fix: `set "issuer" to "https://gitlab.com"`},
			note:   "http instead of https",
		},
		{
			name:   "the job asks for its GitLab URL as audience",
			doc:    cred("gitlab-main", "project_path:acme/web:ref_type:branch:ref:main"),
			claims: job(t, defaultSub, set("aud", "https://gitlab.com")),
			want:   outcome{Failed: []string{"gitlab-main.audiences"}, Fix: `set the jobs' id_tokens: aud to "api://AzureADTokenExchange", as the credential expects`},
		},
		{
			name:   "a custom audience on the credential",
			doc:    strings.Replace(cred("gitlab-main", "project_path:acme/web:ref_type:branch:ref:main"), "api://AzureADTokenExchange", "api://AzureADTokenExchange/", 1),
			claims: job(t, defaultSub),
			want:   outcome{Failed: []string{"gitlab-main.audiences"}, Fix: `set "audiences" to ["api://AzureADTokenExchange"]`},
			note:   "trailing slash",
		},
		{
			name:   "two audiences",
			doc:    strings.Replace(cred("gitlab-main", "project_path:acme/web:ref_type:branch:ref:main"), `["api://AzureADTokenExchange"]`, `["api://AzureADTokenExchange", "https://gitlab.com"]`, 1),
			claims: job(t, defaultSub),
			want:   outcome{Admitted: true},
		},
		{
			name:   "a wildcard in subject is literal",
			doc:    cred("gitlab-main", "project_path:acme/web:ref_type:branch:ref:*"),
			claims: job(t, defaultSub),
			want: outcome{Failed: []string{"gitlab-main.subject"},
				Fix: `replace "subject" with "claimsMatchingExpression": {"value": "claims['sub'] matches 'project_path:acme/web:ref_type:branch:ref:*'", "languageVersion": 1} (a flexible credential)`},
			note: "subject takes * and ? literally",
		},
		{
			name:   "the project customised its sub",
			doc:    cred("gitlab-main", "project_path:acme/web:ref_type:branch:ref:main"),
			claims: job(t),
			want:   outcome{Failed: []string{"gitlab-main.subject"}, Fix: `set "subject" to "project_path:acme/web:ref_type:branch:ref:main:ref_protected:true"`},
			note:   "other components than the subject (the project's ci_id_token_sub_claim_components: project_path, ref_type, ref, ref_protected)",
		},
		{
			name:   "another branch",
			doc:    cred("gitlab-main", "project_path:acme/web:ref_type:branch:ref:main"),
			claims: job(t, set("ref", "dev", "sub", "project_path:acme/web:ref_type:branch:ref:dev")),
			want:   outcome{Failed: []string{"gitlab-main.subject"}, Fix: `set "subject" to "project_path:acme/web:ref_type:branch:ref:dev"`},
			note:   `ref is "main" in the credential, "dev" in the token`,
		},
		{
			name:   "Microsoft's GitLab flexible credential, every branch",
			doc:    flexible("acme-web-branches", "claims['sub'] matches 'project_path:acme/web:ref_type:branch:ref:*' and claims['project_id'] eq '42'"),
			claims: job(t, defaultSub, set("ref", "feature/x", "sub", "project_path:acme/web:ref_type:branch:ref:feature/x")),
			want:   outcome{Admitted: true},
		},
		{
			name:   "a flexible credential on another branch",
			doc:    flexible("acme-main", "claims['sub'] matches 'project_path:acme/*:ref_type:branch:ref:main'"),
			claims: job(t, defaultSub, set("sub", "project_path:acme/web:ref_type:branch:ref:dev")),
			want: outcome{
				Failed:   []string{"acme-main.claimsMatchingExpression[0]"},
				Fix:      `in "claimsMatchingExpression.value", replace claims['sub'] matches 'project_path:acme/*:ref_type:branch:ref:main' with claims['sub'] matches 'project_path:acme/*:ref_type:branch:ref:dev'`,
				Warnings: []string{"group-wildcard", "flexible-credential-project-id"},
			},
			note: `ref is "main" in the credential, "dev" in the token`,
		},
		{
			name:   "a flexible credential pinning another project id",
			doc:    flexible("acme-web", "claims['sub'] matches 'project_path:acme/web:*' and claims['project_id'] eq '41'"),
			claims: job(t, defaultSub),
			want: outcome{
				Failed: []string{"acme-web.claimsMatchingExpression[1]"},
				Fix:    `in "claimsMatchingExpression.value", replace claims['project_id'] eq '41' with claims['project_id'] eq '42'`,
			},
		},
		{
			name:   "? matches one character",
			doc:    flexible("releases", "claims['sub'] matches 'project_path:acme/web:ref_type:tag:ref:v?.?' and claims['project_id'] eq '42'"),
			claims: job(t, set("ref_type", "tag", "ref", "v1.2", "sub", "project_path:acme/web:ref_type:tag:ref:v1.2")),
			want:   outcome{Admitted: true},
		},
		{
			name:   "eq takes a wildcard literally",
			doc:    flexible("acme-web", "claims['sub'] eq 'project_path:acme/web:ref_type:branch:ref:*' and claims['project_id'] eq '42'"),
			claims: job(t, defaultSub),
			want: outcome{
				Failed: []string{"acme-web.claimsMatchingExpression[0]"},
				Fix:    `in "claimsMatchingExpression.value", replace claims['sub'] eq 'project_path:acme/web:ref_type:branch:ref:*' with claims['sub'] eq 'project_path:acme/web:ref_type:branch:ref:main'`,
			},
			note: "eq takes * and ? literally",
		},
		{
			name:   "a claim Entra does not match for GitLab",
			doc:    flexible("acme-web", "claims['sub'] matches 'project_path:acme/web:*' and claims['project_id'] eq '42' and claims['environment'] eq 'production'"),
			claims: job(t, defaultSub),
			want:   outcome{Admitted: true},
			note:   "Entra accepts only claims['sub'] (eq, matches) and claims['project_id'] (eq)",
		},
		{
			name:   "the second credential of az's list matches",
			doc:    `[` + cred("gitlab-dev", "project_path:acme/web:ref_type:branch:ref:dev") + `, ` + cred("gitlab-main", "project_path:acme/web:ref_type:branch:ref:main") + `]`,
			claims: job(t, defaultSub),
			want:   outcome{Admitted: true, Failed: []string{"gitlab-dev.subject"}},
		},
		{
			name:   "Graph's value list, none matches: the closest is fixed",
			doc:    `{"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#applications('x')/federatedIdentityCredentials", "value": [` + cred("gitlab-tag", "project_path:acme/web:ref_type:tag:ref:main") + `, ` + strings.Replace(cred("gitlab-other", "project_path:acme/api:ref_type:branch:ref:main"), "https://gitlab.com", "https://gitlab.example.com", 1) + `]}`,
			claims: job(t, defaultSub),
			want: outcome{
				Failed: []string{"gitlab-tag.subject", "gitlab-other.issuer", "gitlab-other.subject"},
				Fix:    `set "subject" to "project_path:acme/web:ref_type:branch:ref:main" (credential "gitlab-tag")`,
			},
			note: `ref_type is "tag" in the credential, "branch" in the token`,
		},
		{
			name:   "a managed identity's credential from Resource Manager",
			doc:    `{"id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/deploy/federatedIdentityCredentials/gitlab-main", "name": "gitlab-main", "type": "Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials", "properties": {"issuer": "https://gitlab.com", "subject": "project_path:acme/web:ref_type:branch:ref:main", "audiences": ["api://AzureADTokenExchange"]}}`,
			claims: job(t, defaultSub),
			want:   outcome{Admitted: true},
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
			if res.Verdict == "" {
				t.Error("no verdict")
			}
		})
	}
}

// TestExplainChecks pins the whole explanation of the classic failure.
func TestExplainChecks(t *testing.T) {
	res, err := New().Explain([]byte(cred("gitlab-main", "project_path:Acme/Web:ref_type:branch:ref:main")), job(t, defaultSub))
	if err != nil {
		t.Fatal(err)
	}
	want := &policy.Result{
		Provider: "azure",
		Checks: []policy.Check{
			{Where: "gitlab-main.issuer", Test: `issuer equals iss: "https://gitlab.com"`, Claim: "iss", Value: `"https://gitlab.com"`, Held: true},
			{Where: "gitlab-main.audiences", Test: `audiences holds aud: ["api://AzureADTokenExchange"]`, Claim: "aud", Value: `"api://AzureADTokenExchange"`, Held: true},
			{
				Where: "gitlab-main.subject", Test: `subject equals sub: "project_path:Acme/Web:ref_type:branch:ref:main"`, Claim: "sub", Value: `"project_path:acme/web:ref_type:branch:ref:main"`,
				Note: "differs from sub only in case: Entra compares case-sensitively (AADSTS7002138); GitLab writes the path as the project's URL spells it",
			},
		},
		Verdict: `no federated identity credential matches the token, so Entra answers AADSTS70021 (no matching federated identity record); the closest, "gitlab-main", fails on subject`,
		Fix:     `set "subject" to "project_path:acme/web:ref_type:branch:ref:main"`,
	}
	if d := cmp.Diff(want, res); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
}

func TestExplainErrors(t *testing.T) {
	for _, tc := range []struct{ name, doc, want string }{
		{"empty", ``, "not a JSON object or list"},
		{"truncated", `{`, "not a JSON object or list"},
		{"empty list", `[]`, "no federated identity credential"},
		{"empty value", `{"value": []}`, "no federated identity credential"},
		{"no issuer", `{"name": "x", "subject": "s"}`, "no issuer"},
		{"both", `{"name": "x", "issuer": "https://gitlab.com", "subject": "s", "claimsMatchingExpression": {"value": "claims['sub'] eq 's'", "languageVersion": 1}}`, "both subject and claimsMatchingExpression"},
		{"neither", `{"name": "x", "issuer": "https://gitlab.com", "subject": null, "audiences": ["api://AzureADTokenExchange"]}`, "neither subject nor claimsMatchingExpression"},
		{"expression as a string", `{"name": "x", "issuer": "https://gitlab.com", "claimsMatchingExpression": "claims['sub'] eq 's'"}`, "not an object"},
		{"unknown operator", `{"name": "x", "issuer": "https://gitlab.com", "claimsMatchingExpression": {"value": "claims['sub'] like 's'", "languageVersion": 1}}`, "unknown operator"},
		{"language version 2", `{"name": "x", "issuer": "https://gitlab.com", "claimsMatchingExpression": {"value": "claims['sub'] eq 's'", "languageVersion": 2}}`, "languageVersion 2"},
		{"or", `{"name": "x", "issuer": "https://gitlab.com", "claimsMatchingExpression": {"value": "claims['sub'] eq 's' or claims['x'] eq 'y'", "languageVersion": 1}}`, "joins terms with and only"},
		{"curly quotes", `{"name": "x", "issuer": "https://gitlab.com", "claimsMatchingExpression": {"value": "claims[‘sub’] matches ‘project_path:a/b:*’", "languageVersion": 1}}`, "curly quotes"},
		{"second credential broken", `[` + cred("a", "s") + `, {"name": "b"}]`, "credential 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New().Explain([]byte(tc.doc), job(t))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestParseExpression(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []term
	}{
		{"claims['sub'] matches 'project_path:a/*'", []term{{"sub", "matches", "project_path:a/*"}}},
		{"  claims['sub'] eq 'x'  and  claims['project_id'] eq '42' ", []term{{"sub", "eq", "x"}, {"project_id", "eq", "42"}}},
		{"claims['sub'] eq 'it''s'", []term{{"sub", "eq", "it's"}}},
		{"claims['sub'] eq ''", []term{{"sub", "eq", ""}}},
	} {
		got, err := parseExpression(tc.in)
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if d := cmp.Diff(tc.want, got, cmp.AllowUnexported(term{})); d != "" {
			t.Errorf("%q (-want +got):\n%s", tc.in, d)
		}
		// Writing the terms back reads the same.
		var parts []string
		for _, x := range got {
			parts = append(parts, x.String())
		}
		again, err := parseExpression(strings.Join(parts, " and "))
		if err != nil || !cmp.Equal(got, again, cmp.AllowUnexported(term{})) {
			t.Errorf("%q: round trip gives %v, %v", tc.in, again, err)
		}
	}
	for _, bad := range []string{"", "claims['sub']", "claims['sub'] matches", "claims['sub'] matches 'x", "claims['sub']matches 'x'",
		`claims["sub"] eq 'x'`, "claims['sub'] eq 'x' and", "claims['sub'] eq 'x' andclaims['a'] eq 'b'", "(claims['sub'] eq 'x')", "claims['s b'] eq 'x'"} {
		if _, err := parseExpression(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestMatches(t *testing.T) {
	for _, tc := range []struct {
		p, s string
		want bool
	}{
		{"*", "", true},
		{"*", "anything", true},
		{"project_path:acme/*:ref_type:branch:ref:main", "project_path:acme/web:ref_type:branch:ref:main", true},
		{"project_path:acme/*:ref_type:branch:ref:main", "project_path:acme/web:ref_type:branch:ref:mainline", false},
		{"project_path:acme/*", "project_path:acmecorp/web", false},
		{"v?.?", "v1.2", true},
		{"v?.?", "v10.2", false},
		{"a*b*c", "abxc", true},
		{"a*b*c", "acb", false},
		{"é?", "éü", true},
		{"Main", "main", false},
		{"**x", "x", true},
	} {
		if got := matches(tc.p, tc.s); got != tc.want {
			t.Errorf("matches(%q, %q) = %v, want %v", tc.p, tc.s, got, tc.want)
		}
	}
}

func TestAdaptPattern(t *testing.T) {
	for _, tc := range []struct{ p, s, want string }{
		{"project_path:acme/*:ref_type:branch:ref:main", "project_path:acme/web:ref_type:branch:ref:dev", "project_path:acme/*:ref_type:branch:ref:dev"},
		{"project_path:acme/*:ref_type:branch:ref:*", "project_path:evil/web:ref_type:branch:ref:dev", "project_path:evil/web:ref_type:branch:ref:*"},
		{"project_path:acme/*", "project_path:acme/web:ref_type:branch:ref:main", "project_path:acme/web:ref_type:branch:ref:main"},
	} {
		if got := adaptPattern(tc.p, tc.s); got != tc.want {
			t.Errorf("adaptPattern(%q, %q) = %q, want %q", tc.p, tc.s, got, tc.want)
		}
	}
}

// TestRoundTrip generates a credential from a job's claims (and for a
// group) and evaluates it: it admits the job and refuses every other.
func TestRoundTrip(t *testing.T) {
	fromToken, err := policy.SpecFromClaims(job(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	if fromToken.ProjectPath != "acme/web" || !fromToken.ProtectedOnly || len(fromToken.SubComponents) != 4 {
		t.Fatalf("SpecFromClaims = %+v", fromToken)
	}
	protectedSub := []string{"project_path", "ref_type", "ref", "ref_protected"}
	for name, spec := range map[string]policy.Spec{
		"from the token":             fromToken,
		"a group's protected main":   {Issuer: "https://gitlab.com", Group: "acme", Ref: "main", RefType: "branch", ProtectedOnly: true, SubComponents: protectedSub},
		"a project's protected refs": {Issuer: "https://gitlab.com", ProjectPath: "acme/web", ProjectID: "42", ProtectedOnly: true, SubComponents: protectedSub},
	} {
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
				"another group's project": set("project_path", "evil/web", "project_id", "66", "sub", "project_path:evil/web:ref_type:branch:ref:main:ref_protected:true"),
				"an unprotected ref":      set("ref_protected", "false", "sub", "project_path:acme/web:ref_type:branch:ref:main:ref_protected:false"),
				"another audience":        set("aud", "sts.amazonaws.com"),
				"another issuer":          set("iss", "https://gitlab.example.com"),
			}
			if spec.Group == "" {
				refused["another project of the group"] = set("project_path", "acme/api", "project_id", "43", "sub", "project_path:acme/api:ref_type:branch:ref:main:ref_protected:true")
			}
			if spec.Ref != "" {
				refused["another branch"] = set("ref", "dev", "sub", "project_path:acme/web:ref_type:branch:ref:dev:ref_protected:true")
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
	// An exact subject.
	"project": {Issuer: "https://gitlab.com", ProjectPath: "acme/web", Ref: "main", RefType: "branch"},
	// A flexible credential pinned by project id.
	"branches": {Issuer: "https://gitlab.com", ProjectPath: "acme/web", ProjectID: "42", RefType: "branch", ProtectedOnly: true, SubComponents: []string{"project_path", "ref_type", "ref", "ref_protected"}},
	// A group on a self-managed instance, with an environment.
	"group": {Issuer: "https://gitlab.example.com", Group: "acme/platform", RefType: "tag", Environment: "production", Audience: "sts.amazonaws.com"},
}

func TestGenerateGolden(t *testing.T) {
	policytest.CheckGenerated(t, New(), goldenSpecs, *update, nil)
}

func TestGenerateErrors(t *testing.T) {
	if _, _, err := New().Generate(goldenSpecs["project"], "cloudformation"); err == nil || !strings.Contains(err.Error(), "json or terraform") {
		t.Errorf("an unknown format: %v", err)
	}
	if _, _, err := New().Generate(policy.Spec{ProjectPath: "acme/web"}, "json"); err == nil {
		t.Error("a spec without issuer: no error")
	}
}

// FuzzExplain varies the document and the token's sub (which the
// expression language matches) together.
func FuzzExplain(f *testing.F) {
	sub := "project_path:acme/web:ref_type:branch:ref:main"
	f.Add([]byte(cred("gitlab-main", sub)), sub)
	f.Add([]byte(flexible("a", "claims['sub'] matches 'project_path:acme/*:ref_type:branch:ref:m?in' and claims['project_id'] eq '42'")), sub)
	f.Add([]byte(`{"value": [`+flexible("a", "claims['sub'] eq 'it''s'")+`]}`), "it's")
	f.Add([]byte(`{"name": "m", "properties": {"issuer": "https://gitlab.com", "subject": "s", "audiences": []}}`), "s")
	f.Add([]byte(flexible("a", "claims['sub'] matches '**?*é'")), "ééé")
	base := job(f)
	f.Fuzz(func(t *testing.T, doc []byte, sub string) {
		claims := policy.Claims{}
		for k, v := range base {
			claims[k] = v
		}
		claims["sub"] = sub
		res, err := New().Explain(doc, claims)
		if err != nil {
			return
		}
		if res == nil || res.Verdict == "" || res.Admitted == (res.Fix != "") {
			t.Fatalf("inconsistent result %+v", res)
		}
	})
}
