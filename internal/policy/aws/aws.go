// Package aws generates the IAM trust that lets GitLab CI/CD jobs call
// sts:AssumeRoleWithWebIdentity with their ID token, and evaluates a role
// trust policy against a token's claims the way IAM does.
package aws

import (
	"encoding/json"
	"fmt"
	"strings"

	"gitlab.com/keyless-ci/keyless/internal/policy"
)

// DefaultAudience is the audience GitLab's AWS documentation uses and the
// aws component asks for.
const DefaultAudience = "sts.amazonaws.com"

// action is the one action a web identity trust is about.
const action = "sts:AssumeRoleWithWebIdentity"

type provider struct{}

// New returns AWS's trust provider.
func New() policy.Provider { return provider{} }

func (provider) Name() string         { return "aws" }
func (provider) Formats() []string    { return []string{"json", "terraform", "cloudformation"} }
func (provider) DocumentFlag() string { return "trust-policy" }

// otherAudiences are audiences other clouds' trust expects: a token for
// one of them must not also be accepted by AWS.
var otherAudiences = []string{"api://AzureADTokenExchange", "//iam.googleapis.com/", "https://iam.googleapis.com/"}

// trustDoc is a role trust policy as generated; maps marshal with sorted
// keys, so the output is stable.
type trustDoc struct {
	Version   string      `json:"Version"`
	Statement []statement `json:"Statement"`
}

type statement struct {
	Effect    string                       `json:"Effect"`
	Principal map[string]string            `json:"Principal"`
	Action    string                       `json:"Action"`
	Condition map[string]map[string]string `json:"Condition"`
}

// trust returns the role trust policy for spec, with the Federated
// principal given (an ARN, or a reference in Terraform/CloudFormation).
func trust(spec policy.Spec, federated string) trustDoc {
	host := spec.Host()
	aud := audience(spec)
	sub, wildcard := spec.Subject()
	cond := map[string]map[string]string{"StringEquals": {host + ":aud": aud}}
	// StringLike only where a wildcard is asked for: StringEquals takes *
	// literally, and StringLike without one is an exact match in disguise.
	if wildcard {
		cond["StringLike"] = map[string]string{host + ":sub": sub}
	} else {
		cond["StringEquals"][host+":sub"] = sub
	}
	return trustDoc{Version: "2012-10-17", Statement: []statement{{
		Effect:    "Allow",
		Principal: map[string]string{"Federated": federated},
		Action:    action,
		Condition: cond,
	}}}
}

func audience(spec policy.Spec) string {
	if spec.Audience != "" {
		return spec.Audience
	}
	return DefaultAudience
}

// providerARN is the IAM OIDC provider of spec's issuer in an account the
// user fills in.
func providerARN(spec policy.Spec) string {
	return "arn:aws:iam::ACCOUNT_ID:oidc-provider/" + spec.Host()
}

func (provider) Generate(spec policy.Spec, format string) ([]policy.Document, []policy.Warning, error) {
	if err := spec.Validate(); err != nil {
		return nil, nil, err
	}
	warnings := append(spec.Warnings(), warnings(spec)...)
	var docs []policy.Document
	switch format {
	case "json":
		b, err := json.MarshalIndent(trust(spec, providerARN(spec)), "", "  ")
		if err != nil {
			return nil, nil, err
		}
		docs = []policy.Document{
			{Name: "trust-policy.json", Format: "json", Body: string(b) + "\n"},
			{Name: "create.sh", Format: "shell", Body: createScript(spec)},
		}
	case "terraform":
		docs = []policy.Document{{Name: "main.tf", Format: "terraform", Body: terraform(spec)}}
	case "cloudformation":
		docs = []policy.Document{{Name: "template.yaml", Format: "cloudformation", Body: cloudFormation(spec)}}
	default:
		return nil, nil, fmt.Errorf("format %q: aws writes json, terraform or cloudformation", format)
	}
	return docs, warnings, nil
}

// warnings are what an AWS trust cannot express of spec, and audiences
// that belong to another cloud.
func warnings(spec policy.Spec) []policy.Warning {
	var w []policy.Warning
	comps := spec.Components()
	if spec.Environment != "" {
		w = append(w, policy.Warning{ID: "environment-not-pinned", Message: fmt.Sprintf(
			"AWS compares only aud and sub of a GitLab token, and sub does not name the environment: %q is not pinned. Protect the environment and add environment_protected (or deployment_tier) to the project's ci_id_token_sub_claim_components, then pass --sub-components", spec.Environment)})
	}
	if spec.ProtectedOnly && !contains(comps, "ref_protected") {
		w = append(w, policy.Warning{ID: "protection-not-pinned", Message: "AWS compares only aud and sub, and the default sub does not say whether the ref is protected: add ref_protected to the project's ci_id_token_sub_claim_components and pass --sub-components project_path,ref_type,ref,ref_protected"})
	}
	for _, o := range otherAudiences {
		if strings.HasPrefix(audience(spec), o) {
			w = append(w, policy.Warning{ID: "shared-audience", Message: fmt.Sprintf("audience %q is another cloud's: a token minted for it would also be accepted here; use sts.amazonaws.com", audience(spec))})
		}
	}
	return w
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// forWhom describes spec's jobs in a comment.
func forWhom(spec policy.Spec) string {
	sub, _ := spec.Subject()
	return "GitLab CI/CD jobs whose ID token has sub " + sub
}

func createScript(spec policy.Spec) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Trust for %s (keyless policy aws).\n", forWhom(spec))
	b.WriteString("# The IAM OIDC identity provider, once per account. No thumbprint: IAM trusts publicly\n")
	b.WriteString("# issued certificates of OIDC providers on its own.\n")
	fmt.Fprintf(&b, "aws iam create-open-id-connect-provider --url %s --client-id-list %s\n\n", spec.Issuer, audience(spec))
	b.WriteString("# The role: replace ACCOUNT_ID in trust-policy.json and ROLE_NAME, then attach the\n")
	b.WriteString("# permissions the jobs need (aws iam attach-role-policy or put-role-policy).\n")
	b.WriteString("aws iam create-role --role-name ROLE_NAME --assume-role-policy-document file://trust-policy.json\n")
	return b.String()
}

func terraform(spec policy.Spec) string {
	host := spec.Host()
	sub, wildcard := spec.Subject()
	op := "StringEquals"
	if wildcard {
		op = "StringLike"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# Trust for %s (keyless policy aws).\n\n", forWhom(spec))
	b.WriteString("# Once per account; import it if it exists. No thumbprint_list: IAM trusts publicly\n# issued certificates of OIDC providers on its own (AWS provider 5.x and later).\n")
	fmt.Fprintf(&b, "resource \"aws_iam_openid_connect_provider\" \"gitlab\" {\n  url            = %q\n  client_id_list = [%q]\n}\n\n", spec.Issuer, audience(spec))
	b.WriteString("data \"aws_iam_policy_document\" \"gitlab_trust\" {\n  statement {\n    effect  = \"Allow\"\n    actions = [\"" + action + "\"]\n\n")
	b.WriteString("    principals {\n      type        = \"Federated\"\n      identifiers = [aws_iam_openid_connect_provider.gitlab.arn]\n    }\n\n")
	fmt.Fprintf(&b, "    condition {\n      test     = \"StringEquals\"\n      variable = %q\n      values   = [%q]\n    }\n\n", host+":aud", audience(spec))
	fmt.Fprintf(&b, "    condition {\n      test     = %q\n      variable = %q\n      values   = [%q]\n    }\n  }\n}\n\n", op, host+":sub", sub)
	b.WriteString("resource \"aws_iam_role\" \"gitlab_ci\" {\n  name               = \"ROLE_NAME\"\n  assume_role_policy = data.aws_iam_policy_document.gitlab_trust.json\n}\n")
	return b.String()
}

func cloudFormation(spec policy.Spec) string {
	host := spec.Host()
	sub, wildcard := spec.Subject()
	var b strings.Builder
	b.WriteString("AWSTemplateFormatVersion: \"2010-09-09\"\n")
	fmt.Fprintf(&b, "Description: %s\n", jsonString("Trust for "+forWhom(spec)+" (keyless policy aws)"))
	b.WriteString("Resources:\n")
	b.WriteString("  # Once per account. No ThumbprintList: IAM trusts publicly issued certificates\n  # of OIDC providers on its own.\n")
	fmt.Fprintf(&b, "  GitLabOIDCProvider:\n    Type: AWS::IAM::OIDCProvider\n    Properties:\n      Url: %s\n      ClientIdList:\n        - %s\n", jsonString(spec.Issuer), jsonString(audience(spec)))
	b.WriteString("  GitLabCIRole:\n    Type: AWS::IAM::Role\n    Properties:\n      RoleName: ROLE_NAME\n      AssumeRolePolicyDocument:\n")
	b.WriteString("        Version: \"2012-10-17\"\n        Statement:\n          - Effect: Allow\n            Principal:\n              Federated: !Ref GitLabOIDCProvider\n")
	fmt.Fprintf(&b, "            Action: %s\n            Condition:\n              StringEquals:\n                %s: %s\n", action, jsonString(host+":aud"), jsonString(audience(spec)))
	if wildcard {
		b.WriteString("              StringLike:\n")
	}
	fmt.Fprintf(&b, "                %s: %s\n", jsonString(host+":sub"), jsonString(sub))
	return b.String()
}

// jsonString quotes s for YAML: a JSON string is a YAML double-quoted
// scalar.
func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
