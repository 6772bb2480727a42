// Package gitlabtest is a fake GitLab REST API (v4) for tests: the
// endpoints keyless uses, with GitLab's documented JSON shapes, path
// encoding, offset and keyset pagination, error bodies, rate limiting and
// scripted faults. It is driven through the real client-go.
//
//	s := gitlabtest.New(t)
//	s.AddProject("group/sub/p")
//	s.AddVariable("group/sub/p", gitlabtest.Variable{Key: "AWS_SECRET_ACCESS_KEY", Value: "..."})
//	s.AddFile("group/sub/p", "main", ".gitlab-ci.yml", "...")
//	// s.URL, s.Token
//
// Access is coarse: every project and group is visible to every valid
// token; Forbid makes paths answer 403; instance variables need an admin
// token; Group.Role is every user's role in a group, which the group
// lists filter on (GET /groups lists every group for an admin, the
// groups the user is a member of otherwise). Real GitLab returns CI settings (ci_config_path,
// ci_id_token_sub_claim_components) only to maintainers; the fake always
// does.
package gitlabtest

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Server is the fake. Set its exported fields before the first request
// or under no concurrent use.
type Server struct {
	*httptest.Server

	// Token is the valid token of the default user (ID 1, "keyless-bot").
	Token string
	// Admin makes the default user an administrator.
	Admin bool
	// RateLimit, when positive, is the number of requests allowed per
	// minute of Now; the next ones are answered 429 until the minute ends.
	RateLimit int
	// RetryAfter is the Retry-After of a 429 (default 1 s).
	RetryAfter time.Duration
	// Now is the server's clock (default: a fixed time that Advance moves;
	// time.Now for NewServer).
	Now func() time.Time
	// Latency, when positive, delays every request by that long before it
	// is answered (the request's context ends the wait early), standing
	// for the network and GitLab's own time. /-/stats is not delayed.
	Latency time.Duration
	// LatencyJitter, when positive, adds to each request's Latency a
	// random part below it: requests then reach the rate limit later and
	// in another order than they were sent, as over a busy network or
	// host (issue 16).
	LatencyJitter time.Duration
	// jitter draws the random part (rand.N when nil): tests fix it.
	jitter func(time.Duration) time.Duration
	// TokenRateLimit, when positive, is GitLab's authenticated API limit:
	// requests allowed per minute per token (GitLab.com: 2,000), counted in
	// windows aligned on the minute of Now as Rack::Attack does. Every
	// answer carries RateLimit-Name, -Limit, -Observed, -Remaining, -Reset
	// and -ResetTime; the requests past the limit are answered 429 with
	// Retry-After, the whole seconds to the window's end (at least 1).
	// Throttled requests count too, as in GitLab. A request of a token
	// that arrives inside a Retry-After it was given (by this limit,
	// RateLimit or Throttle) is answered 429 with the rest of the wait,
	// and counted in Stats.InRetryAfter (issue 16).
	TokenRateLimit int
	// TokenRatePeriod is the length of TokenRateLimit's windows (default
	// a minute), GitLab's "Authenticated API rate limit period in
	// seconds". https://docs.gitlab.com/administration/settings/user_and_ip_rate_limits/
	TokenRatePeriod time.Duration
	// NoRequestLog stops recording requests for Requests (a long-running
	// server would grow without bound); Stats still counts them.
	NoRequestLog bool
	// StatsEndpoint serves GET /-/stats: Stats as JSON, outside the API
	// (no token, latency or rate limit). NewServer sets it.
	StatsEndpoint bool

	mu        sync.Mutex
	clock     time.Time
	users     map[string]*user // by token
	groups    []*Group
	projects  []*Project
	vars      map[string][]Variable // "" instance, else "g:<id>" or "p:<id>"
	files     map[string]string     // project id, ref, path
	templates map[string]string
	releases  map[int64][]string // newest last
	issues    map[int64][]*issue
	commits   map[int64][]Commit        // mergerequests.go
	mrs       map[int64][]*mergeRequest // mergerequests.go
	forbid    []string
	throttle  int
	faults    []int
	window    time.Time
	inWindow  int
	requests  []Request
	nextID    int64

	// Indexes of the slices above, for instances of thousands of
	// projects. Lookups check what they find against the fields (which
	// tests may change) and fall back to a scan.
	projByID    map[int64]*Project
	projByPath  map[string]*Project // lower-cased path
	groupByID   map[int64]*Group
	groupByPth  map[string]*Group // lower-cased path
	refs        map[string]bool   // fileKey(id, ref, "")
	tokWindows  map[string]*tokenWindow
	retryAfter  map[string]*retryWindow // by token, see inRetryAfter
	stats       Stats
	statsRoutes map[string]int64
	statsCodes  map[int]int64
}

type user struct {
	ID       int64
	Username string
	Admin    bool
}

// Group is a group of the fake.
type Group struct {
	ID       int64
	FullPath string
	ParentID int64
	// Role is the role every token's user has in the group (AddGroup:
	// 50, Owner; 0, not a member): what min_access_level, owned and the
	// member-only lists of GET /groups filter on.
	Role int
}

// Project is a project of the fake; change its fields before requests.
type Project struct {
	ID                        int64
	PathWithNamespace         string
	NamespaceID               int64
	DefaultBranch             string
	CIConfigPath              string
	Archived                  bool
	IDTokenSubClaimComponents []string
}

// Variable is a CI/CD variable. Type defaults to env_var and
// EnvironmentScope to "*".
type Variable struct {
	Key              string
	Value            string
	Type             string
	Protected        bool
	Masked           bool
	Hidden           bool
	Raw              bool
	EnvironmentScope string
	Description      string
}

type issue struct {
	ID          int64
	IID         int64
	ProjectID   int64
	Title       string
	Description string
	State       string
	AuthorID    int64
	Author      string
	WebURL      string
	CreatedAt   time.Time
}

// Request is one request the fake answered.
type Request struct {
	Method string
	Path   string // escaped, as sent: /api/v4/projects/g%2Fp
	Query  url.Values
	Status int
}

// New starts a fake closed when t ends.
func New(t testing.TB) *Server {
	s := newServer()
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

// newServer is a Server with its data and clock, without an HTTP server.
func newServer() *Server {
	s := &Server{
		Token:       "glpat-gitlabtest-token",
		clock:       time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC),
		users:       map[string]*user{},
		vars:        map[string][]Variable{},
		files:       map[string]string{},
		templates:   map[string]string{},
		releases:    map[int64][]string{},
		issues:      map[int64][]*issue{},
		nextID:      100,
		projByID:    map[int64]*Project{},
		projByPath:  map[string]*Project{},
		groupByID:   map[int64]*Group{},
		groupByPth:  map[string]*Group{},
		refs:        map[string]bool{},
		tokWindows:  map[string]*tokenWindow{},
		retryAfter:  map[string]*retryWindow{},
		statsRoutes: map[string]int64{},
		statsCodes:  map[int]int64{},
	}
	s.Now = func() time.Time {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.clock
	}
	return s
}

// Advance moves the default clock.
func (s *Server) Advance(d time.Duration) {
	s.mu.Lock()
	s.clock = s.clock.Add(d)
	s.mu.Unlock()
}

// AddUser adds a token for another user.
func (s *Server) AddUser(token, username string, admin bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextID++
	s.users[token] = &user{ID: s.nextID, Username: username, Admin: admin}
}

// AddGroup adds a group and its missing ancestors.
func (s *Server) AddGroup(fullPath string) *Group {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addGroup(fullPath)
}

func (s *Server) addGroup(fullPath string) *Group {
	if g := s.groupByPath(fullPath); g != nil {
		return g
	}
	var parent int64
	if i := strings.LastIndexByte(fullPath, '/'); i > 0 {
		parent = s.addGroup(fullPath[:i]).ID
	}
	s.nextID++
	g := &Group{ID: s.nextID, FullPath: fullPath, ParentID: parent, Role: 50}
	s.groups = append(s.groups, g)
	s.groupByID[g.ID] = g
	s.groupByPth[strings.ToLower(fullPath)] = g
	return g
}

// AddProject adds a project (default branch "main") and its groups.
func (s *Server) AddProject(pathWithNamespace string) *Project {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := s.projectByPath(pathWithNamespace); p != nil {
		return p
	}
	i := strings.LastIndexByte(pathWithNamespace, '/')
	if i <= 0 {
		panic("gitlabtest: project path needs a namespace: " + pathWithNamespace)
	}
	g := s.addGroup(pathWithNamespace[:i])
	s.nextID++
	p := &Project{
		ID: s.nextID, PathWithNamespace: pathWithNamespace, NamespaceID: g.ID,
		DefaultBranch:             "main",
		IDTokenSubClaimComponents: []string{"project_path", "ref_type", "ref"},
	}
	s.projects = append(s.projects, p)
	s.projByID[p.ID] = p
	s.projByPath[strings.ToLower(pathWithNamespace)] = p
	return p
}

// AddVariable adds a variable to a project or group (by full path), or to
// the instance when owner is "".
func (s *Server) AddVariable(owner string, v Variable) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v.Type == "" {
		v.Type = "env_var"
	}
	if v.EnvironmentScope == "" {
		v.EnvironmentScope = "*"
	}
	key := ""
	switch {
	case owner == "":
	case s.projectByPath(owner) != nil:
		key = fmt.Sprintf("p:%d", s.projectByPath(owner).ID)
	case s.groupByPath(owner) != nil:
		key = fmt.Sprintf("g:%d", s.groupByPath(owner).ID)
	default:
		panic("gitlabtest: no project or group " + owner)
	}
	s.vars[key] = append(s.vars[key], v)
}

// AddFile adds a file to a project's repository at ref.
func (s *Server) AddFile(project, ref, path, content string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.projectByPath(project)
	if p == nil {
		panic("gitlabtest: no project " + project)
	}
	s.files[fileKey(p.ID, ref, strings.TrimPrefix(path, "/"))] = content
	s.refs[fileKey(p.ID, ref, "")] = true
}

func fileKey(id int64, ref, path string) string { return fmt.Sprintf("%d\x00%s\x00%s", id, ref, path) }

// AddTemplate adds a CI/CD template by API key ("Jobs/SAST").
func (s *Server) AddTemplate(key, content string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.templates[key] = content
}

// AddRelease adds a release of tag to a project, newer than the others.
func (s *Server) AddRelease(project, tag string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.projectByPath(project)
	if p == nil {
		panic("gitlabtest: no project " + project)
	}
	s.releases[p.ID] = append(s.releases[p.ID], tag)
}

// Forbid answers 403 to every request whose decoded API path (after
// /api/v4) starts with prefix, e.g. "projects/g/p/variables".
func (s *Server) Forbid(prefix string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.forbid = append(s.forbid, prefix)
}

// Throttle answers 429 to the next n requests.
func (s *Server) Throttle(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.throttle += n
}

// Fail answers the next requests with the given statuses, one each; a 0
// lets that request through.
func (s *Server) Fail(statuses ...int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, statuses...)
}

// Requests returns the requests answered so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// Issues returns a project's issues as (title, description, state).
func (s *Server) Issues(project string) [][3]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.projectByPath(project)
	if p == nil {
		return nil
	}
	var out [][3]string
	for _, is := range s.issues[p.ID] {
		out = append(out, [3]string{is.Title, is.Description, is.State})
	}
	return out
}

// AddIssue adds an issue written by the user of token.
func (s *Server) AddIssue(project, token, title, description, state string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.projectByPath(project)
	u := s.user(token)
	if p == nil || u == nil {
		panic("gitlabtest: AddIssue: no such project or token")
	}
	s.newIssue(p, u, title, description, state)
}

func (s *Server) newIssue(p *Project, u *user, title, desc, state string) *issue {
	s.nextID++
	iid := int64(len(s.issues[p.ID]) + 1)
	is := &issue{
		ID: s.nextID, IID: iid, ProjectID: p.ID, Title: title, Description: desc, State: state,
		AuthorID: u.ID, Author: u.Username, CreatedAt: s.clock,
		WebURL: fmt.Sprintf("%s/%s/-/issues/%d", s.URL, p.PathWithNamespace, iid),
	}
	s.issues[p.ID] = append(s.issues[p.ID], is)
	return is
}

func (s *Server) user(token string) *user {
	if token != "" && token == s.Token {
		return &user{ID: 1, Username: "keyless-bot", Admin: s.Admin}
	}
	return s.users[token]
}

func (s *Server) groupByPath(p string) *Group {
	if g := s.groupByPth[strings.ToLower(p)]; g != nil && strings.EqualFold(g.FullPath, p) {
		return g
	}
	for _, g := range s.groups {
		if strings.EqualFold(g.FullPath, p) {
			return g
		}
	}
	return nil
}

func (s *Server) projectByPath(p string) *Project {
	if pr := s.projByPath[strings.ToLower(p)]; pr != nil && strings.EqualFold(pr.PathWithNamespace, p) {
		return pr
	}
	for _, pr := range s.projects {
		if strings.EqualFold(pr.PathWithNamespace, p) {
			return pr
		}
	}
	return nil
}

// group finds a group by ID or full path (the decoded :id).
func (s *Server) group(id string) *Group {
	if n, err := strconv.ParseInt(id, 10, 64); err == nil {
		if g := s.groupByID[n]; g != nil && g.ID == n {
			return g
		}
		for _, g := range s.groups {
			if g.ID == n {
				return g
			}
		}
		return nil
	}
	return s.groupByPath(id)
}

func (s *Server) project(id string) *Project {
	if n, err := strconv.ParseInt(id, 10, 64); err == nil {
		if p := s.projByID[n]; p != nil && p.ID == n {
			return p
		}
		for _, p := range s.projects {
			if p.ID == n {
				return p
			}
		}
		return nil
	}
	return s.projectByPath(id)
}

func (s *Server) groupPath(id int64) string {
	if g := s.groupByID[id]; g != nil && g.ID == id {
		return g.FullPath
	}
	for _, g := range s.groups {
		if g.ID == id {
			return g.FullPath
		}
	}
	return ""
}

// resp is what a handler answers.
type resp struct {
	status int
	header http.Header
	body   []byte
}

func jsonResp(status int, v any) resp {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return resp{status: status, header: http.Header{"Content-Type": {"application/json"}}, body: b}
}

func message(status int, msg string) resp { return jsonResp(status, map[string]string{"message": msg}) }

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if s.StatsEndpoint && r.URL.Path == statsPath {
		s.serveStats(w, r)
		return
	}
	// When the request arrived, before Latency, which stands for the
	// network and GitLab's work: it was sent at about this time.
	arrived := s.Now()
	if !s.delay(r) {
		return // the client is gone
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	now := s.Now()
	s.mu.Lock()
	out := s.handle(r, body, arrived, now)
	if !s.NoRequestLog {
		s.requests = append(s.requests, Request{Method: r.Method, Path: r.URL.EscapedPath(), Query: r.URL.Query(), Status: out.status})
	}
	s.count(r, out.status)
	s.mu.Unlock()
	for k, v := range out.header {
		w.Header()[k] = v
	}
	w.WriteHeader(out.status)
	_, _ = w.Write(out.body)
}

// handle answers r; s.mu is held.
func (s *Server) handle(r *http.Request, body []byte, arrived, now time.Time) (res resp) {
	key := tokenKey(r)
	violation := s.inRetryAfter(key, arrived)
	defer func() { s.noteRetryAfter(key, violation, res, now) }()
	// Rate limiting comes first, as GitLab's Rack::Attack runs before
	// authentication. https://docs.gitlab.com/security/rate_limits/#headers
	if out, limited := s.rateLimit(now); limited {
		return out
	}
	if s.TokenRateLimit > 0 {
		out, limited, lh := s.tokenRateLimit(r, now)
		if limited {
			return out
		}
		defer func() { // every answer carries the limit's headers
			if res.header == nil {
				res.header = http.Header{}
			}
			res.header = mergeHeader(res.header, lh)
		}()
	}
	if violation {
		return s.punish(key, now)
	}
	if len(s.faults) > 0 {
		st := s.faults[0]
		s.faults = s.faults[1:]
		if st != 0 {
			return message(st, fmt.Sprintf("%d %s", st, http.StatusText(st)))
		}
	}
	const prefix = "/api/v4/"
	ep := r.URL.EscapedPath()
	if !strings.HasPrefix(ep, prefix) {
		return jsonResp(http.StatusNotFound, map[string]string{"error": "404 Not Found"})
	}
	// Split the escaped path, then decode each segment: an :id is a
	// number or a URL-encoded path ("group%2Fproject").
	raw := strings.Split(strings.TrimPrefix(ep, prefix), "/")
	seg := make([]string, len(raw))
	for i, p := range raw {
		d, err := url.PathUnescape(p)
		if err != nil {
			return jsonResp(http.StatusBadRequest, map[string]string{"error": "invalid path"})
		}
		seg[i] = d
	}
	u := s.user(r.Header.Get("PRIVATE-TOKEN"))
	if u == nil {
		return message(http.StatusUnauthorized, "401 Unauthorized")
	}
	decoded := strings.Join(seg, "/")
	for _, f := range s.forbid {
		if strings.HasPrefix(decoded, f) {
			return message(http.StatusForbidden, "403 Forbidden")
		}
	}
	q := r.URL.Query()
	get := r.Method == http.MethodGet
	switch {
	case get && len(seg) == 1 && seg[0] == "user":
		return jsonResp(http.StatusOK, map[string]any{
			"id": u.ID, "username": u.Username, "name": u.Username, "state": "active", "is_admin": u.Admin,
			"web_url": s.URL + "/" + u.Username,
		})
	case get && len(seg) == 1 && seg[0] == "projects":
		return s.listProjects(r, s.projects, q)
	case len(seg) >= 2 && seg[0] == "projects":
		p := s.project(seg[1])
		if p == nil {
			return message(http.StatusNotFound, "404 Project Not Found")
		}
		return s.projectRoute(r, u, p, seg[2:], q, body)
	case get && len(seg) == 3 && seg[0] == "admin" && seg[1] == "ci" && seg[2] == "variables":
		if !u.Admin {
			return message(http.StatusForbidden, "403 Forbidden")
		}
		return s.listVariables(r, s.vars[""], q, true)
	case get && len(seg) == 1 && seg[0] == "groups":
		return s.listGroups(r, u, s.groups, q)
	case get && len(seg) >= 2 && seg[0] == "groups":
		g := s.group(seg[1])
		if g == nil {
			return message(http.StatusNotFound, "404 Group Not Found")
		}
		return s.groupRoute(r, u, g, seg[2:], q)
	case get && len(seg) == 3 && seg[0] == "templates" && seg[1] == "gitlab_ci_ymls":
		c, ok := s.templates[seg[2]]
		if !ok {
			return message(http.StatusNotFound, "404 Template Not Found")
		}
		name := seg[2]
		if i := strings.LastIndexByte(name, '/'); i >= 0 {
			name = name[i+1:]
		}
		return jsonResp(http.StatusOK, map[string]string{"name": name, "content": c})
	}
	return jsonResp(http.StatusNotFound, map[string]string{"error": "404 Not Found"})
}

func (s *Server) rateLimit(now time.Time) (resp, bool) {
	h := http.Header{}
	if s.RateLimit > 0 {
		if now.Sub(s.window) >= time.Minute || now.Before(s.window) {
			s.window, s.inWindow = now.Truncate(time.Minute), 0
		}
		s.inWindow++
		reset := s.window.Add(time.Minute)
		h.Set("RateLimit-Limit", strconv.Itoa(s.RateLimit))
		h.Set("RateLimit-Observed", strconv.Itoa(s.inWindow))
		h.Set("RateLimit-Remaining", strconv.Itoa(max(s.RateLimit-s.inWindow, 0)))
		h.Set("RateLimit-Reset", strconv.FormatInt(reset.Unix(), 10))
		h.Set("RateLimit-ResetTime", reset.Format(http.TimeFormat))
		if s.inWindow > s.RateLimit {
			h.Set("Retry-After", strconv.Itoa(int(reset.Sub(now).Seconds())))
			out := message(http.StatusTooManyRequests, "Retry later")
			out.header = mergeHeader(out.header, h)
			return out, true
		}
	}
	if s.throttle > 0 {
		s.throttle--
		ra := s.RetryAfter
		if ra == 0 {
			ra = time.Second
		}
		h.Set("Retry-After", strconv.Itoa(int(ra.Seconds())))
		h.Set("RateLimit-Remaining", "0")
		h.Set("RateLimit-Reset", strconv.FormatInt(now.Add(ra).Unix(), 10))
		out := message(http.StatusTooManyRequests, "Retry later")
		out.header = mergeHeader(out.header, h)
		return out, true
	}
	return resp{}, false
}

func mergeHeader(a, b http.Header) http.Header {
	for k, v := range b {
		a[k] = v
	}
	return a
}

func (s *Server) projectJSON(p *Project) map[string]any {
	ns := s.groupPath(p.NamespaceID)
	name := p.PathWithNamespace[strings.LastIndexByte(p.PathWithNamespace, '/')+1:]
	var ci any
	if p.CIConfigPath != "" {
		ci = p.CIConfigPath
	}
	var db any
	if p.DefaultBranch != "" {
		db = p.DefaultBranch
	}
	return map[string]any{
		"id": p.ID, "name": name, "path": name, "path_with_namespace": p.PathWithNamespace,
		"name_with_namespace": strings.ReplaceAll(p.PathWithNamespace, "/", " / "),
		"default_branch":      db, "ci_config_path": ci, "archived": p.Archived,
		"web_url": s.URL + "/" + p.PathWithNamespace,
		"namespace": map[string]any{
			"id": p.NamespaceID, "path": ns[strings.LastIndexByte(ns, '/')+1:], "full_path": ns, "kind": "group",
		},
		"ci_id_token_sub_claim_components": p.IDTokenSubClaimComponents,
	}
}

func (s *Server) groupJSON(g *Group) map[string]any {
	var parent any
	if g.ParentID != 0 {
		parent = g.ParentID
	}
	name := g.FullPath[strings.LastIndexByte(g.FullPath, '/')+1:]
	return map[string]any{
		"id": g.ID, "name": name, "path": name, "full_path": g.FullPath,
		"full_name": strings.ReplaceAll(g.FullPath, "/", " / "), "parent_id": parent,
		"web_url": s.URL + "/groups/" + g.FullPath,
	}
}

// listProjects answers a project list: keyset pagination when asked for
// (order_by=id only, as GitLab), else offset.
// https://docs.gitlab.com/api/rest/#keyset-based-pagination
func (s *Server) listProjects(r *http.Request, ps []*Project, q url.Values) resp {
	if out, ok := s.listProjectsFast(r, ps, q); ok {
		return out
	}
	ps = slices.Clone(ps)
	if q.Get("archived") == "false" {
		ps = slices.DeleteFunc(ps, func(p *Project) bool { return p.Archived })
	}
	desc := q.Get("sort") == "desc"
	sort.Slice(ps, func(i, j int) bool { return (ps[i].ID < ps[j].ID) != desc })
	if q.Get("pagination") == "keyset" {
		if ob := q.Get("order_by"); ob != "" && ob != "id" {
			return jsonResp(http.StatusMethodNotAllowed, map[string]string{"error": "Keyset pagination is not yet available for this type of request"})
		}
		if after, err := strconv.ParseInt(q.Get("id_after"), 10, 64); err == nil {
			ps = slices.DeleteFunc(ps, func(p *Project) bool { return p.ID <= after })
		}
		n := perPage(q)
		page := ps[:min(n, len(ps))]
		out := make([]any, len(page))
		for i, p := range page {
			out[i] = s.projectJSON(p)
		}
		res := jsonResp(http.StatusOK, out)
		if len(ps) > n {
			nq := url.Values{}
			for k, v := range q {
				nq[k] = v
			}
			nq.Set("id_after", strconv.FormatInt(page[len(page)-1].ID, 10))
			nq.Set("pagination", "keyset")
			nq.Set("per_page", strconv.Itoa(n))
			nq.Set("order_by", "id")
			res.header.Set("Link", fmt.Sprintf("<%s%s?%s>; rel=\"next\"", s.URL, r.URL.EscapedPath(), nq.Encode()))
		}
		return res
	}
	return s.offsetFunc(r, len(ps), func(lo, hi int) []any {
		out := make([]any, 0, hi-lo)
		for _, p := range ps[lo:hi] {
			out = append(out, s.projectJSON(p))
		}
		return out
	}, q)
}

func perPage(q url.Values) int {
	n, err := strconv.Atoi(q.Get("per_page"))
	if err != nil || n <= 0 {
		return 20
	}
	return min(n, 100)
}

// offset answers one page of items with GitLab's offset pagination
// headers; X-Total, X-Total-Pages and rel="last" are left out above
// 10,000 items, as GitLab does.
// https://docs.gitlab.com/api/rest/#pagination-link-header
func (s *Server) offset(r *http.Request, items []any, q url.Values) resp {
	return s.offsetFunc(r, len(items), func(lo, hi int) []any { return items[lo:hi] }, q)
}

// offsetFunc is offset over total items, of which page(lo, hi) returns
// items [lo, hi): only the page asked for is built.
func (s *Server) offsetFunc(r *http.Request, total int, page func(lo, hi int) []any, q url.Values) resp {
	n := perPage(q)
	pageNo, err := strconv.Atoi(q.Get("page"))
	if err != nil || pageNo < 1 {
		pageNo = 1
	}
	pages := max((total+n-1)/n, 1)
	lo := min((pageNo-1)*n, total)
	hi := min(lo+n, total)
	out := page(lo, hi)
	if out == nil {
		out = []any{}
	}
	res := jsonResp(http.StatusOK, out)
	h := res.header
	h.Set("X-Page", strconv.Itoa(pageNo))
	h.Set("X-Per-Page", strconv.Itoa(n))
	h.Set("X-Next-Page", "")
	h.Set("X-Prev-Page", "")
	link := func(p int, rel string) string {
		nq := url.Values{}
		for k, v := range q {
			nq[k] = v
		}
		nq.Set("page", strconv.Itoa(p))
		nq.Set("per_page", strconv.Itoa(n))
		return fmt.Sprintf("<%s%s?%s>; rel=\"%s\"", s.URL, r.URL.EscapedPath(), nq.Encode(), rel)
	}
	var links []string
	if pageNo > 1 {
		h.Set("X-Prev-Page", strconv.Itoa(pageNo-1))
		links = append(links, link(pageNo-1, "prev"))
	}
	if hi < total {
		h.Set("X-Next-Page", strconv.Itoa(pageNo+1))
		links = append(links, link(pageNo+1, "next"))
	}
	links = append(links, link(1, "first"))
	if total <= 10000 {
		h.Set("X-Total", strconv.Itoa(total))
		h.Set("X-Total-Pages", strconv.Itoa(pages))
		links = append(links, link(pages, "last"))
	}
	h.Set("Link", strings.Join(links, ", "))
	return res
}

func (s *Server) listVariables(r *http.Request, vs []Variable, q url.Values, instance bool) resp {
	items := make([]any, len(vs))
	for i, v := range vs {
		var value, desc any = v.Value, nil
		if v.Hidden {
			value = nil // GitLab never returns a hidden variable's value
		}
		if v.Description != "" {
			desc = v.Description
		}
		m := map[string]any{
			"key": v.Key, "variable_type": v.Type, "value": value, "protected": v.Protected,
			"masked": v.Masked, "raw": v.Raw, "description": desc,
		}
		if !instance {
			m["hidden"] = v.Hidden
			m["environment_scope"] = v.EnvironmentScope
		}
		items[i] = m
	}
	return s.offset(r, items, q)
}

func (s *Server) groupRoute(r *http.Request, u *user, g *Group, rest []string, q url.Values) resp {
	switch {
	case len(rest) == 0:
		return jsonResp(http.StatusOK, s.groupJSON(g))
	case len(rest) == 1 && rest[0] == "variables":
		return s.listVariables(r, s.vars[fmt.Sprintf("g:%d", g.ID)], q, false)
	case len(rest) == 1 && (rest[0] == "descendant_groups" || rest[0] == "subgroups"):
		// https://docs.gitlab.com/api/groups/#list-descendant-groups and
		// #list-subgroups (direct children only)
		var gs []*Group
		for _, d := range s.groups {
			if rest[0] == "subgroups" && d.ParentID == g.ID ||
				rest[0] == "descendant_groups" && strings.HasPrefix(strings.ToLower(d.FullPath), strings.ToLower(g.FullPath)+"/") {
				gs = append(gs, d)
			}
		}
		return s.listGroups(r, u, gs, q)
	case len(rest) == 1 && rest[0] == "projects":
		var ps []*Project
		sub := q.Get("include_subgroups") == "true"
		for _, p := range s.projects {
			ns := strings.ToLower(s.groupPath(p.NamespaceID))
			gp := strings.ToLower(g.FullPath)
			if p.NamespaceID == g.ID || (sub && strings.HasPrefix(ns, gp+"/")) {
				ps = append(ps, p)
			}
		}
		if q.Get("pagination") == "keyset" {
			q = cloneValues(q)
			q.Del("pagination") // not offered here: answered with offset pages
		}
		return s.listProjects(r, ps, q)
	}
	return jsonResp(http.StatusNotFound, map[string]string{"error": "404 Not Found"})
}

// listGroups answers GET /groups (and a group's subgroups and descendant
// groups) from gs: all_available defaults to true for an administrator
// and false (the groups the user is a member of) for others; owned and
// min_access_level take precedence over it; top_level_only; order_by
// name (default), path or id, sort asc (default) or desc; offset
// pagination, as keyset pagination of /groups is offered only without
// authentication. https://docs.gitlab.com/api/groups/#list-groups
func (s *Server) listGroups(r *http.Request, u *user, gs []*Group, q url.Values) resp {
	all := u.Admin
	if v := q.Get("all_available"); v != "" {
		all = v == "true"
	}
	minRole, _ := strconv.Atoi(q.Get("min_access_level"))
	owned := q.Get("owned") == "true"
	var out []*Group
	for _, g := range gs {
		switch {
		case owned && g.Role < 50, minRole > 0 && g.Role < minRole:
			continue
		case !owned && minRole == 0 && !all && g.Role == 0:
			continue
		case q.Get("top_level_only") == "true" && g.ParentID != 0:
			continue
		}
		out = append(out, g)
	}
	name := func(g *Group) string { return g.FullPath[strings.LastIndexByte(g.FullPath, '/')+1:] }
	var key func(a, b *Group) int
	switch q.Get("order_by") {
	case "", "name":
		key = func(a, b *Group) int { return strings.Compare(name(a), name(b)) }
	case "path":
		key = func(a, b *Group) int { return strings.Compare(a.FullPath, b.FullPath) }
	case "id":
		key = func(a, b *Group) int { return 0 }
	default:
		// Grape's answer to a value outside the declared values.
		return jsonResp(http.StatusBadRequest, map[string]string{"error": "order_by does not have a valid value"})
	}
	desc := q.Get("sort") == "desc"
	slices.SortStableFunc(out, func(a, b *Group) int {
		c := key(a, b)
		if c == 0 {
			c = cmp.Compare(a.ID, b.ID)
		}
		if desc {
			c = -c
		}
		return c
	})
	if q.Get("pagination") == "keyset" {
		q = cloneValues(q)
		q.Del("pagination") // not offered to an authenticated user: offset pages
	}
	return s.offsetFunc(r, len(out), func(lo, hi int) []any {
		items := make([]any, 0, hi-lo)
		for _, g := range out[lo:hi] {
			items = append(items, s.groupJSON(g))
		}
		return items
	}, q)
}

func cloneValues(q url.Values) url.Values {
	out := url.Values{}
	for k, v := range q {
		out[k] = slices.Clone(v)
	}
	return out
}

func (s *Server) projectRoute(r *http.Request, u *user, p *Project, rest []string, q url.Values, body []byte) resp {
	if out, ok := s.writeRoute(r, u, p, rest, q, body); ok {
		return out
	}
	get := r.Method == http.MethodGet
	switch {
	case get && len(rest) == 0:
		return jsonResp(http.StatusOK, s.projectJSON(p))
	case get && len(rest) == 1 && rest[0] == "variables":
		return s.listVariables(r, s.vars[fmt.Sprintf("p:%d", p.ID)], q, false)
	case get && len(rest) == 4 && rest[0] == "repository" && rest[1] == "files" && rest[3] == "raw":
		ref := q.Get("ref")
		if ref == "" {
			ref = p.DefaultBranch
		}
		c, ok := s.files[fileKey(p.ID, ref, rest[2])]
		if !ok {
			if !s.refExists(p.ID, ref) {
				return message(http.StatusNotFound, "404 Commit Not Found")
			}
			return message(http.StatusNotFound, "404 File Not Found")
		}
		return resp{status: http.StatusOK, header: http.Header{"Content-Type": {"text/plain; charset=utf-8"}}, body: []byte(c)}
	case get && len(rest) == 1 && rest[0] == "releases":
		tags := s.releases[p.ID]
		items := make([]any, 0, len(tags))
		for i := len(tags) - 1; i >= 0; i-- {
			at := s.clock.Add(time.Duration(i-len(tags)) * time.Hour)
			items = append(items, map[string]any{
				"tag_name": tags[i], "name": tags[i], "description": "",
				"created_at": at, "released_at": at, "upcoming_release": false,
			})
		}
		return s.offset(r, items, q)
	case get && len(rest) == 1 && rest[0] == "issues":
		var items []any
		iss := slices.Clone(s.issues[p.ID])
		slices.Reverse(iss) // created_at desc, GitLab's default order
		for _, is := range iss {
			if st := q.Get("state"); st != "" && st != "all" && is.State != st {
				continue
			}
			if a := q.Get("author_id"); a != "" && a != strconv.FormatInt(is.AuthorID, 10) {
				continue
			}
			if sr := strings.ToLower(q.Get("search")); sr != "" {
				in := strings.ToLower(is.Title)
				if q.Get("in") != "title" {
					in += "\n" + strings.ToLower(is.Description)
				}
				if !strings.Contains(in, sr) {
					continue
				}
			}
			items = append(items, issueJSON(is))
		}
		return s.offset(r, items, q)
	case r.Method == http.MethodPost && len(rest) == 1 && rest[0] == "issues":
		var in struct {
			Title       string `json:"title"`
			Description string `json:"description"`
		}
		if err := json.Unmarshal(body, &in); err != nil || in.Title == "" {
			return jsonResp(http.StatusBadRequest, map[string]string{"error": "title is missing"})
		}
		return jsonResp(http.StatusCreated, issueJSON(s.newIssue(p, u, in.Title, in.Description, "opened")))
	case r.Method == http.MethodPut && len(rest) == 2 && rest[0] == "issues":
		iid, _ := strconv.ParseInt(rest[1], 10, 64)
		for _, is := range s.issues[p.ID] {
			if is.IID != iid {
				continue
			}
			var in map[string]any
			if err := json.Unmarshal(body, &in); err != nil {
				return jsonResp(http.StatusBadRequest, map[string]string{"error": "bad body"})
			}
			if t, ok := in["title"].(string); ok {
				is.Title = t
			}
			if d, ok := in["description"].(string); ok {
				is.Description = d
			}
			return jsonResp(http.StatusOK, issueJSON(is))
		}
		return message(http.StatusNotFound, "404 Issue Not Found")
	}
	return jsonResp(http.StatusNotFound, map[string]string{"error": "404 Not Found"})
}

func (s *Server) refExists(id int64, ref string) bool {
	return s.refs[fileKey(id, ref, "")]
}

func issueJSON(is *issue) map[string]any {
	return map[string]any{
		"id": is.ID, "iid": is.IID, "project_id": is.ProjectID, "title": is.Title,
		"description": is.Description, "state": is.State, "created_at": is.CreatedAt,
		"author":  map[string]any{"id": is.AuthorID, "username": is.Author},
		"web_url": is.WebURL,
	}
}
