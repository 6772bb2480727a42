// Package policy generates the cloud-side trust for GitLab CI/CD ID tokens
// (AWS role trust policies, Azure federated identity credentials, Google
// workload identity pool providers, Vault JWT roles) and evaluates such
// trust against a token's claims, condition by condition, to say why a
// job is refused and what smallest change would admit it.
//
// This package holds what every provider shares: Spec (which jobs a
// policy admits), the sub claim GitLab builds, Claims, and the Result of
// an evaluation. Each provider lives in its own subpackage (aws, azure,
// gcp, vault) and implements Provider; providers never import each other.
package policy

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"

	"gitlab.com/keyless-ci/keyless/internal/option"
)

// Provider is one cloud's trust: generating it from a Spec and evaluating
// a document of it against a token's claims.
type Provider interface {
	// Name is the command word: "aws", "azure", "gcp", "vault".
	Name() string
	// Formats lists Generate's formats, the default first.
	Formats() []string
	// Generate returns the documents that set up the trust spec asks for,
	// in format, and the warnings about how broad that trust is.
	Generate(spec Spec, format string) ([]Document, []Warning, error)
	// Document is the option that gives Explain its document, such as
	// aws.OptTrustPolicy (package option).
	Document() option.Name
	// Explain evaluates doc (as its Document option names it) against claims.
	// An error means doc cannot be read; a refusal is a Result.
	Explain(doc []byte, claims Claims) (*Result, error)
}

// The options of a Spec that messages name (package option): the CLI says
// them in the words the user typed.
const (
	OptIssuer        option.Name = "issuer"
	OptProject       option.Name = "project"
	OptProjectID     option.Name = "project-id"
	OptGroup         option.Name = "group"
	OptNamespaceID   option.Name = "namespace-id"
	OptRef           option.Name = "ref"
	OptRefType       option.Name = "ref-type"
	OptProtectedOnly option.Name = "protected-only"
	OptEnvironment   option.Name = "environment"
	OptAudience      option.Name = "aud"
	OptSubComponents option.Name = "sub-components"
	OptFormat        option.Name = "format"
)

// Spec says which jobs a generated trust admits.
type Spec struct {
	// Issuer is the GitLab instance's issuer URL, e.g. https://gitlab.com
	// (ci_id_tokens_issuer_url on a self-managed instance that sets it).
	Issuer string
	// Audience is the aud the job's id_tokens: entry asks for; "" takes
	// the provider's default.
	Audience string
	// TokenAudiences are the audiences of the token a spec was read from
	// when it has several (an id_tokens: aud list); ChooseAudience picks
	// the provider's own among them.
	TokenAudiences []string
	// ProjectPath admits one project ("group/sub/project"); Group admits
	// every project under a group ("group/sub"). Exactly one is set.
	ProjectPath string
	Group       string
	// ProjectID and NamespaceID are numeric ids ("42"): Google advises
	// pinning them, since a path can be taken over after a rename.
	ProjectID   string
	NamespaceID string
	// Ref is a branch or tag name, with * as a wildcard; "" admits any.
	Ref string
	// RefType is "branch", "tag" or "" (any).
	RefType string
	// ProtectedOnly admits jobs on protected refs only (ref_protected).
	ProtectedOnly bool
	// Environment is the job's environment name; "" admits any.
	Environment string
	// SubComponents is the project's ci_id_token_sub_claim_components;
	// nil means GitLab's default, DefaultSubComponents.
	SubComponents []string
	// Production marks trust for a production role: a group wildcard is
	// then warned about.
	Production bool
}

// DefaultSubComponents is the sub claim GitLab builds unless a project
// customises it:
// https://docs.gitlab.com/ci/secrets/id_token_authentication/#token-payload
var DefaultSubComponents = []string{"project_path", "ref_type", "ref"}

// SubComponentNames are the components the projects API accepts in
// ci_id_token_sub_claim_components, project_path always first.
var SubComponentNames = []string{"project_path", "ref_type", "ref", "ref_protected", "environment_protected", "deployment_tier"}

// Validate checks a Spec before any provider uses it; its errors name the
// options a person sets (package option).
func (s Spec) Validate() error {
	if s.Issuer == "" {
		return option.Errorf("no issuer: set %s (https://gitlab.com, or your instance's URL)", option.Ref(OptIssuer))
	}
	u, err := url.Parse(s.Issuer)
	if err != nil || u.Scheme != "https" && u.Scheme != "http" || u.Host == "" {
		return option.Errorf("issuer %q is not an http(s) URL: set %s to your GitLab instance's URL, e.g. https://gitlab.com", s.Issuer, option.Ref(OptIssuer))
	}
	if strings.HasSuffix(s.Issuer, "/") {
		return fmt.Errorf("issuer %q ends with a slash: GitLab's iss claim has none, and the clouds compare it exactly; drop the slash", s.Issuer)
	}
	switch {
	case s.ProjectPath == "" && s.Group == "":
		return option.Errorf("no project or group: set %s PATH (one project) or %s PATH (every project under it)", option.Ref(OptProject), option.Ref(OptGroup))
	case s.ProjectPath != "" && s.Group != "":
		return option.Errorf("%s and %s both set: a policy admits one project or one group's projects", option.Ref(OptProject), option.Ref(OptGroup))
	}
	for _, p := range []string{s.ProjectPath, s.Group} {
		if strings.ContainsAny(p, "*?[] \t\n\"'") || strings.HasPrefix(p, "/") || strings.HasSuffix(p, "/") {
			return fmt.Errorf("path %q: give the full path as GitLab shows it (group/subgroup/project), without wildcards or slashes at either end", p)
		}
	}
	for _, id := range []struct {
		option option.Name
		v      string
	}{{OptProjectID, s.ProjectID}, {OptNamespaceID, s.NamespaceID}} {
		if id.v != "" {
			if _, err := strconv.ParseUint(id.v, 10, 64); err != nil {
				return option.Errorf("%s %q is not a numeric id: find it on the project's or group's overview page", option.Ref(id.option), id.v)
			}
		}
	}
	switch s.RefType {
	case "", "branch", "tag":
	default:
		return option.Invalid(OptRefType, s.RefType, "use branch or tag (or leave it out for both)")
	}
	if s.SubComponents != nil {
		if len(s.SubComponents) == 0 || s.SubComponents[0] != "project_path" {
			return option.Invalid(OptSubComponents, strings.Join(s.SubComponents, ","), "GitLab requires project_path first")
		}
		seen := map[string]bool{}
		for _, c := range s.SubComponents {
			if !slices.Contains(SubComponentNames, c) {
				return &option.Error{Option: OptSubComponents, Err: fmt.Errorf("%q is not a sub claim component; use %s", c, strings.Join(SubComponentNames, ", "))}
			}
			if seen[c] {
				return &option.Error{Option: OptSubComponents, Err: fmt.Errorf("%q is listed twice", c)}
			}
			seen[c] = true
		}
	}
	return nil
}

// Components returns the spec's sub claim components.
func (s Spec) Components() []string {
	if s.SubComponents == nil {
		return DefaultSubComponents
	}
	return s.SubComponents
}

// Subject returns the sub claim the spec admits, with * wherever a job's
// value may vary, and whether it holds a wildcard. A component the spec
// leaves open (no ref, any ref type, any tier) becomes *.
//
// GitLab builds sub as component:value pairs joined by colons, e.g.
// project_path:acme/web:ref_type:branch:ref:main.
func (s Spec) Subject() (sub string, wildcard bool) {
	var b strings.Builder
	for i, c := range s.Components() {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(c)
		b.WriteByte(':')
		v := s.componentValue(c)
		if strings.Contains(v, "*") {
			wildcard = true
		}
		b.WriteString(v)
	}
	return b.String(), wildcard
}

func (s Spec) componentValue(c string) string {
	switch c {
	case "project_path":
		if s.Group != "" {
			return s.Group + "/*"
		}
		return s.ProjectPath
	case "ref_type":
		return orStar(s.RefType)
	case "ref":
		return orStar(s.Ref)
	case "ref_protected":
		if s.ProtectedOnly {
			return "true"
		}
		return "*"
	case "environment_protected", "deployment_tier":
		return "*"
	}
	return "*"
}

func orStar(v string) string {
	if v == "" {
		return "*"
	}
	return v
}

// Host is the issuer without its scheme, as AWS names condition keys
// (gitlab.com:sub) and IAM OIDC providers.
func (s Spec) Host() string {
	return strings.TrimPrefix(strings.TrimPrefix(s.Issuer, "https://"), "http://")
}

// Warnings says how broad the trust spec asks for is; providers add their
// own (an audience shared with another service, say).
func (s Spec) Warnings() []Warning {
	var w []Warning
	if s.Group != "" && s.Production {
		w = append(w, Warning{ID: "group-wildcard-production", Message: fmt.Sprintf("every project under %s can assume this production role: name the deploying project with %s instead of %s", s.Group, option.Ref(OptProject), option.Ref(OptGroup))})
	}
	if s.Group != "" && !s.Production {
		w = append(w, Warning{ID: "group-wildcard", Message: fmt.Sprintf("every project under %s, including ones created later, can use this trust; prefer %s for each project that needs it", s.Group, option.Ref(OptProject))})
	}
	if s.Ref == "" && !s.ProtectedOnly && s.Environment == "" {
		w = append(w, Warning{ID: "any-ref", Message: fmt.Sprintf("any branch or tag, including an unprotected one anyone with Developer access can push, can use this trust: set %s (e.g. main), %s or %s", option.Ref(OptRef), option.Ref(OptProtectedOnly), option.Ref(OptEnvironment))})
	}
	if strings.Contains(s.Ref, "*") && !s.ProtectedOnly {
		w = append(w, Warning{ID: "ref-wildcard", Message: fmt.Sprintf("%s %q matches branches anyone with Developer access can create: add %s, or name the ref", option.Ref(OptRef), s.Ref, option.Ref(OptProtectedOnly))})
	}
	return w
}

// Warning is a finding about a generated trust: too broad, or likely to
// refuse the jobs it is meant for.
type Warning struct {
	ID string `json:"id"`
	// Message names options with references (package option): whoever
	// prints it renders them.
	Message string `json:"message"`
}

// Document is one generated file or command.
type Document struct {
	// Name is a file name to save it as ("trust-policy.json", "main.tf")
	// or, for a command, what it does.
	Name string `json:"name"`
	// Format: json, terraform, cloudformation, shell, cel.
	Format string `json:"format"`
	Body   string `json:"body"`
}

// Claims are an ID token's claims as its JSON payload decodes them.
// GitLab writes ids and booleans as strings ("42", "true").
type Claims map[string]any

// ParseClaims reads a claims JSON object: a token's decoded payload, e.g.
// from --claims FILE.
func ParseClaims(b []byte) (Claims, error) {
	var c Claims
	d := json.NewDecoder(strings.NewReader(string(b)))
	d.UseNumber()
	if err := d.Decode(&c); err != nil {
		return nil, fmt.Errorf("claims: not a JSON object (%v): give the token's decoded payload, e.g. {\"iss\": \"https://gitlab.com\", \"sub\": \"project_path:...\", ...}", err)
	}
	if c == nil {
		return nil, errors.New("claims: null: give the token's decoded payload as a JSON object")
	}
	return c, nil
}

// String returns claim name as a string, as a cloud compares it: strings
// as they are, numbers and booleans in their JSON form. ok is false when
// the claim is absent or is an object or array.
func (c Claims) String(name string) (v string, ok bool) {
	switch x := c[name].(type) {
	case string:
		return x, true
	case json.Number:
		return x.String(), true
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true
	case bool:
		return strconv.FormatBool(x), true
	}
	return "", false
}

// Strings returns claim name as a list: a string is one value, an array of
// strings its values (aud may be either).
func (c Claims) Strings(name string) ([]string, bool) {
	if v, ok := c.String(name); ok {
		return []string{v}, true
	}
	arr, ok := c[name].([]any)
	if !ok {
		return nil, false
	}
	out := make([]string, 0, len(arr))
	for _, x := range arr {
		s, ok := Claims{"x": x}.String("x")
		if !ok {
			return nil, false
		}
		out = append(out, s)
	}
	return out, true
}

// Display is a claim's value as Result shows it: quoted, or "(absent)".
func (c Claims) Display(name string) string {
	if vs, ok := c.Strings(name); ok {
		return QuoteList(vs)
	}
	if _, ok := c[name]; ok {
		return "(not a string)"
	}
	return "(absent)"
}

// Names returns the claim names, sorted.
func (c Claims) Names() []string {
	out := make([]string, 0, len(c))
	for k := range c {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Check is one condition of a trust document, evaluated.
type Check struct {
	// Where locates the condition in the document, e.g.
	// "Statement[0].Condition.StringEquals" or "bound_claims.ref".
	Where string `json:"where"`
	// Test is the condition, e.g. `gitlab.com:sub StringEquals "project_path:a/b:ref_type:branch:ref:main"`.
	Test string `json:"test"`
	// Claim is the claim compared, Value its value in the token (quoted,
	// or "(absent)").
	Claim string `json:"claim,omitempty"`
	Value string `json:"value"`
	Held  bool   `json:"held"`
	// Note explains a result that surprises: a wildcard in StringEquals
	// is literal, the case differs, a trailing slash.
	Note string `json:"note,omitempty"`
}

// Result is an evaluation of a trust document against a token's claims.
type Result struct {
	Provider string  `json:"provider"`
	Admitted bool    `json:"admitted"`
	Checks   []Check `json:"checks"`
	// Verdict is one sentence: admitted, or which condition refused.
	Verdict string `json:"verdict"`
	// Fix is the smallest change to the document that would admit the
	// token; empty when admitted.
	Fix string `json:"fix,omitempty"`
	// Warnings are about the document itself: too broad, deprecated.
	Warnings []Warning `json:"warnings,omitempty"`
}

// AddNote appends n to the check's note, once.
func (c *Check) AddNote(n string) {
	switch {
	case n == "" || strings.Contains(c.Note, n):
	case c.Note == "":
		c.Note = n
	default:
		c.Note += "; " + n
	}
}

// QuoteList quotes values as checks show them: "a", or ["a", "b"].
func QuoteList(vs []string) string {
	if len(vs) == 1 {
		return strconv.Quote(vs[0])
	}
	q := make([]string, len(vs))
	for i, v := range vs {
		q[i] = strconv.Quote(v)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// An AudienceOwner recognises the audiences its cloud's jobs ask for
// (sts.amazonaws.com, api://AzureADTokenExchange, a workload identity
// provider's name), so that a token with several audiences can be read.
type AudienceOwner interface {
	OwnsAudience(aud string) bool
}

// ChooseAudience sets Audience, when unset, from TokenAudiences: the
// first that p owns, else (a provider with no audience of its own, such
// as Vault) the first that none of all owns, else the first.
func (s *Spec) ChooseAudience(p Provider, all []Provider) {
	if s.Audience != "" || len(s.TokenAudiences) == 0 {
		return
	}
	owns := func(p Provider, aud string) bool {
		o, ok := p.(AudienceOwner)
		return ok && o.OwnsAudience(aud)
	}
	for _, a := range s.TokenAudiences {
		if owns(p, a) {
			s.Audience = a
			return
		}
	}
	if _, ok := p.(AudienceOwner); !ok {
		for _, a := range s.TokenAudiences {
			if !slices.ContainsFunc(all, func(q Provider) bool { return owns(q, a) }) {
				s.Audience = a
				return
			}
		}
	}
	s.Audience = s.TokenAudiences[0]
}

// SpecFromClaims returns the tightest spec that admits the job whose
// claims these are: its project (by path and id), ref type, ref, and
// environment, protected-only when the ref is protected. components is
// the project's sub claim components (nil: GitLab's default).
func SpecFromClaims(c Claims, components []string) (Spec, error) {
	get := func(n string) string { v, _ := c.String(n); return v }
	s := Spec{
		Issuer:        get("iss"),
		ProjectPath:   get("project_path"),
		ProjectID:     get("project_id"),
		NamespaceID:   get("namespace_id"),
		Ref:           get("ref"),
		RefType:       get("ref_type"),
		ProtectedOnly: get("ref_protected") == "true",
		Environment:   get("environment"),
		SubComponents: components,
	}
	if auds, ok := c.Strings("aud"); ok && len(auds) == 1 {
		s.Audience = auds[0]
	} else if ok {
		s.TokenAudiences = auds
	}
	if s.ProjectPath == "" {
		return Spec{}, errors.New("the token has no project_path claim: it is not a GitLab CI/CD ID token")
	}
	if components == nil {
		// The token's sub says how it was built: recover custom
		// components from it.
		if sub := get("sub"); sub != "" {
			s.SubComponents = ComponentsOf(sub)
		}
	}
	return s, s.Validate()
}

// ComponentsOf returns the components of a GitLab sub claim in their
// order, project_path:a/b:ref:main:ref_type:branch -> project_path, ref,
// ref_type; nil when they are GitLab's default or sub is not one GitLab
// built. Neither paths nor git refs may hold a colon, so sub splits into
// name:value pairs.
func ComponentsOf(sub string) []string {
	parts := strings.Split(sub, ":")
	if len(parts)%2 != 0 || parts[0] != "project_path" {
		return nil
	}
	var out []string
	for i := 0; i < len(parts); i += 2 {
		if !slices.Contains(SubComponentNames, parts[i]) {
			return nil
		}
		out = append(out, parts[i])
	}
	if equal(out, DefaultSubComponents) {
		return nil
	}
	return out
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
