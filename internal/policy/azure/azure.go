// Package azure generates the Microsoft Entra federated identity
// credential that lets GitLab CI/CD jobs exchange their ID token for an
// Entra token, and evaluates credentials against a token's claims as Entra
// matches them.
//
// Entra compares a credential's issuer, subject and audience with the
// token's iss, sub and aud exactly and case-sensitively; wildcards are not
// supported in any property:
// https://learn.microsoft.com/en-us/entra/workload-id/workload-identity-federation-considerations
// A flexible federated identity credential (preview) replaces subject with
// a claimsMatchingExpression:
// https://learn.microsoft.com/en-us/entra/workload-id/workload-identities-flexible-federated-identity-credentials
package azure

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"gitlab.com/keyless-ci/keyless/internal/option"
	"gitlab.com/keyless-ci/keyless/internal/policy"
)

// DefaultAudience is the audience Microsoft recommends for federated
// identity credentials.
const DefaultAudience = "api://AzureADTokenExchange"

// armAPIVersion is the Microsoft.ManagedIdentity API version that takes
// claimsMatchingExpression on a user-assigned managed identity.
const armAPIVersion = "2025-01-31-preview"

type provider struct{}

// New returns Azure's trust provider.
func New() policy.Provider { return provider{} }

// OwnsAudience recognises the audience this cloud's jobs ask for.
func (provider) OwnsAudience(aud string) bool {
	return strings.HasPrefix(aud, "api://AzureADTokenExchange")
}

// OptFederatedCredential is the option that gives Explain the app's
// federated identity credentials (package option).
const OptFederatedCredential option.Name = "federated-credential"

func (provider) Name() string          { return "azure" }
func (provider) Formats() []string     { return []string{"json", "terraform"} }
func (provider) Document() option.Name { return OptFederatedCredential }

// credential is a federated identity credential as Microsoft Graph and
// `az ad app federated-credential` take it:
// https://learn.microsoft.com/en-us/graph/api/resources/federatedidentitycredential
type credential struct {
	Name                     string      `json:"name"`
	Issuer                   string      `json:"issuer"`
	Subject                  string      `json:"subject,omitempty"`
	ClaimsMatchingExpression *expression `json:"claimsMatchingExpression,omitempty"`
	Audiences                []string    `json:"audiences"`
	Description              string      `json:"description"`
}

type expression struct {
	Value           string `json:"value"`
	LanguageVersion int    `json:"languageVersion"`
}

func audience(spec policy.Spec) string {
	if spec.Audience != "" {
		return spec.Audience
	}
	return DefaultAudience
}

// credentialName is a valid name derived from the spec: 3 to 120
// letters, digits, - and _, the first alphanumeric.
func credentialName(spec policy.Spec) string {
	base := spec.ProjectPath
	if base == "" {
		base = spec.Group + "-all"
	}
	if spec.Ref != "" {
		base += "-" + spec.Ref
	}
	var b strings.Builder
	for _, r := range "gitlab-" + base {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	name := b.String()
	if len(name) > 120 {
		name = name[:120]
	}
	return name
}

// newCredential returns the credential spec asks for. ok is false when
// that takes a flexible credential Entra would refuse (see platforms): w
// then says why and what to do instead.
func newCredential(spec policy.Spec) (c credential, w []policy.Warning, ok bool) {
	sub, wildcard := spec.Subject()
	c = credential{
		Name:        credentialName(spec),
		Issuer:      spec.Issuer,
		Audiences:   []string{audience(spec)},
		Description: "GitLab CI/CD jobs with sub " + sub + " (keyless policy azure)",
	}
	if !wildcard {
		c.Subject = sub
		return c, nil, true
	}
	terms := []term{{claim: "sub", op: "matches", value: sub}}
	if spec.ProjectID != "" {
		terms = append(terms, term{claim: "project_id", op: "eq", value: spec.ProjectID})
	}
	exact := fmt.Sprintf("admit each ref with an exact subject instead: set every component of the sub (%s and %s), one credential per ref",
		option.Ref(policy.OptRef), option.Ref(policy.OptRefType))
	p := flexiblePlatform(spec.Issuer)
	if p == nil {
		return c, []policy.Warning{{ID: "flexible-credential-issuer", Message: fmt.Sprintf("%s needs a flexible federated identity credential, and %s, so it would refuse one; no credential written: %s", sub, noFlexible(spec.Issuer), exact)}}, false
	}
	for _, t := range terms {
		if !p.supports(t) {
			return c, []policy.Warning{{ID: "flexible-credential-claim", Message: p.unsupported(t, spec.Issuer) + "; no credential written: " + exact}}, false
		}
	}
	if claim, why := p.missing(terms); claim != "" {
		msg := fmt.Sprintf("%s needs a flexible federated identity credential, and %s; no credential written: ", sub, why)
		switch {
		case claim == "project_id" && spec.Group != "":
			msg += fmt.Sprintf("no one credential can pin the ids of a group's many projects, so create one per project (%s PATH %s ID)",
				option.Ref(policy.OptProject), option.Ref(policy.OptProjectID))
		case claim == "project_id":
			msg += "pass " + option.Ref(policy.OptProjectID) + " (the number on the project's overview page), or " + exact
		default:
			msg += exact
		}
		return c, []policy.Warning{{ID: "flexible-credential-" + strings.ReplaceAll(claim, "_", "-"), Message: msg}}, false
	}
	var v []string
	for _, t := range terms {
		v = append(v, t.String())
	}
	c.ClaimsMatchingExpression = &expression{Value: strings.Join(v, " and "), LanguageVersion: 1}
	return c, nil, true
}

func (provider) Generate(spec policy.Spec, format string) ([]policy.Document, []policy.Warning, error) {
	if err := spec.Validate(); err != nil {
		return nil, nil, err
	}
	if format != "json" && format != "terraform" {
		f := option.Ref(policy.OptFormat)
		return nil, nil, option.Errorf("format %q: azure writes json or terraform; pass %s json or %s terraform", format, f, f)
	}
	w := append(spec.Warnings(), warnings(spec)...)
	c, cw, ok := newCredential(spec)
	w = append(w, cw...)
	switch {
	case !ok:
		return nil, w, nil
	case c.ClaimsMatchingExpression != nil:
		w = append(w, policy.Warning{ID: "flexible-credential-preview", Message: "a wildcard needs a flexible federated identity credential (claimsMatchingExpression), which is in preview: Microsoft Graph beta or Azure Resource Manager " + armAPIVersion + " create it, and az ad app federated-credential neither creates nor lists it; an exact subject per ref works everywhere"})
	}
	if format == "terraform" {
		return []policy.Document{{Name: "main.tf", Format: "terraform", Body: terraform(c)}}, w, nil
	}
	body, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return nil, nil, err
	}
	return []policy.Document{
		{Name: "credential.json", Format: "json", Body: string(body) + "\n"},
		{Name: "create.sh", Format: "shell", Body: createScript(c)},
	}, w, nil
}

// otherAudiences are other services' audiences: a token minted for one of
// them should not also open Entra.
var otherAudiences = []string{"sts.amazonaws.com", "//iam.googleapis.com/", "https://iam.googleapis.com/"}

func warnings(spec policy.Spec) []policy.Warning {
	var w []policy.Warning
	comps := spec.Components()
	aud := audience(spec)
	shared := strings.Contains(strings.ToLower(aud), "vault")
	for _, other := range otherAudiences {
		shared = shared || strings.HasPrefix(aud, other)
	}
	switch {
	case shared:
		w = append(w, policy.Warning{ID: "shared-audience", Message: fmt.Sprintf("audience %q belongs to another service: a token minted for that service would also sign in as this app, so whoever receives one holds both; give Entra its own id_tokens: entry with aud %s", aud, DefaultAudience)})
	case aud != DefaultAudience:
		w = append(w, policy.Warning{ID: "nondefault-audience", Message: fmt.Sprintf("audience %q: Microsoft's documentation gives %s for every federated credential; keep a custom one only if the app expects it", aud, DefaultAudience)})
	}
	if spec.Environment != "" {
		msg := fmt.Sprintf("Entra matches a GitLab token by issuer, audience and sub (and project_id, in a flexible credential), and GitLab's sub never names the environment: %q is not pinned. ", spec.Environment)
		if slices.Contains(comps, "deployment_tier") || slices.Contains(comps, "environment_protected") {
			msg += "The sub's deployment_tier and environment_protected are * here: set them in the subject (e.g. deployment_tier:production, environment_protected:true) and protect the environment"
		} else {
			msg += "Protect the environment, add deployment_tier and environment_protected to the project's ci_id_token_sub_claim_components (Projects API), pass the same " + option.Ref(policy.OptSubComponents) + ", and set those components in the subject (e.g. environment_protected:true)"
		}
		w = append(w, policy.Warning{ID: "environment-not-pinned", Message: msg})
	}
	if spec.ProtectedOnly && !slices.Contains(comps, "ref_protected") {
		w = append(w, policy.Warning{ID: "protection-not-pinned", Message: "GitLab's default sub does not say whether the ref is protected, so Entra cannot require it: add ref_protected to the project's ci_id_token_sub_claim_components (Projects API) and pass " + option.Ref(policy.OptSubComponents) + " project_path,ref_type,ref,ref_protected"})
	}
	return w
}

func createScript(c credential) string {
	var b strings.Builder
	b.WriteString("# " + c.Description + "\n")
	if c.ClaimsMatchingExpression != nil {
		arm, _ := json.Marshal(map[string]any{"properties": map[string]any{
			"issuer": c.Issuer, "audiences": c.Audiences, "claimsMatchingExpression": c.ClaimsMatchingExpression,
		}})
		b.WriteString("# A flexible credential (preview): az ad app federated-credential cannot create it.\n")
		b.WriteString("# On the app registration (APP_OBJECT_ID: its object id), through Microsoft Graph beta:\n")
		b.WriteString("az rest --method POST --uri \"https://graph.microsoft.com/beta/applications/APP_OBJECT_ID/federatedIdentityCredentials\" \\\n")
		b.WriteString("  --headers \"Content-Type=application/json\" --body @credential.json\n\n")
		b.WriteString("# Or on a user-assigned managed identity, through Azure Resource Manager:\n")
		fmt.Fprintf(&b, "az rest --method PUT --uri \"https://management.azure.com/subscriptions/SUBSCRIPTION_ID/resourceGroups/RESOURCE_GROUP/providers/Microsoft.ManagedIdentity/userAssignedIdentities/IDENTITY/federatedIdentityCredentials/%s?api-version=%s\" \\\n", c.Name, armAPIVersion)
		fmt.Fprintf(&b, "  --headers \"Content-Type=application/json\" --body %s\n", shellQuote(string(arm)))
		return b.String()
	}
	b.WriteString("# On the app registration (APP_ID: its application id):\n")
	b.WriteString("az ad app federated-credential create --id APP_ID --parameters credential.json\n\n")
	b.WriteString("# Or on a user-assigned managed identity:\n")
	fmt.Fprintf(&b, "az identity federated-credential create --name %s --identity-name IDENTITY --resource-group RESOURCE_GROUP \\\n  --issuer %s --subject %s --audiences %s\n", c.Name, shellQuote(c.Issuer), shellQuote(c.Subject), shellQuote(c.Audiences[0]))
	return b.String()
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func terraform(c credential) string {
	var b strings.Builder
	b.WriteString("# " + c.Description + "\n")
	if c.ClaimsMatchingExpression != nil {
		// https://registry.terraform.io/providers/hashicorp/azuread/latest/docs/resources/application_flexible_federated_identity_credential
		b.WriteString("# A flexible credential (preview): azuread 3.7 or later.\n")
		b.WriteString("resource \"azuread_application_flexible_federated_identity_credential\" \"gitlab\" {\n")
		b.WriteString("  application_id             = \"/applications/APP_OBJECT_ID\"\n")
		fmt.Fprintf(&b, "  display_name               = %q\n  description                = %q\n  audience                   = %q\n  issuer                     = %q\n  claims_matching_expression = %q\n}\n\n",
			c.Name, c.Description, c.Audiences[0], c.Issuer, c.ClaimsMatchingExpression.Value)
		b.WriteString("# Or on a user-assigned managed identity (azurerm has no claims_matching_expression; azapi does):\n")
		b.WriteString("# resource \"azapi_resource\" \"gitlab\" {\n")
		fmt.Fprintf(&b, "#   type      = \"Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials@%s\"\n", armAPIVersion)
		fmt.Fprintf(&b, "#   name      = %q\n#   parent_id = azurerm_user_assigned_identity.IDENTITY.id\n", c.Name)
		fmt.Fprintf(&b, "#   body = {\n#     properties = {\n#       issuer    = %q\n#       audiences = [%q]\n#       claimsMatchingExpression = {\n#         value           = %q\n#         languageVersion = 1\n#       }\n#     }\n#   }\n# }\n",
			c.Issuer, c.Audiences[0], c.ClaimsMatchingExpression.Value)
		return b.String()
	}
	b.WriteString("resource \"azuread_application_federated_identity_credential\" \"gitlab\" {\n")
	b.WriteString("  application_id = \"/applications/APP_OBJECT_ID\"\n")
	fmt.Fprintf(&b, "  display_name   = %q\n  description    = %q\n  audiences      = [%q]\n  issuer         = %q\n  subject        = %q\n}\n\n", c.Name, c.Description, c.Audiences[0], c.Issuer, c.Subject)
	b.WriteString("# Or on a user-assigned managed identity:\n")
	b.WriteString("# resource \"azurerm_federated_identity_credential\" \"gitlab\" {\n")
	fmt.Fprintf(&b, "#   name                = %q\n#   resource_group_name = \"RESOURCE_GROUP\"\n#   parent_id           = azurerm_user_assigned_identity.IDENTITY.id\n#   audience            = [%q]\n#   issuer              = %q\n#   subject             = %q\n# }\n", c.Name, c.Audiences[0], c.Issuer, c.Subject)
	return b.String()
}
