// Package azure generates the Microsoft Entra federated identity
// credential that lets GitLab CI/CD jobs exchange their ID token for an
// Entra token, and evaluates credentials against a token's claims as Entra
// matches them.
package azure

import (
	"encoding/json"
	"fmt"
	"strings"

	"gitlab.com/keyless-ci/keyless/internal/policy"
)

// DefaultAudience is the audience Microsoft recommends for federated
// identity credentials.
const DefaultAudience = "api://AzureADTokenExchange"

type provider struct{}

// New returns Azure's trust provider.
func New() policy.Provider { return provider{} }

func (provider) Name() string         { return "azure" }
func (provider) Formats() []string    { return []string{"json", "terraform"} }
func (provider) DocumentFlag() string { return "federated-credential" }

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

// credentialName is a valid name (3 to 120 characters of letters,
// digits, - and _) derived from the spec.
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

func newCredential(spec policy.Spec) credential {
	sub, wildcard := spec.Subject()
	c := credential{
		Name:        credentialName(spec),
		Issuer:      spec.Issuer,
		Audiences:   []string{audience(spec)},
		Description: "GitLab CI/CD jobs with sub " + sub + " (keyless policy azure)",
	}
	if wildcard {
		// A flexible federated identity credential: Entra matches sub
		// against the pattern.
		c.ClaimsMatchingExpression = &expression{Value: "claims['sub'] matches '" + sub + "'", LanguageVersion: 1}
	} else {
		c.Subject = sub
	}
	return c
}

func (provider) Generate(spec policy.Spec, format string) ([]policy.Document, []policy.Warning, error) {
	if err := spec.Validate(); err != nil {
		return nil, nil, err
	}
	w := append(spec.Warnings(), warnings(spec)...)
	c := newCredential(spec)
	body, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return nil, nil, err
	}
	switch format {
	case "json":
		return []policy.Document{
			{Name: "credential.json", Format: "json", Body: string(body) + "\n"},
			{Name: "create.sh", Format: "shell", Body: createScript(c)},
		}, w, nil
	case "terraform":
		return []policy.Document{{Name: "main.tf", Format: "terraform", Body: terraform(c)}}, w, nil
	}
	return nil, nil, fmt.Errorf("format %q: azure writes json or terraform", format)
}

func warnings(spec policy.Spec) []policy.Warning {
	var w []policy.Warning
	comps := spec.Components()
	if spec.Environment != "" {
		w = append(w, policy.Warning{ID: "environment-not-pinned", Message: fmt.Sprintf("Entra matches issuer, subject and audience, and GitLab's sub does not name the environment: %q is not pinned. Protect the environment and add environment_protected or deployment_tier to ci_id_token_sub_claim_components (--sub-components)", spec.Environment)})
	}
	if spec.ProtectedOnly && !contains(comps, "ref_protected") {
		w = append(w, policy.Warning{ID: "protection-not-pinned", Message: "the default sub does not say whether the ref is protected: add ref_protected to the project's ci_id_token_sub_claim_components and pass --sub-components project_path,ref_type,ref,ref_protected"})
	}
	if _, wildcard := spec.Subject(); wildcard {
		w = append(w, policy.Warning{ID: "flexible-credential", Message: "a wildcard needs a flexible federated identity credential (claimsMatchingExpression), which Entra supports on app registrations and user-assigned managed identities through Microsoft Graph (beta) and the portal; an exact subject per ref works everywhere"})
	}
	for _, other := range []string{"sts.amazonaws.com", "//iam.googleapis.com/", "https://iam.googleapis.com/"} {
		if strings.HasPrefix(audience(spec), other) {
			w = append(w, policy.Warning{ID: "shared-audience", Message: fmt.Sprintf("audience %q is another cloud's: a token minted for it would also be accepted by Entra; use %s", audience(spec), DefaultAudience)})
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

func createScript(c credential) string {
	var b strings.Builder
	b.WriteString("# " + c.Description + "\n")
	if c.ClaimsMatchingExpression != nil {
		b.WriteString("# A flexible credential: Microsoft Graph (beta) creates it on the app registration.\n")
		b.WriteString("az rest --method POST --uri \"https://graph.microsoft.com/beta/applications/APP_OBJECT_ID/federatedIdentityCredentials\" --body @credential.json\n")
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
		b.WriteString("# The azuread provider has no flexible credentials yet: create credential.json with\n# keyless policy azure --format json and az rest (see its create.sh).\n")
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
