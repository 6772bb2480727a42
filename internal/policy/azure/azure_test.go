package azure

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"gitlab.com/keyless-ci/keyless/internal/option"
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
	return policytest.Claims(t, []byte(gitlabPayload), muts...)
}

var set = policytest.Set

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
		// note must appear among the checks' notes, verdict in the verdict.
		note, verdict string
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
			doc:    flexible("acme-main", "claims['sub'] matches 'project_path:acme/*:ref_type:branch:ref:main' and claims['project_id'] eq '42'"),
			claims: job(t, defaultSub, set("sub", "project_path:acme/web:ref_type:branch:ref:dev")),
			want: outcome{
				Failed:   []string{"acme-main.claimsMatchingExpression[0]"},
				Fix:      `in "claimsMatchingExpression.value", replace claims['sub'] matches 'project_path:acme/*:ref_type:branch:ref:main' with claims['sub'] matches 'project_path:acme/*:ref_type:branch:ref:dev'`,
				Warnings: []string{"group-wildcard"},
			},
			note:    `ref is "main" in the credential, "dev" in the token`,
			verdict: `the closest, "acme-main", fails on claimsMatchingExpression[0]`,
		},
		{
			name:   "a project_path sub without project_id, which Entra requires for GitLab",
			doc:    flexible("acme-web", "claims['sub'] matches 'project_path:acme/web:ref_type:branch:ref:*'"),
			claims: job(t, defaultSub),
			want: outcome{
				Failed: []string{"acme-web.claimsMatchingExpression"},
				Fix:    `append " and claims['project_id'] eq '42'" to "claimsMatchingExpression.value"`,
			},
			note:    "Entra requires a GitLab expression on a mutable sub",
			verdict: `the closest, "acme-web", never can: Entra requires a GitLab expression on a mutable sub (one that leads with project_path, which a rename can hand to another project) to also match claims['project_id'] with eq`,
		},
		{
			name:   "an immutable sub (project_id first) needs no project_id claim",
			doc:    flexible("acme-web", "claims['sub'] matches 'project_id:42:ref_type:branch:ref:*'"),
			claims: job(t, set("sub", "project_id:42:ref_type:branch:ref:main")),
			want:   outcome{Admitted: true},
		},
		{
			name:   "an immutable sub with a wildcard for the id is still mutable",
			doc:    flexible("acme-any", "claims['sub'] matches 'project_id:*'"),
			claims: job(t, set("sub", "project_id:42:ref_type:branch:ref:main")),
			want: outcome{
				Failed: []string{"acme-any.claimsMatchingExpression"},
				Fix:    `append " and claims['project_id'] eq '42'" to "claimsMatchingExpression.value"`,
			},
			verdict: "claims['project_id'] with eq",
		},
		{
			name:   "an exact sub and project_id, both with eq",
			doc:    flexible("acme-web", "claims['sub'] eq 'project_path:acme/web:ref_type:branch:ref:main' and claims['project_id'] eq '42'"),
			claims: job(t, defaultSub),
			want:   outcome{Admitted: true},
		},
		{
			// Microsoft's table lists project_id (eq) for GitLab: pinning a
			// project id is what Entra asks for, not something it refuses.
			name:   "project_id eq '4242' is a claim Entra takes for GitLab",
			doc:    flexible("acme-web", "claims['sub'] matches 'project_path:acme/web:*' and claims['project_id'] eq '4242'"),
			claims: job(t, defaultSub, set("project_id", "4242")),
			want:   outcome{Admitted: true},
		},
		{
			name:   "project_id with matches, an operator Entra does not take on it",
			doc:    flexible("acme-web", "claims['sub'] matches 'project_path:acme/web:*' and claims['project_id'] matches '4*'"),
			claims: job(t, defaultSub),
			want: outcome{
				Failed: []string{"acme-web.claimsMatchingExpression[1]"},
				Fix:    `in "claimsMatchingExpression.value", replace claims['project_id'] matches '4*' with claims['project_id'] eq '42'`,
			},
			verdict: `the closest, "acme-web", never can: Entra does not support operator matches on claims['project_id'] in a flexible federated identity credential for a GitLab issuer ("https://gitlab.com"): it supports only claims['sub'] (eq, matches) and claims['project_id'] (eq)`,
		},
		{
			name:   "a self-managed issuer Entra takes flexible credentials from",
			doc:    strings.Replace(flexible("acme-web", "claims['sub'] matches 'project_path:acme/web:*' and claims['project_id'] eq '42'"), "https://gitlab.com", "https://gitlab.acme.ca", 1),
			claims: job(t, defaultSub, set("iss", "https://gitlab.acme.ca")),
			want:   outcome{Admitted: true},
		},
		{
			name:   "a self-managed issuer Entra takes no flexible credential from",
			doc:    strings.Replace(flexible("acme-web", "claims['sub'] matches 'project_path:acme/web:*' and claims['project_id'] eq '42'"), "https://gitlab.com", "https://git.acme.example", 1),
			claims: job(t, defaultSub, set("iss", "https://git.acme.example")),
			want: outcome{
				Failed: []string{"acme-web.claimsMatchingExpression"},
				Fix:    `replace "claimsMatchingExpression" with "subject": "project_path:acme/web:ref_type:branch:ref:main" (an exact subject, one credential per ref)`,
			},
			verdict: `never can: Entra does not support flexible federated identity credentials for issuer "https://git.acme.example", only for GitHub (https://token.actions.githubusercontent.com), GitLab (https://gitlab.com, https://gitlab.NAME.com, https://gitlab.NAME.ca) and Terraform Cloud`,
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
			want: outcome{
				Failed: []string{"acme-web.claimsMatchingExpression[2]"},
				Fix:    `remove claims['environment'] eq 'production' from "claimsMatchingExpression.value"`,
			},
			verdict: `the closest, "acme-web", never can: Entra does not support claims['environment'] in a flexible federated identity credential for a GitLab issuer ("https://gitlab.com"): it supports only claims['sub'] (eq, matches) and claims['project_id'] (eq), and Microsoft Graph refuses to create such a credential`,
		},
		{
			name:   "a sub component as a claim of its own",
			doc:    flexible("acme-web", "claims['sub'] matches 'project_path:acme/web:*' and claims['project_id'] eq '42' and claims['ref'] eq 'main'"),
			claims: job(t, defaultSub),
			want: outcome{
				Failed: []string{"acme-web.claimsMatchingExpression[2]"},
				Fix:    `remove claims['ref'] eq 'main' from "claimsMatchingExpression.value"`,
			},
			note:    "GitLab's sub can carry ref: match it in claims['sub']",
			verdict: "Entra does not support claims['ref']",
		},
		{
			name: "a valid credential admits beside one Entra refuses",
			doc: `[` + flexible("with-ref", "claims['sub'] matches 'project_path:acme/web:*' and claims['project_id'] eq '42' and claims['ref'] eq 'main'") + `, ` +
				flexible("acme-web", "claims['sub'] matches 'project_path:acme/web:*' and claims['project_id'] eq '42'") + `]`,
			claims:  job(t, defaultSub),
			want:    outcome{Admitted: true, Failed: []string{"with-ref.claimsMatchingExpression[2]"}},
			verdict: `credential "acme-web" admits the token`,
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
			if res.Verdict == "" || !strings.Contains(res.Verdict, tc.verdict) {
				t.Errorf("verdict %q, want one holding %q", res.Verdict, tc.verdict)
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

// TestRoundTrip generates a credential from a job's claims (and from
// specs with wildcards, which take a flexible credential) and evaluates
// it: it admits the job, refuses every other, and names only claims Entra
// takes from the issuer.
func TestRoundTrip(t *testing.T) {
	fromToken, err := policy.SpecFromClaims(job(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	if fromToken.ProjectPath != "acme/web" || !fromToken.ProtectedOnly || len(fromToken.SubComponents) != 4 {
		t.Fatalf("SpecFromClaims = %+v", fromToken)
	}
	protectedSub := []string{"project_path", "ref_type", "ref", "ref_protected"}
	for _, tc := range []struct {
		name string
		spec policy.Spec
		job  []func(policy.Claims)
	}{
		{name: "from the token", spec: fromToken},
		{name: "a project's protected refs", spec: policy.Spec{Issuer: "https://gitlab.com", ProjectPath: "acme/web", ProjectID: "42", ProtectedOnly: true, SubComponents: protectedSub}},
		{name: "a project's production deployments, any ref", spec: policy.Spec{Issuer: "https://gitlab.com", ProjectPath: "acme/web", ProjectID: "42", Environment: "production"}, job: []func(policy.Claims){defaultSub}},
		{name: "a wildcard branch on a self-managed instance", spec: policy.Spec{Issuer: "https://gitlab.acme.ca", ProjectPath: "acme/web", ProjectID: "42", Ref: "ma*", RefType: "branch"}, job: []func(policy.Claims){defaultSub, set("iss", "https://gitlab.acme.ca")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			docs, _, err := New().Generate(tc.spec, "json")
			if err != nil || len(docs) == 0 {
				t.Fatalf("no document: %v", err)
			}
			var c credential
			if err := json.Unmarshal([]byte(docs[0].Body), &c); err != nil {
				t.Fatal(err)
			}
			if _, wildcard := tc.spec.Subject(); wildcard != (c.ClaimsMatchingExpression != nil) {
				t.Fatalf("wildcard %v, claimsMatchingExpression %+v", wildcard, c.ClaimsMatchingExpression)
			}
			if e := c.ClaimsMatchingExpression; e != nil {
				terms, err := parseExpression(e.Value)
				if err != nil {
					t.Fatal(err)
				}
				p := flexiblePlatform(c.Issuer)
				for _, x := range terms {
					if p == nil || !p.supports(x) {
						t.Errorf("%s: a term Entra does not take from %s", x, c.Issuer)
					}
				}
			}
			explain := func(c policy.Claims) *policy.Result {
				t.Helper()
				res, err := New().Explain([]byte(docs[0].Body), c)
				if err != nil {
					t.Fatal(err)
				}
				return res
			}
			self := job(t, tc.job...)
			if res := explain(self); !res.Admitted {
				t.Fatalf("the job itself is refused: %s\n%+v", res.Verdict, res.Checks)
			}
			sub, _ := self.String("sub")
			refused := map[string]func(policy.Claims){
				"another group's project": set("project_path", "evil/web", "project_id", "66", "sub", strings.Replace(sub, "acme/web", "evil/web", 1)),
				"another project id":      set("project_id", "66"),
				"another audience":        set("aud", "sts.amazonaws.com"),
				"another issuer":          set("iss", "https://gitlab.example.com"),
			}
			if tc.spec.ProtectedOnly {
				refused["an unprotected ref"] = set("ref_protected", "false", "sub", strings.Replace(sub, "ref_protected:true", "ref_protected:false", 1))
			}
			if tc.spec.Ref != "" {
				refused["another branch"] = set("ref", "dev", "sub", strings.Replace(sub, "ref:main", "ref:dev", 1))
			}
			if c.ClaimsMatchingExpression == nil {
				delete(refused, "another project id") // a classic credential matches sub alone
			}
			for what, mut := range refused {
				if res := explain(job(t, append(tc.job, mut)...)); res.Admitted || res.Fix == "" {
					t.Errorf("%s: admitted %v, fix %q", what, res.Admitted, res.Fix)
				}
			}
		})
	}
}

// TestGenerateOnlyWhatEntraTakes: where a spec needs a flexible
// credential Entra would refuse, Generate writes none and a warning says
// why and what to do instead.
func TestGenerateOnlyWhatEntraTakes(t *testing.T) {
	for _, tc := range []struct {
		name string
		spec policy.Spec
		// warning is the id of the warning that replaces the document,
		// text a part of its message.
		warning, text string
	}{
		{"a group: no one project id", policy.Spec{Issuer: "https://gitlab.com", Group: "acme", Ref: "main", RefType: "branch"}, "flexible-credential-project-id", "create one per project (--project PATH --project-id ID)"},
		{"a project without its id", policy.Spec{Issuer: "https://gitlab.com", ProjectPath: "acme/web", RefType: "branch"}, "flexible-credential-project-id", "pass --project-id"},
		{"an issuer Entra takes no flexible credential from", policy.Spec{Issuer: "https://git.acme.example", ProjectPath: "acme/web", ProjectID: "42", Environment: "production"}, "flexible-credential-issuer", `for issuer "https://git.acme.example"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, format := range New().Formats() {
				docs, warnings, err := New().Generate(tc.spec, format)
				if err != nil {
					t.Fatal(err)
				}
				if len(docs) != 0 {
					t.Errorf("%s: %d documents, want none:\n%s", format, len(docs), docs[0].Body)
				}
				var found bool
				for _, w := range warnings {
					found = found || w.ID == tc.warning && strings.Contains(option.Plain(w.Message), tc.text)
					if w.ID == "flexible-credential-preview" {
						t.Errorf("%s: a preview warning for a credential not written", format)
					}
				}
				if !found {
					t.Errorf("%s: no warning [%s] holding %q in %+v", format, tc.warning, tc.text, warnings)
				}
			}
		})
	}
	// A classic credential (an exact subject) works with any issuer.
	docs, _, err := New().Generate(policy.Spec{Issuer: "https://git.acme.example", ProjectPath: "acme/web", Ref: "main", RefType: "branch"}, "json")
	if err != nil || len(docs) != 2 || !strings.Contains(docs[0].Body, `"subject": "project_path:acme/web:ref_type:branch:ref:main"`) {
		t.Errorf("an exact subject on a self-managed issuer: %v %+v", err, docs)
	}
}

// TestPlatformRules takes every claim and operator of the table from
// Entra's issuers, and refuses a claim, and an operator, it lacks.
func TestPlatformRules(t *testing.T) {
	for _, p := range platforms {
		iss := strings.ReplaceAll(p.issuers[len(p.issuers)-1], "NAME", "acme")
		claims := policy.Claims{"iss": iss, "aud": DefaultAudience, "not_a_claim": "x"}
		for _, c := range p.claims {
			claims[c.claim] = "v-" + c.claim
		}
		// expr matches every claim of the table with eq, except claim
		// with op.
		expr := func(claim, op string) string {
			var terms []string
			for _, c := range p.claims {
				x := term{claim: c.claim, op: "eq", value: "v-" + c.claim}
				if c.claim == claim {
					x.op = op
					if op == "matches" {
						x.value = "v-?" + c.claim[1:] + "*"
					}
				}
				terms = append(terms, x.String())
			}
			if claim == "not_a_claim" {
				terms = append(terms, term{claim: claim, op: op, value: "x"}.String())
			}
			return strings.Join(terms, " and ")
		}
		explain := func(e string) *policy.Result {
			t.Helper()
			doc := strings.Replace(flexible("c", e), `"https://gitlab.com"`, `"`+iss+`"`, 1)
			res, err := New().Explain([]byte(doc), claims)
			if err != nil {
				t.Fatalf("%s: %v", e, err)
			}
			return res
		}
		for _, c := range p.claims {
			for _, op := range []string{"eq", "matches"} {
				res := explain(expr(c.claim, op))
				if slices.Contains(c.ops, op) {
					if !res.Admitted {
						t.Errorf("%s, claims['%s'] %s: refused: %s", p.name, c.claim, op, res.Verdict)
					}
					continue
				}
				if want := "operator " + op + " on claims['" + c.claim + "']"; res.Admitted || !strings.Contains(res.Verdict, want) || !strings.Contains(res.Verdict, p.supported()) {
					t.Errorf("%s, claims['%s'] %s: admitted %v, verdict %q, want one naming %q and %q", p.name, c.claim, op, res.Admitted, res.Verdict, want, p.supported())
				}
			}
		}
		res := explain(expr("not_a_claim", "eq"))
		if want := "Entra does not support claims['not_a_claim'] in a flexible federated identity credential for a " + p.name + " issuer"; res.Admitted || !strings.Contains(res.Verdict, want) || !strings.Contains(res.Verdict, p.supported()) {
			t.Errorf("%s, an unknown claim: admitted %v, verdict %q, want one holding %q", p.name, res.Admitted, res.Verdict, want)
		}
	}
}

func TestFlexiblePlatform(t *testing.T) {
	for iss, want := range map[string]string{
		"https://gitlab.com":                          "GitLab",
		"https://gitlab.com/":                         "GitLab",
		"https://gitlab.acme.com":                     "GitLab",
		"https://gitlab.eu.acme.com":                  "GitLab",
		"https://gitlab.acme.ca":                      "GitLab",
		"https://token.actions.githubusercontent.com": "GitHub",
		"https://app.eu.terraform.io":                 "Terraform Cloud",
		"https://gitlab.acme.de":                      "",
		"https://git.acme.com":                        "",
		"https://gitlab.ca":                           "",
		"https://gitlab..com":                         "",
		"http://gitlab.com":                           "",
		"https://gitlab.acme.com:8443":                "",
		"https://gitlab.acme.com/gitlab":              "",
		"https://user@gitlab.com":                     "",
		"gitlab.com":                                  "",
	} {
		got := ""
		if p := flexiblePlatform(iss); p != nil {
			got = p.name
		}
		if got != want {
			t.Errorf("flexiblePlatform(%q) = %q, want %q", iss, got, want)
		}
	}
}

// TestPlatformsMatchCitation holds platforms to the table read from
// Microsoft's page, kept in testdata/entra-flexible-credentials.md.
func TestPlatformsMatchCitation(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "entra-flexible-credentials.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	code := func(vs []string) string {
		q := make([]string, len(vs))
		for i, v := range vs {
			q[i] = "`" + v + "`"
		}
		return strings.Join(q, ", ")
	}
	issuers := "| Platform | Issuer URLs |\n|---|---|\n"
	claims := "| Platform | Claim | Operators |\n|---|---|---|\n"
	for _, p := range platforms {
		issuers += "| " + p.name + " | " + code(p.issuers) + " |\n"
		for _, c := range p.claims {
			claims += "| " + p.name + " | `" + c.claim + "` | " + code(c.ops) + " |\n"
		}
	}
	for _, table := range []string{issuers, claims} {
		if !strings.Contains(doc, table+"\n") {
			t.Errorf("testdata/entra-flexible-credentials.md lacks the table platforms gives:\n%s", table)
		}
	}
	if !strings.Contains(doc, "https://learn.microsoft.com/en-us/entra/workload-id/workload-identities-flexible-federated-identity-credentials") {
		t.Error("testdata/entra-flexible-credentials.md does not cite Microsoft's page")
	}
}

// goldenSpecs are the specs whose documents testdata/ holds.
var goldenSpecs = map[string]policy.Spec{
	// An exact subject.
	"project": {Issuer: "https://gitlab.com", ProjectPath: "acme/web", Ref: "main", RefType: "branch"},
	// A flexible credential pinned by project id.
	"branches": {Issuer: "https://gitlab.com", ProjectPath: "acme/web", ProjectID: "42", RefType: "branch", ProtectedOnly: true, SubComponents: []string{"project_path", "ref_type", "ref", "ref_protected"}},
	// A production environment on any ref: a flexible credential, the
	// project's sub with project_id beside it, as Entra requires.
	"environment": {Issuer: "https://gitlab.com", ProjectPath: "acme/web", ProjectID: "4242", Environment: "production"},
	// A group on a self-managed instance, with an environment: no one
	// credential can pin the projects' ids, so only warnings.
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
