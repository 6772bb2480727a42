package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"gitlab.com/keyless-ci/keyless/internal/lazyre"
	"gitlab.com/keyless-ci/keyless/internal/pipeline"
)

// defaultComponentVersion is the keyless component version a replacement
// includes when the report's tool version is not a release (a dev build).
const defaultComponentVersion = "1.0.0"

var releaseVersion = lazyre.New(`^v?([0-9]+\.[0-9]+\.[0-9]+)$`)

// replaceContext is what replacements are filled with: the GitLab
// instance and the projects of the report.
type replaceContext struct {
	issuer   string // https://gitlab.example.com, the ID tokens' iss
	host     string // gitlab.example.com, AWS's name for the provider
	version  string // the component version to include
	projects map[string]*Project
}

func newReplaceContext(gitlabURL, toolVersion string, projects []Project) *replaceContext {
	rc := &replaceContext{issuer: strings.TrimSuffix(gitlabURL, "/"), version: defaultComponentVersion, projects: map[string]*Project{}}
	if rc.issuer == "" {
		rc.issuer = "https://gitlab.com"
	}
	if u, err := url.Parse(rc.issuer); err == nil && u.Host != "" {
		rc.host = u.Host + strings.TrimSuffix(u.Path, "/")
	} else {
		rc.host = strings.TrimPrefix(strings.TrimPrefix(rc.issuer, "https://"), "http://")
	}
	if m := releaseVersion().FindStringSubmatch(toolVersion); m != nil {
		rc.version = m[1]
	}
	for i := range projects {
		rc.projects[projects[i].Path] = &projects[i]
	}
	return rc
}

// componentOf is the keyless component that replaces a kind of
// credential, "" when no ID token exchange does.
func componentOf(kind string) string {
	switch kind {
	case KindAWS:
		return "aws"
	case KindGCP:
		return "gcp"
	case KindAzure:
		return "azure"
	case KindVault:
		return "vault"
	}
	return ""
}

// subject is one project's ID token sub claim, for a trust.
type subject struct {
	project string
	ref     string
	sub     string
}

// subjects returns the sub claims of the projects that use c (their
// default branch's pipelines), or of a placeholder project when no job
// was seen using it. The claims follow each project's
// ci_id_token_sub_claim_components, GitLab's default being
// project_path, ref_type, ref
// (https://docs.gitlab.com/ci/secrets/id_token_authentication/#token-payload).
func (rc *replaceContext) subjects(c *Credential) []subject {
	var paths []string
	for _, u := range c.Usage {
		if !slices.Contains(paths, u.Project) {
			paths = append(paths, u.Project)
		}
	}
	if len(paths) == 0 {
		switch c.Level {
		case levelProject:
			paths = []string{c.Owner}
		case levelGroup:
			paths = []string{c.Owner + "/PROJECT"}
		default:
			paths = []string{"GROUP/PROJECT"}
		}
	}
	slices.Sort(paths)
	var out []subject
	for _, path := range paths {
		comps := []string{"project_path", "ref_type", "ref"}
		ref := "main"
		var id int64
		if p := rc.projects[path]; p != nil {
			if len(p.IDTokenSubClaimComponents) > 0 {
				comps = p.IDTokenSubClaimComponents
			}
			if p.DefaultBranch != "" {
				ref = p.DefaultBranch
			}
			id = p.ID
		}
		parts := make([]string, 0, len(comps))
		for _, k := range comps {
			v := strings.ToUpper(k)
			switch k {
			case "project_path":
				v = path
			case "ref_type":
				v = "branch"
			case "ref":
				v = ref
			case "project_id":
				if id != 0 {
					v = strconv.FormatInt(id, 10)
				}
			case "namespace_path":
				if i := strings.LastIndexByte(path, '/'); i > 0 {
					v = path[:i]
				}
			}
			parts = append(parts, k+":"+v)
		}
		out = append(out, subject{project: path, ref: ref, sub: strings.Join(parts, ":")})
	}
	return out
}

// replacement says what replaces c: the component, the YAML to include,
// the cloud-side trust filled with the instance and the projects that use
// it, and the steps that retire the stored credential. The facts come
// from components/<name>/README.md ("Set up" and "Migrate" sections).
func (rc *replaceContext) replacement(c *Credential) Replacement {
	r := Replacement{Component: componentOf(c.Kind)}
	jobs := usageJobs(c)
	where := variableWhere(c)
	if r.Component == "" {
		r.Include, _ = familySteps(c, "", where)
		r.Steps = otherSteps(c, where)
		return r
	}
	subs := rc.subjects(c)
	r.Include = rc.include(r.Component, jobs)
	use := fmt.Sprintf("Add the include above to the pipeline of %s and `extends: .keyless-%s` to %s.", projectList(c), r.Component, jobCount(c))
	run := "Run the pipelines, including scheduled ones, and check that the jobs pass without the stored credential."
	if p := rc.projects[c.Owner]; c.Level == levelProject && len(c.Usage) == 0 && p != nil && p.NoCIConfig {
		// No pipeline to add the include to (issue 16).
		use = fmt.Sprintf("%s has no CI/CD configuration, so no job of it uses the credential: when it gets a pipeline, give its jobs the include above and `extends: .keyless-%s` instead of the stored credential.", c.Owner, r.Component)
		run = "Find out whether anything outside the project's pipelines reads the variable (the API, a script run by hand) before you delete it."
	}
	del := fmt.Sprintf("Delete the variable %s %s (Settings > CI/CD > Variables) and run the pipelines again: nothing may depend on it any more.", c.Key, where)
	gen := policyStep(r.Component, subs)
	switch r.Component {
	case "aws":
		r.Trust = rc.awsTrust(subs)
		r.Steps = []string{
			fmt.Sprintf("Create the IAM OIDC identity provider once per account (aws iam create-open-id-connect-provider --url %s --client-id-list sts.amazonaws.com) and a role with the trust policy shown and the IAM user's permissions (aws iam list-attached-user-policies --user-name USER).", rc.issuer),
			gen, use, run,
			"Deactivate the access key (aws iam update-access-key --user-name USER --access-key-id AKIA... --status Inactive) and watch for anything still using it (aws iam get-access-key-last-used --access-key-id AKIA...).",
			del,
			"When nothing has failed for a while, delete the access key (aws iam delete-access-key), and the IAM user if it has no other use.",
		}
	case "gcp":
		r.Trust = rc.gcpTrust(subs)
		r.Steps = []string{
			"Create the workload identity pool and its OIDC provider with the attribute condition shown, and let the projects' jobs impersonate the service account the key belongs to (the binding shown).",
			gen,
			use + " Remove gcloud auth activate-service-account from the scripts.",
			run,
			"Disable the key (gcloud iam service-accounts keys disable KEY_ID --iam-account=SERVICE_ACCOUNT) and watch for anything still using it (Policy Intelligence: service account key usage, or the audit logs).",
			del,
			"When nothing has failed for a while, delete the key (gcloud iam service-accounts keys delete KEY_ID --iam-account=SERVICE_ACCOUNT).",
		}
	case "azure":
		r.Trust = rc.azureTrust(subs)
		r.Steps = []string{
			"Add the federated identity credential(s) shown to the same app registration (az ad app federated-credential create --id APP_ID --parameters credential.json), so its role assignments stay as they are.",
			gen,
			use + " Set KEYLESS_AZURE_REFRESHABLE: \"true\" in jobs that run Terraform, the SDKs or the Azure CLI.",
			run,
			"Watch the app's service principal sign-ins (Entra admin center > Sign-in logs > Service principal sign-ins) for sign-ins that do not come from the pipelines.",
			del,
			"When there have been none for a while, remove the secret from the app (az ad app credential delete --id APP_ID --key-id KEY_ID).",
		}
	case "vault":
		r.Trust = rc.vaultTrust(c, subs)
		r.Steps = []string{
			"Enable and configure the JWT auth method, then write a policy with what the stored token may read (vault token lookup lists its policies) and the role shown.",
			gen,
			use + " Jobs that run the vault CLI themselves can keep doing so with export_token: \"true\".",
			run,
			del,
			vaultRevoke(c.Key),
		}
	}
	return r
}

// vaultRevoke is the last step for a stored Vault credential, by what it
// is (the kinds lint's stored-vault-token and stored-vault-password
// report): a token, an AppRole secret_id or a password.
func vaultRevoke(key string) string {
	switch {
	case pipeline.AppRoleSecretID(key):
		return "Destroy the AppRole secret_id (vault write auth/approle/role/ROLE/secret-id/destroy secret_id=...), and the role when nothing else logs in with it."
	case pipeline.VaultPassword(key):
		return "Delete the Vault user the password logs in as (vault delete auth/userpass/users/USER), or take the directory account's access to Vault away (its LDAP group's policies)."
	}
	return "Revoke the stored token (vault token lookup -accessor ACCESSOR, then vault token revoke -accessor ACCESSOR)."
}

// policyStep points at keyless policy, which writes the same trust for
// one project in every form the cloud takes (Terraform included), and at
// keyless explain, which checks trust that already exists.
func policyStep(component string, subs []subject) string {
	project, ref := "PROJECT", "main"
	if len(subs) > 0 && !strings.Contains(subs[0].project, "PROJECT") {
		project = subs[0].project
	}
	if len(subs) > 0 && subs[0].ref != "" {
		ref = subs[0].ref
	}
	doc := map[string]string{"aws": "--trust-policy", "azure": "--federated-credential", "gcp": "--provider-file", "vault": "--role-file"}[component]
	return fmt.Sprintf("For one project's trust in another form (Terraform, say), run keyless policy %s --project %s --ref-type branch --ref %s --format terraform; keyless explain %s %s FILE checks trust that exists against a job's token.", component, project, ref, component, doc)
}

// otherSteps say what to do with a credential that no ID token exchange
// replaces.
func otherSteps(c *Credential, where string) []string {
	keep := fmt.Sprintf("If it must stay, make %s masked and hidden, protected, and scoped to the environments that need it, with the least rights and an expiry.", c.Key)
	if _, steps := familySteps(c, keep, where); steps != nil {
		return steps
	}
	switch c.Kind {
	case KindGitLab:
		return []string{
			"Where the jobs call this GitLab instance's API (packages, container registry, releases, artifacts, other projects' repositories), use $CI_JOB_TOKEN instead, and add the calling project to the job token allowlist of the projects it reaches.",
			"Where the job token is not enough, use a project or group access token with the fewest scopes and a short expiry rather than a personal access token.",
			keep,
			fmt.Sprintf("Revoke the old token and delete the variable %s %s.", c.Key, where),
		}
	case KindRegistry:
		return []string{
			"For this instance's container registry use $CI_REGISTRY_USER and $CI_REGISTRY_PASSWORD (the job token); GitLab's runner already pulls its images with it.",
			"For Docker Hub pulls use the dependency proxy ($CI_DEPENDENCY_PROXY_GROUP_IMAGE_PREFIX); for another registry use a deploy token with read_registry, or the registry's own OIDC federation where it has one.",
			keep,
			fmt.Sprintf("Revoke the old password and delete the variable %s %s.", c.Key, where),
		}
	}
	return []string{
		"Find out what the secret is for: if the service accepts OIDC ID tokens, give the jobs an id_tokens: token for it instead.",
		keep,
		fmt.Sprintf("Rotate the secret, and delete the variable %s %s when nothing uses it.", c.Key, where),
	}
}

func variableWhere(c *Credential) string {
	switch c.Level {
	case levelInstance:
		return "of the instance (Admin area)"
	case levelGroup:
		return "of group " + c.Owner
	}
	return "of project " + c.Owner
}

// usageJobs returns the names of the jobs that use c, sorted, once each.
func usageJobs(c *Credential) []string {
	var out []string
	for _, u := range c.Usage {
		if !slices.Contains(out, u.Job) {
			out = append(out, u.Job)
		}
	}
	slices.Sort(out)
	return out
}

func jobCount(c *Credential) string {
	switch n := len(c.Usage); n {
	case 0:
		return "the jobs that use the credential (none was seen using it)"
	case 1:
		return "the job listed"
	default:
		return fmt.Sprintf("the %d jobs listed", n)
	}
}

func projectList(c *Credential) string {
	var ps []string
	for _, u := range c.Usage {
		if !slices.Contains(ps, u.Project) {
			ps = append(ps, u.Project)
		}
	}
	slices.Sort(ps)
	switch {
	case len(ps) == 0 && c.Level == levelProject:
		return c.Owner
	case len(ps) == 0:
		return "each project that uses it"
	case len(ps) <= 3:
		return strings.Join(ps, ", ")
	}
	return fmt.Sprintf("%s and %d more projects", strings.Join(ps[:3], ", "), len(ps)-3)
}

// include is the YAML to add: the component with its required inputs as
// placeholders, and the jobs that use the credential extending the hidden
// job it defines.
func (rc *replaceContext) include(component string, jobs []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "include:\n  - component: $CI_SERVER_FQDN/keyless-ci/keyless/%s@%s\n    inputs:\n", component, rc.version)
	switch component {
	case "aws":
		b.WriteString("      role_arn: arn:aws:iam::ACCOUNT_ID:role/ROLE\n")
	case "gcp":
		b.WriteString("      provider: projects/PROJECT_NUMBER/locations/global/workloadIdentityPools/gitlab/providers/gitlab\n")
		b.WriteString("      service_account: SERVICE_ACCOUNT@PROJECT_ID.iam.gserviceaccount.com\n")
	case "azure":
		b.WriteString("      client_id: CLIENT_ID\n      tenant_id: TENANT_ID\n")
	case "vault":
		b.WriteString("      addr: https://vault.example.com\n      aud: https://vault.example.com\n      role: ROLE\n")
		b.WriteString("      secrets: |\n        NAME=secret/PATH#FIELD\n")
	}
	if len(jobs) == 0 {
		jobs = []string{"your-job"}
	}
	const most = 20
	for i, j := range jobs {
		if i == most {
			fmt.Fprintf(&b, "\n# ... and %d more jobs\n", len(jobs)-most)
			break
		}
		fmt.Fprintf(&b, "\n%s:\n  extends: .keyless-%s\n", yamlKey(j), component)
	}
	return b.String()
}

// yamlKey writes a job name as a YAML key, quoted when it needs to be.
func yamlKey(s string) string {
	plain := s != "" && (pipeline.IsNameByte(s[0]) || s[0] == '.')
	for i := 0; i < len(s); i++ {
		c := s[i]
		inner := i > 0 && i < len(s)-1
		if !(pipeline.IsNameByte(c) || c == '-' || c == '.' || c == '/' || c == ' ' && inner || c == ':' && inner && s[i+1] != ' ') {
			plain = false
			break
		}
	}
	if plain {
		switch strings.ToLower(s) {
		case "true", "false", "yes", "no", "on", "off", "null", "y", "n", "~":
			plain = false
		}
	}
	if plain {
		return s
	}
	q, _ := json.Marshal(s)
	return string(q)
}

// marshalTrust writes v as indented JSON without HTML escaping.
func marshalTrust(v any) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
	return strings.TrimSuffix(b.String(), "\n")
}

// awsTrust is the role's trust policy (components/aws/README.md, "A role
// that trusts the project").
func (rc *replaceContext) awsTrust(subs []subject) string {
	var sub any
	if len(subs) == 1 {
		sub = subs[0].sub
	} else {
		var all []string
		for _, s := range subs {
			all = append(all, s.sub)
		}
		sub = all
	}
	type principal struct {
		Federated string `json:"Federated"`
	}
	type statement struct {
		Effect    string                    `json:"Effect"`
		Principal principal                 `json:"Principal"`
		Action    string                    `json:"Action"`
		Condition map[string]map[string]any `json:"Condition"`
	}
	policy := struct {
		Version   string      `json:"Version"`
		Statement []statement `json:"Statement"`
	}{
		Version: "2012-10-17",
		Statement: []statement{{
			Effect:    "Allow",
			Principal: principal{Federated: "arn:aws:iam::ACCOUNT_ID:oidc-provider/" + rc.host},
			Action:    "sts:AssumeRoleWithWebIdentity",
			Condition: map[string]map[string]any{"StringEquals": {
				rc.host + ":aud": "sts.amazonaws.com",
				rc.host + ":sub": sub,
			}},
		}},
	}
	return marshalTrust(policy)
}

// gcpTrust is the workload identity provider's attribute condition and
// the service account bindings (components/gcp/README.md, "The pool and
// the provider", "Impersonate a service account").
func (rc *replaceContext) gcpTrust(subs []subject) string {
	var paths []string
	for _, s := range subs {
		paths = append(paths, "'"+s.project+"'")
	}
	cond := "assertion.project_path == " + paths[0]
	if len(paths) > 1 {
		cond = "assertion.project_path in [" + strings.Join(paths, ", ") + "]"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "gcloud iam workload-identity-pools providers create-oidc gitlab \\\n")
	fmt.Fprintf(&b, "  --project=PROJECT_ID --location=global --workload-identity-pool=gitlab \\\n")
	fmt.Fprintf(&b, "  --issuer-uri=%s \\\n", rc.issuer)
	fmt.Fprintf(&b, "  --attribute-mapping=\"google.subject=assertion.sub,attribute.project_path=assertion.project_path,attribute.ref=assertion.ref,attribute.ref_protected=assertion.ref_protected\" \\\n")
	fmt.Fprintf(&b, "  --attribute-condition=\"%s\"\n", cond)
	for _, s := range subs {
		fmt.Fprintf(&b, "\ngcloud iam service-accounts add-iam-policy-binding SERVICE_ACCOUNT@PROJECT_ID.iam.gserviceaccount.com \\\n")
		fmt.Fprintf(&b, "  --role=roles/iam.workloadIdentityUser \\\n")
		fmt.Fprintf(&b, "  --member=\"principal://iam.googleapis.com/projects/PROJECT_NUMBER/locations/global/workloadIdentityPools/gitlab/subject/%s\"\n", s.sub)
		if len(s.sub) > 127 {
			fmt.Fprintf(&b, "# this sub is longer than google.subject's 127 bytes: map google.subject to assertion.project_id and bind principalSet://.../attribute.project_path/%s instead\n", s.project)
		}
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// azureTrust is one federated identity credential per project
// (components/azure/README.md, "What the credential must say"): Entra
// compares the subject exactly, without wildcards.
func (rc *replaceContext) azureTrust(subs []subject) string {
	type credential struct {
		Name      string   `json:"name"`
		Issuer    string   `json:"issuer"`
		Subject   string   `json:"subject"`
		Audiences []string `json:"audiences"`
	}
	var out []string
	for _, s := range subs {
		out = append(out, marshalTrust(credential{
			Name:      credentialName("gitlab-" + s.project + "-" + s.ref),
			Issuer:    rc.issuer,
			Subject:   s.sub,
			Audiences: []string{"api://AzureADTokenExchange"},
		}))
	}
	return strings.Join(out, "\n")
}

// credentialName makes a federated credential name: letters, digits, -
// and _, at most 120 characters.
func credentialName(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !pipeline.IsNameByte(c) && c != '-' {
			b[i] = '-'
		}
	}
	if len(b) > 120 {
		b = b[:120]
	}
	return string(b)
}

// vaultTrust is the JWT auth method's configuration and a role whose
// bound_claims admit the projects (components/vault/README.md, "Set up
// Vault").
func (rc *replaceContext) vaultTrust(c *Credential, subs []subject) string {
	var paths, refs []string
	for _, s := range subs {
		paths = append(paths, s.project)
		if !slices.Contains(refs, s.ref) {
			refs = append(refs, s.ref)
		}
	}
	claims := map[string]any{"ref_type": "branch"}
	claims["project_path"] = oneOrList(paths)
	claims["ref"] = oneOrList(refs)
	if c.Protected {
		claims["ref_protected"] = "true"
	}
	role := struct {
		RoleType        string         `json:"role_type"`
		BoundAudiences  []string       `json:"bound_audiences"`
		UserClaim       string         `json:"user_claim"`
		BoundClaimsType string         `json:"bound_claims_type"`
		BoundClaims     map[string]any `json:"bound_claims"`
		TokenPolicies   []string       `json:"token_policies"`
		TokenTTL        string         `json:"token_ttl"`
		TokenMaxTTL     string         `json:"token_max_ttl"`
	}{"jwt", []string{"https://vault.example.com"}, "user_login", "string", claims, []string{"POLICY"}, "30m", "2h"}
	return fmt.Sprintf("vault auth enable jwt\nvault write auth/jwt/config oidc_discovery_url=%s bound_issuer=%s\n\nvault write auth/jwt/role/ROLE - <<'EOF'\n%s\nEOF",
		rc.issuer, rc.issuer, marshalTrust(role))
}

func oneOrList(s []string) any {
	if len(s) == 1 {
		return s[0]
	}
	return s
}
