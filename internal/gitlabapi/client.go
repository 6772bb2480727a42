package gitlabapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	gitlab "gitlab.com/gitlab-org/api/client-go"
	"golang.org/x/time/rate"

	"gitlab.com/keyless-ci/keyless/internal/secret"
)

// Defaults of Options.
const (
	DefaultRequestsPerSecond = 10
	DefaultBurst             = 20
	DefaultMaxRetries        = 4
	DefaultMaxRetryWait      = 2 * time.Minute
	perPage                  = 100
)

// Options configure a Client.
type Options struct {
	// BaseURL is the GitLab instance, "https://gitlab.example.com"; a
	// trailing /api/v4 is accepted.
	BaseURL string
	// Token is a personal, group or project access token, sent as
	// PRIVATE-TOKEN. It needs the read_api scope (api for UpsertIssue).
	// A CI_JOB_TOKEN is not accepted: job tokens reach only a few
	// endpoints, and none of the variables, templates or issues ones
	// (https://docs.gitlab.com/ci/jobs/ci_job_token/).
	Token secret.Token
	// HTTPClient carries the requests (its Transport and Timeout are
	// kept); nil means a client with a 60 s timeout per request.
	HTTPClient *http.Client
	// RequestsPerSecond and Burst bound the client's own request rate
	// (defaults 10 and 20), under GitLab's limits so that a large group is
	// walked without 429s (https://docs.gitlab.com/security/rate_limits/).
	RequestsPerSecond float64
	Burst             int
	// MaxRetries bounds the retries of a 429 or 5xx answer (default 4;
	// negative for none). MaxRetryWait is the longest wait accepted
	// between tries (default 2 min); a longer Retry-After fails at once.
	MaxRetries   int
	MaxRetryWait time.Duration
	// UserAgent is sent with every request; "keyless" when empty.
	UserAgent string
	// Now and Sleep are seams for tests; time.Now and a context-aware
	// sleep when nil.
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
}

// Client implements API over client-go.
type Client struct {
	gl *gitlab.Client
	// redact cuts the token out of a text. A closure, not a Token field:
	// %#v prints unexported fields without calling their methods.
	redact func(string) string
	// lim is shared by every request of the client (issue 16).
	lim *limiter

	mu sync.Mutex
	me *User // CurrentUser, cached for UpsertIssue
}

var _ API = (*Client)(nil)

// New returns a Client for the instance and token of opts.
func New(opts Options) (*Client, error) {
	if opts.BaseURL == "" {
		return nil, errors.New("gitlabapi: no GitLab URL given")
	}
	if opts.Token.IsZero() {
		return nil, errors.New("gitlabapi: no GitLab access token given: create a personal, group or project access token with the read_api scope")
	}
	if opts.RequestsPerSecond <= 0 {
		opts.RequestsPerSecond = DefaultRequestsPerSecond
	}
	if opts.Burst <= 0 {
		opts.Burst = DefaultBurst
	}
	switch {
	case opts.MaxRetries == 0:
		opts.MaxRetries = DefaultMaxRetries
	case opts.MaxRetries < 0:
		opts.MaxRetries = 0
	}
	if opts.MaxRetryWait <= 0 {
		opts.MaxRetryWait = DefaultMaxRetryWait
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Sleep == nil {
		opts.Sleep = sleepCtx
	}
	if opts.UserAgent == "" {
		opts.UserAgent = "keyless"
	}
	hc := &http.Client{Timeout: 60 * time.Second}
	if opts.HTTPClient != nil {
		c := *opts.HTTPClient
		hc = &c
	}
	base := hc.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	lim := &limiter{
		rate:    rate.NewLimiter(rate.Limit(opts.RequestsPerSecond), opts.Burst),
		now:     opts.Now,
		sleep:   opts.Sleep,
		maxWait: opts.MaxRetryWait,
	}
	hc.Transport = &transport{
		base:       base,
		lim:        lim,
		maxRetries: opts.MaxRetries,
		maxWait:    opts.MaxRetryWait,
		now:        opts.Now,
		sleep:      opts.Sleep,
	}
	hc.CheckRedirect = checkRedirect

	u := strings.TrimSuffix(strings.TrimSuffix(opts.BaseURL, "/"), "/api/v4")
	gl, err := gitlab.NewClient(opts.Token.Reveal(),
		gitlab.WithURLWarningLogger(slog.New(slog.DiscardHandler)),
		gitlab.WithBaseURL(u+"/api/v4"),
		gitlab.WithHTTPClient(hc),
		gitlab.WithoutRetries(),
		// client-go would otherwise size its own limiter from the first
		// response's RateLimit-Limit; ours is in transport.
		gitlab.WithCustomLimiter(rate.NewLimiter(rate.Inf, 0)),
		gitlab.WithUserAgent(opts.UserAgent),
	)
	if err != nil {
		return nil, fmt.Errorf("gitlabapi: GitLab URL %q: %w", u, err)
	}
	tok := opts.Token
	redact := func(s string) string { return secret.ScrubString(s, tok) }
	return &Client{gl: gl, redact: redact, lim: lim}, nil
}

// Fixes for each status, where the operation has nothing better to say.
const (
	fixUnauthorized = "the token is invalid, expired or revoked: create a personal, group or project access token with the read_api scope (api to publish an issue)"
	fixNotFound     = "check the path, and that the token's user is a member who can see it"
	fixRateLimited  = "GitLab is rate limiting this token: try again later, or lower the request rate"
	fixServer       = "GitLab failed to answer: try again later"
)

// fail turns a client-go error into an *Error. forbidden is the fix for a
// 403 (which role or scope the operation needs).
func (c *Client) fail(err error, resp *gitlab.Response, op, forbidden string) error {
	status := 0
	var er *gitlab.ErrorResponse
	switch {
	case errors.Is(err, gitlab.ErrNotFound):
		status = http.StatusNotFound
	case errors.As(err, &er) && er.Response != nil:
		status = er.Response.StatusCode
	case resp != nil && resp.Response != nil && resp.StatusCode >= 400:
		status = resp.StatusCode
	}
	e := &Error{Op: c.redact(op), Status: status}
	switch {
	case status == http.StatusUnauthorized:
		e.Err, e.Fix = ErrUnauthorized, fixUnauthorized
	case status == http.StatusForbidden:
		e.Err, e.Fix = ErrForbidden, forbidden
		if e.Fix == "" {
			e.Fix = "the token needs the read_api scope and its user a role that may read this"
		}
	case status == http.StatusNotFound:
		e.Err, e.Fix = ErrNotFound, fixNotFound
	case status == http.StatusTooManyRequests:
		e.Err, e.Fix = ErrRateLimited, fixRateLimited
	case status >= 500:
		e.Err, e.Fix = ErrServer, fixServer
	case status != 0:
		e.Err = fmt.Errorf("unexpected status %d", status)
	default:
		// A transport or decoding error: keep it for errors.Is
		// (context.DeadlineExceeded), without the token in its text.
		e.Err = redacted{err: err, msg: c.redact(err.Error())}
	}
	return e
}

// redacted is an error whose text had the token cut out. It keeps the
// text, not the token: %#v prints unexported fields, secret.Token's
// included, without calling their methods.
type redacted struct {
	err error
	msg string
}

func (r redacted) Error() string { return r.msg }

func (r redacted) Unwrap() error { return r.err }

// paginate calls list for each page until there is no next page (keyset
// Link rel="next", or X-Next-Page), and fn for each item.
func paginate[T any](ctx context.Context, list func(...gitlab.RequestOptionFunc) ([]T, *gitlab.Response, error), fn func(T) error) (*gitlab.Response, error) {
	var next gitlab.RequestOptionFunc
	for page := 0; ; page++ {
		opts := []gitlab.RequestOptionFunc{gitlab.WithContext(ctx)}
		if next != nil {
			opts = append(opts, next)
		}
		items, resp, err := list(opts...)
		if err != nil {
			return resp, err
		}
		for _, it := range items {
			if err := fn(it); err != nil {
				return resp, errStop{err}
			}
		}
		n, ok := gitlab.WithNext(resp)
		if !ok || len(items) == 0 {
			return resp, nil
		}
		next = n
	}
}

// errStop is an error returned by a caller's fn, passed through as is.
type errStop struct{ err error }

func (e errStop) Error() string { return e.err.Error() }

func (c *Client) pageErr(err error, resp *gitlab.Response, op, forbidden string) error {
	if s, ok := err.(errStop); ok {
		return s.err
	}
	return c.fail(err, resp, op, forbidden)
}

// CurrentUser implements API.
func (c *Client) CurrentUser(ctx context.Context) (User, error) {
	u, resp, err := c.gl.Users.CurrentUser(gitlab.WithContext(ctx))
	if err != nil {
		return User{}, c.fail(err, resp, "reading the token's user", "the token needs the read_api or read_user scope")
	}
	me := User{ID: u.ID, Username: u.Username, IsAdmin: u.IsAdmin}
	return me, nil
}

func projectOf(p *gitlab.Project) Project {
	return Project{
		ID:                        p.ID,
		PathWithNamespace:         p.PathWithNamespace,
		DefaultBranch:             p.DefaultBranch,
		CIConfigPath:              p.CIConfigPath,
		Archived:                  p.Archived,
		WebURL:                    p.WebURL,
		IDTokenSubClaimComponents: p.CIIdTokenSubClaimComponents,
	}
}

func groupOf(g *gitlab.Group) Group {
	return Group{ID: g.ID, FullPath: g.FullPath, ParentID: g.ParentID, WebURL: g.WebURL}
}

// Project implements API.
func (c *Client) Project(ctx context.Context, project string) (Project, error) {
	p, resp, err := c.gl.Projects.GetProject(project, nil, gitlab.WithContext(ctx))
	if err != nil {
		return Project{}, c.fail(err, resp, fmt.Sprintf("reading project %q", project), "")
	}
	return projectOf(p), nil
}

// Group implements API.
func (c *Client) Group(ctx context.Context, group string) (Group, error) {
	g, resp, err := c.gl.Groups.GetGroup(group, &gitlab.GetGroupOptions{WithProjects: gitlab.Ptr(false)}, gitlab.WithContext(ctx))
	if err != nil {
		return Group{}, c.fail(err, resp, fmt.Sprintf("reading group %q", group), "")
	}
	return groupOf(g), nil
}

// AllGroups implements API with GET /groups and all_available, which
// min_access_level takes precedence over. It pages by offset, ordered by
// id so that a group created during the walk does not shift the pages:
// /groups offers keyset pagination only without authentication.
// https://docs.gitlab.com/api/groups/#list-groups
func (c *Client) AllGroups(ctx context.Context, minRole Role, fn func(Group) error) error {
	opt := &gitlab.ListGroupsOptions{
		ListOptions:  gitlab.ListOptions{PerPage: perPage},
		AllAvailable: gitlab.Ptr(true),
		OrderBy:      gitlab.Ptr("id"),
		Sort:         gitlab.Ptr("asc"),
	}
	if minRole > 0 {
		opt.MinAccessLevel = gitlab.Ptr(gitlab.AccessLevelValue(minRole))
	}
	resp, err := paginate(ctx, func(o ...gitlab.RequestOptionFunc) ([]*gitlab.Group, *gitlab.Response, error) {
		return c.gl.Groups.ListGroups(opt, o...)
	}, func(g *gitlab.Group) error { return fn(groupOf(g)) })
	if err != nil {
		return c.pageErr(err, resp, "listing all groups", "")
	}
	return nil
}

// DescendantGroups implements API.
func (c *Client) DescendantGroups(ctx context.Context, group string, fn func(Group) error) error {
	opt := &gitlab.ListDescendantGroupsOptions{
		ListOptions:  gitlab.ListOptions{PerPage: perPage},
		AllAvailable: gitlab.Ptr(true),
	}
	resp, err := paginate(ctx, func(o ...gitlab.RequestOptionFunc) ([]*gitlab.Group, *gitlab.Response, error) {
		return c.gl.Groups.ListDescendantGroups(group, opt, o...)
	}, func(g *gitlab.Group) error { return fn(groupOf(g)) })
	if err != nil {
		return c.pageErr(err, resp, fmt.Sprintf("listing subgroups of %q", group), "")
	}
	return nil
}

// GroupProjects implements API. The group projects endpoint has offset
// pagination only (keyset is documented for /projects), ordered by id so
// that a project created during the walk does not shift the pages.
// https://docs.gitlab.com/api/rest/#keyset-based-pagination
func (c *Client) GroupProjects(ctx context.Context, group string, includeSubgroups bool, fn func(Project) error) error {
	opt := &gitlab.ListGroupProjectsOptions{
		ListOptions:      gitlab.ListOptions{PerPage: perPage},
		IncludeSubGroups: gitlab.Ptr(includeSubgroups),
		OrderBy:          gitlab.Ptr("id"),
		Sort:             gitlab.Ptr("asc"),
	}
	resp, err := paginate(ctx, func(o ...gitlab.RequestOptionFunc) ([]*gitlab.Project, *gitlab.Response, error) {
		return c.gl.Groups.ListGroupProjects(group, opt, o...)
	}, func(p *gitlab.Project) error { return fn(projectOf(p)) })
	if err != nil {
		return c.pageErr(err, resp, fmt.Sprintf("listing projects of group %q", group), "")
	}
	return nil
}

// AllProjects implements API with keyset pagination, which /projects
// offers when ordered by id and which is not capped at 50,000 projects as
// offset pagination is. https://docs.gitlab.com/api/rest/#keyset-based-pagination
func (c *Client) AllProjects(ctx context.Context, fn func(Project) error) error {
	opt := &gitlab.ListProjectsOptions{
		ListOptions: gitlab.ListOptions{Pagination: "keyset", PerPage: perPage, OrderBy: "id", Sort: "asc"},
	}
	resp, err := paginate(ctx, func(o ...gitlab.RequestOptionFunc) ([]*gitlab.Project, *gitlab.Response, error) {
		return c.gl.Projects.ListProjects(opt, o...)
	}, func(p *gitlab.Project) error { return fn(projectOf(p)) })
	if err != nil {
		return c.pageErr(err, resp, "listing all projects", "")
	}
	return nil
}

func variableOf(key string, typ gitlab.VariableTypeValue, protected, masked, hidden, raw bool, scope, desc, value string) Variable {
	v := Variable{
		Key: key, Type: VariableType(typ), Protected: protected, Masked: masked,
		Hidden: hidden, Raw: raw, EnvironmentScope: scope, Description: desc,
	}
	if v.Type == "" {
		v.Type = EnvVar
	}
	if !hidden {
		v.Value = secret.New(value)
	}
	return v
}

// ProjectVariables implements API.
// https://docs.gitlab.com/api/project_level_variables/
func (c *Client) ProjectVariables(ctx context.Context, project string) ([]Variable, error) {
	var out []Variable
	opt := &gitlab.ListProjectVariablesOptions{ListOptions: gitlab.ListOptions{PerPage: perPage}}
	resp, err := paginate(ctx, func(o ...gitlab.RequestOptionFunc) ([]*gitlab.ProjectVariable, *gitlab.Response, error) {
		return c.gl.ProjectVariables.ListVariables(project, opt, o...)
	}, func(v *gitlab.ProjectVariable) error {
		out = append(out, variableOf(v.Key, v.VariableType, v.Protected, v.Masked, v.Hidden, v.Raw, v.EnvironmentScope, v.Description, v.Value))
		return nil
	})
	if err != nil {
		return nil, c.pageErr(err, resp, fmt.Sprintf("reading project variables of %q", project),
			"the token needs the read_api or api scope and its user the Maintainer role on the project")
	}
	return out, nil
}

// GroupVariables implements API.
// https://docs.gitlab.com/api/group_level_variables/
func (c *Client) GroupVariables(ctx context.Context, group string) ([]Variable, error) {
	var out []Variable
	opt := &gitlab.ListGroupVariablesOptions{ListOptions: gitlab.ListOptions{PerPage: perPage}}
	resp, err := paginate(ctx, func(o ...gitlab.RequestOptionFunc) ([]*gitlab.GroupVariable, *gitlab.Response, error) {
		return c.gl.GroupVariables.ListVariables(group, opt, o...)
	}, func(v *gitlab.GroupVariable) error {
		out = append(out, variableOf(v.Key, v.VariableType, v.Protected, v.Masked, v.Hidden, v.Raw, v.EnvironmentScope, v.Description, v.Value))
		return nil
	})
	if err != nil {
		return nil, c.pageErr(err, resp, fmt.Sprintf("reading group variables of %q", group),
			"the token needs the read_api or api scope and its user a role that may manage the group's CI/CD variables (Owner, or Maintainer where the group allows it)")
	}
	return out, nil
}

// InstanceVariables implements API. Instance variables have no
// environment scope and cannot be hidden.
// https://docs.gitlab.com/api/instance_level_ci_variables/
func (c *Client) InstanceVariables(ctx context.Context) ([]Variable, error) {
	var out []Variable
	opt := &gitlab.ListInstanceVariablesOptions{ListOptions: gitlab.ListOptions{PerPage: perPage}}
	resp, err := paginate(ctx, func(o ...gitlab.RequestOptionFunc) ([]*gitlab.InstanceVariable, *gitlab.Response, error) {
		return c.gl.InstanceVariables.ListVariables(opt, o...)
	}, func(v *gitlab.InstanceVariable) error {
		out = append(out, variableOf(v.Key, v.VariableType, v.Protected, v.Masked, false, v.Raw, "*", v.Description, v.Value))
		return nil
	})
	if err != nil {
		return nil, c.pageErr(err, resp, "reading instance variables",
			"instance variables need an administrator's token with the read_api or api scope; leave out the instance level otherwise")
	}
	return out, nil
}

// File implements API.
// https://docs.gitlab.com/api/repository_files/#get-raw-file-from-repository
func (c *Client) File(ctx context.Context, project, path, ref string) ([]byte, error) {
	opt := &gitlab.GetRawFileOptions{}
	if ref != "" {
		opt.Ref = gitlab.Ptr(ref)
	}
	b, resp, err := c.gl.RepositoryFiles.GetRawFile(project, strings.TrimPrefix(path, "/"), opt, gitlab.WithContext(ctx))
	if err != nil {
		at := ref
		if at == "" {
			at = "the default branch"
		}
		return nil, c.fail(err, resp, fmt.Sprintf("reading %q of project %q at %q", path, project, at),
			"the token needs the read_api or read_repository scope and its user at least the Reporter role on the project")
	}
	return b, nil
}

// CITemplate implements API.
// https://docs.gitlab.com/api/templates/gitlab_ci_ymls/#single-gitlab-ci-yaml-template
func (c *Client) CITemplate(ctx context.Context, key string) ([]byte, error) {
	t, resp, err := c.gl.CIYMLTemplate.GetTemplate(key, gitlab.WithContext(ctx))
	if err != nil {
		return nil, c.fail(err, resp, fmt.Sprintf("reading CI/CD template %q", key), "")
	}
	return []byte(t.Content), nil
}

// ReleaseTags implements API.
// https://docs.gitlab.com/api/releases/#list-releases
func (c *Client) ReleaseTags(ctx context.Context, project string) ([]string, error) {
	var out []string
	opt := &gitlab.ListReleasesOptions{ListOptions: gitlab.ListOptions{PerPage: perPage}}
	resp, err := paginate(ctx, func(o ...gitlab.RequestOptionFunc) ([]*gitlab.Release, *gitlab.Response, error) {
		return c.gl.Releases.ListReleases(project, opt, o...)
	}, func(r *gitlab.Release) error {
		out = append(out, r.TagName)
		return nil
	})
	if err != nil {
		return nil, c.pageErr(err, resp, fmt.Sprintf("listing releases of %q", project), "")
	}
	return out, nil
}

// UpsertIssue implements API. It lists the user's open issues rather than
// using the search parameter, whose full-text matching can miss a title
// with punctuation and so open a duplicate issue.
// https://docs.gitlab.com/api/issues/#list-project-issues
func (c *Client) UpsertIssue(ctx context.Context, project, title, body string) (Issue, error) {
	c.mu.Lock()
	me := c.me
	c.mu.Unlock()
	if me == nil {
		u, err := c.CurrentUser(ctx)
		if err != nil {
			return Issue{}, err
		}
		me = &u
		c.mu.Lock()
		c.me = me
		c.mu.Unlock()
	}
	const forbidden = "the token needs the api scope and its user at least the Planner or Reporter role on the project"
	opt := &gitlab.ListProjectIssuesOptions{
		ListOptions: gitlab.ListOptions{PerPage: perPage},
		State:       gitlab.Ptr("opened"),
		AuthorID:    gitlab.Ptr(me.ID),
	}
	var found *gitlab.Issue
	resp, err := paginate(ctx, func(o ...gitlab.RequestOptionFunc) ([]*gitlab.Issue, *gitlab.Response, error) {
		return c.gl.Issues.ListProjectIssues(project, opt, o...)
	}, func(is *gitlab.Issue) error {
		if found == nil && is.Title == title && is.State == "opened" {
			found = is
		}
		return nil
	})
	if err != nil {
		return Issue{}, c.pageErr(err, resp, fmt.Sprintf("searching the issues of %q", project), forbidden)
	}
	if found != nil {
		is, resp, err := c.gl.Issues.UpdateIssue(project, found.IID, &gitlab.UpdateIssueOptions{Description: gitlab.Ptr(body)}, gitlab.WithContext(ctx))
		if err != nil {
			return Issue{}, c.fail(err, resp, fmt.Sprintf("updating issue %d of %q", found.IID, project), forbidden)
		}
		return Issue{IID: is.IID, WebURL: is.WebURL}, nil
	}
	is, resp, err := c.gl.Issues.CreateIssue(project, &gitlab.CreateIssueOptions{Title: gitlab.Ptr(title), Description: gitlab.Ptr(body)}, gitlab.WithContext(ctx))
	if err != nil {
		return Issue{}, c.fail(err, resp, fmt.Sprintf("creating an issue in %q", project), forbidden)
	}
	return Issue{IID: is.IID, WebURL: is.WebURL, Created: true}, nil
}
