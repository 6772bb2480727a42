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

	"gitlab.com/keyless-ci/keyless/internal/policy"
)

type provider struct{}

// New returns Vault's trust provider (OpenBao's JWT auth is the same API).
func New() policy.Provider { return provider{} }

func (provider) Name() string         { return "vault" }
func (provider) Formats() []string    { return []string{"shell", "json", "terraform"} }
func (provider) DocumentFlag() string { return "role-file" }

// placeholderAudience stands for the Vault server's URL, the audience
// GitLab's Vault documentation gives id_tokens: when --aud is not set.
const placeholderAudience = "https://vault.example.com"

// role is the JWT role body, as `vault write auth/jwt/role/NAME` takes it:
// https://developer.hashicorp.com/vault/api-docs/auth/jwt#create-update-role
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
// user_claim is project_id, not user_email as in GitLab's example: the
// role admits a project's jobs, so the project is the identity. One
// entity per project, whoever triggered the pipeline, keeps Vault's client
// count down and survives renames; claim_mappings put the path, ref, job
// and user into the alias metadata that audit logs show.
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
	switch {
	case spec.Group != "":
		r.BoundClaims["project_path"] = spec.Group + "/*"
	case spec.ProjectID != "":
		// The id, not the path: a path can be taken by another project
		// after a rename or deletion.
		r.BoundClaims["project_id"] = spec.ProjectID
	default:
		r.BoundClaims["project_path"] = spec.ProjectPath
	}
	if spec.RefType != "" {
		r.BoundClaims["ref_type"] = spec.RefType
	}
	if spec.Ref != "" {
		r.BoundClaims["ref"] = spec.Ref
	}
	if spec.ProtectedOnly {
		r.BoundClaims["ref_protected"] = "true"
	}
	if spec.Environment != "" {
		r.BoundClaims["environment"] = spec.Environment
	}
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
	w := spec.Warnings()
	if spec.Audience == "" {
		w = append(w, policy.Warning{ID: "placeholder-audience", Message: "no --aud: the role binds the placeholder " + placeholderAudience + "; pass your Vault's URL, the aud of the jobs' id_tokens:"})
	}
	for _, other := range []string{"sts.amazonaws.com", "api://AzureADTokenExchange", "//iam.googleapis.com/", "https://iam.googleapis.com/"} {
		if strings.HasPrefix(audience(spec), other) {
			w = append(w, policy.Warning{ID: "shared-audience", Message: fmt.Sprintf("audience %q is another cloud's: a token minted for it would also log in to Vault; use the Vault server's URL", audience(spec))})
		}
	}
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
	return nil, nil, fmt.Errorf("format %q: vault writes shell, json or terraform", format)
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
	fmt.Fprintf(&b, "  token_ttl              = %d\n  token_explicit_max_ttl = %d\n}\n", 15*60, 60*60)
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
