package azure

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// platforms are the issuers Entra takes flexible federated identity
// credentials from, and the claims and operators it takes from each, as
// the page's "Issuer URLs, supported claims, and operators by platform"
// lists them (ms.date 2026-09-18, read 2026-12-04):
// https://learn.microsoft.com/en-us/entra/workload-id/workload-identities-flexible-federated-identity-credentials
// testdata/entra-flexible-credentials.md keeps the table as read, and
// TestPlatformsMatchCitation holds this one to it. Generation and Explain
// both read it. Microsoft Graph enforces it when a credential is created:
// InvalidFederatedIdentityCredentialValue, "Expression configured for
// issuer ... either lacks all required claims or contains unallowed
// claims" (hashicorp/terraform-provider-azuread#1901).
var platforms = []platform{
	{
		name:    "GitHub",
		issuers: []string{"https://token.actions.githubusercontent.com"},
		claims: []claimOps{
			{"sub", []string{"eq", "matches"}},
			{"job_workflow_ref", []string{"eq", "matches"}},
			{"repository_id", []string{"eq"}},
			{"repository_owner_id", []string{"eq"}},
		},
		// "must match the sub claim and one or both of" repository_id,
		// repository_owner_id.
		required: func(terms []term) (string, string) {
			if !hasClaim(terms, "sub") {
				return "sub", "Entra requires a GitHub expression to match claims['sub']"
			}
			if !hasClaim(terms, "repository_id") && !hasClaim(terms, "repository_owner_id") {
				return "repository_id", "Entra requires a GitHub expression to match claims['repository_id'] or claims['repository_owner_id'] with eq beside sub"
			}
			return "", ""
		},
	},
	{
		name:    "GitLab",
		issuers: []string{"https://gitlab.com", "https://gitlab.NAME.com", "https://gitlab.NAME.ca"},
		claims: []claimOps{
			{"sub", []string{"eq", "matches"}},
			{"project_id", []string{"eq"}},
		},
		// "When you use mutable subjects with GitLab, your flexible
		// federated identity credential expression must match the sub and
		// project_id claims." GitLab's default sub leads with the project
		// path, which a rename can hand to another project.
		required: func(terms []term) (string, string) {
			if !hasClaim(terms, "sub") {
				return "sub", "Entra requires a GitLab expression to match claims['sub']"
			}
			if !hasClaim(terms, "project_id") && !slices.ContainsFunc(terms, immutableGitLabSub) {
				return "project_id", "Entra requires a GitLab expression on a mutable sub (one that leads with project_path, which a rename can hand to another project) to also match claims['project_id'] with eq"
			}
			return "", ""
		},
	},
	{
		name:    "Terraform Cloud",
		issuers: []string{"https://app.terraform.io", "https://app.eu.terraform.io"},
		claims: []claimOps{
			{"sub", []string{"eq", "matches"}},
		},
	},
}

// platform is one row of the table: an issuer family, the claims it
// takes and what an expression must hold.
type platform struct {
	name string
	// issuers as the page writes them; NAME stands for any string (the
	// page's "gitlab.example.com ... where example can be any string").
	issuers []string
	// claims in the page's order, each with its operators.
	claims []claimOps
	// required returns a claim the expression must match and lacks, and
	// why; "" when it lacks none. nil: the page requires nothing.
	required func(terms []term) (claim, why string)
}

type claimOps struct {
	claim string
	ops   []string
}

// flexiblePlatform returns the platform whose issuers hold iss, nil when
// Entra takes no flexible credential from iss. A trailing slash is
// ignored here: the issuer check refuses it on its own.
func flexiblePlatform(iss string) *platform {
	u, err := url.Parse(strings.TrimSuffix(iss, "/"))
	if err != nil || u.Scheme != "https" || u.User != nil || u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return nil
	}
	for i := range platforms {
		for _, pattern := range platforms[i].issuers {
			if hostMatches(strings.TrimPrefix(pattern, "https://"), u.Host) {
				return &platforms[i]
			}
		}
	}
	return nil
}

// hostMatches reports whether host is pattern, in which NAME stands for
// any non-empty string.
func hostMatches(pattern, host string) bool {
	before, after, wild := strings.Cut(pattern, "NAME")
	if !wild {
		return host == pattern
	}
	return len(host) > len(before)+len(after) && strings.HasPrefix(host, before) && strings.HasSuffix(host, after)
}

// supports reports whether Entra takes t in an expression for p.
func (p *platform) supports(t term) bool {
	for _, c := range p.claims {
		if c.claim == t.claim {
			return slices.Contains(c.ops, t.op)
		}
	}
	return false
}

// supported lists p's claims and operators, e.g. "claims['sub'] (eq,
// matches) and claims['project_id'] (eq)".
func (p *platform) supported() string {
	parts := make([]string, len(p.claims))
	for i, c := range p.claims {
		parts[i] = fmt.Sprintf("claims['%s'] (%s)", c.claim, strings.Join(c.ops, ", "))
	}
	if len(parts) == 1 {
		return parts[0]
	}
	return strings.Join(parts[:len(parts)-1], ", ") + " and " + parts[len(parts)-1]
}

// unsupported says why Entra refuses t in an expression for issuer iss.
func (p *platform) unsupported(t term, iss string) string {
	what := fmt.Sprintf("claims['%s']", t.claim)
	for _, c := range p.claims {
		if c.claim == t.claim {
			what = fmt.Sprintf("operator %s on claims['%s']", t.op, t.claim)
		}
	}
	return fmt.Sprintf("Entra does not support %s in a flexible federated identity credential for a %s issuer (%q): it supports only %s", what, p.name, iss, p.supported())
}

// missing returns the claim an expression for p must match and does not,
// and why; "" when none.
func (p *platform) missing(terms []term) (claim, why string) {
	if p.required == nil {
		return "", ""
	}
	return p.required(terms)
}

// noFlexible says why Entra refuses a flexible credential for iss.
func noFlexible(iss string) string {
	var from []string
	for _, p := range platforms {
		from = append(from, p.name+" ("+strings.Join(p.issuers, ", ")+")")
	}
	return fmt.Sprintf("Entra does not support flexible federated identity credentials for issuer %q, only for %s", iss, strings.Join(from[:len(from)-1], ", ")+" and "+from[len(from)-1])
}

func hasClaim(terms []term, claim string) bool {
	return slices.ContainsFunc(terms, func(t term) bool { return t.claim == claim })
}

// immutableGitLabSub reports whether t pins a sub that leads with one
// project id (project_id:42:...), which GitLab writes when the project's
// ci_id_token_sub_claim_components start with project_id.
func immutableGitLabSub(t term) bool {
	if t.claim != "sub" {
		return false
	}
	id, _, _ := strings.Cut(strings.TrimPrefix(t.value, "project_id:"), ":")
	if !strings.HasPrefix(t.value, "project_id:") || id == "" {
		return false
	}
	for _, r := range id {
		if r < '0' || r > '9' {
			return false // a wildcard, or not an id
		}
	}
	return true
}
