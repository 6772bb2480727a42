package npm

import (
	"cmp"
	"errors"
	"fmt"
	"strings"

	"gitlab.com/keyless-ci/keyless/internal/exchange"
	"gitlab.com/keyless-ci/keyless/internal/idtoken"
	"gitlab.com/keyless-ci/keyless/internal/option"
	"gitlab.com/keyless-ci/keyless/internal/secret"
)

// Sentinel kinds of failure; test with errors.Is.
var (
	// ErrNotFound: 404 "OIDC token exchange error - package not found": no
	// such package, or none with a trusted publisher (npm/cli#8678).
	ErrNotFound = errors.New("package not found or without a trusted publisher")
	// ErrUnauthorized: 401 or 403, the registry refused the ID token or
	// found no trusted publisher matching it.
	ErrUnauthorized = errors.New("ID token refused")
	ErrAudience     = errors.New("ID token is not for this registry")      // aud lacks npm:HOST
	ErrBadEndpoint  = errors.New("not a registry with trusted publishing") // 405, redirects, HTML
	ErrBadResponse  = errors.New("answer has no token")                    // 2xx without a usable body
	ErrRejected     = errors.New("token exchange refused")                 // another 4xx
)

// The failures every provider shares.
var (
	ErrThrottled   = exchange.ErrThrottled
	ErrTimeout     = exchange.ErrTimeout
	ErrUnavailable = exchange.ErrUnavailable
	ErrTLS         = exchange.ErrTLS
)

// Error is a failed exchange, explained. Its message never holds the ID
// token or an issued token.
type Error struct {
	exchange.Failure
	Status   int
	Reason   string // the registry's message, scrubbed
	Registry string // DisplayURL
	Package  string
	Audience string
	Location string

	claims idtoken.Claims
	fields []idtoken.Field
	why    string
}

func newError(f *failure, o Options, tok *idtoken.Token, attempts int) *Error {
	secrets := []secret.Token{tok.Raw}
	e := &Error{
		Failure:  exchange.NewFailure(f.transport, attempts),
		Status:   f.status,
		Registry: exchange.DisplayURL(o.RegistryURL()),
		Package:  o.Package,
		Audience: o.Audience(),
		claims:   tok.Claims,
		fields:   tok.SafeFields(o.Clock()()),
	}
	switch {
	case f.audience:
		e.Kind = ErrAudience
	case f.transport != nil:
		e.NoAnswer(f.transport, secrets...)
		if e.Redirect != nil {
			e.Kind, e.Location = ErrBadEndpoint, e.Redirect.Target
		}
	case f.badBody != "":
		e.Kind, e.why = ErrBadResponse, f.badBody
	default:
		e.Reason = exchange.Printable(secret.ScrubString(f.message, secrets...), 300)
		e.Kind = exchange.StatusKind(f.status, ErrBadEndpoint)
		switch s := f.status; {
		case e.Kind != nil:
		case s >= 300 && s < 400:
			e.Kind = ErrBadEndpoint
			if f.location != "" {
				e.Location = exchange.DisplayURL(f.location)
			}
		case s == 404 && f.message != "":
			e.Kind = ErrNotFound
		case s == 401 || s == 403:
			e.Kind = ErrUnauthorized
		case f.message != "" && s >= 400 && s != 404 && s != 405:
			e.Kind = ErrRejected
		default:
			e.Kind = ErrBadEndpoint
		}
	}
	return e
}

func (e *Error) Error() string { return option.Plain(e.Text()) }

// Text is the message with its options as references (package option).
func (e *Error) Text() string {
	what := fmt.Sprintf("npm: token exchange for %s at %s failed", e.Package, e.Registry)
	if e.Kind == ErrAudience {
		what = fmt.Sprintf("npm: the ID token's aud %q does not include %q, the audience %s expects; the token was not sent",
			strings.Join(e.claims.Audience, ","), e.Audience, e.Registry)
	}
	h := exchange.Headline{What: what, Status: e.Status, Description: e.Reason, Message: e.Message, Attempts: e.Attempts}
	return h.Text(e.explain(), "the registry", e.fields)
}

// Publisher lists the fields of npm's GitLab CI/CD trusted publisher
// (https://docs.npmjs.com/trusted-publishers) as this job must match them.
func Publisher(c idtoken.Claims) string {
	p := c.GitLabPublisher()
	ci := cmp.Or(p.CIFile, "(none: ci_config_ref_uri names no file of this project)")
	env := cmp.Or(p.Environment, "(none: the job has no environment:, so leave it empty)")
	return idtoken.FormatFields("  ", []idtoken.Field{
		{Name: "Namespace", Value: p.Namespace},
		{Name: "Project name", Value: p.Project},
		{Name: "Top-level CI file path", Value: ci},
		{Name: "Environment name", Value: env},
	})
}

func (e *Error) explain() string {
	c := e.claims
	reg, pkg := option.Ref(OptRegistry), option.Ref(OptPackage)
	settings := fmt.Sprintf("https://www.npmjs.com/package/%s/access", e.Package)
	publisher := "npm matches a GitLab CI/CD trusted publisher on four fields; for this job they must read:\n" + Publisher(c) +
		fmt.Sprintf("Compare them with the package's trusted publisher (%s, Trusted Publisher).\n"+
			"Print them with 'keyless policy npm --project %s'.\n", settings, cmp.Or(c.ProjectPath, "PATH"))
	switch e.Kind {
	case ErrAudience:
		return fmt.Sprintf("Give the job an ID token for this registry: in the job (or the npm component's aud input)\n"+
			"  id_tokens:\n    NPM_ID_TOKEN:\n      aud: %s\n"+
			"and check that %s is the registry you publish to.\n", e.Audience, reg)
	case ErrNotFound:
		return fmt.Sprintf("The registry knows no package %s with a trusted publisher. Trusted publishing cannot create a\n"+
			"package: publish its first version another way, then add a trusted publisher to it. Check the\n"+
			"name (%s, as in package.json, with its @scope).\n", e.Package, pkg) + publisher
	case ErrUnauthorized:
		return fmt.Sprintf("The registry refused the ID token for %s: no trusted publisher of the package matches this job,\n"+
			"or the token is not one it accepts (GitLab.com's, aud %s).\n", e.Package, e.Audience) + publisher
	case ErrRejected:
		return "The registry refused the exchange; its message above says why.\n" + publisher
	case ErrThrottled:
		return exchange.ThrottledAdvice("The registry", e.Attempts)
	case ErrTimeout:
		return exchange.TimeoutAdvice(e.Registry)
	case ErrTLS:
		return exchange.TLSAdvice("registry", OptCAFile)
	case ErrBadEndpoint:
		if a, ok := e.RedirectAdvice(e.Status, e.Location, "registry", reg); ok {
			return a
		}
		return fmt.Sprintf("%s does not answer like a registry with trusted publishing (%s). Pass npm's registry with\n"+
			"%s (%s); private registries (Verdaccio, Artifactory, GitLab's) have no ID token exchange.\n",
			e.Registry, ExchangePath+"NAME", reg, DefaultRegistry)
	case ErrBadResponse:
		return fmt.Sprintf("The registry answered with success, but %s. Check that %s is npm's registry.\n", e.why, reg)
	}
	return e.LastAdvice(e.Status, e.Registry, reg)
}
