package gcp

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"gitlab.com/keyless-ci/keyless/internal/policy"
	"gitlab.com/keyless-ci/keyless/internal/policy/policytest"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

const (
	providerName = "projects/123456789012/locations/global/workloadIdentityPools/gitlab/providers/gitlab"
	pool         = "projects/123456789012/locations/global/workloadIdentityPools/gitlab"
	defaultAud   = "https://iam.googleapis.com/" + providerName
)

// job returns the claims of testdata/claims.json, a GitLab.com job's
// payload shaped like GitLab's documented one, changed by mut.
func job(t testing.TB, mut ...func(policy.Claims)) policy.Claims {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "claims.json"))
	if err != nil {
		t.Fatal(err)
	}
	return policytest.Claims(t, b, mut...)
}

var set, without = policytest.Set, policytest.Unset

// googleDoc is the provider Google's GitLab SaaS guide sets up, as
// gcloud describes it: issuer https://gitlab.com, the default audience,
// google.subject plus project_id and namespace_id, a group condition:
// https://cloud.google.com/iam/docs/workload-identity-federation-with-deployment-pipelines
func googleDoc(mut ...func(map[string]any)) string {
	d := map[string]any{
		"name":        providerName,
		"displayName": "GitLab",
		"state":       "ACTIVE",
		"attributeMapping": map[string]any{
			"google.subject":         "assertion.sub",
			"attribute.project_id":   "assertion.project_id",
			"attribute.namespace_id": "assertion.namespace_id",
		},
		"attributeCondition": "assertion.namespace_id=='7'",
		"oidc":               map[string]any{"issuerUri": "https://gitlab.com"},
	}
	for _, m := range mut {
		m(d)
	}
	b, err := json.Marshal(d)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// gitlabDoc is the provider GitLab's guide sets up: audience
// https://gitlab.com, a user_login mapping and a principal set on it:
// https://docs.gitlab.com/ci/cloud_services/google_cloud/
func gitlabDoc(mut ...func(map[string]any)) string {
	return googleDoc(append([]func(map[string]any){func(d map[string]any) {
		d["name"] = pool + "/providers/gitlab-gitlab"
		d["displayName"] = "gitlab/gitlab"
		d["attributeMapping"] = map[string]any{"google.subject": "assertion.sub", "attribute.user_login": "assertion.user_login", "attribute.namespace_id": "assertion.namespace_id"}
		d["oidc"] = map[string]any{"issuerUri": "https://gitlab.com", "allowedAudiences": []string{"https://gitlab.com"}}
		d["members"] = []string{"principalSet://iam.googleapis.com/" + pool + "/attribute.user_login/chris"}
	}}, mut...)...)
}

func withCondition(c string) func(map[string]any) {
	return func(d map[string]any) { d["attributeCondition"] = c }
}

func withMapping(kv ...string) func(map[string]any) {
	return func(d map[string]any) {
		m := d["attributeMapping"].(map[string]any)
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == "" {
				delete(m, kv[i])
			} else {
				m[kv[i]] = kv[i+1]
			}
		}
	}
}

func members(m ...string) func(map[string]any) {
	return func(d map[string]any) { d["members"] = m }
}

func issuer(iss string) func(map[string]any) {
	return func(d map[string]any) { d["oidc"].(map[string]any)["issuerUri"] = iss }
}

func audiences(a ...string) func(map[string]any) {
	return func(d map[string]any) { d["oidc"].(map[string]any)["allowedAudiences"] = a }
}

func field(k string, v any) func(map[string]any) {
	return func(d map[string]any) { d[k] = v }
}

// verdict is what a test compares of a Result: notes are long prose,
// checked by a phrase each must contain.
type verdict struct {
	Admitted bool
	Failed   []string
	Verdict  string
	Fix      string
	Warnings []string
}

func TestExplain(t *testing.T) {
	atDefault := set("aud", defaultAud)
	gitlabAud := "https://iam.googleapis.com/" + pool + "/providers/gitlab-gitlab"
	longPath := strings.Repeat("platform-engineering/", 4) + "deploy-service"
	for _, tc := range []struct {
		name   string
		doc    string
		claims []func(policy.Claims)
		want   verdict
		note   string // a phrase a check's note holds
	}{
		{
			name: "Google's documented GitLab SaaS provider", doc: googleDoc(), claims: []func(policy.Claims){atDefault},
			want: verdict{Admitted: true, Verdict: "the provider accepts the token"},
		},
		{
			name: "the default audience in the // form", doc: googleDoc(), claims: []func(policy.Claims){set("aud", "//iam.googleapis.com/"+providerName)},
			want: verdict{Admitted: true, Verdict: "the provider accepts the token"},
		},
		{
			name: "GitLab's documented provider, with the binding member", doc: gitlabDoc(),
			want: verdict{Admitted: true, Verdict: "the provider accepts the token, and a member of the binding names the job"},
		},
		{
			name: "GitLab's documented issuer with the trailing slash its guide asks for", doc: gitlabDoc(issuer("https://gitlab.com/")),
			want: verdict{Admitted: true, Verdict: "the provider accepts the token, and a member of the binding names the job"},
			note: "only by a trailing slash",
		},
		{
			name: "no attribute condition on gitlab.com", doc: googleDoc(withCondition("")), claims: []func(policy.Claims){atDefault},
			want: verdict{
				Failed:   []string{"attributeCondition"},
				Verdict:  "Google refuses the token: attributeCondition failed; the exchange answers the provider is invalid without an attribute condition",
				Fix:      `set attributeCondition to pin your group by id, e.g. assertion.namespace_id == "GROUP_ID" (keyless policy gcp --from-token writes one)`,
				Warnings: []string{"no-condition"},
			},
			note: "requires an attribute condition",
		},
		{
			name: "no attribute condition on a self-managed instance", doc: googleDoc(withCondition(""), issuer("https://gitlab.example.com")),
			claims: []func(policy.Claims){atDefault, set("iss", "https://gitlab.example.com")},
			want:   verdict{Admitted: true, Verdict: "the provider accepts the token", Warnings: []string{"no-condition"}},
		},
		{
			name: "a project path in the wrong case", doc: googleDoc(withCondition(`assertion.project_path == "Acme/Web" && assertion.ref_protected == "true"`)),
			claims: []func(policy.Claims){atDefault},
			want: verdict{
				Failed:   []string{"attributeCondition && [0]"},
				Verdict:  "Google refuses the token: attributeCondition && [0] failed; the exchange answers " + conditionRefusal,
				Fix:      `change the condition's assertion.project_path == "Acme/Web" to accept project_path "acme/web"`,
				Warnings: []string{"path-not-id"},
			},
			note: "only in case",
		},
		{
			name: "the provider's own name once allowedAudiences is set", doc: gitlabDoc(),
			claims: []func(policy.Claims){set("aud", gitlabAud)},
			want: verdict{
				Failed:  []string{"oidc.allowedAudiences"},
				Verdict: "Google refuses the token: oidc.allowedAudiences failed; the exchange answers invalid_grant: The audience in ID Token [" + gitlabAud + "] does not match the expected audience",
				Fix:     `add "` + gitlabAud + `" to oidc.allowedAudiences, or set the jobs' id_tokens: aud to "https://gitlab.com"`,
			},
			note: "no longer accepts the provider's own name",
		},
		{
			name: "GitLab's aud against the default audience", doc: googleDoc(),
			want: verdict{
				Failed:  []string{"oidc.allowedAudiences"},
				Verdict: "Google refuses the token: oidc.allowedAudiences failed; the exchange answers invalid_grant: The audience in ID Token [https://gitlab.com] does not match the expected audience",
				Fix:     `set the jobs' id_tokens: aud to "` + defaultAud + `", or add "https://gitlab.com" to oidc.allowedAudiences`,
			},
		},
		{
			name: "an id compared as a number", doc: googleDoc(withCondition(`assertion.project_id == 42`)), claims: []func(policy.Claims){atDefault},
			want: verdict{
				Failed:  []string{"attributeCondition"},
				Verdict: "Google refuses the token: attributeCondition failed; the exchange answers " + conditionRefusal,
				Fix:     `compare with a string: change the condition's assertion.project_id == 42 to assertion.project_id == "42"`,
			},
			note: `GitLab sends project_id as a string ("42"), and in CEL a string never equals a number`,
		},
		{
			name: "a boolean compared unquoted", doc: googleDoc(withCondition(`assertion.namespace_id == "7" && assertion.ref_protected == true`)), claims: []func(policy.Claims){atDefault},
			want: verdict{
				Failed:  []string{"attributeCondition && [1]"},
				Verdict: "Google refuses the token: attributeCondition && [1] failed; the exchange answers " + conditionRefusal,
				Fix:     `compare with a string: change the condition's assertion.ref_protected == true to assertion.ref_protected == "true"`,
			},
			note: "never equals a bool",
		},
		{
			name: "a mapping of a claim the token lacks", doc: googleDoc(withMapping("attribute.environment", "assertion.environment")),
			claims: []func(policy.Claims){atDefault, without("environment", "environment_protected", "deployment_tier", "environment_action")},
			want: verdict{
				Failed:  []string{`attributeMapping["attribute.environment"]`},
				Verdict: "Google refuses the token: attributeMapping[\"attribute.environment\"] failed; the exchange answers invalid_request: the attribute mapping attribute.environment fails to evaluate",
				Fix:     `map attribute.environment only from claims every job's token has, or guard it: attribute.environment=has(assertion.environment) ? assertion.environment : ""`,
			},
			note: "only for jobs with an environment",
		},
		{
			name: "the guard the fix suggests", doc: googleDoc(withMapping("attribute.environment", `has(assertion.environment) ? assertion.environment : ""`)),
			claims: []func(policy.Claims){atDefault, without("environment")},
			want:   verdict{Admitted: true, Verdict: "the provider accepts the token"},
		},
		{
			name: "google.subject over 127 bytes", doc: googleDoc(),
			claims: []func(policy.Claims){atDefault, set("project_path", longPath, "sub", "project_path:"+longPath+":ref_type:branch:ref:release/2024-q4-hotfix-rollback")},
			want: verdict{
				Failed:  []string{`attributeMapping["google.subject"]`},
				Verdict: `Google refuses the token: attributeMapping["google.subject"] failed; the exchange answers invalid_request: The size of mapped attribute google.subject exceeds the 127 bytes limit`,
				Fix:     `map google.subject to something shorter, e.g. assertion.project_id + ":" + assertion.ref_type + ":" + assertion.ref`,
			},
			note: "Google takes at most 127",
		},
		{
			name:   "a condition on the default sub, for a project that customises it",
			doc:    googleDoc(withCondition(`assertion.namespace_id == "7" && assertion.sub == "project_path:acme/web:ref_type:branch:ref:main"`)),
			claims: []func(policy.Claims){atDefault, set("sub", "project_path:acme/web:ref_type:branch:ref:main:environment_protected:true")},
			want: verdict{
				Failed:  []string{"attributeCondition && [1]"},
				Verdict: "Google refuses the token: attributeCondition && [1] failed; the exchange answers " + conditionRefusal,
				Fix:     `change the condition's assertion.sub == "project_path:acme/web:ref_type:branch:ref:main" to accept sub "project_path:acme/web:ref_type:branch:ref:main:environment_protected:true"`,
			},
			note: "customises its sub claim",
		},
		{
			name:   "a subject member, for a project that customises its sub",
			doc:    googleDoc(members("principal://iam.googleapis.com/" + pool + "/subject/project_path:acme/web:ref_type:branch:ref:main")),
			claims: []func(policy.Claims){atDefault, set("sub", "project_path:acme/web:ref_type:branch:ref:main:deployment_tier:production")},
			want: verdict{
				Failed:  []string{"members"},
				Verdict: "Google refuses the token: members failed; the exchange answers PERMISSION_DENIED: The caller does not have permission (iam.serviceAccounts.getAccessToken)",
				Fix:     "add the member principalSet://iam.googleapis.com/" + pool + "/attribute.project_id/42",
			},
			note: `wants google.subject "project_path:acme/web:ref_type:branch:ref:main"`,
		},
		{
			name: "a subject member that names the job", claims: []func(policy.Claims){atDefault},
			doc:  googleDoc(members("principal://iam.googleapis.com/" + pool + "/subject/project_path:acme/web:ref_type:branch:ref:main")),
			want: verdict{Admitted: true, Verdict: "the provider accepts the token, and a member of the binding names the job"},
		},
		{
			name: "a member of an unmapped attribute", claims: []func(policy.Claims){atDefault},
			doc: googleDoc(members("principalSet://iam.googleapis.com/" + pool + "/attribute.project_path/acme/web")),
			want: verdict{
				Failed:  []string{"members"},
				Verdict: "Google refuses the token: members failed; the exchange answers PERMISSION_DENIED: The caller does not have permission (iam.serviceAccounts.getAccessToken)",
				Fix:     "map attribute.project_path=assertion.project_path in the provider",
			},
			note: "which the provider does not map",
		},
		{
			name: "a member naming the project by id, not number", claims: []func(policy.Claims){atDefault},
			doc: googleDoc(members("principalSet://iam.googleapis.com/projects/acme-prod/locations/global/workloadIdentityPools/gitlab/attribute.project_id/42")),
			want: verdict{
				Failed:  []string{"members"},
				Verdict: "Google refuses the token: members failed; the exchange answers PERMISSION_DENIED: The caller does not have permission (iam.serviceAccounts.getAccessToken)",
				Fix:     "name this provider's pool, " + pool + ", in the member",
			},
			note: "by number, not id",
		},
		{
			name: "a disabled provider", doc: googleDoc(field("disabled", true)), claims: []func(policy.Claims){atDefault},
			want: verdict{
				Failed:  []string{"state"},
				Verdict: "Google refuses the token: state failed",
				Fix:     "enable the provider: gcloud iam workload-identity-pools providers update-oidc gitlab --location global --workload-identity-pool gitlab --no-disabled",
			},
		},
		{
			name: "a deleted provider", doc: googleDoc(field("state", "DELETED")), claims: []func(policy.Claims){atDefault},
			want: verdict{
				Failed:  []string{"state"},
				Verdict: "Google refuses the token: state failed",
				Fix:     "undelete the provider: gcloud iam workload-identity-pools providers undelete gitlab --location global --workload-identity-pool gitlab",
			},
		},
		{
			name: "extract and split in mappings, read by the condition", claims: []func(policy.Claims){atDefault},
			doc: googleDoc(withMapping("attribute.ref", "assertion.sub.extract(':ref:{ref}')", "attribute.group", "assertion.project_path.split('/')[0]"),
				withCondition(`attribute.group == "acme" && attribute.ref == "main"`)),
			want: verdict{Admitted: true, Verdict: "the provider accepts the token"},
		},
		{
			name: "a condition on an unmapped attribute", doc: googleDoc(withCondition(`attribute.project_path == "acme/web"`)), claims: []func(policy.Claims){atDefault},
			want: verdict{
				Failed:  []string{"attributeCondition"},
				Verdict: "Google refuses the token: attributeCondition failed; the exchange answers " + conditionRefusal,
				Fix:     "map attribute.project_path=assertion.project_path, or test assertion.project_path instead",
			},
			note: "is not mapped",
		},
		{
			name: "a condition on an environment the job lacks", doc: googleDoc(withCondition(`assertion.namespace_id == "7" && assertion.environment == "production"`)),
			claims: []func(policy.Claims){atDefault, without("environment")},
			want: verdict{
				Failed:  []string{"attributeCondition && [1]"},
				Verdict: "Google refuses the token: attributeCondition && [1] failed; the exchange answers " + conditionRefusal,
				Fix:     `give the job an environment (environment: in .gitlab-ci.yml), or drop the condition's assertion.environment == "production"`,
			},
			note: "has no environment claim",
		},
		{
			name: "another branch, in a parenthesised chain", doc: googleDoc(withCondition(`assertion.namespace_id == "7" && (assertion.ref_type == "branch" && assertion.ref == "main")`)),
			claims: []func(policy.Claims){atDefault, set("ref", "dev")},
			want: verdict{
				Failed:  []string{"attributeCondition && [2]"},
				Verdict: "Google refuses the token: attributeCondition && [2] failed; the exchange answers " + conditionRefusal,
				Fix:     `change the condition's assertion.ref == "main" to accept ref "dev"`,
			},
		},
		{
			name: "an || at the top is one test", doc: googleDoc(withCondition(`assertion.ref == "main" || assertion.ref_type == "tag" && assertion.ref_protected == "true"`)),
			claims: []func(policy.Claims){atDefault, set("ref", "dev")},
			want: verdict{
				Failed:  []string{"attributeCondition"},
				Verdict: "Google refuses the token: attributeCondition failed; the exchange answers " + conditionRefusal,
				Fix:     `change the condition's assertion.ref == "main" || assertion.ref_type == "tag" && assertion.ref_protected == "true" to accept ref "dev"`,
			},
		},
		{
			name: "a condition that does not compile", doc: googleDoc(withCondition(`assertion.namespace_id == "7" &&`)), claims: []func(policy.Claims){atDefault},
			want: verdict{
				Failed:  []string{"attributeCondition"},
				Verdict: "Google refuses the token: attributeCondition failed; the exchange answers " + conditionRefusal,
				Fix:     "correct the condition, which does not compile: 1:33: Syntax error: mismatched input '<EOF>'",
			},
		},
		{
			name: "a regexp that does not compile", doc: googleDoc(withCondition(`assertion.namespace_id == "7" && assertion.ref.matches("(")`)), claims: []func(policy.Claims){atDefault},
			want: verdict{
				Failed:  []string{"attributeCondition && [1]"},
				Verdict: "Google refuses the token: attributeCondition && [1] failed; the exchange answers " + conditionRefusal,
				Fix:     "correct the condition's assertion.ref.matches(\"(\"), which fails to evaluate: error parsing regexp: missing closing ): `(`",
			},
			note: "fails to evaluate",
		},
		{
			name: "a condition that is not a bool", doc: googleDoc(withCondition(`assertion.ref`)), claims: []func(policy.Claims){atDefault},
			want: verdict{
				Failed:  []string{"attributeCondition"},
				Verdict: "Google refuses the token: attributeCondition failed; the exchange answers " + conditionRefusal,
				Fix:     `change the condition's assertion.ref to accept ref "main"`,
			},
			note: "must be a bool",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := New().Explain([]byte(tc.doc), job(t, tc.claims...))
			if err != nil {
				t.Fatal(err)
			}
			got := verdict{Admitted: res.Admitted, Verdict: res.Verdict, Fix: res.Fix}
			var notes []string
			for _, c := range res.Checks {
				if !c.Held {
					got.Failed = append(got.Failed, c.Where)
				}
				notes = append(notes, c.Note)
			}
			for _, w := range res.Warnings {
				got.Warnings = append(got.Warnings, w.ID)
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("verdict (-want +got):\n%s\nchecks: %+v", d, res.Checks)
			}
			if !strings.Contains(strings.Join(notes, "|"), tc.note) {
				t.Errorf("no note holds %q: %q", tc.note, notes)
			}
		})
	}
}

// TestExplainChecks pins one whole Result, every check's text included.
func TestExplainChecks(t *testing.T) {
	doc := googleDoc(withCondition(`assertion.namespace_id == "7" && assertion.ref_type == "branch" && assertion.ref == "main"`))
	res, err := New().Explain([]byte(doc), job(t, set("aud", defaultAud, "ref", "release")))
	if err != nil {
		t.Fatal(err)
	}
	want := &policy.Result{
		Provider: "gcp",
		Checks: []policy.Check{
			{Where: "state", Test: "the provider is active and enabled", Value: `"ACTIVE"`, Held: true},
			{Where: "oidc.issuerUri", Test: `iss is "https://gitlab.com"`, Claim: "iss", Value: `"https://gitlab.com"`, Held: true},
			{Where: "oidc.allowedAudiences", Test: `aud is the provider's resource name (no allowedAudiences): ["//iam.googleapis.com/` + providerName + `", "` + defaultAud + `"]`, Claim: "aud", Value: `"` + defaultAud + `"`, Held: true},
			{Where: `attributeMapping["google.subject"]`, Test: "google.subject = assertion.sub", Claim: "sub", Value: `"project_path:acme/web:ref_type:branch:ref:main"`, Held: true},
			{Where: `attributeMapping["attribute.namespace_id"]`, Test: "attribute.namespace_id = assertion.namespace_id", Claim: "namespace_id", Value: `"7"`, Held: true},
			{Where: `attributeMapping["attribute.project_id"]`, Test: "attribute.project_id = assertion.project_id", Claim: "project_id", Value: `"42"`, Held: true},
			{Where: "attributeCondition && [0]", Test: `assertion.namespace_id == "7"`, Value: "true", Held: true},
			{Where: "attributeCondition && [1]", Test: `assertion.ref_type == "branch"`, Value: "true", Held: true},
			{Where: "attributeCondition && [2]", Test: `assertion.ref == "main"`, Claim: "ref", Value: `"release"`},
		},
		Verdict: "Google refuses the token: attributeCondition && [2] failed; the exchange answers " + conditionRefusal,
		Fix:     `change the condition's assertion.ref == "main" to accept ref "release"`,
	}
	if d := cmp.Diff(want, res); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
}

func TestExplainUnreadable(t *testing.T) {
	for name, doc := range map[string]string{
		"empty":        ``,
		"an array":     `[]`,
		"no issuer":    `{}`,
		"oidc not obj": `{"oidc": 3}`,
		"YAML":         "attributeMapping:\n  google.subject: assertion.sub\nname: projects/1/locations/global/workloadIdentityPools/p/providers/q\n",
		"an AWS one":   `{"name": "x", "aws": {"accountId": "123"}, "attributeMapping": {"google.subject": "assertion.arn"}}`,
		"51 attributes": func() string {
			m := map[string]string{"google.subject": "assertion.sub"}
			for i := range 51 {
				m["attribute.a"+strings.Repeat("x", i)] = "assertion.sub"
			}
			b, _ := json.Marshal(map[string]any{"attributeMapping": m, "oidc": map[string]string{"issuerUri": "https://gitlab.com"}})
			return string(b)
		}(),
	} {
		t.Run(name, func(t *testing.T) {
			res, err := New().Explain([]byte(doc), job(t))
			if err == nil {
				t.Fatalf("no error; result %+v", res)
			}
			if !strings.HasPrefix(err.Error(), "read provider: ") {
				t.Errorf("error %q does not name the operation", err)
			}
		})
	}
}

// TestExplainHostile: a provider file an attacker wrote must neither hang
// nor panic, and is refused.
func TestExplainHostile(t *testing.T) {
	nested := strings.Repeat("(", 2000) + "true" + strings.Repeat(")", 2000)
	list := "[" + strings.TrimSuffix(strings.Repeat("1,", 60), ",") + "]"
	for name, cond := range map[string]string{
		"a costly comprehension": list + ".all(a, " + list + ".all(b, " + list + ".all(c, " + list + ".all(d, a+b+c+d > 0))))",
		"too long":               `assertion.ref == "` + strings.Repeat("a", maxCondition) + `"`,
		"deeply nested":          nested,
		"a regexp bomb":          `assertion.ref.matches("(a*)*b") && "` + strings.Repeat("a", 3000) + `".matches("(a*)*b")`,
	} {
		t.Run(name, func(t *testing.T) {
			start := time.Now()
			res, err := New().Explain([]byte(googleDoc(withCondition(cond))), job(t, set("aud", defaultAud)))
			if err != nil {
				t.Fatal(err)
			}
			if res.Admitted || res.Fix == "" {
				t.Errorf("admitted=%v fix=%q", res.Admitted, res.Fix)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %v", d)
			}
		})
	}
}

func TestConjuncts(t *testing.T) {
	env, err := celEnv()
	if err != nil {
		t.Fatal(err)
	}
	for src, want := range map[string][]string{
		`a == "x" && b == "y"`:                 {`a == "x"`, `b == "y"`},
		`a=='x'&&b=='y'&&c`:                    {`a=='x'`, `b=='y'`, `c`},
		`(a == "&&" && f(b && c))`:             {`a == "&&"`, `f(b && c)`},
		`a || b && c`:                          {`a || b && c`},
		`(a && b) || c`:                        {`(a && b) || c`},
		`a ? b && c : d`:                       {`a ? b && c : d`},
		`a && (b && c)`:                        {`a`, `b`, `c`},
		`assertion.ref.matches('^a&&b$') && x`: {`assertion.ref.matches('^a&&b$')`, `x`},
		`a &&`:                                 {`a &&`},
	} {
		if got := conjuncts(env, src); !cmp.Equal(got, want) {
			t.Errorf("conjuncts(%q) = %q, want %q", src, got, want)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	fromToken, err := policy.SpecFromClaims(job(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	defaultAudience := fromToken
	defaultAudience.Audience = ""
	generatedAud := "https://iam.googleapis.com/" + resourceName()

	another := map[string]func(policy.Claims){
		"another project": set("project_path", "evil/web", "project_id", "66", "namespace_id", "66", "namespace_path", "evil",
			"sub", "project_path:evil/web:ref_type:branch:ref:main"),
		"another branch":   set("ref", "dev", "ref_path", "refs/heads/dev", "sub", "project_path:acme/web:ref_type:branch:ref:dev"),
		"another audience": set("aud", "sts.amazonaws.com"),
		"another issuer":   set("iss", "https://gitlab.example.com"),
	}
	for _, tc := range []struct {
		name    string
		spec    policy.Spec
		aud     string                         // the jobs' aud
		admit   []func(policy.Claims)          // a job the spec admits
		refuse  map[string]func(policy.Claims) // beyond the common refusals
		skipped []string                       // common refusals that do not apply
	}{
		{
			name: "from the token", spec: fromToken, aud: "https://gitlab.com",
			refuse: map[string]func(policy.Claims){
				"an unprotected ref":  set("ref_protected", "false"),
				"another environment": set("environment", "staging"),
			},
		},
		{
			name: "from the token, the provider's default audience", spec: defaultAudience, aud: generatedAud,
			admit:  []func(policy.Claims){set("aud", "//iam.googleapis.com/"+resourceName())},
			refuse: map[string]func(policy.Claims){"GitLab's default aud": set("aud", "https://gitlab.com")},
		},
		{
			name: "a group by id", aud: generatedAud,
			spec:   policy.Spec{Issuer: "https://gitlab.com", Group: "acme", NamespaceID: "7", Ref: "ma*", ProtectedOnly: true},
			admit:  []func(policy.Claims){set("project_path", "acme/api", "project_id", "43", "ref", "maint")},
			refuse: map[string]func(policy.Claims){"an unprotected ref": set("ref_protected", "false")},
		},
		{
			name: "a group by path", aud: generatedAud,
			spec:  policy.Spec{Issuer: "https://gitlab.com", Group: "acme", RefType: "branch", Ref: "main"},
			admit: []func(policy.Claims){set("project_path", "acme/sub/api", "namespace_id", "8")},
			refuse: map[string]func(policy.Claims){
				"a group whose path extends it": set("project_path", "acme-evil/web", "namespace_path", "acme-evil", "namespace_id", "66"),
				"a tag of the same name":        set("ref_type", "tag"),
			},
		},
		{
			name: "a ref glob", aud: generatedAud,
			spec:   policy.Spec{Issuer: "https://gitlab.com", ProjectPath: "acme/web", ProjectID: "42", RefType: "tag", Ref: "v1.*-rc*"},
			admit:  []func(policy.Claims){set("ref_type", "tag", "ref", "v1.2-rc3")},
			refuse: map[string]func(policy.Claims){"a dot the glob does not have": set("ref_type", "tag", "ref", "v1x2-rc3")},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			docs, _, err := New().Generate(tc.spec, "json")
			if err != nil {
				t.Fatal(err)
			}
			explain := func(mut ...func(policy.Claims)) *policy.Result {
				res, err := New().Explain([]byte(docs[0].Body), job(t, append([]func(policy.Claims){set("aud", tc.aud)}, mut...)...))
				if err != nil {
					t.Fatal(err)
				}
				return res
			}
			if res := explain(); !res.Admitted && len(tc.admit) == 0 {
				t.Fatalf("the job itself is refused: %s\n%+v", res.Verdict, res.Checks)
			}
			for _, m := range tc.admit {
				if res := explain(m); !res.Admitted {
					t.Errorf("a job the spec admits is refused: %s\n%+v", res.Verdict, res.Checks)
				}
			}
			refuse := map[string]func(policy.Claims){}
			for k, v := range another {
				refuse[k] = v
			}
			for k, v := range tc.refuse {
				refuse[k] = v
			}
			for what, mut := range refuse {
				base := []func(policy.Claims){}
				if len(tc.admit) > 0 {
					base = append(base, tc.admit[0])
				}
				if res := explain(append(base, mut)...); res.Admitted || res.Fix == "" {
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
		"long": {
			Issuer: "https://gitlab.com", ProjectPath: strings.Repeat("platform-engineering/", 4) + "deploy-service", Ref: "v1.*-rc*",
			RefType: "tag", ProtectedOnly: true, Audience: "sts.amazonaws.com",
		},
	}
	policytest.CheckGenerated(t, New(), specs, *update, nil)
}

func TestGenerateErrors(t *testing.T) {
	ok := policy.Spec{Issuer: "https://gitlab.com", ProjectPath: "acme/web"}
	for name, tc := range map[string]struct {
		spec   policy.Spec
		format string
		want   string
	}{
		"an unknown format": {ok, "cloudformation", `format "cloudformation": gcp writes gcloud, terraform or json`},
		"an invalid spec":   {policy.Spec{Issuer: "https://gitlab.com/", ProjectPath: "acme/web"}, "gcloud", "ends with a slash"},
	} {
		_, _, err := New().Generate(tc.spec, tc.format)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", name, err, tc.want)
		}
	}
}

func TestHCLString(t *testing.T) {
	for in, want := range map[string]string{
		`assertion.ref == "main"`: `"assertion.ref == \"main\""`,
		"a${b}%{c}":               `"a$${b}%%{c}"`,
	} {
		if got := hclString(in); got != want {
			t.Errorf("hclString(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestExtract(t *testing.T) {
	for _, tc := range []struct{ s, tmpl, want string }{
		{"project_path:a/b:ref_type:branch:ref:main", "project_path:{p}:ref_type", "a/b"},
		{"project_path:a/b:ref_type:branch:ref:main", ":ref:{r}", "main"},
		{"arn:aws:sts::1:assumed-role/r/s", "{account_arn}assumed-role/", "arn:aws:sts::1:"},
		{"x", "y{z}", ""}, {"x", "no placeholder", ""},
	} {
		if got := extract(tc.s, tc.tmpl); got != tc.want {
			t.Errorf("extract(%q, %q) = %q, want %q", tc.s, tc.tmpl, got, tc.want)
		}
	}
}

func FuzzExplain(f *testing.F) {
	f.Add([]byte(googleDoc(withCondition(`assertion.namespace_id == "7" && assertion.ref.matches("^ma.*$")`))))
	f.Add([]byte(gitlabDoc()))
	f.Add([]byte(googleDoc(members("principalSet://iam.googleapis.com/"+pool+"/group/admins", "principal://x"))))
	f.Add([]byte(`{"attributeMapping": {"google.subject": "assertion.sub.extract('{x}')", "google.groups": "[assertion.ref]"}, "attributeCondition": "(((", "oidc": {"issuerUri": "x"}}`))
	claims := job(f)
	f.Fuzz(func(t *testing.T, d []byte) {
		res, err := New().Explain(d, claims)
		if err != nil {
			return
		}
		if res == nil || res.Admitted != (res.Fix == "") {
			t.Fatalf("inconsistent result %+v", res)
		}
	})
}
