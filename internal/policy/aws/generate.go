package aws

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"gitlab.com/keyless-ci/keyless/internal/option"
	"gitlab.com/keyless-ci/keyless/internal/policy"
)

// No thumbprint anywhere below: IAM verifies the issuer's JWKS endpoint
// against its library of trusted root CAs and uses a thumbprint only for a
// certificate none of them signed, and CreateOpenIDConnectProvider no
// longer requires one:
// https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_providers_create_oidc_verify-thumbprint.html
// https://docs.aws.amazon.com/IAM/latest/APIReference/API_UpdateOpenIDConnectProviderThumbprint.html
// A self-managed instance behind a private CA is the exception: its
// owner adds --thumbprint-list.

// otherAudiences are audiences other services' trust expects: a token
// minted for one of them must not also be good for an AWS role, and the
// other way round.
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
	sub, _ := spec.Subject()
	return trustDoc{Version: "2012-10-17", Statement: []statement{{
		Effect:    "Allow",
		Principal: map[string]string{"Federated": federated},
		Action:    action,
		Condition: Condition(spec.Host(), audience(spec), sub),
	}}}
}

// Condition is the Condition block of a role trust that admits tokens of
// the issuer host (IAM's name for it: no scheme) with audience aud and
// subject sub. Generate writes it, and so does the aws exchange's
// explanation of AccessDenied, so that the two never differ (issue 14).
func Condition(host, aud, sub string) map[string]map[string]string {
	cond := map[string]map[string]string{"StringEquals": {host + ":aud": aud}}
	// StringLike only where a wildcard is asked for: StringEquals takes *
	// literally, and StringLike without one is an exact match in disguise.
	if strings.Contains(sub, "*") {
		cond["StringLike"] = map[string]string{host + ":sub": sub}
	} else {
		cond["StringEquals"][host+":sub"] = sub
	}
	return cond
}

// ConditionJSON is Condition as trust-policy.json writes it, as the member
// "Condition": {...}, its lines after the first starting with indent.
func ConditionJSON(host, aud, sub, indent string) string {
	b, err := json.MarshalIndent(Condition(host, aud, sub), indent, "  ")
	if err != nil {
		return "" // maps of strings always marshal
	}
	return `"Condition": ` + string(b)
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
	var docs []policy.Document
	switch format {
	case "json", "":
		b, err := json.MarshalIndent(trust(spec, providerARN(spec)), "", "  ")
		if err != nil {
			return nil, nil, fmt.Errorf("trust policy: %w", err)
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
	return docs, append(spec.Warnings(), warnings(spec)...), nil
}

// warnings are what an AWS trust cannot express of spec, and audiences
// another service also trusts.
func warnings(spec policy.Spec) []policy.Warning {
	var w []policy.Warning
	if strings.HasPrefix(spec.Issuer, "http://") {
		w = append(w, policy.Warning{ID: "issuer-not-https", Message: fmt.Sprintf("IAM accepts only https:// OIDC provider URLs, and %s is not one: serve the instance over HTTPS (with ci_id_tokens_issuer_url set to that URL)", spec.Issuer)})
	}
	// IAM passes a generic OIDC provider's aud, sub, amr, azp, email and
	// oaud to conditions, and GitLab's tokens carry only aud and sub of
	// those: whatever else a trust pins, it pins through sub.
	// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_iam-condition-keys.html#condition-keys-wif
	if spec.Environment != "" {
		w = append(w, policy.Warning{ID: "environment-not-pinned", Message: fmt.Sprintf(
			"AWS compares only aud and sub of a GitLab token, and sub does not name the environment: %q is not pinned. Protect the environment and add environment_protected (or deployment_tier) to the project's ci_id_token_sub_claim_components, then pass %s", spec.Environment, option.Ref(policy.OptSubComponents))})
	}
	if spec.ProtectedOnly && !slices.Contains(spec.Components(), "ref_protected") {
		w = append(w, policy.Warning{ID: "protection-not-pinned", Message: "AWS compares only aud and sub, and the default sub does not say whether the ref is protected: add ref_protected to the project's ci_id_token_sub_claim_components and pass " + option.Ref(policy.OptSubComponents) + " project_path,ref_type,ref,ref_protected"})
	}
	if other := sharedAudience(audience(spec), spec.Issuer); other != "" {
		w = append(w, policy.Warning{ID: "shared-audience", Message: fmt.Sprintf("audience %q is %s: a token minted for that service would also assume this role, so whoever receives one holds both. Give AWS its own id_tokens: entry with aud %s", audience(spec), other, DefaultAudience)})
	}
	return w
}

// sharedAudience says whose audience aud is when another service expects
// it too, or "".
func sharedAudience(aud, issuer string) string {
	for _, o := range otherAudiences {
		if strings.HasPrefix(aud, o) {
			return "another cloud's"
		}
	}
	lower := strings.ToLower(aud)
	switch {
	case aud == issuer || strings.TrimSuffix(aud, "/") == issuer:
		// The instance URL is what CI_JOB_JWT_V2 carried and what Vault
		// examples bind: every relying party of that era accepts it.
		return "the instance's own URL, which older tokens and Vault examples use"
	case strings.Contains(lower, "vault") || strings.Contains(lower, "openbao"):
		return "a Vault server's, by the look of it"
	}
	return ""
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
	fmt.Fprintf(&b, "aws iam create-open-id-connect-provider --url %s --client-id-list %s\n\n", shellWord(spec.Issuer), shellWord(audience(spec)))
	b.WriteString("# The role: replace ACCOUNT_ID in trust-policy.json and ROLE_NAME, then attach the\n")
	b.WriteString("# permissions the jobs need (aws iam attach-role-policy or put-role-policy).\n")
	b.WriteString("aws iam create-role --role-name ROLE_NAME --assume-role-policy-document file://trust-policy.json\n")
	return b.String()
}

// shellWord quotes s for sh unless every character is plainly safe, so
// that a URL or an audience prints as people write it.
func shellWord(s string) string {
	safe := func(r rune) bool {
		return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=@%+,", r)
	}
	if s != "" && strings.IndexFunc(s, func(r rune) bool { return !safe(r) }) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
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
	// thumbprint_list became optional in hashicorp/aws 5.81.0
	// (hashicorp/terraform-provider-aws#37255).
	b.WriteString("terraform {\n  required_providers {\n    # 5.81.0 and later leave thumbprint_list out.\n    aws = {\n      source  = \"hashicorp/aws\"\n      version = \">= 5.81.0\"\n    }\n  }\n}\n\n")
	b.WriteString("# Once per account; import it if it exists. No thumbprint_list: IAM trusts publicly\n# issued certificates of OIDC providers on its own.\n")
	fmt.Fprintf(&b, "resource \"aws_iam_openid_connect_provider\" \"gitlab\" {\n  url            = %s\n  client_id_list = [%s]\n}\n\n", hclString(spec.Issuer), hclString(audience(spec)))
	b.WriteString("data \"aws_iam_policy_document\" \"gitlab_trust\" {\n  statement {\n    effect  = \"Allow\"\n    actions = [\"" + action + "\"]\n\n")
	b.WriteString("    principals {\n      type        = \"Federated\"\n      identifiers = [aws_iam_openid_connect_provider.gitlab.arn]\n    }\n\n")
	fmt.Fprintf(&b, "    condition {\n      test     = \"StringEquals\"\n      variable = %s\n      values   = [%s]\n    }\n\n", hclString(host+":aud"), hclString(audience(spec)))
	fmt.Fprintf(&b, "    condition {\n      test     = %q\n      variable = %s\n      values   = [%s]\n    }\n  }\n}\n\n", op, hclString(host+":sub"), hclString(sub))
	b.WriteString("resource \"aws_iam_role\" \"gitlab_ci\" {\n  name               = \"ROLE_NAME\" # replace\n  assume_role_policy = data.aws_iam_policy_document.gitlab_trust.json\n}\n")
	return b.String()
}

// hclString quotes s for HCL: a JSON string, with ${ and %{ escaped so that
// a value never becomes a template.
func hclString(s string) string {
	q := jsonString(s)
	q = strings.ReplaceAll(q, "${", "$${")
	return strings.ReplaceAll(q, "%{", "%%{")
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
	b.WriteString("  GitLabCIRole:\n    Type: AWS::IAM::Role\n    Properties:\n      RoleName: ROLE_NAME # replace\n      AssumeRolePolicyDocument:\n")
	// Ref of an AWS::IAM::OIDCProvider is its ARN.
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
	var b strings.Builder
	e := json.NewEncoder(&b)
	e.SetEscapeHTML(false)
	_ = e.Encode(s) // a string always encodes
	return strings.TrimSuffix(b.String(), "\n")
}
