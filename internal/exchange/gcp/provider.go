package gcp

import (
	"fmt"
	"strings"

	"gitlab.com/keyless-ci/keyless/internal/exchange"
	"gitlab.com/keyless-ci/keyless/internal/lazyre"
	"gitlab.com/keyless-ci/keyless/internal/option"
)

// Provider is a workload identity pool provider, named by its resource name
// projects/NUMBER/locations/global/workloadIdentityPools/POOL/providers/ID.
// https://cloud.google.com/iam/docs/reference/rest/v1/projects.locations.workloadIdentityPools.providers
type Provider struct {
	ProjectNumber string
	Pool          string
	ID            string
}

// iamHost is the host of IAM resource names. Audiences and principal
// identifiers use it in every universe.
const iamHost = "iam.googleapis.com"

// Pool and provider ids: 4 to 32 lowercase letters, digits and hyphens.
var resourceID = lazyre.New(`^[a-z0-9-]{4,32}$`)

// Example is a provider name for messages.
const Example = "projects/123456789012/locations/global/workloadIdentityPools/gitlab/providers/gitlab-com"

// ParseProvider validates a provider's resource name. The audience form
// (//iam.googleapis.com/projects/...), which people copy from the console,
// is accepted too.
func ParseProvider(s string) (Provider, error) {
	name := strings.TrimSpace(s)
	for _, prefix := range []string{"//" + iamHost + "/", "https://" + iamHost + "/"} {
		name = strings.TrimPrefix(name, prefix)
	}
	parts := strings.Split(name, "/")
	if len(parts) == 6 && parts[0] == "projects" && parts[4] == "workloadIdentityPools" {
		return Provider{}, fmt.Errorf("%q names a workload identity pool, not a provider: append /providers/PROVIDER_ID (gcloud iam workload-identity-pools providers list --workload-identity-pool=%s --location=global)", s, parts[5])
	}
	if len(parts) != 8 || parts[0] != "projects" || parts[2] != "locations" || parts[4] != "workloadIdentityPools" || parts[6] != "providers" {
		return Provider{}, fmt.Errorf("%q is not a workload identity pool provider; its name looks like %s", s, Example)
	}
	p := Provider{ProjectNumber: parts[1], Pool: parts[5], ID: parts[7]}
	if p.ProjectNumber == "" || strings.Trim(p.ProjectNumber, "0123456789") != "" {
		return Provider{}, fmt.Errorf("%q names the project %q; workload identity federation needs the project number, not its id (gcloud projects describe %s --format='value(projectNumber)')", s, p.ProjectNumber, p.ProjectNumber)
	}
	if parts[3] != "global" {
		return Provider{}, fmt.Errorf("%q is in location %q; workload identity pools are global: use locations/global", s, parts[3])
	}
	if !resourceID().MatchString(p.Pool) {
		return Provider{}, fmt.Errorf("%q names the pool %q; pool ids are 4 to 32 lowercase letters, digits or hyphens", s, p.Pool)
	}
	if !resourceID().MatchString(p.ID) {
		return Provider{}, fmt.Errorf("%q names the provider %q; provider ids are 4 to 32 lowercase letters, digits or hyphens", s, p.ID)
	}
	return p, nil
}

// Name is the provider's resource name.
func (p Provider) Name() string {
	return fmt.Sprintf("projects/%s/locations/global/workloadIdentityPools/%s/providers/%s", p.ProjectNumber, p.Pool, p.ID)
}

// Audience is the STS audience, and the ID token's audience that a provider
// with no allowed audiences accepts (the https: form is accepted too).
func (p Provider) Audience() string { return "//" + iamHost + "/" + p.Name() }

// AudienceHTTPS is the other form of the default audience Google accepts.
func (p Provider) AudienceHTTPS() string { return "https://" + iamHost + "/" + p.Name() }

// Masked is the name with the project number masked to its last four
// digits, for logs and messages.
func (p Provider) Masked() string {
	return fmt.Sprintf("projects/%s/locations/global/workloadIdentityPools/%s/providers/%s", exchange.MaskID(p.ProjectNumber), p.Pool, p.ID)
}

// poolPrincipal is the prefix of the pool's principal identifiers, with the
// project number left as a placeholder (it is masked in messages).
func (p Provider) poolPrincipal(kind string) string {
	return fmt.Sprintf("%s://%s/projects/PROJECT_NUMBER/locations/global/workloadIdentityPools/%s", kind, iamHost, p.Pool)
}

// audienceTemplate is the audience with the project number left as a
// placeholder, for messages.
func (p Provider) audienceTemplate() string {
	return fmt.Sprintf("//%s/projects/PROJECT_NUMBER/locations/global/workloadIdentityPools/%s/providers/%s", iamHost, p.Pool, p.ID)
}

// PrincipalSubject is the principal of one mapped google.subject.
// https://cloud.google.com/iam/docs/principal-identifiers
func (p Provider) PrincipalSubject(subject string) string {
	return p.poolPrincipal("principal") + "/subject/" + subject
}

// PrincipalSetAttribute is the principal set of every identity whose mapped
// attribute.NAME has value.
func (p Provider) PrincipalSetAttribute(name, value string) string {
	return p.poolPrincipal("principalSet") + "/attribute." + name + "/" + value
}

var projectNumber = lazyre.New(`projects/(\d{5,})`)

// maskProjectNumbers masks every projects/NUMBER in s.
func maskProjectNumbers(s string) string {
	return projectNumber().ReplaceAllStringFunc(s, func(m string) string {
		return "projects/" + exchange.MaskID(strings.TrimPrefix(m, "projects/"))
	})
}

// checkServiceAccount accepts a service account's email or unique id, the
// forms generateAccessToken takes in projects/-/serviceAccounts/{ID}.
func checkServiceAccount(opt option.Name, s string) error {
	if s != "" && strings.Trim(s, "0123456789") == "" {
		return nil // unique id
	}
	at := strings.LastIndexByte(s, '@')
	if at <= 0 || !strings.Contains(s[at+1:], ".") || strings.ContainsAny(s, "/ :") {
		return option.Errorf("%s %q is not a service account; use its email, e.g. deploy@my-project.iam.gserviceaccount.com", option.Ref(opt), s)
	}
	return nil
}
