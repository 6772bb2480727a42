// Package vault generates the JWT auth role that lets GitLab CI/CD jobs
// log in to Vault or OpenBao with their ID token, and evaluates a role
// against a token's claims the way the JWT auth plugin does.
package vault

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"gitlab.com/keyless-ci/keyless/internal/option"
	"gitlab.com/keyless-ci/keyless/internal/policy"
)

type provider struct{}

// New returns Vault's trust provider (OpenBao's JWT auth is the same API).
func New() policy.Provider { return provider{} }

// OptRoleFile is the option that gives Explain the JWT role (package
// option).
const OptRoleFile option.Name = "role-file"

func (provider) Name() string          { return "vault" }
func (provider) Formats() []string     { return []string{"shell", "json", "terraform"} }
func (provider) Document() option.Name { return OptRoleFile }

// placeholderAudience stands for the Vault server's URL, the audience
// GitLab's Vault documentation gives id_tokens: when --aud is not set:
// https://docs.gitlab.com/ci/secrets/hashicorp_vault_tutorial/
const placeholderAudience = "https://vault.example.com"

// Token lifetimes: long enough for a job's secret reads, short enough
// that a leaked token is soon useless.
const (
	tokenTTL    = 15 * 60
	tokenMaxTTL = 60 * 60
)

// role is the JWT role body, as `vault write auth/jwt/role/NAME` takes it:
// https://developer.hashicorp.com/vault/api-docs/auth/jwt#create-update-role
//
// token_type stays Vault's default (service): a job can then revoke its
// token when done (vault token revoke -self), which a batch token cannot.
type role struct {
	RoleType        string            `json:"role_type"`
	BoundAudiences  []string          `json:"bound_audiences"`
	UserClaim       string            `json:"user_claim"`
	BoundClaimsType string            `json:"bound_claims_type"`
	BoundClaims     map[string]string `json:"bound_claims"`
	ClaimMappings   map[string]string `json:"claim_mappings"`
	TokenPolicies   []string          `json:"token_policies"`
	TokenTTL        string            `json:"token_ttl"`
	TokenMaxTTL     string            `json:"token_explicit_max_ttl"`
}

func audience(spec policy.Spec) string {
	if spec.Audience != "" {
		return spec.Audience
	}
	return placeholderAudience
}

// newRole is the least-privilege role for spec.
//
// bound_audiences is always set: Vault 1.16.3 and later refuse a token
// with an aud claim (every GitLab ID token has one) when the role binds
// no audience:
// https://developer.hashicorp.com/vault/docs/upgrading/upgrade-to-1.17.x#jwt-auth-login-requires-bound-audiences-on-the-role
//
// user_claim is project_id, not GitLab's example's user_email. The user
// claim names the entity alias, and so the audit log's display_name and
// the entity Vault counts as a client: one per project (not per person,
// nor per ref as sub would give) is the identity the role admits, and an
// id, unlike project_path, is never re-used by another project that takes
// over a renamed path and would inherit the alias's entity policies.
// claim_mappings copy the path, ref, pipeline, job and triggering user
// into the token's metadata, which the audit log records on every request.
func newRole(spec policy.Spec) role {
	r := role{
		RoleType:        "jwt",
		BoundAudiences:  []string{audience(spec)},
		UserClaim:       "project_id",
		BoundClaimsType: "string",
		BoundClaims:     map[string]string{},
		ClaimMappings: map[string]string{
			"project_path": "project_path", "ref": "ref", "ref_type": "ref_type",
			"pipeline_id": "pipeline_id", "job_id": "job_id", "user_login": "user_login",
		},
		TokenPolicies: []string{"POLICY"},
		TokenTTL:      "15m",
		TokenMaxTTL:   "1h",
	}
	if spec.Group != "" {
		r.BoundClaims["project_path"] = spec.Group + "/*"
		if spec.NamespaceID != "" {
			r.BoundClaims["namespace_id"] = spec.NamespaceID
		}
	} else {
		r.BoundClaims["project_path"] = spec.ProjectPath
		// The id as well: a path can be taken by another project after a
		// rename or deletion.
		if spec.ProjectID != "" {
			r.BoundClaims["project_id"] = spec.ProjectID
		}
	}
	if spec.RefType != "" {
		r.BoundClaims["ref_type"] = spec.RefType
	}
	if spec.Ref != "" {
		r.BoundClaims["ref"] = spec.Ref
	}
	if spec.ProtectedOnly {
		// GitLab writes booleans as strings; a JSON true would never match.
		r.BoundClaims["ref_protected"] = "true"
	}
	if spec.Environment != "" {
		r.BoundClaims["environment"] = spec.Environment
	}
	// One type for the whole role: glob only when a value needs it. Git
	// refs and GitLab paths cannot hold *, so no other value changes
	// meaning.
	for _, v := range r.BoundClaims {
		if strings.Contains(v, "*") {
			r.BoundClaimsType = "glob"
		}
	}
	return r
}

func (provider) Generate(spec policy.Spec, format string) ([]policy.Document, []policy.Warning, error) {
	if err := spec.Validate(); err != nil {
		return nil, nil, err
	}
	w := append(spec.Warnings(), warnings(spec)...)
	r := newRole(spec)
	body, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, nil, err
	}
	sub, _ := spec.Subject()
	head := fmt.Sprintf("# JWT auth role for GitLab CI/CD jobs like sub %s (keyless policy vault).\n", sub)
	switch format {
	case "shell":
		var b strings.Builder
		b.WriteString(head)
		b.WriteString("# Once per Vault (or OpenBao: bao instead of vault): JWT auth that trusts the instance's keys.\n")
		b.WriteString("vault auth enable jwt\n")
		fmt.Fprintf(&b, "vault write auth/jwt/config oidc_discovery_url=%q bound_issuer=%q\n\n", spec.Issuer, spec.Issuer)
		b.WriteString("# The role: replace ROLE_NAME, and POLICY with the policy of what the jobs may read.\n")
		b.WriteString("vault write auth/jwt/role/ROLE_NAME - <<'EOF'\n" + string(body) + "\nEOF\n")
		return []policy.Document{{Name: "role.sh", Format: "shell", Body: b.String()}}, w, nil
	case "json":
		return []policy.Document{{Name: "role.json", Format: "json", Body: string(body) + "\n"}}, w, nil
	case "terraform":
		return []policy.Document{{Name: "main.tf", Format: "terraform", Body: head + terraform(spec, r)}}, w, nil
	}
	return nil, nil, option.Errorf("format %q: vault writes shell, json or terraform; pass one of them to %s", format, option.Ref(policy.OptFormat))
}

// otherAudiences are other clouds' audiences: a token minted for one of
// them should not also log in to Vault.
var otherAudiences = []string{"sts.amazonaws.com", "api://AzureADTokenExchange", "//iam.googleapis.com/", "https://iam.googleapis.com/"}

func warnings(spec policy.Spec) []policy.Warning {
	var w []policy.Warning
	if spec.Audience == "" {
		aud := option.Ref(policy.OptAudience)
		w = append(w, policy.Warning{ID: "placeholder-audience", Message: "no " + aud + ": the role binds the placeholder " + placeholderAudience + "; pass your Vault's URL with " + aud + ", the aud the jobs' id_tokens: ask for"})
	}
	for _, other := range otherAudiences {
		if strings.HasPrefix(audience(spec), other) {
			w = append(w, policy.Warning{ID: "shared-audience", Message: fmt.Sprintf("audience %q is another cloud's: a token minted for it would also log in to Vault, and whoever holds a token for Vault could present it there; use the Vault server's URL", audience(spec))})
		}
	}
	switch {
	case spec.ProjectPath != "" && spec.ProjectID == "":
		w = append(w, policy.Warning{ID: "path-not-id", Message: "the role pins the project by path only: after a rename or deletion another project can take the path; pass " + option.Ref(policy.OptProjectID) + " to bind project_id too"})
	case spec.Group != "" && spec.NamespaceID != "":
		w = append(w, policy.Warning{ID: "namespace-direct-only", Message: "namespace_id is a project's direct parent: projects in subgroups of the group carry their subgroup's id, and this role refuses them"})
	}
	return w
}

func terraform(spec policy.Spec, r role) string {
	var b strings.Builder
	b.WriteString("\n# Once per Vault: JWT auth that trusts the instance's keys.\n")
	fmt.Fprintf(&b, "resource \"vault_jwt_auth_backend\" \"gitlab\" {\n  path               = \"jwt\"\n  oidc_discovery_url = %q\n  bound_issuer       = %q\n}\n\n", spec.Issuer, spec.Issuer)
	b.WriteString("resource \"vault_jwt_auth_backend_role\" \"gitlab_ci\" {\n")
	b.WriteString("  backend                = vault_jwt_auth_backend.gitlab.path\n")
	b.WriteString("  role_name              = \"ROLE_NAME\"\n")
	fmt.Fprintf(&b, "  role_type              = %q\n", r.RoleType)
	fmt.Fprintf(&b, "  bound_audiences        = [%q]\n", r.BoundAudiences[0])
	fmt.Fprintf(&b, "  user_claim             = %q\n", r.UserClaim)
	fmt.Fprintf(&b, "  bound_claims_type      = %q\n", r.BoundClaimsType)
	b.WriteString("  bound_claims = {\n" + hclMap(r.BoundClaims, "    ") + "  }\n")
	b.WriteString("  claim_mappings = {\n" + hclMap(r.ClaimMappings, "    ") + "  }\n")
	b.WriteString("  token_policies         = [\"POLICY\"]\n")
	fmt.Fprintf(&b, "  token_ttl              = %d\n  token_explicit_max_ttl = %d\n}\n", tokenTTL, tokenMaxTTL)
	return b.String()
}

func hclMap(m map[string]string, indent string) string {
	keys := make([]string, 0, len(m))
	width := 0
	for k := range m {
		keys = append(keys, k)
		width = max(width, len(k))
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s%-*s = %s\n", indent, width, k, strconv.Quote(m[k]))
	}
	return b.String()
}
