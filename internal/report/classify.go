package report

import (
	"strings"

	"gitlab.com/keyless-ci/keyless/internal/detect"
	"gitlab.com/keyless-ci/keyless/internal/gitlabapi"
	"gitlab.com/keyless-ci/keyless/internal/pipeline"
	"gitlab.com/keyless-ci/keyless/internal/secret"
)

// Levels of a stored variable.
const (
	levelInstance = "instance"
	levelGroup    = "group"
	levelProject  = "project"
)

// classification is what classify decides about one variable: never its
// value.
type classification struct {
	kind       string
	evidence   string
	confidence string
	service    string // Credential.Service
	// keyFile is a key file's content (GCP key JSON, PEM private key)
	// found in the value.
	keyFile bool
}

// classifyVariables turns the credentials among vs into Credentials of
// owner at level, and drops every value from vs as it goes: classification
// is the only place a value is read (secret.Token.Reveal), and nothing of
// it but its length leaves.
func classifyVariables(level, owner string, vs []gitlabapi.Variable) []Credential {
	var out []Credential
	for i := range vs {
		v := &vs[i]
		c, ok := classify(v)
		v.Value = secret.Token{} // not kept longer than needed
		if !ok {
			continue
		}
		out = append(out, newCredential(level, owner, v, c))
	}
	return out
}

// credentialID is stable across runs: level, owner, key and environment
// scope.
func credentialID(level, owner, key, scope string) string {
	return level + ":" + owner + ":" + key + ":" + scope
}

func newCredential(level, owner string, v *gitlabapi.Variable, c classification) Credential {
	scope := v.EnvironmentScope
	if scope == "" {
		scope = "*"
	}
	typ := string(v.Type)
	if typ == "" {
		typ = string(gitlabapi.EnvVar)
	}
	cr := Credential{
		ID:               credentialID(level, owner, v.Key, scope),
		Key:              v.Key,
		Level:            level,
		Owner:            owner,
		EnvironmentScope: scope,
		Type:             typ,
		Protected:        v.Protected,
		Masked:           v.Masked || v.Hidden,
		Hidden:           v.Hidden,
		Raw:              v.Raw,
		Description:      v.Description,
		Kind:             c.kind,
		Service:          c.service,
		Evidence:         c.evidence,
		Confidence:       c.confidence,
		Usage:            []Usage{},
	}
	cr.Exposure = exposures(&cr, c.keyFile)
	return cr
}

// exposures lists how exposed a stored credential is, in the order of the
// Exposure constants.
func exposures(c *Credential, keyFile bool) []string {
	out := []string{}
	if !c.Protected {
		out = append(out, ExposureUnprotected)
	}
	if !c.Masked {
		out = append(out, ExposureUnmasked)
	}
	if !c.Hidden {
		out = append(out, ExposureNotHidden)
	}
	if c.EnvironmentScope == "*" {
		out = append(out, ExposureAllEnvs)
	}
	switch c.Level {
	case levelGroup:
		out = append(out, ExposureGroup)
	case levelInstance:
		out = append(out, ExposureInstance)
	}
	if keyFile {
		out = append(out, ExposureKeyFile)
	}
	return out
}

// classify decides whether v holds a long-lived credential and of which
// kind: by its value (detect.Scan) when GitLab returned one, else, or when
// nothing was detected, by its name. Ordinary configuration (a region, a
// URL) is not a credential. This is the one place a value is revealed; the
// string is not kept past the scan.
func classify(v *gitlabapi.Variable) (classification, bool) {
	byName, nameKind := nameClass(v)
	if v.Hidden || v.Value.IsZero() {
		if !nameKind {
			return classification{}, false
		}
		if v.Hidden {
			// GitLab returns no value for a hidden variable ("value":
			// null, https://docs.gitlab.com/api/project_level_variables/),
			// and hides only a masked one: its owner marked it secret,
			// and no value contradicts its name. Under a name a cloud's
			// tools read as their credential (AWS_SECRET_ACCESS_KEY) it
			// is that credential; under a name that only says secret, it
			// is more likely one than its name alone says (issue 16).
			byName.evidence = "name: hidden variable " + v.Key + " (GitLab returns no value to check)"
			switch {
			case pipeline.EnvOf(v.Key) != nil && byName.kind != KindOther:
				byName.confidence = "high"
			case byName.confidence == "low":
				byName.confidence = "medium"
			}
		}
		return byName, true
	}
	m, placeholder, ok := scanValue(v)
	if placeholder {
		// "changeme", "$OTHER_VAR", a path: the variable stores no secret.
		return classification{}, false
	}
	if !ok {
		if !nameKind {
			return classification{}, false
		}
		// The name says credential, the value does not look like one.
		byName.evidence = "name: " + v.Key + " (the value is not a recognised " + kindNoun(byName.kind) + ")"
		byName.confidence = "low"
		return byName, true
	}
	kind, svc := serviceOf(m)
	c := classification{
		kind:       kind,
		service:    svc,
		evidence:   "value: " + valueEvidence(m),
		confidence: confidenceName(m.Confidence),
		keyFile:    v.Type != gitlabapi.File && (m.Kind == detect.KindGCPServiceKey || m.Kind == detect.KindPrivateKey),
	}
	if c.kind == KindOther && nameKind && byName.kind != KindOther {
		// A generic secret in a variable whose name says what it is for
		// (ARM_CLIENT_SECRET holding a high-entropy string).
		c.kind, c.service = byName.kind, byName.service
		c.evidence = "name: " + v.Key + "; " + c.evidence
	}
	return c, true
}

// scanValue runs the detectors over v's value and returns the best match.
// placeholder is true for a value in which nothing was detected and that
// is a documented placeholder, a reference to another variable or a path.
func scanValue(v *gitlabapi.Variable) (best detect.Match, placeholder, ok bool) {
	// The revealed string lives only in this call (Go cannot wipe a
	// string; the caller drops the Token right after).
	ms, placeholder := func() ([]detect.Match, bool) {
		val := v.Value.Reveal()
		ms := detect.Scan(val, detect.Context{Key: v.Key})
		// The detectors check their own matches for placeholders; the
		// whole value is checked only when nothing was found (a JSON
		// document with "password" in it is no placeholder).
		return ms, len(ms) == 0 && detect.Placeholder(val)
	}()
	if placeholder {
		return detect.Match{}, true, false
	}
	for i, m := range ms {
		if i == 0 || better(m, best) {
			best = m
		}
	}
	return best, false, len(ms) > 0
}

// better prefers the more confident match, then one of a kind that a
// keyless component replaces, then the longer one.
func better(a, b detect.Match) bool {
	if a.Confidence != b.Confidence {
		return a.Confidence > b.Confidence
	}
	ao, bo := reportKind(a.Kind) == KindOther, reportKind(b.Kind) == KindOther
	if ao != bo {
		return !ao
	}
	return a.End-a.Start > b.End-b.Start
}

func valueEvidence(m detect.Match) string {
	desc := m.Description
	if desc == "" {
		desc = strings.ReplaceAll(m.Detector, "-", " ")
	}
	// Only the length: a Hint's first characters are the value's, and a
	// report is read by people who cannot read the variable (hidden ones
	// above all). The description names the kind's public prefix.
	if i := strings.LastIndex(m.Hint, "("); i >= 0 {
		desc += ", " + strings.Trim(m.Hint[i:], "()") // "20 chars"
	}
	return desc
}

// reportKind maps a detector kind to a report kind.
func reportKind(k detect.Kind) string {
	switch k {
	case detect.KindAWSAccessKey:
		return KindAWS
	case detect.KindGCPServiceKey:
		return KindGCP
	case detect.KindAzureSecret:
		return KindAzure
	case detect.KindVaultToken:
		return KindVault
	case detect.KindGitLabToken:
		return KindGitLab
	case detect.KindRegistryPassword:
		return KindRegistry
	}
	return KindOther
}

func confidenceName(c detect.Confidence) string {
	switch c {
	case detect.High:
		return "high"
	case detect.Medium:
		return "medium"
	}
	return "low"
}

func kindNoun(kind string) string {
	switch kind {
	case KindAWS:
		return "AWS access key"
	case KindGCP:
		return "service account key"
	case KindAzure:
		return "Azure client secret"
	case KindVault:
		return "Vault token"
	case KindGitLab:
		return "GitLab token"
	case KindRegistry:
		return "registry credential"
	case KindPackage:
		return "package registry token"
	case KindChatWebhook:
		return "webhook URL"
	case KindSaaS:
		return "API key"
	case KindPrivateKey:
		return "private key"
	case KindDatabase:
		return "database password"
	}
	return "secret"
}

// nameClass classifies v by its name alone: the names the clouds' tools
// read, then any name that says secret (detect.SecretName, low
// confidence). ok is false for ordinary configuration.
func nameClass(v *gitlabapi.Variable) (classification, bool) {
	k := strings.ToUpper(v.Key)
	c := classification{evidence: "name: " + v.Key, confidence: "medium"}
	switch {
	case k == "AWS_ACCESS_KEY_ID" || k == "AWS_SECRET_ACCESS_KEY" || k == "AWS_SESSION_TOKEN" ||
		strings.Contains(k, "AWS") && strings.Contains(k, "SECRET"):
		c.kind = KindAWS
	case k == "GOOGLE_APPLICATION_CREDENTIALS" && v.Type == gitlabapi.File,
		k == "GCP_SA_KEY", k == "GOOGLE_CREDENTIALS", k == "GCLOUD_SERVICE_KEY", k == "GOOGLE_CLOUD_KEYFILE_JSON",
		wordsInOrder(k, "SERVICE_ACCOUNT", "KEY"):
		c.kind = KindGCP
	case k == "ARM_CLIENT_SECRET" || k == "AZURE_CLIENT_SECRET":
		c.kind = KindAzure
	case k == "VAULT_TOKEN" || k == "BAO_TOKEN" || wordsInOrder(k, "APPROLE", "SECRET"),
		// An AppRole secret_id (VAULT_SECRET_ID, the Terraform Vault
		// provider's TF_VAR_login_approle_secret_id) and a Vault
		// password log in to Vault as a token does: the same model as
		// lint's stored-vault-token and stored-vault-password.
		pipeline.AppRoleSecretID(k), pipeline.VaultPassword(k):
		c.kind = KindVault
	case setService(&c, k):
		// A product's own names (SLACK_WEBHOOK_URL, NPM_TOKEN,
		// JWT_SECRET), before GitLab's *_PAT takes GITHUB_PAT.
	case k == "GITLAB_TOKEN" || k == "PRIVATE_TOKEN" || strings.HasSuffix(k, "_PAT") || k == "GL_TOKEN":
		c.kind = KindGitLab
	case k == "DOCKER_AUTH_CONFIG" || k == "DOCKERHUB_TOKEN" || k == "DOCKER_HUB_TOKEN" ||
		wordsInOrder(k, "REGISTRY", "PASSWORD"):
		c.kind = KindRegistry
	case detect.SecretName(v.Key):
		c.kind, c.confidence = KindOther, "low"
	default:
		return classification{}, false
	}
	return c, true
}

// setService sets c's kind and service from a product's variable name.
func setService(c *classification, k string) bool {
	kind, svc, ok := serviceByName(k)
	if ok {
		c.kind, c.service = kind, svc
	}
	return ok
}

// wordsInOrder reports whether s holds a, then b after it (the glob
// *A*B*).
func wordsInOrder(s, a, b string) bool {
	i := strings.Index(s, a)
	return i >= 0 && strings.Contains(s[i+len(a):], b)
}
