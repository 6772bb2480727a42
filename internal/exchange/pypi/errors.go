package pypi

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

// Sentinel kinds of failure; test with errors.Is. The codes are those
// warehouse/oidc/views.py answers with.
var (
	ErrInvalidPublisher = errors.New("no trusted publisher matches the job")           // invalid-publisher
	ErrInvalidToken     = errors.New("ID token refused")                               // invalid-token
	ErrInvalidPayload   = errors.New("ID token not accepted")                          // invalid-payload
	ErrNotEnabled       = errors.New("trusted publishing not enabled")                 // not-enabled, audience 403
	ErrPendingPublisher = errors.New("pending publisher for an existing project")      // invalid-pending-publisher
	ErrReusedToken      = errors.New("ID token already used")                          // invalid-reuse-token
	ErrRejected         = errors.New("token request refused")                          // another code
	ErrAudience         = errors.New("ID token is not for this index")                 // aud lacks the index's audience
	ErrBadEndpoint      = errors.New("not an index with trusted publishing")           // 404, 405, redirects, HTML
	ErrBadResponse      = errors.New("answer does not follow PyPI's documented shape") // 2xx without a usable body
)

// The failures every provider shares, under the names callers know.
var (
	ErrThrottled   = exchange.ErrThrottled
	ErrTimeout     = exchange.ErrTimeout
	ErrUnavailable = exchange.ErrUnavailable
	ErrTLS         = exchange.ErrTLS
)

var codeKinds = map[string]error{
	"invalid-publisher":         ErrInvalidPublisher,
	"invalid-token":             ErrInvalidToken,
	"invalid-payload":           ErrInvalidPayload,
	"not-enabled":               ErrNotEnabled,
	"invalid-pending-publisher": ErrPendingPublisher,
	"invalid-reuse-token":       ErrReusedToken,
}

// Error is a failed exchange, explained. Its message never holds the ID
// token or a minted token: PyPI's words are scrubbed of the ID token and
// of anything shaped like a JWT, and a successful answer is never quoted.
type Error struct {
	exchange.Failure
	Step        string // "audience" or "mint-token"
	Status      int
	Code        string
	Description string
	Index       string // DisplayURL of the index
	Audience    string // the index's audience, when known
	Location    string

	claims idtoken.Claims
	fields []idtoken.Field
	why    string
}

func newError(f *failure, o Options, tok *idtoken.Token, attempts int) *Error {
	secrets := []secret.Token{tok.Raw}
	e := &Error{
		Failure:  exchange.NewFailure(f.transport, attempts),
		Step:     f.step,
		Status:   f.status,
		Index:    exchange.DisplayURL(o.Index()),
		Audience: f.audience,
		claims:   tok.Claims,
		fields:   tok.SafeFields(o.Clock()()),
	}
	switch {
	case f.transport != nil:
		e.NoAnswer(f.transport, secrets...)
		if e.Redirect != nil {
			e.Kind, e.Location = ErrBadEndpoint, e.Redirect.Target
		}
		return e
	case f.status == 0 && f.audience != "":
		e.Kind = ErrAudience
		return e
	case f.badBody != "":
		e.Kind, e.why = ErrBadResponse, f.badBody
		return e
	case f.status >= 300 && f.status < 400:
		e.Kind = ErrBadEndpoint
		if f.location != "" {
			e.Location = exchange.DisplayURL(f.location)
		}
		return e
	}
	e.Code = exchange.Printable(secret.ScrubString(f.code, secrets...), 64)
	e.Description = exchange.Printable(secret.ScrubString(cmp.Or(f.description, f.message), secrets...), 500)
	e.Kind = exchange.StatusKind(f.status, ErrBadEndpoint)
	switch {
	case e.Kind != nil:
	case codeKinds[f.code] != nil:
		e.Kind = codeKinds[f.code]
	case f.status == 403 && f.step == stepAudience && f.message != "":
		e.Kind = ErrNotEnabled
	case f.code != "":
		e.Kind = ErrRejected
	default:
		e.Kind = ErrBadEndpoint
	}
	return e
}

func (e *Error) Error() string { return option.Plain(e.Text()) }

// Text is the message with its options as references (package option).
func (e *Error) Text() string {
	what := fmt.Sprintf("pypi: %s at %s failed", e.Step, e.Index)
	if e.Kind == ErrAudience {
		what = fmt.Sprintf("pypi: the ID token's aud %q does not include %q, the audience %s asks for; the token was not sent",
			strings.Join(e.claims.Audience, ","), e.Audience, e.Index)
	}
	h := exchange.Headline{What: what, Status: e.Status, Code: e.Code, Description: e.Description, Message: e.Message, Attempts: e.Attempts}
	return h.Text(e.explain(), "PyPI", e.fields)
}

// Publisher lists, field by field, the trusted publisher a GitLab job
// matches on PyPI (warehouse/oidc/models/gitlab.py), with the claim each
// comes from; mismatch names the field PyPI said did not match, if any.
func Publisher(c idtoken.Claims, mismatch string) string {
	p := c.GitLabPublisher()
	mark := func(field string) string {
		if field == mismatch {
			return "   <- PyPI: does not match"
		}
		return ""
	}
	ci := p.CIFile
	if ci == "" {
		ci = "(none: ci_config_ref_uri names no file of this project)"
	}
	env := p.Environment
	if env == "" {
		env = "(none: the job has no environment:, so the publisher must have none)"
	}
	fields := []idtoken.Field{
		{Name: "Namespace", Value: p.Namespace + mark("namespace")},
		{Name: "Project name", Value: p.Project + mark("project")},
		{Name: "Top-level pipeline file path", Value: ci + mark("ci_config_ref_uri")},
		{Name: "Environment name", Value: env + mark("environment")},
	}
	return idtoken.FormatFields("  ", fields)
}

// mismatch is the claim warehouse's description names, if any.
func (e *Error) mismatch() string {
	d := e.Description
	for _, c := range []string{"ci_config_ref_uri", "environment", "project_path", "sub"} {
		if strings.Contains(d, "The "+c+" claim") || strings.Contains(d, "Check failed for required claim '"+c+"'") ||
			strings.Contains(d, "Check failed for optional claim '"+c+"'") {
			switch c {
			case "project_path", "sub":
				return "project"
			}
			return c
		}
	}
	return ""
}

func (e *Error) explain() string {
	c := e.claims
	p := c.GitLabPublisher()
	idx := option.Ref(OptIndexURL)
	settings := fmt.Sprintf("%s/manage/project/PROJECT/settings/publishing/", e.Index)
	switch e.Kind {
	case ErrAudience:
		return fmt.Sprintf("Give the job an ID token for this index: in the job (or the pypi component's aud input)\n"+
			"  id_tokens:\n    PYPI_ID_TOKEN:\n      aud: %s\n"+
			"PyPI's audience is pypi, TestPyPI's testpypi; check that %s is the index you mean.\n", e.Audience, idx)
	case ErrInvalidPublisher:
		var b strings.Builder
		b.WriteString("PyPI verified the ID token but no trusted publisher of the project matches this job. A GitLab\n" +
			"trusted publisher matches on four fields; for this job they must read:\n")
		b.WriteString(Publisher(c, e.mismatch()))
		fmt.Fprintf(&b, "Compare them with the publisher at %s (PyPI compares namespace and\n"+
			"project ignoring case; the pipeline file is the project's top-level .gitlab-ci.yml path, not an included\n"+
			"file; a publisher with an environment matches only jobs with that environment:). Print what to\n"+
			"register with 'keyless policy pypi --project %s'.\n", settings, cmp.Or(c.ProjectPath, "PATH"))
		if p.CIFile == "" {
			b.WriteString("This job's ci_config_ref_uri names no file of this project (the pipeline configuration comes from\n" +
				"another project or a URL): PyPI then matches no publisher. Run the release job from the project's own\n" +
				"pipeline configuration.\n")
		}
		if p.CIConfigHost != "" && p.CIConfigHost != "gitlab.com" {
			fmt.Fprintf(&b, "The token is from %s, not GitLab.com: PyPI's GitLab publisher trusts gitlab.com, and other\n"+
				"instances only as an organization's custom issuer.\n", p.CIConfigHost)
		}
		return b.String()
	case ErrInvalidToken:
		return fmt.Sprintf("PyPI could not verify the ID token (signature, expiry or audience). It must be signed by\n"+
			"%s, unexpired, and have the audience %s (id_tokens: aud:).\n", c.Issuer, cmp.Or(e.Audience, "pypi"))
	case ErrInvalidPayload:
		return fmt.Sprintf("PyPI did not accept the ID token as one of a trusted publishing issuer it knows. PyPI trusts\n"+
			"GitLab.com (iss https://gitlab.com) and, for organizations, custom issuers they register; this token's\n"+
			"issuer is %s. On a self-managed GitLab, ask the PyPI organization to add the instance as a custom issuer,\n"+
			"or publish from GitLab.com.\n", c.Issuer)
	case ErrNotEnabled:
		return fmt.Sprintf("%s has trusted publishing (or GitLab's) switched off. Check %s, or wait until the index\n"+
			"enables it again (PyPI announces outages at https://status.python.org).\n", e.Index, idx)
	case ErrPendingPublisher:
		return fmt.Sprintf("A pending publisher exists for a project name that is now taken. Add the trusted publisher to the\n"+
			"existing project instead (%s), and remove the pending one.\n", settings)
	case ErrReusedToken:
		return "PyPI has already minted a token for this ID token (its jti): an ID token is good for one exchange.\n" +
			"Exchange once per job (keyless pypi -- CMD), or, if an earlier attempt's answer was lost, retry the job.\n"
	case ErrRejected:
		return "PyPI refused the token request; its description above says why.\n"
	case ErrThrottled:
		return exchange.ThrottledAdvice("PyPI", e.Attempts)
	case ErrTimeout:
		return exchange.TimeoutAdvice(e.Index)
	case ErrTLS:
		return exchange.TLSAdvice("index", OptCAFile)
	case ErrBadEndpoint:
		if a, ok := e.RedirectAdvice(e.Status, e.Location, "index", idx); ok {
			return a
		}
		return fmt.Sprintf("%s does not answer like an index with trusted publishing (%s%s). Pass the index's base\n"+
			"URL with %s, e.g. %s or %s; private indexes (devpi, pypiserver, GitLab's) have no trusted publishing.\n",
			e.Index, e.Index, AudiencePath, idx, DefaultIndex, TestIndex)
	case ErrBadResponse:
		return fmt.Sprintf("The index answered with success, but %s. Check that %s is PyPI or TestPyPI.\n", e.why, idx)
	}
	return e.LastAdvice(e.Status, e.Index, idx)
}
