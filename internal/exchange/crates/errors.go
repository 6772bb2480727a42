package crates

import (
	"cmp"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"gitlab.com/keyless-ci/keyless/internal/exchange"
	"gitlab.com/keyless-ci/keyless/internal/idtoken"
	"gitlab.com/keyless-ci/keyless/internal/option"
	"gitlab.com/keyless-ci/keyless/internal/secret"
)

// Sentinel kinds of failure; test with errors.Is. crates.io answers every
// refusal with 400 and a detail (src/controllers/trustpub/tokens/exchange/mod.rs);
// the kind is read from the detail's words.
var (
	// ErrNoConfig: "No Trusted Publishing config found for repository `P`."
	ErrNoConfig = errors.New("no trusted publishing config for the project")
	// ErrMismatch: "The Trusted Publishing config for repository `P` does
	// not match the workflow filepath / environment / namespace ID …", or
	// "requires an environment, but the JWT does not specify one".
	ErrMismatch = errors.New("trusted publishing config does not match the job")
	// ErrInvalidToken: "Failed to decode JWT", "Missing JWT key ID",
	// "Invalid JWT key ID": signature, expiry or audience.
	ErrInvalidToken = errors.New("ID token refused")
	// ErrIssuer: "Unsupported JWT issuer: ISS".
	ErrIssuer = errors.New("ID token issuer not supported")
	// ErrReusedToken: "JWT has already been used".
	ErrReusedToken = errors.New("ID token already used")
	// ErrClaims: "Unexpected `project_path` value", "Unexpected
	// `ci_config_ref_uri` value".
	ErrClaims      = errors.New("ID token claims not usable")
	ErrRejected    = errors.New("token exchange refused")                              // another 4xx with a detail
	ErrAudience    = errors.New("ID token is not for this registry")                   // aud lacks the registry's host
	ErrBadEndpoint = errors.New("not a registry with trusted publishing")              // 404, 405, redirects, HTML
	ErrBadResponse = errors.New("answer does not follow crates.io's documented shape") // 2xx without a usable body
)

// The failures every provider shares.
var (
	ErrThrottled   = exchange.ErrThrottled
	ErrTimeout     = exchange.ErrTimeout
	ErrUnavailable = exchange.ErrUnavailable
	ErrTLS         = exchange.ErrTLS
)

// Error is a failed exchange, explained. Its message never holds the ID
// token or an issued token: the registry's words are scrubbed of the ID
// token, and a successful answer is never quoted.
type Error struct {
	exchange.Failure
	Status   int
	Detail   string // the registry's errors[0].detail, scrubbed
	Registry string // DisplayURL
	Audience string
	Location string

	claims idtoken.Claims
	fields []idtoken.Field
	why    string
}

// detailKinds are crates.io's details, by their first words.
var detailKinds = []struct {
	prefix string
	kind   error
}{
	{"No Trusted Publishing config found", ErrNoConfig},
	{"The Trusted Publishing config for repository", ErrMismatch},
	{"Failed to decode JWT", ErrInvalidToken},
	{"Missing JWT key ID", ErrInvalidToken},
	{"Invalid JWT key ID", ErrInvalidToken},
	{"Unsupported JWT issuer", ErrIssuer},
	{"JWT has already been used", ErrReusedToken},
	{"Unexpected `", ErrClaims},
}

func newError(f *failure, o Options, tok *idtoken.Token, attempts int) *Error {
	secrets := []secret.Token{tok.Raw}
	e := &Error{
		Failure:  exchange.NewFailure(f.transport, attempts),
		Status:   f.status,
		Registry: exchange.DisplayURL(o.Base()),
		Audience: o.Audience(),
		claims:   tok.Claims,
		fields:   tok.SafeFields(o.Clock()()),
	}
	switch {
	case f.audience:
		e.Kind = ErrAudience
		return e
	case f.transport != nil:
		err := f.transport
		if !e.Transport(err) {
			var ue *url.Error
			if errors.As(err, &ue) {
				err = ue.Err
			}
			e.Message = err.Error()
		}
		if e.Redirect != nil {
			e.Kind, e.Location = ErrBadEndpoint, e.Redirect.Target
		}
		e.Message = exchange.Printable(secret.ScrubString(e.Message, secrets...), 300)
		return e
	case f.badBody != "":
		e.Kind, e.why = ErrBadResponse, f.badBody
		return e
	}
	e.Detail = exchange.Printable(secret.ScrubString(f.detail, secrets...), 500)
	switch s := f.status; {
	case s == 429:
		e.Kind = ErrThrottled
	case s == 501:
		e.Kind = ErrBadEndpoint
	case s >= 500:
		e.Kind = ErrUnavailable
	case s >= 300 && s < 400:
		e.Kind = ErrBadEndpoint
		if f.location != "" {
			e.Location = exchange.DisplayURL(f.location)
		}
	case f.detail == "" || s == 404 || s == 405:
		e.Kind = ErrBadEndpoint
	default:
		e.Kind = ErrRejected
		for _, d := range detailKinds {
			if strings.HasPrefix(f.detail, d.prefix) {
				e.Kind = d.kind
				break
			}
		}
	}
	return e
}

func (e *Error) Error() string { return option.Plain(e.Text()) }

// Text is the message with its options as references (package option).
func (e *Error) Text() string {
	var b strings.Builder
	what := fmt.Sprintf("crates: token exchange at %s failed", e.Registry)
	if e.Kind == ErrAudience {
		what = fmt.Sprintf("crates: the ID token's aud %q does not include %q, the audience %s expects; the token was not sent",
			strings.Join(e.claims.Audience, ","), e.Audience, e.Registry)
	}
	exchange.Headline{What: what, Status: e.Status, Description: e.Detail, Message: e.Message, Attempts: e.Attempts}.Write(&b)
	b.WriteString("\n\n")
	b.WriteString(e.explain())
	exchange.WriteClaims(&b, "crates.io", e.fields)
	return strings.TrimRight(b.String(), "\n")
}

// Publisher lists, field by field, the trusted publishing config a GitLab
// job matches on crates.io (GitLabConfig: namespace, project,
// workflow_filepath, environment; exchange/mod.rs), with the claim each
// comes from; mismatch names the field crates.io said did not match.
func Publisher(c idtoken.Claims, mismatch string) string {
	p := c.GitLabPublisher()
	mark := func(field string) string {
		if field == mismatch {
			return "   <- crates.io: does not match"
		}
		return ""
	}
	ci := WorkflowFilepath(c.CIConfigRefURI)
	if ci == "" {
		ci = "(none: ci_config_ref_uri names no .yml or .yaml file)"
	}
	env := p.Environment
	if env == "" {
		env = "(none: the job has no environment:, so the config must have none)"
	}
	fields := []idtoken.Field{
		{Name: "Namespace", Value: p.Namespace + mark("namespace")},
		{Name: "Project", Value: p.Project + mark("project")},
		{Name: "Workflow filepath", Value: ci + mark("workflow")},
		{Name: "Environment", Value: env + mark("environment")},
	}
	return idtoken.FormatFields("  ", fields)
}

// WorkflowFilepath is crates.io's extract_workflow_filepath
// (crates/crates_io_trustpub/src/gitlab/workflows.rs): what follows the
// first "//" of ci_config_ref_uri up to its last '@', if it ends in .yml
// or .yaml and is more than the extension; "" otherwise. Unlike PyPI,
// crates.io does not compare the host or project ci_config_ref_uri names.
func WorkflowFilepath(ciConfigRefURI string) string {
	i := strings.Index(ciConfigRefURI, "//")
	if i < 0 {
		return ""
	}
	rest := ciConfigRefURI[i+2:]
	j := strings.LastIndexByte(rest, '@')
	if j < 0 {
		return ""
	}
	p := rest[:j]
	if !strings.HasSuffix(p, ".yml") && !strings.HasSuffix(p, ".yaml") {
		return ""
	}
	base := p[strings.LastIndexByte(p, '/')+1:]
	if base == ".yml" || base == ".yaml" {
		return ""
	}
	return p
}

// mismatch is the field crates.io's detail names, if any.
func (e *Error) mismatch() string {
	d := e.Detail
	switch {
	case e.Kind == ErrNoConfig:
		return "project"
	case strings.Contains(d, "does not match the workflow filepath"):
		return "workflow"
	case strings.Contains(d, "environment"):
		return "environment"
	case strings.Contains(d, "namespace ID"):
		return "namespace"
	}
	return ""
}

func (e *Error) explain() string {
	c := e.claims
	reg := option.Ref(OptRegistryURL)
	settings := e.Registry + "/crates/CRATE/settings"
	switch e.Kind {
	case ErrAudience:
		return fmt.Sprintf("Give the job an ID token for this registry: in the job (or the crates component's aud input)\n"+
			"  id_tokens:\n    CRATES_ID_TOKEN:\n      aud: %s\n"+
			"crates.io's audience is its host name, crates.io; check that %s is the registry you mean.\n", e.Audience, reg)
	case ErrNoConfig, ErrMismatch:
		var b strings.Builder
		if e.Kind == ErrNoConfig {
			b.WriteString("crates.io verified the ID token but no crate has a GitLab trusted publishing config for this project.\n")
		} else {
			b.WriteString("crates.io found the project's trusted publishing config, but it does not match this job.\n")
		}
		b.WriteString("A GitLab config matches on four fields; for this job they must read:\n")
		b.WriteString(Publisher(c, e.mismatch()))
		fmt.Fprintf(&b, "Compare them with the crate's config at %s (Trusted Publishing; crates.io compares\n"+
			"namespace, project and environment ignoring case, the workflow filepath exactly; a config without an\n"+
			"environment matches any job). The crate must already be published once with an API token.\n", settings)
		if strings.Contains(e.Detail, "namespace ID") {
			b.WriteString("crates.io remembers the namespace's ID from the first exchange: a namespace deleted and made again\n" +
				"under the same path has another ID. Delete the config on crates.io and add it again.\n")
		}
		return b.String()
	case ErrInvalidToken:
		return fmt.Sprintf("crates.io could not verify the ID token (signature, key, expiry or audience). It must be signed by\n"+
			"%s, unexpired, and have the audience %s (id_tokens: aud:).\n", cmp.Or(c.Issuer, "GitLab"), e.Audience)
	case ErrIssuer:
		return fmt.Sprintf("crates.io trusts ID tokens of GitLab.com only (issuer https://gitlab.com); this token's issuer is %s.\n"+
			"Publish from a project on GitLab.com, or with an API token from a self-managed instance.\n", c.Issuer)
	case ErrReusedToken:
		return "crates.io has already exchanged this ID token (its jti): an ID token is good for one exchange.\n" +
			"Exchange once per job (keyless crates -- cargo publish), or, if an earlier attempt's answer was lost, retry the job.\n"
	case ErrClaims:
		return "crates.io could not read the project path or the pipeline file from the ID token's claims\n" +
			"(project_path, ci_config_ref_uri): the pipeline file must be a .yml or .yaml file.\n"
	case ErrRejected:
		return "crates.io refused the token request; its detail above says why.\n"
	case ErrThrottled:
		return exchange.ThrottledAdvice("crates.io", e.Attempts)
	case ErrTimeout:
		return exchange.TimeoutAdvice(e.Registry)
	case ErrTLS:
		return exchange.TLSAdvice("registry", OptCAFile)
	case ErrBadEndpoint:
		if a, ok := e.RedirectAdvice(e.Status, e.Location, "registry", reg); ok {
			return a
		}
		return fmt.Sprintf("%s does not answer like a registry with trusted publishing (%s%s). Pass the registry's\n"+
			"base URL with %s, e.g. %s; alternative registries (Cloudsmith, Artifactory, GitLab's) have no crates.io trusted publishing.\n",
			e.Registry, e.Registry, TokensPath, reg, DefaultRegistry)
	case ErrBadResponse:
		return fmt.Sprintf("The registry answered with success, but %s. Check that %s is crates.io.\n", e.why, reg)
	}
	return e.LastAdvice(e.Status, e.Registry, reg)
}
