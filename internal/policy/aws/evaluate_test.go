package aws

import (
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"gitlab.com/keyless-ci/keyless/internal/policy"
)

// job is the claims of testdata/claims/main.json: acme/web's protected
// main branch on gitlab.com, aud sts.amazonaws.com.
func job(t *testing.T, muts ...func(policy.Claims)) policy.Claims {
	return mutate(loadClaims(t, "main"), muts...)
}

const gitlabCom = `"Principal": {"Federated": "arn:aws:iam::123456789012:oidc-provider/gitlab.com"}, "Action": "sts:AssumeRoleWithWebIdentity"`

// allow is a trust policy of one Allow statement for gitlab.com's
// provider with the conditions given.
func allow(cond string) string {
	return `{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", ` + gitlabCom + `, "Condition": ` + cond + `}]}`
}

// outcome is what a table case pins of a Result: every check that failed
// or carries a note, the verdict, the fix and the warnings' ids.
type outcome struct {
	Admitted bool
	Flagged  []policy.Check
	Verdict  string
	Fix      string
	Warnings []string
}

func outcomeOf(res *policy.Result) outcome {
	o := outcome{Admitted: res.Admitted, Verdict: res.Verdict, Fix: res.Fix}
	for _, c := range res.Checks {
		if !c.Held || c.Note != "" {
			o.Flagged = append(o.Flagged, c)
		}
	}
	for _, w := range res.Warnings {
		o.Warnings = append(o.Warnings, w.ID)
	}
	return o
}

// explainCases are trust policies in the shapes GitLab's and AWS's
// documentation publish, and the broken variants people report, each
// against a GitLab job's claims.
var explainCases = []struct {
	name   string
	doc    string
	claims []func(policy.Claims)
	want   outcome
}{
	{
		// https://docs.gitlab.com/ci/cloud_services/aws/
		name: "GitLab's documented policy, self-managed",
		doc: `{"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
			"Principal": {"Federated": "arn:aws:iam::AWS_ACCOUNT:oidc-provider/gitlab.example.com"},
			"Action": "sts:AssumeRoleWithWebIdentity",
			"Condition": {"StringEquals": {"gitlab.example.com:sub": "project_path:mygroup/myproject:ref_type:branch:ref:main"}}}]}`,
		claims: []func(policy.Claims){set("iss", "https://gitlab.example.com", "project_path", "mygroup/myproject")},
		want: outcome{
			Admitted: true,
			Verdict:  "Statement[0] allows sts:AssumeRoleWithWebIdentity for this token",
		},
	},
	{
		name: "keyless's policy: aud and sub",
		doc:  allow(`{"StringEquals": {"gitlab.com:aud": "sts.amazonaws.com", "gitlab.com:sub": "project_path:acme/web:ref_type:branch:ref:main"}}`),
		want: outcome{
			Admitted: true,
			Verdict:  "Statement[0] allows sts:AssumeRoleWithWebIdentity for this token",
		},
	},
	{
		name: "StringLike on a group's projects",
		doc:  allow(`{"StringEquals": {"gitlab.com:aud": "sts.amazonaws.com"}, "StringLike": {"gitlab.com:sub": "project_path:acme/*:ref_type:branch:ref:main"}}`),
		want: outcome{
			Admitted: true,
			Verdict:  "Statement[0] allows sts:AssumeRoleWithWebIdentity for this token",
			Warnings: []string{"group-wildcard"},
		},
	},
	{
		name: "a path prefix wildcard",
		doc:  allow(`{"StringLike": {"gitlab.com:sub": "project_path:acme*"}}`),
		want: outcome{
			Admitted: true,
			Verdict:  "Statement[0] allows sts:AssumeRoleWithWebIdentity for this token",
			Warnings: []string{"path-prefix-wildcard"},
		},
	},
	{
		name: "no sub condition",
		doc:  allow(`{"StringEquals": {"gitlab.com:aud": "sts.amazonaws.com"}}`),
		want: outcome{
			Admitted: true,
			Verdict:  "Statement[0] allows sts:AssumeRoleWithWebIdentity for this token",
			Warnings: []string{"no-sub-condition"},
		},
	},
	{
		name: "only a negated sub condition",
		doc:  allow(`{"StringNotLike": {"gitlab.com:sub": "project_path:evil/*"}}`),
		want: outcome{
			Admitted: true,
			Verdict:  "Statement[0] allows sts:AssumeRoleWithWebIdentity for this token",
			Warnings: []string{"no-sub-condition"},
		},
	},
	{
		name: "StringLike without a wildcard",
		doc:  allow(`{"StringLike": {"gitlab.com:sub": "project_path:acme/web:ref_type:branch:ref:main"}}`),
		want: outcome{
			Admitted: true,
			Verdict:  "Statement[0] allows sts:AssumeRoleWithWebIdentity for this token",
			Warnings: []string{"stringlike-without-wildcard"},
		},
	},
	{
		name: "a wildcard in StringEquals is literal",
		doc:  allow(`{"StringEquals": {"gitlab.com:aud": "sts.amazonaws.com", "gitlab.com:sub": "project_path:acme/web:ref_type:branch:ref:*"}}`),
		want: outcome{
			Flagged: []policy.Check{
				{Where: "Statement[0].Condition.StringEquals[\"gitlab.com:sub\"]", Test: "gitlab.com:sub StringEquals \"project_path:acme/web:ref_type:branch:ref:*\"", Claim: "sub", Value: "\"project_path:acme/web:ref_type:branch:ref:main\"",
					Note: "StringEquals takes * and ? literally; StringLike treats them as wildcards"},
			},
			Verdict: "no statement allows it: in Statement[0], gitlab.com:sub StringEquals \"project_path:acme/web:ref_type:branch:ref:*\" does not hold for sub = \"project_path:acme/web:ref_type:branch:ref:main\"",
			Fix:     "use StringLike instead of StringEquals for \"gitlab.com:sub\" in Statement[0]",
		},
	},
	{
		name:   "another branch",
		doc:    allow(`{"StringEquals": {"gitlab.com:sub": "project_path:acme/web:ref_type:branch:ref:main"}}`),
		claims: []func(policy.Claims){set("ref", "dev")},
		want: outcome{
			Flagged: []policy.Check{
				{Where: "Statement[0].Condition.StringEquals[\"gitlab.com:sub\"]", Test: "gitlab.com:sub StringEquals \"project_path:acme/web:ref_type:branch:ref:main\"", Claim: "sub", Value: "\"project_path:acme/web:ref_type:branch:ref:dev\""},
			},
			Verdict: "no statement allows it: in Statement[0], gitlab.com:sub StringEquals \"project_path:acme/web:ref_type:branch:ref:main\" does not hold for sub = \"project_path:acme/web:ref_type:branch:ref:dev\"",
			Fix:     "set \"gitlab.com:sub\" in Statement[0].Condition.StringEquals to \"project_path:acme/web:ref_type:branch:ref:dev\"",
		},
	},
	{
		name:   "another branch, several allowed",
		doc:    allow(`{"StringEquals": {"gitlab.com:sub": ["project_path:acme/web:ref_type:branch:ref:main", "project_path:acme/web:ref_type:branch:ref:stable"]}}`),
		claims: []func(policy.Claims){set("ref", "dev")},
		want: outcome{
			Flagged: []policy.Check{
				{Where: "Statement[0].Condition.StringEquals[\"gitlab.com:sub\"]", Test: "gitlab.com:sub StringEquals [\"project_path:acme/web:ref_type:branch:ref:main\", \"project_path:acme/web:ref_type:branch:ref:stable\"]", Claim: "sub", Value: "\"project_path:acme/web:ref_type:branch:ref:dev\""},
			},
			Verdict: "no statement allows it: in Statement[0], gitlab.com:sub StringEquals [\"project_path:acme/web:ref_type:branch:ref:main\", \"project_path:acme/web:ref_type:branch:ref:stable\"] does not hold for sub = \"project_path:acme/web:ref_type:branch:ref:dev\"",
			Fix:     "add \"project_path:acme/web:ref_type:branch:ref:dev\" to Statement[0].Condition.StringEquals[\"gitlab.com:sub\"]",
		},
	},
	{
		name: "a project path in another case",
		doc:  allow(`{"StringEquals": {"gitlab.com:sub": "project_path:Acme/Web:ref_type:branch:ref:main"}}`),
		want: outcome{
			Flagged: []policy.Check{
				{Where: "Statement[0].Condition.StringEquals[\"gitlab.com:sub\"]", Test: "gitlab.com:sub StringEquals \"project_path:Acme/Web:ref_type:branch:ref:main\"", Claim: "sub", Value: "\"project_path:acme/web:ref_type:branch:ref:main\"",
					Note: "\"project_path:Acme/Web:ref_type:branch:ref:main\" differs from the claim only in case: StringEquals compares case-sensitively"},
			},
			Verdict: "no statement allows it: in Statement[0], gitlab.com:sub StringEquals \"project_path:Acme/Web:ref_type:branch:ref:main\" does not hold for sub = \"project_path:acme/web:ref_type:branch:ref:main\"",
			Fix:     "set \"gitlab.com:sub\" in Statement[0].Condition.StringEquals to \"project_path:acme/web:ref_type:branch:ref:main\"",
		},
	},
	{
		name:   "an audience with a trailing slash",
		doc:    allow(`{"StringEquals": {"gitlab.com:aud": "https://gitlab.com/", "gitlab.com:sub": "project_path:acme/web:ref_type:branch:ref:main"}}`),
		claims: []func(policy.Claims){set("aud", "https://gitlab.com")},
		want: outcome{
			Flagged: []policy.Check{
				{Where: "Statement[0].Condition.StringEquals[\"gitlab.com:aud\"]", Test: "gitlab.com:aud StringEquals \"https://gitlab.com/\"", Claim: "aud", Value: "\"https://gitlab.com\"",
					Note: "\"https://gitlab.com/\" differs from the claim by a trailing slash"},
			},
			Verdict: "no statement allows it: in Statement[0], gitlab.com:aud StringEquals \"https://gitlab.com/\" does not hold for aud = \"https://gitlab.com\"",
			Fix:     "set \"gitlab.com:aud\" in Statement[0].Condition.StringEquals to \"https://gitlab.com\"",
		},
	},
	{
		name: "condition keys with https://",
		doc:  allow(`{"StringEquals": {"https://gitlab.com:aud": "sts.amazonaws.com", "https://gitlab.com:sub": "project_path:acme/web:ref_type:branch:ref:main"}}`),
		want: outcome{
			Flagged: []policy.Check{
				{Where: "Statement[0].Condition.StringEquals[\"https://gitlab.com:aud\"]", Test: "https://gitlab.com:aud StringEquals \"sts.amazonaws.com\"", Value: "(not in the request context)",
					Note: "condition keys name the provider without https://, so IAM never sets https://gitlab.com:aud"},
				{Where: "Statement[0].Condition.StringEquals[\"https://gitlab.com:sub\"]", Test: "https://gitlab.com:sub StringEquals \"project_path:acme/web:ref_type:branch:ref:main\"", Value: "(not in the request context)",
					Note: "condition keys name the provider without https://, so IAM never sets https://gitlab.com:sub"},
			},
			Verdict:  "no statement allows it: in Statement[0], https://gitlab.com:aud StringEquals \"sts.amazonaws.com\" does not hold, and one more check fails",
			Fix:      "rename the condition key \"https://gitlab.com:aud\" to \"gitlab.com:aud\" in Statement[0]; and rename the condition key \"https://gitlab.com:sub\" to \"gitlab.com:sub\" in Statement[0]",
			Warnings: []string{"condition-key-host", "condition-key-host"},
		},
	},
	{
		name: "a provider ARN with a trailing slash",
		doc: `{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Federated": "arn:aws:iam::123456789012:oidc-provider/gitlab.com/"},
			"Action": "sts:AssumeRoleWithWebIdentity", "Condition": {"StringEquals": {"gitlab.com:sub": "project_path:acme/web:ref_type:branch:ref:main"}}}]}`,
		want: outcome{
			Flagged: []policy.Check{
				{Where: "Statement[0].Principal.Federated", Test: "Federated \"arn:aws:iam::123456789012:oidc-provider/gitlab.com/\" is the OIDC provider gitlab.com", Claim: "iss", Value: "\"https://gitlab.com\"",
					Note: "the provider ARN ends with a slash; the token's iss has none"},
			},
			Verdict: "no statement allows it: in Statement[0], the principal is not the OIDC provider of the token's issuer gitlab.com",
			Fix:     "set Statement[0].Principal.Federated to arn:aws:iam::123456789012:oidc-provider/gitlab.com",
		},
	},
	{
		name: "a provider ARN with https://",
		doc: `{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Federated": "arn:aws:iam::123456789012:oidc-provider/https://gitlab.com"},
			"Action": "sts:AssumeRoleWithWebIdentity", "Condition": {"StringEquals": {"gitlab.com:sub": "project_path:acme/web:ref_type:branch:ref:main"}}}]}`,
		want: outcome{
			Flagged: []policy.Check{
				{Where: "Statement[0].Principal.Federated", Test: "Federated \"arn:aws:iam::123456789012:oidc-provider/https://gitlab.com\" is the OIDC provider gitlab.com", Claim: "iss", Value: "\"https://gitlab.com\"",
					Note: "the provider ARN names the host without https://"},
			},
			Verdict: "no statement allows it: in Statement[0], the principal is not the OIDC provider of the token's issuer gitlab.com",
			Fix:     "set Statement[0].Principal.Federated to arn:aws:iam::123456789012:oidc-provider/gitlab.com",
		},
	},
	{
		name: "the trust of another instance",
		doc: `{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Principal": {"Federated": "arn:aws:iam::123456789012:oidc-provider/gitlab.example.com"},
			"Action": "sts:AssumeRoleWithWebIdentity", "Condition": {"StringEquals": {"gitlab.example.com:aud": "sts.amazonaws.com", "gitlab.example.com:sub": "project_path:acme/web:ref_type:branch:ref:main"}}}}`,
		want: outcome{
			Flagged: []policy.Check{
				{Where: "Statement[0].Principal.Federated", Test: "Federated \"arn:aws:iam::123456789012:oidc-provider/gitlab.example.com\" is the OIDC provider gitlab.com", Claim: "iss", Value: "\"https://gitlab.com\"",
					Note: "the token was issued by https://gitlab.com: the role must trust the OIDC provider for that issuer"},
				{Where: "Statement[0].Condition.StringEquals[\"gitlab.example.com:aud\"]", Test: "gitlab.example.com:aud StringEquals \"sts.amazonaws.com\"", Value: "(not in the request context)",
					Note: "the key names provider \"gitlab.example.com\" and the token comes from \"gitlab.com\": IAM sets no such key"},
				{Where: "Statement[0].Condition.StringEquals[\"gitlab.example.com:sub\"]", Test: "gitlab.example.com:sub StringEquals \"project_path:acme/web:ref_type:branch:ref:main\"", Value: "(not in the request context)",
					Note: "the key names provider \"gitlab.example.com\" and the token comes from \"gitlab.com\": IAM sets no such key"},
			},
			Verdict: "no statement allows it: in Statement[0], the principal is not the OIDC provider of the token's issuer gitlab.com, and 2 more checks fail",
			Fix:     "set Statement[0].Principal.Federated to arn:aws:iam::123456789012:oidc-provider/gitlab.com; and rename the condition key \"gitlab.example.com:aud\" to \"gitlab.com:aud\" in Statement[0]; and rename the condition key \"gitlab.example.com:sub\" to \"gitlab.com:sub\" in Statement[0]",
		},
	},
	{
		name: "an AWS principal",
		doc: `{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
			"Action": "sts:AssumeRoleWithWebIdentity", "Condition": {"StringEquals": {"gitlab.com:sub": "project_path:acme/web:ref_type:branch:ref:main"}}}]}`,
		want: outcome{
			Flagged: []policy.Check{
				{Where: "Statement[0].Principal", Test: "Principal (AWS) includes the OIDC provider gitlab.com", Claim: "iss", Value: "\"https://gitlab.com\"",
					Note: "AWS principals are IAM users, roles, accounts or services; a web identity is admitted by Principal.Federated"},
			},
			Verdict: "no statement allows it: in Statement[0], the principal is not the OIDC provider of the token's issuer gitlab.com",
			Fix:     "set Statement[0].Principal.Federated to arn:aws:iam::123456789012:oidc-provider/gitlab.com",
		},
	},
	{
		name: "any principal",
		doc: `{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*",
			"Action": "sts:AssumeRoleWithWebIdentity", "Condition": {"StringEquals": {"gitlab.com:sub": "project_path:acme/web:ref_type:branch:ref:main"}}}]}`,
		want: outcome{
			Admitted: true,
			Flagged: []policy.Check{
				{Where: "Statement[0].Principal", Test: "Principal \"*\" (anyone)", Claim: "iss", Value: "\"https://gitlab.com\"", Held: true,
					Note: "any principal: only the conditions keep other identity providers' tokens out"},
			},
			Verdict:  "Statement[0] allows sts:AssumeRoleWithWebIdentity for this token",
			Warnings: []string{"any-principal"},
		},
	},
	{
		name: "sts:AssumeRole is not the web identity action",
		doc: `{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Federated": "arn:aws:iam::123456789012:oidc-provider/gitlab.com"},
			"Action": ["sts:AssumeRole", "sts:TagSession"], "Condition": {"StringEquals": {"gitlab.com:sub": "project_path:acme/web:ref_type:branch:ref:main"}}}]}`,
		want: outcome{
			Flagged: []policy.Check{
				{Where: "Statement[0].Action", Test: "includes sts:AssumeRoleWithWebIdentity", Value: "sts:AssumeRole, sts:TagSession"},
			},
			Verdict: "no statement allows it: in Statement[0], its Action does not include sts:AssumeRoleWithWebIdentity",
			Fix:     "add \"sts:AssumeRoleWithWebIdentity\" to Statement[0].Action (sts:AssumeRole is for AWS principals, not OIDC tokens)",
		},
	},
	{
		name: "actions match case-insensitively, with wildcards",
		doc: `{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Federated": "arn:aws:iam::123456789012:oidc-provider/gitlab.com"},
			"Action": "STS:AssumeRoleWith*", "Condition": {"StringEquals": {"gitlab.com:sub": "project_path:acme/web:ref_type:branch:ref:main"}}}]}`,
		want: outcome{
			Admitted: true,
			Verdict:  "Statement[0] allows sts:AssumeRoleWithWebIdentity for this token",
		},
	},
	{
		name: "a Deny overrides the Allow",
		doc: `{"Version": "2012-10-17", "Statement": [
			{"Effect": "Allow", ` + gitlabCom + `, "Condition": {"StringLike": {"gitlab.com:sub": "project_path:acme/*"}, "StringEquals": {"gitlab.com:aud": "sts.amazonaws.com"}}},
			{"Effect": "Deny", "Principal": {"Federated": "arn:aws:iam::123456789012:oidc-provider/gitlab.com"}, "Action": "sts:*",
			 "Condition": {"StringNotLike": {"gitlab.com:sub": "*:ref_type:branch:ref:release-*"}}}]}`,
		want: outcome{
			Verdict:  "Statement[1] denies it explicitly, and an explicit Deny overrides every Allow",
			Fix:      "change Statement[1]'s conditions so that they do not all hold for this job (gitlab.com:sub StringNotLike \"*:ref_type:branch:ref:release-*\"), or remove the statement",
			Warnings: []string{"group-wildcard"},
		},
	},
	{
		name: "a Deny that does not match",
		doc: `{"Version": "2012-10-17", "Statement": [
			{"Effect": "Allow", ` + gitlabCom + `, "Condition": {"StringEquals": {"gitlab.com:sub": "project_path:acme/web:ref_type:branch:ref:main"}}},
			{"Effect": "Deny", "Principal": "*", "Action": "sts:*", "Condition": {"StringLike": {"gitlab.com:sub": "*:ref_type:tag:*"}}}]}`,
		want: outcome{
			Admitted: true,
			Flagged: []policy.Check{
				{Where: "Statement[1].Condition.StringLike[\"gitlab.com:sub\"]", Test: "gitlab.com:sub StringLike \"*:ref_type:tag:*\"", Claim: "sub", Value: "\"project_path:acme/web:ref_type:branch:ref:main\"",
					Note: "this is a Deny statement: since this check fails, the statement does not deny"},
			},
			Verdict: "Statement[0] allows sts:AssumeRoleWithWebIdentity for this token",
		},
	},
	{
		name: "only a Deny",
		doc:  `{"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Principal": "*", "Action": "sts:*", "Condition": {"StringLike": {"gitlab.com:sub": "*:ref_type:tag:*"}}}]}`,
		want: outcome{
			Flagged: []policy.Check{
				{Where: "Statement[0].Condition.StringLike[\"gitlab.com:sub\"]", Test: "gitlab.com:sub StringLike \"*:ref_type:tag:*\"", Claim: "sub", Value: "\"project_path:acme/web:ref_type:branch:ref:main\"",
					Note: "this is a Deny statement: since this check fails, the statement does not deny"},
			},
			Verdict: "no statement allows it: the policy has only Deny statements, and IAM denies what no Allow allows",
			Fix:     "add an Allow statement for sts:AssumeRoleWithWebIdentity (keyless policy aws writes one)",
		},
	},
	{
		name: "the second Allow admits",
		doc: `{"Version": "2012-10-17", "Statement": [
			{"Effect": "Allow", ` + gitlabCom + `, "Condition": {"StringEquals": {"gitlab.com:sub": "project_path:acme/api:ref_type:branch:ref:main"}}},
			{"Effect": "Allow", ` + gitlabCom + `, "Condition": {"StringEquals": {"gitlab.com:sub": "project_path:acme/web:ref_type:branch:ref:main"}}}]}`,
		want: outcome{
			Admitted: true,
			Flagged: []policy.Check{
				{Where: "Statement[0].Condition.StringEquals[\"gitlab.com:sub\"]", Test: "gitlab.com:sub StringEquals \"project_path:acme/api:ref_type:branch:ref:main\"", Claim: "sub", Value: "\"project_path:acme/web:ref_type:branch:ref:main\""},
			},
			Verdict: "Statement[1] allows sts:AssumeRoleWithWebIdentity for this token",
		},
	},
	{
		// GitHub's documentation showed this shape until github/docs#17463.
		name: "ForAllValues on sub",
		doc:  allow(`{"ForAllValues:StringEquals": {"gitlab.com:aud": "sts.amazonaws.com", "gitlab.com:sub": "project_path:acme/web:ref_type:branch:ref:main"}}`),
		want: outcome{
			Admitted: true,
			Flagged: []policy.Check{
				{Where: "Statement[0].Condition.ForAllValues:StringEquals[\"gitlab.com:sub\"]", Test: "gitlab.com:sub ForAllValues:StringEquals \"project_path:acme/web:ref_type:branch:ref:main\"", Claim: "sub", Value: "\"project_path:acme/web:ref_type:branch:ref:main\"", Held: true,
					Note: "sub is a single-valued key: AWS advises against ForAnyValue and ForAllValues on it, and ForAllValues holds even for a token without it"},
			},
			Verdict:  "Statement[0] allows sts:AssumeRoleWithWebIdentity for this token",
			Warnings: []string{"set-operator-on-sub"},
		},
	},
	{
		name: "ForAllValues on an absent key holds",
		doc:  allow(`{"StringEquals": {"gitlab.com:sub": "project_path:acme/web:ref_type:branch:ref:main"}, "ForAllValues:StringEquals": {"gitlab.com:amr": "mfa"}}`),
		want: outcome{
			Admitted: true,
			Flagged: []policy.Check{
				{Where: "Statement[0].Condition.ForAllValues:StringEquals[\"gitlab.com:amr\"]", Test: "gitlab.com:amr ForAllValues:StringEquals \"mfa\"", Claim: "amr", Value: "(absent)", Held: true,
					Note: "ForAllValues holds when the key is absent or empty, so this condition also admits a token without gitlab.com:amr"},
			},
			Verdict: "Statement[0] allows sts:AssumeRoleWithWebIdentity for this token",
		},
	},
	{
		name: "ForAnyValue on an absent key fails",
		doc:  allow(`{"ForAnyValue:StringEquals": {"gitlab.com:amr": "mfa"}, "StringEquals": {"gitlab.com:sub": "project_path:acme/web:ref_type:branch:ref:main"}}`),
		want: outcome{
			Flagged: []policy.Check{
				{Where: "Statement[0].Condition.ForAnyValue:StringEquals[\"gitlab.com:amr\"]", Test: "gitlab.com:amr ForAnyValue:StringEquals \"mfa\"", Claim: "amr", Value: "(absent)",
					Note: "the token has no amr claim"},
			},
			Verdict: "no statement allows it: in Statement[0], gitlab.com:amr ForAnyValue:StringEquals \"mfa\" does not hold for amr = (absent)",
			Fix:     "remove the ForAnyValue:StringEquals condition on \"gitlab.com:amr\" from Statement[0]: the token has no amr claim",
		},
	},
	{
		name:   "ForAnyValue on a list of audiences",
		doc:    allow(`{"ForAnyValue:StringEquals": {"gitlab.com:aud": "sts.amazonaws.com"}, "StringEquals": {"gitlab.com:sub": "project_path:acme/web:ref_type:branch:ref:main"}}`),
		claims: []func(policy.Claims){func(c policy.Claims) { c["aud"] = []any{"https://vault.example.com", "sts.amazonaws.com"} }},
		want: outcome{
			Admitted: true,
			Verdict:  "Statement[0] allows sts:AssumeRoleWithWebIdentity for this token",
		},
	},
	{
		name: "IfExists on an absent key holds",
		doc:  allow(`{"StringEqualsIfExists": {"gitlab.com:amr": "mfa"}, "StringEquals": {"gitlab.com:sub": "project_path:acme/web:ref_type:branch:ref:main"}}`),
		want: outcome{
			Admitted: true,
			Flagged: []policy.Check{
				{Where: "Statement[0].Condition.StringEqualsIfExists[\"gitlab.com:amr\"]", Test: "gitlab.com:amr StringEqualsIfExists \"mfa\"", Claim: "amr", Value: "(absent)", Held: true,
					Note: "the key is absent and the operator ends with IfExists, so the condition holds"},
			},
			Verdict: "Statement[0] allows sts:AssumeRoleWithWebIdentity for this token",
		},
	},
	{
		name: "Null false on sub holds",
		doc:  allow(`{"Null": {"gitlab.com:sub": "false"}, "StringLike": {"gitlab.com:sub": "project_path:acme/web:*"}}`),
		want: outcome{
			Admitted: true,
			Verdict:  "Statement[0] allows sts:AssumeRoleWithWebIdentity for this token",
		},
	},
	{
		name: "a GitLab claim AWS never sees",
		doc:  allow(`{"StringEquals": {"gitlab.com:namespace_id": "7", "gitlab.com:ref": "main"}}`),
		want: outcome{
			Flagged: []policy.Check{
				{Where: "Statement[0].Condition.StringEquals[\"gitlab.com:namespace_id\"]", Test: "gitlab.com:namespace_id StringEquals \"7\"", Value: "(not in the request context)",
					Note: "IAM sets only aud, sub, amr, azp, email and oaud of an OIDC token as condition keys, so gitlab.com:namespace_id is never in the request although the token has namespace_id = \"7\"; pin it through the sub claim instead (ci_id_token_sub_claim_components)"},
				{Where: "Statement[0].Condition.StringEquals[\"gitlab.com:ref\"]", Test: "gitlab.com:ref StringEquals \"main\"", Value: "(not in the request context)",
					Note: "IAM sets only aud, sub, amr, azp, email and oaud of an OIDC token as condition keys, so gitlab.com:ref is never in the request although the token has ref = \"main\"; pin it through the sub claim instead (ci_id_token_sub_claim_components)"},
			},
			Verdict:  "no statement allows it: in Statement[0], gitlab.com:namespace_id StringEquals \"7\" does not hold, and one more check fails",
			Fix:      "remove the StringEquals condition on \"gitlab.com:namespace_id\" from Statement[0]: IAM never sets that key for a GitLab token; and remove the StringEquals condition on \"gitlab.com:ref\" from Statement[0]: IAM never sets that key for a GitLab token",
			Warnings: []string{"unsupported-key", "unsupported-key"},
		},
	},
	{
		name:   "a project's customised sub",
		doc:    allow(`{"StringEquals": {"gitlab.com:aud": "sts.amazonaws.com", "gitlab.com:sub": "project_path:acme/web:ref_type:branch:ref:main"}}`),
		claims: []func(policy.Claims){set("sub", "project_path:acme/web:ref:main:ref_protected:true")},
		want: outcome{
			Flagged: []policy.Check{
				{Where: "Statement[0].Condition.StringEquals[\"gitlab.com:sub\"]", Test: "gitlab.com:sub StringEquals \"project_path:acme/web:ref_type:branch:ref:main\"", Claim: "sub", Value: "\"project_path:acme/web:ref:main:ref_protected:true\"",
					Note: "the token's sub is built from project_path,ref,ref_protected, the condition expects project_path,ref_type,ref: the project's ci_id_token_sub_claim_components differ from what the policy was written for"},
			},
			Verdict: "no statement allows it: in Statement[0], gitlab.com:sub StringEquals \"project_path:acme/web:ref_type:branch:ref:main\" does not hold for sub = \"project_path:acme/web:ref:main:ref_protected:true\"",
			Fix:     "set \"gitlab.com:sub\" in Statement[0].Condition.StringEquals to \"project_path:acme/web:ref:main:ref_protected:true\"",
		},
	},
	{
		name: "keys are case-insensitive, IgnoreCase values too",
		doc:  allow(`{"StringEqualsIgnoreCase": {"GitLab.com:SUB": "PROJECT_PATH:acme/web:ref_type:branch:ref:main"}, "StringEquals": {"gitlab.com:aud": "sts.amazonaws.com"}}`),
		want: outcome{
			Admitted: true,
			Verdict:  "Statement[0] allows sts:AssumeRoleWithWebIdentity for this token",
		},
	},
	{
		name: "StringNotEquals on another branch holds",
		doc:  allow(`{"StringLike": {"gitlab.com:sub": "project_path:acme/web:*"}, "StringNotEquals": {"gitlab.com:sub": "project_path:acme/web:ref_type:branch:ref:dev"}}`),
		want: outcome{
			Admitted: true,
			Verdict:  "Statement[0] allows sts:AssumeRoleWithWebIdentity for this token",
		},
	},
	{
		name: "StringNotLike excludes the job",
		doc:  allow(`{"StringLike": {"gitlab.com:sub": "project_path:acme/*"}, "StringNotLike": {"gitlab.com:sub": ["*:ref:main", "*:ref:dev"]}}`),
		want: outcome{
			Flagged: []policy.Check{
				{Where: "Statement[0].Condition.StringNotLike[\"gitlab.com:sub\"]", Test: "gitlab.com:sub StringNotLike [\"*:ref:main\", \"*:ref:dev\"]", Claim: "sub", Value: "\"project_path:acme/web:ref_type:branch:ref:main\"",
					Note: "the claim matches \"*:ref:main\", which StringNotLike excludes"},
			},
			Verdict:  "no statement allows it: in Statement[0], gitlab.com:sub StringNotLike [\"*:ref:main\", \"*:ref:dev\"] does not hold for sub = \"project_path:acme/web:ref_type:branch:ref:main\"",
			Fix:      "remove \"*:ref:main\" from Statement[0].Condition.StringNotLike[\"gitlab.com:sub\"]",
			Warnings: []string{"group-wildcard"},
		},
	},
	{
		name: "a global key keyless cannot know",
		doc:  allow(`{"StringEquals": {"gitlab.com:sub": "project_path:acme/web:ref_type:branch:ref:main", "aws:SourceVpc": "vpc-1"}}`),
		want: outcome{
			Flagged: []policy.Check{
				{Where: "Statement[0].Condition.StringEquals[\"aws:SourceVpc\"]", Test: "aws:SourceVpc StringEquals \"vpc-1\"", Value: "(not in the request context)",
					Note: "aws:SourceVpc is a global or STS key whose value keyless cannot know for this request: it is taken as absent"},
			},
			Verdict: "no statement allows it: in Statement[0], aws:SourceVpc StringEquals \"vpc-1\" does not hold",
			Fix:     "make sure the job's STS request meets the StringEquals condition on \"aws:SourceVpc\" in Statement[0] (keyless cannot see it), or remove the condition",
		},
	},
	{
		name: "an operator IAM does not have",
		doc:  allow(`{"StringMatches": {"gitlab.com:sub": "project_path:acme/web:ref_type:branch:ref:main"}}`),
		want: outcome{
			Flagged: []policy.Check{
				{Where: "Statement[0].Condition.StringMatches[\"gitlab.com:sub\"]", Test: "gitlab.com:sub StringMatches \"project_path:acme/web:ref_type:branch:ref:main\"", Claim: "sub", Value: "\"project_path:acme/web:ref_type:branch:ref:main\"",
					Note: "IAM has no condition operator \"StringMatches\" and refuses the policy: use StringEquals, StringLike or one of their variants"},
			},
			Verdict: "no statement allows it: in Statement[0], \"StringMatches\" is not a condition operator",
			Fix:     "replace Statement[0]'s operator \"StringMatches\" with StringEquals or StringLike",
		},
	},
}

func TestExplain(t *testing.T) {
	for _, tc := range explainCases {
		t.Run(tc.name, func(t *testing.T) {
			res, err := New().Explain([]byte(tc.doc), job(t, tc.claims...))
			if err != nil {
				t.Fatal(err)
			}
			got := outcomeOf(res)
			if os.Getenv("KEYLESS_DUMP") != "" {
				fmt.Printf("%s\n%#v\n\n", tc.name, got)
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
			if res.Admitted && res.Fix != "" {
				t.Errorf("admitted with a fix: %q", res.Fix)
			}
		})
	}
}

// Every check of GitLab's documented policy, held.
func TestExplainChecks(t *testing.T) {
	doc := allow(`{"StringEquals": {"gitlab.com:aud": "sts.amazonaws.com", "gitlab.com:sub": "project_path:acme/web:ref_type:branch:ref:main"}}`)
	res, err := New().Explain([]byte(doc), job(t))
	if err != nil {
		t.Fatal(err)
	}
	want := &policy.Result{
		Provider: "aws",
		Admitted: true,
		Checks: []policy.Check{
			{Where: "Statement[0].Principal.Federated", Test: `Federated "arn:aws:iam::123456789012:oidc-provider/gitlab.com" is the OIDC provider gitlab.com`, Claim: "iss", Value: `"https://gitlab.com"`, Held: true},
			{Where: "Statement[0].Action", Test: "includes sts:AssumeRoleWithWebIdentity", Value: "sts:AssumeRoleWithWebIdentity", Held: true},
			{Where: `Statement[0].Condition.StringEquals["gitlab.com:aud"]`, Test: `gitlab.com:aud StringEquals "sts.amazonaws.com"`, Claim: "aud", Value: `"sts.amazonaws.com"`, Held: true},
			{Where: `Statement[0].Condition.StringEquals["gitlab.com:sub"]`, Test: `gitlab.com:sub StringEquals "project_path:acme/web:ref_type:branch:ref:main"`, Claim: "sub", Value: `"project_path:acme/web:ref_type:branch:ref:main"`, Held: true},
		},
		Verdict: "Statement[0] allows sts:AssumeRoleWithWebIdentity for this token",
	}
	if d := cmp.Diff(want, res); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
}

// aws iam get-role's output is read whole, the document URL-encoded as the
// API returns it, or decoded as the CLI prints it.
func TestExplainGetRoleOutput(t *testing.T) {
	doc := allow(`{"StringEquals": {"gitlab.com:sub": "project_path:acme/web:ref_type:branch:ref:main"}}`)
	for name, wrapped := range map[string]string{
		"decoded":     `{"Role": {"RoleName": "deploy", "AssumeRolePolicyDocument": ` + doc + `}}`,
		"url-encoded": `{"Role": {"RoleName": "deploy", "AssumeRolePolicyDocument": "` + url.PathEscape(doc) + `"}}`,
		"the query":   `{"AssumeRolePolicyDocument": ` + doc + `}`,
	} {
		res, err := New().Explain([]byte(wrapped), job(t))
		if err != nil || !res.Admitted {
			t.Errorf("%s: %v %+v", name, err, res)
		}
	}
}

func TestExplainErrors(t *testing.T) {
	for _, tc := range []struct{ doc, want string }{
		{``, "not a JSON object"},
		{`[]`, "not a JSON object"},
		{`null`, "not a JSON object (null)"},
		{`{}`, "no Statement"},
		{`{"Statement": []}`, "the Statement list is empty"},
		{`{"Statement": 3}`, "neither an object nor a list"},
		{`{"Statement": [{"Effect": "allow", "Principal": "*", "Action": "sts:*"}]}`, `Effect "allow": use Allow or Deny`},
		{`{"Statement": [{"Effect": "Allow", "Action": "sts:*"}]}`, "in Statement[0]: no Principal"},
		{`{"Statement": [{"Effect": "Allow", "Principal": 5}]}`, "in Statement[0].Principal"},
		{`{"Statement": [{"Effect": "Allow", "Principal": "arn:aws:iam::1:root"}]}`, `Principal "arn:aws:iam::1:root"`},
		{`{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": {"a": 1}}]}`, "in Statement[0].Action"},
		{`{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "sts:*", "Condition": {"StringEquals": {"gitlab.com:sub": {"x": 1}}}}]}`, `in Statement[0].Condition.StringEquals["gitlab.com:sub"]`},
		{`{"Statement": [{"Effect": "Allow", "Principal": "*", "Condition": "x"}]}`, "in Statement[0]"},
		{`{"Version": 2012, "Statement": {}}`, "Version is not a string"},
		{`{"Statement": [` + strings.Repeat(`{"Effect": "Deny", "Principal": "*"},`, maxStatements) + `{"Effect": "Deny", "Principal": "*"}]}`, "more than 100"},
	} {
		_, err := New().Explain([]byte(tc.doc), job(t))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%.60s: error %v, want one containing %q", tc.doc, err, tc.want)
		}
	}
}

func FuzzExplain(f *testing.F) {
	f.Add([]byte(allow(`{"StringLike": {"gitlab.com:sub": "project_path:acme/*"}}`)))
	f.Add([]byte(allow(`{"ForAllValues:StringEqualsIgnoreCaseIfExists": {"gitlab.com:amr": ["a", 1, true]}, "Null": {"gitlab.com:sub": "false"}}`)))
	f.Add([]byte(allow(`{"StringEquals": {"gitlab.com:sub": "${gitlab.com:aud}${*}${x, 'y'}${"}}`)))
	f.Add([]byte(`{"Statement": {"Effect": "Deny", "Principal": "*", "NotAction": "x", "Condition": {"NumericLessThan": {"aws:EpochTime": 1}}}}`))
	f.Add([]byte(`{"Role": {"AssumeRolePolicyDocument": "%7B%22Statement%22%3A%5B%5D%7D"}}`))
	f.Add([]byte(`{"Statement": [{"Effect": "Allow", "NotPrincipal": {"Federated": ["a", "b"]}, "Action": ["sts:Assume*"]}]}`))
	claims := policy.Claims{"iss": "https://gitlab.com", "aud": []any{"sts.amazonaws.com", "x"}, "sub": "project_path:a/b:ref_type:branch:ref:main"}
	f.Fuzz(func(t *testing.T, doc []byte) {
		res, err := New().Explain(doc, claims)
		switch {
		case err != nil && res != nil:
			t.Fatal("a result and an error")
		case err == nil && res == nil:
			t.Fatal("neither a result nor an error")
		case err == nil && res.Admitted && res.Fix != "":
			t.Fatal("admitted with a fix")
		case err == nil && !res.Admitted && res.Verdict == "":
			t.Fatal("refused without a verdict")
		}
	})
}
