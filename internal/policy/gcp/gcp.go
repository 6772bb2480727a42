// Package gcp generates the Google Cloud workload identity pool provider
// that trusts GitLab CI/CD ID tokens, and evaluates a provider's attribute
// mapping and attribute condition against a token's claims with cel-go,
// the implementation of the language Google evaluates them in.
//
// Explain reads a provider as
//
//	gcloud iam workload-identity-pools providers describe PROVIDER \
//	  --location global --workload-identity-pool POOL --format json
//
// prints it (name, state, disabled, attributeMapping, attributeCondition,
// oidc.issuerUri, oidc.allowedAudiences). One top-level key is keyless's
// own: "members", the IAM binding members to check as well, e.g.
//
//	"members": ["principalSet://iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/gitlab/attribute.project_id/42"]
//
// copied from the bindings[].members of roles/iam.workloadIdentityUser in
// gcloud iam service-accounts get-iam-policy SA --format json. Generate's
// json format writes the same shape, members included.
package gcp

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"gitlab.com/keyless-ci/keyless/internal/option"
	"gitlab.com/keyless-ci/keyless/internal/policy"
)

type provider struct{}

// New returns Google Cloud's trust provider.
func New() policy.Provider { return provider{} }

// OwnsAudience recognises the audience this cloud's jobs ask for.
func (provider) OwnsAudience(aud string) bool {
	return strings.Contains(aud, iamHost+"/projects/")
}

// OptProviderFile is the option that gives Explain the workload identity
// pool provider (package option).
const OptProviderFile option.Name = "provider-file"

func (provider) Name() string          { return "gcp" }
func (provider) Formats() []string     { return []string{"gcloud", "terraform", "json"} }
func (provider) Document() option.Name { return OptProviderFile }

// The placeholders a user replaces, and the pool and provider ids
// GitLab's guide suggests.
const (
	projectNumber = "PROJECT_NUMBER"
	poolID        = "gitlab"
	providerID    = "gitlab"
	iamHost       = "iam.googleapis.com"
)

// maxSubject is the longest google.subject Google accepts, in bytes;
// a longer one fails the exchange with "The size of mapped attribute
// exceeds the 127 bytes limit" (gitlab-org/gitlab!114147):
// https://cloud.google.com/iam/docs/reference/rest/v1/projects.locations.workloadIdentityPools.providers
const maxSubject = 127

// providerDoc is a workload identity pool provider as the IAM API and
// `gcloud ... providers describe --format json` show it:
// https://cloud.google.com/iam/docs/reference/rest/v1/projects.locations.workloadIdentityPools.providers
// Members is keyless's own (see the package doc).
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

func poolName() string {
	return "projects/" + projectNumber + "/locations/global/workloadIdentityPools/" + poolID
}

func resourceName() string { return poolName() + "/providers/" + providerID }

// defaultAudience is the aud a provider without allowedAudiences accepts
// (its full resource name; Google takes it with or without https:):
// https://cloud.google.com/iam/docs/reference/rest/v1/projects.locations.workloadIdentityPools.providers#oidc
func defaultAudience(name string) string { return "https://" + iamHost + "/" + name }

// mappedClaims are the claims the generated mapping exposes to IAM
// bindings: the ones GitLab's and Google's guides map, each present in
// every GitLab ID token, so that no mapping fails for want of a claim:
// https://docs.gitlab.com/ci/secrets/id_token_authentication/#token-payload
var mappedClaims = []string{"project_id", "project_path", "namespace_id", "namespace_path", "ref", "ref_type", "ref_protected", "user_login"}

// mapping is google.subject=assertion.sub, as both guides use, plus the
// mapped claims, and environment when the spec pins one (GitLab sets it
// only for jobs with an environment).
func mapping(spec policy.Spec) map[string]string {
	m := map[string]string{"google.subject": "assertion.sub"}
	for _, c := range mappedClaims {
		m["attribute."+c] = "assertion." + c
	}
	if spec.Environment != "" {
		m["attribute.environment"] = "assertion.environment"
	}
	return m
}

// condition is the CEL attribute condition for spec. Google requires one
// for a provider of a shared issuer such as gitlab.com, pinning the group
// by its numeric id (assertion.namespace_id=='GROUP_ID'):
// https://cloud.google.com/iam/docs/workload-identity-federation-with-deployment-pipelines#mappings-and-conditions
// GitLab writes ids and booleans as strings, so every comparison is with
// a string.
func condition(spec policy.Spec) string {
	var parts []string
	switch {
	case spec.Group != "" && spec.NamespaceID != "":
		parts = append(parts, "assertion.namespace_id == "+strconv.Quote(spec.NamespaceID))
	case spec.Group != "":
		// The slash keeps acme-evil/web out of acme's projects.
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
		parts = append(parts, refTest(spec.Ref))
	}
	if spec.ProtectedOnly {
		parts = append(parts, `assertion.ref_protected == "true"`)
	}
	if spec.Environment != "" {
		parts = append(parts, "assertion.environment == "+strconv.Quote(spec.Environment))
	}
	return strings.Join(parts, " && ")
}

// refTest compares ref exactly, by prefix for release-*, or with an
// anchored RE2 pattern (CEL's matches() is unanchored) for other globs.
func refTest(ref string) string {
	i := strings.Index(ref, "*")
	switch {
	case i < 0:
		return "assertion.ref == " + strconv.Quote(ref)
	case i == len(ref)-1:
		return "assertion.ref.startsWith(" + strconv.Quote(ref[:i]) + ")"
	}
	parts := strings.Split(ref, "*")
	for i, p := range parts {
		parts[i] = regexp.QuoteMeta(p)
	}
	return "assertion.ref.matches(" + strconv.Quote("^"+strings.Join(parts, ".*")+"$") + ")"
}

// member is the principal set the service account binding names: the
// project or group by id when known, since a path can be re-registered.
func member(spec policy.Spec) string {
	base := "principalSet://" + iamHost + "/" + poolName()
	switch {
	case spec.ProjectID != "":
		return base + "/attribute.project_id/" + spec.ProjectID
	case spec.ProjectPath != "":
		return base + "/attribute.project_path/" + spec.ProjectPath
	case spec.NamespaceID != "":
		return base + "/attribute.namespace_id/" + spec.NamespaceID
	}
	// A path prefix is no principal set; the condition keeps other
	// groups' tokens out of the pool.
	return base + "/*"
}

// directMember is the principal for granting roles on resources directly
// (no service account): the one job identity when the subject holds no
// wildcard, else the principal set.
func directMember(spec policy.Spec) string {
	if sub, wild := spec.Subject(); !wild && len(sub) <= maxSubject {
		return "principal://" + iamHost + "/" + poolName() + "/subject/" + sub
	}
	return member(spec)
}

func newProviderDoc(spec policy.Spec) providerDoc {
	var d providerDoc
	d.Name = resourceName()
	// Google caps display names at 32 characters.
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
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false) // keep && readable
		enc.SetIndent("", "  ")
		if err := enc.Encode(d); err != nil {
			return nil, nil, fmt.Errorf("encode provider: %w", err)
		}
		return []policy.Document{{Name: "provider.json", Format: "json", Body: b.String()}}, w, nil
	}
	return nil, nil, fmt.Errorf("format %q: gcp writes gcloud, terraform or json", format)
}

func warnings(spec policy.Spec) []policy.Warning {
	var w []policy.Warning
	switch {
	case spec.ProjectPath != "" && spec.ProjectID == "":
		w = append(w, policy.Warning{ID: "path-not-id", Message: "the condition pins the project by path: after a rename or deletion another project can take the path. Pass " + option.Ref(policy.OptProjectID) + " (Google advises the numeric ids)"})
	case spec.Group != "" && spec.NamespaceID == "":
		w = append(w, policy.Warning{ID: "path-not-id", Message: "the condition pins the group by path prefix: after a rename or deletion another group can take the path. Pass " + option.Ref(policy.OptNamespaceID) + " (Google advises the numeric ids)"})
	case spec.Group != "":
		w = append(w, policy.Warning{ID: "namespace-direct-only", Message: fmt.Sprintf("namespace_id is a project's direct parent: projects in subgroups of %s carry their subgroup's id, and this condition refuses them", spec.Group)})
	}
	if sub, wild := spec.Subject(); len(sub) > maxSubject {
		size := fmt.Sprintf("%d bytes", len(sub))
		if wild {
			size = "at least " + size
		}
		w = append(w, policy.Warning{ID: "subject-too-long", Message: fmt.Sprintf("google.subject=assertion.sub would be %s for these jobs, over Google's %d: map google.subject to something shorter, e.g. assertion.project_id + \":\" + assertion.ref_type + \":\" + assertion.ref", size, maxSubject)})
	}
	for _, other := range []string{"sts.amazonaws.com", "api://AzureADTokenExchange"} {
		if spec.Audience == other {
			w = append(w, policy.Warning{ID: "shared-audience", Message: fmt.Sprintf("audience %q is another cloud's: a token for one is good for both. Leave %s out for the provider's own name", other, option.Ref(policy.OptAudience))})
		}
	}
	return w
}

// mappingKeys orders a mapping google.subject first, then by name.
func mappingKeys(m map[string]string) []string {
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
	return keys
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// audienceComment says which aud the jobs' id_tokens: entry must ask for.
func audienceComment(d providerDoc) string {
	if len(d.OIDC.AllowedAudiences) > 0 {
		return "The jobs' id_tokens: aud must be " + d.OIDC.AllowedAudiences[0] + "."
	}
	return "No allowed audiences: the jobs' id_tokens: aud must be the provider's name, " + defaultAudience(d.Name) + "."
}

func gcloud(spec policy.Spec, d providerDoc) string {
	var b strings.Builder
	sub, _ := spec.Subject()
	fmt.Fprintf(&b, "# Workload identity federation for GitLab CI/CD jobs like sub %s (keyless policy gcp).\n", sub)
	b.WriteString("# Replace PROJECT_ID, PROJECT_NUMBER and SERVICE_ACCOUNT_EMAIL.\n")
	fmt.Fprintf(&b, "gcloud iam workload-identity-pools create %s --project=PROJECT_ID --location=global --display-name=GitLab\n\n", poolID)
	fmt.Fprintf(&b, "# %s\n", audienceComment(d))
	fmt.Fprintf(&b, "gcloud iam workload-identity-pools providers create-oidc %s --project=PROJECT_ID --location=global \\\n  --workload-identity-pool=%s \\\n  --issuer-uri=%s \\\n", providerID, poolID, shellQuote(d.OIDC.IssuerURI))
	if len(d.OIDC.AllowedAudiences) > 0 {
		fmt.Fprintf(&b, "  --allowed-audiences=%s \\\n", shellQuote(strings.Join(d.OIDC.AllowedAudiences, ",")))
	}
	var m []string
	for _, k := range mappingKeys(d.AttributeMapping) {
		m = append(m, k+"="+d.AttributeMapping[k])
	}
	fmt.Fprintf(&b, "  --attribute-mapping=%s \\\n  --attribute-condition=%s\n\n", shellQuote(strings.Join(m, ",")), shellQuote(d.AttributeCondition))
	b.WriteString("# Let the jobs impersonate the service account.\n")
	fmt.Fprintf(&b, "gcloud iam service-accounts add-iam-policy-binding SERVICE_ACCOUNT_EMAIL \\\n  --role=roles/iam.workloadIdentityUser \\\n  --member=%s\n", shellQuote(d.Members[0]))
	b.WriteString("# Or, with no service account (direct resource access), grant roles to the jobs themselves:\n")
	fmt.Fprintf(&b, "#   gcloud projects add-iam-policy-binding PROJECT_ID --role=ROLE --member=%s\n", shellQuote(directMember(spec)))
	return b.String()
}

// hclString quotes s for HCL: Go's quoting, plus escapes for the ${ and
// %{ template sequences HCL would otherwise interpolate.
func hclString(s string) string {
	q := strconv.Quote(s)
	q = strings.ReplaceAll(q, "${", "$${")
	return strings.ReplaceAll(q, "%{", "%%{")
}

func terraform(spec policy.Spec, d providerDoc) string {
	var b strings.Builder
	sub, _ := spec.Subject()
	fmt.Fprintf(&b, "# Workload identity federation for GitLab CI/CD jobs like sub %s (keyless policy gcp).\n", sub)
	b.WriteString("# Replace PROJECT_ID and SERVICE_ACCOUNT_EMAIL.\n\n")
	fmt.Fprintf(&b, "resource \"google_iam_workload_identity_pool\" \"gitlab\" {\n  workload_identity_pool_id = %s\n  display_name              = \"GitLab\"\n}\n\n", hclString(poolID))
	if len(d.OIDC.AllowedAudiences) > 0 {
		fmt.Fprintf(&b, "# %s\n", audienceComment(d))
	} else {
		b.WriteString("# No allowed audiences: the jobs' id_tokens: aud must be the provider's name (output gitlab_audience).\n")
	}
	fmt.Fprintf(&b, "resource \"google_iam_workload_identity_pool_provider\" \"gitlab\" {\n  workload_identity_pool_id          = google_iam_workload_identity_pool.gitlab.workload_identity_pool_id\n  workload_identity_pool_provider_id = %s\n  display_name                       = %s\n", hclString(providerID), hclString(d.DisplayName))
	b.WriteString("  attribute_mapping = {\n")
	keys := mappingKeys(d.AttributeMapping)
	width := 0
	for _, k := range keys {
		width = max(width, len(hclString(k)))
	}
	for _, k := range keys {
		fmt.Fprintf(&b, "    %-*s = %s\n", width, hclString(k), hclString(d.AttributeMapping[k]))
	}
	b.WriteString("  }\n")
	fmt.Fprintf(&b, "  attribute_condition = %s\n", hclString(d.AttributeCondition))
	if len(d.OIDC.AllowedAudiences) > 0 {
		q := make([]string, len(d.OIDC.AllowedAudiences))
		for i, a := range d.OIDC.AllowedAudiences {
			q[i] = hclString(a)
		}
		fmt.Fprintf(&b, "  oidc {\n    issuer_uri        = %s\n    allowed_audiences = [%s]\n", hclString(d.OIDC.IssuerURI), strings.Join(q, ", "))
	} else {
		fmt.Fprintf(&b, "  oidc {\n    issuer_uri = %s\n", hclString(d.OIDC.IssuerURI))
	}
	b.WriteString("  }\n}\n\n")
	pool := "${google_iam_workload_identity_pool.gitlab.name}"
	m := strings.Replace(hclString(d.Members[0]), poolName(), pool, 1)
	fmt.Fprintf(&b, "resource \"google_service_account_iam_member\" \"gitlab\" {\n  service_account_id = \"projects/PROJECT_ID/serviceAccounts/SERVICE_ACCOUNT_EMAIL\"\n  role               = \"roles/iam.workloadIdentityUser\"\n  member             = %s\n}\n", m)
	if len(d.OIDC.AllowedAudiences) == 0 {
		b.WriteString("\noutput \"gitlab_audience\" {\n  value = \"https://" + iamHost + "/${google_iam_workload_identity_pool_provider.gitlab.name}\"\n}\n")
	}
	return b.String()
}
