// Package gcp generates the Google Cloud workload identity pool provider
// that trusts GitLab CI/CD ID tokens, and evaluates a provider's attribute
// mapping and attribute condition against a token's claims with cel-go,
// the implementation of the language Google evaluates them in.
package gcp

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"gitlab.com/keyless-ci/keyless/internal/policy"
)

type provider struct{}

// New returns Google Cloud's trust provider.
func New() policy.Provider { return provider{} }

func (provider) Name() string         { return "gcp" }
func (provider) Formats() []string    { return []string{"gcloud", "terraform", "json"} }
func (provider) DocumentFlag() string { return "provider-file" }

// The placeholders a user replaces.
const (
	projectNumber = "PROJECT_NUMBER"
	poolID        = "gitlab"
	providerID    = "gitlab"
)

// maxSubject is the longest google.subject Google accepts, in bytes:
// https://cloud.google.com/iam/docs/workload-identity-federation#mapping
const maxSubject = 127

// providerDoc is a workload identity pool provider as the IAM API and
// `gcloud iam workload-identity-pools providers describe --format json`
// show it:
// https://cloud.google.com/iam/docs/reference/rest/v1/projects.locations.workloadIdentityPools.providers
// Members is keyless's own: the IAM binding members to check too.
type providerDoc struct {
	Name               string            `json:"name"`
	DisplayName        string            `json:"displayName,omitempty"`
	State              string            `json:"state,omitempty"`
	Disabled           bool              `json:"disabled,omitempty"`
	AttributeMapping   map[string]string `json:"attributeMapping"`
	AttributeCondition string            `json:"attributeCondition"`
	OIDC               struct {
		IssuerURI        string   `json:"issuerUri"`
		AllowedAudiences []string `json:"allowedAudiences,omitempty"`
	} `json:"oidc"`
	Members []string `json:"members,omitempty"`
}

func resourceName() string {
	return "projects/" + projectNumber + "/locations/global/workloadIdentityPools/" + poolID + "/providers/" + providerID
}

// mapping is the attribute mapping GitLab's and Google's guides use, with
// only claims every GitLab token has (a mapping of a missing claim fails
// the exchange), and environment when the spec pins one.
func mapping(spec policy.Spec) map[string]string {
	m := map[string]string{"google.subject": "assertion.sub"}
	for _, c := range []string{"project_id", "project_path", "namespace_id", "namespace_path", "ref", "ref_type", "ref_protected"} {
		m["attribute."+c] = "assertion." + c
	}
	if spec.Environment != "" {
		m["attribute.environment"] = "assertion.environment"
	}
	return m
}

// condition is the CEL attribute condition for spec. GitLab writes ids and
// booleans as strings, so every comparison is with a string.
func condition(spec policy.Spec) string {
	var parts []string
	switch {
	case spec.Group != "" && spec.NamespaceID != "":
		parts = append(parts, "assertion.namespace_id == "+strconv.Quote(spec.NamespaceID))
	case spec.Group != "":
		parts = append(parts, "assertion.project_path.startsWith("+strconv.Quote(spec.Group+"/")+")")
	case spec.ProjectID != "":
		parts = append(parts, "assertion.project_id == "+strconv.Quote(spec.ProjectID))
	default:
		parts = append(parts, "assertion.project_path == "+strconv.Quote(spec.ProjectPath))
	}
	if spec.RefType != "" {
		parts = append(parts, "assertion.ref_type == "+strconv.Quote(spec.RefType))
	}
	if spec.Ref != "" {
		if strings.Contains(spec.Ref, "*") {
			parts = append(parts, "assertion.ref.matches("+strconv.Quote(globRegexp(spec.Ref))+")")
		} else {
			parts = append(parts, "assertion.ref == "+strconv.Quote(spec.Ref))
		}
	}
	if spec.ProtectedOnly {
		parts = append(parts, `assertion.ref_protected == "true"`)
	}
	if spec.Environment != "" {
		parts = append(parts, "assertion.environment == "+strconv.Quote(spec.Environment))
	}
	return strings.Join(parts, " && ")
}

// globRegexp turns release-* into an anchored RE2 pattern.
func globRegexp(glob string) string {
	parts := strings.Split(glob, "*")
	for i, p := range parts {
		parts[i] = regexp.QuoteMeta(p)
	}
	return "^" + strings.Join(parts, ".*") + "$"
}

// member is the IAM principal the service account binding names.
func member(spec policy.Spec) string {
	base := "principalSet://iam.googleapis.com/projects/" + projectNumber + "/locations/global/workloadIdentityPools/" + poolID
	switch {
	case spec.ProjectID != "":
		return base + "/attribute.project_id/" + spec.ProjectID
	case spec.ProjectPath != "":
		return base + "/attribute.project_path/" + spec.ProjectPath
	}
	if spec.NamespaceID != "" {
		return base + "/attribute.namespace_id/" + spec.NamespaceID
	}
	// The condition keeps other groups' tokens out of the pool.
	return base + "/*"
}

func newProviderDoc(spec policy.Spec) providerDoc {
	var d providerDoc
	d.Name = resourceName()
	d.DisplayName = "GitLab " + strings.TrimPrefix(spec.Host(), "www.")
	if len(d.DisplayName) > 32 {
		d.DisplayName = d.DisplayName[:32]
	}
	d.AttributeMapping = mapping(spec)
	d.AttributeCondition = condition(spec)
	d.OIDC.IssuerURI = spec.Issuer
	if spec.Audience != "" {
		d.OIDC.AllowedAudiences = []string{spec.Audience}
	}
	d.Members = []string{member(spec)}
	return d
}

func (provider) Generate(spec policy.Spec, format string) ([]policy.Document, []policy.Warning, error) {
	if err := spec.Validate(); err != nil {
		return nil, nil, err
	}
	w := append(spec.Warnings(), warnings(spec)...)
	d := newProviderDoc(spec)
	switch format {
	case "gcloud":
		return []policy.Document{{Name: "create.sh", Format: "shell", Body: gcloud(spec, d)}}, w, nil
	case "terraform":
		return []policy.Document{{Name: "main.tf", Format: "terraform", Body: terraform(spec, d)}}, w, nil
	case "json":
		b, err := json.MarshalIndent(d, "", "  ")
		if err != nil {
			return nil, nil, err
		}
		return []policy.Document{{Name: "provider.json", Format: "json", Body: string(b) + "\n"}}, w, nil
	}
	return nil, nil, fmt.Errorf("format %q: gcp writes gcloud, terraform or json", format)
}

func warnings(spec policy.Spec) []policy.Warning {
	var w []policy.Warning
	switch {
	case spec.ProjectPath != "" && spec.ProjectID == "":
		w = append(w, policy.Warning{ID: "path-not-id", Message: "the condition pins the project by path: after a rename or deletion another project can take the path. Pass --project-id (Google advises pinning numeric ids)"})
	case spec.Group != "" && spec.NamespaceID == "":
		w = append(w, policy.Warning{ID: "path-not-id", Message: "the condition pins the group by path prefix: pass --namespace-id to pin it by id, as Google advises for gitlab.com"})
	case spec.Group != "":
		w = append(w, policy.Warning{ID: "namespace-direct-only", Message: "namespace_id is a project's direct parent: projects in subgroups of the group carry their subgroup's id, and this condition refuses them"})
	}
	sub, _ := spec.Subject()
	if len(sub) > maxSubject {
		w = append(w, policy.Warning{ID: "subject-too-long", Message: fmt.Sprintf("google.subject=assertion.sub would be %d bytes for these jobs, over Google's %d: map google.subject to something shorter, e.g. assertion.project_id + \":\" + assertion.ref", len(sub), maxSubject)})
	}
	for _, other := range []string{"sts.amazonaws.com", "api://AzureADTokenExchange"} {
		if spec.Audience == other {
			w = append(w, policy.Warning{ID: "shared-audience", Message: fmt.Sprintf("audience %q is another cloud's: leave --aud out for the provider's own name", other)})
		}
	}
	return w
}

func sortedMapping(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if (keys[i] == "google.subject") != (keys[j] == "google.subject") {
			return keys[i] == "google.subject"
		}
		return keys[i] < keys[j]
	})
	var parts []string
	for _, k := range keys {
		parts = append(parts, k+"="+m[k])
	}
	return strings.Join(parts, ",")
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func gcloud(spec policy.Spec, d providerDoc) string {
	var b strings.Builder
	sub, _ := spec.Subject()
	fmt.Fprintf(&b, "# Workload identity federation for GitLab CI/CD jobs like sub %s (keyless policy gcp).\n", sub)
	b.WriteString("# Replace PROJECT_ID, PROJECT_NUMBER and SERVICE_ACCOUNT_EMAIL.\n")
	fmt.Fprintf(&b, "gcloud iam workload-identity-pools create %s --project=PROJECT_ID --location=global --display-name=GitLab\n\n", poolID)
	fmt.Fprintf(&b, "gcloud iam workload-identity-pools providers create-oidc %s --project=PROJECT_ID --location=global \\\n  --workload-identity-pool=%s \\\n  --issuer-uri=%s \\\n", providerID, poolID, shellQuote(d.OIDC.IssuerURI))
	if len(d.OIDC.AllowedAudiences) > 0 {
		fmt.Fprintf(&b, "  --allowed-audiences=%s \\\n", shellQuote(strings.Join(d.OIDC.AllowedAudiences, ",")))
	}
	fmt.Fprintf(&b, "  --attribute-mapping=%s \\\n  --attribute-condition=%s\n\n", shellQuote(sortedMapping(d.AttributeMapping)), shellQuote(d.AttributeCondition))
	b.WriteString("# Let the jobs impersonate the service account (or grant roles to the principal set directly).\n")
	fmt.Fprintf(&b, "gcloud iam service-accounts add-iam-policy-binding SERVICE_ACCOUNT_EMAIL \\\n  --role=roles/iam.workloadIdentityUser \\\n  --member=%s\n", shellQuote(d.Members[0]))
	return b.String()
}

func terraform(spec policy.Spec, d providerDoc) string {
	var b strings.Builder
	sub, _ := spec.Subject()
	fmt.Fprintf(&b, "# Workload identity federation for GitLab CI/CD jobs like sub %s (keyless policy gcp).\n\n", sub)
	fmt.Fprintf(&b, "resource \"google_iam_workload_identity_pool\" \"gitlab\" {\n  workload_identity_pool_id = %q\n  display_name              = \"GitLab\"\n}\n\n", poolID)
	fmt.Fprintf(&b, "resource \"google_iam_workload_identity_pool_provider\" \"gitlab\" {\n  workload_identity_pool_id          = google_iam_workload_identity_pool.gitlab.workload_identity_pool_id\n  workload_identity_pool_provider_id = %q\n", providerID)
	b.WriteString("  attribute_mapping = {\n")
	keys := make([]string, 0, len(d.AttributeMapping))
	width := 0
	for k := range d.AttributeMapping {
		keys = append(keys, k)
		width = max(width, len(k)+2)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "    %-*s = %q\n", width, strconv.Quote(k), d.AttributeMapping[k])
	}
	b.WriteString("  }\n")
	fmt.Fprintf(&b, "  attribute_condition = %q\n", d.AttributeCondition)
	fmt.Fprintf(&b, "  oidc {\n    issuer_uri = %q\n", d.OIDC.IssuerURI)
	if len(d.OIDC.AllowedAudiences) > 0 {
		fmt.Fprintf(&b, "    allowed_audiences = [%q]\n", d.OIDC.AllowedAudiences[0])
	}
	b.WriteString("  }\n}\n\n")
	member := strings.Replace(d.Members[0], "projects/"+projectNumber+"/locations/global/workloadIdentityPools/"+poolID, "${google_iam_workload_identity_pool.gitlab.name}", 1)
	fmt.Fprintf(&b, "resource \"google_service_account_iam_member\" \"gitlab\" {\n  service_account_id = \"projects/PROJECT_ID/serviceAccounts/SERVICE_ACCOUNT_EMAIL\"\n  role               = \"roles/iam.workloadIdentityUser\"\n  member             = %q\n}\n", member)
	return b.String()
}
