package gitlabapi_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"gitlab.com/keyless-ci/keyless/internal/gitlabapi"
	"gitlab.com/keyless-ci/keyless/internal/gitlabapi/gitlabtest"
	"gitlab.com/keyless-ci/keyless/internal/secret"
)

// sleeps records the client's waits; each one moves the fake's clock
// instead of the test's.
type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) all() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.d...)
}

func newClient(t *testing.T, s *gitlabtest.Server, edit ...func(*gitlabapi.Options)) (*gitlabapi.Client, *sleeps) {
	t.Helper()
	sl := &sleeps{}
	opts := gitlabapi.Options{
		BaseURL:           s.URL,
		Token:             secret.New(s.Token),
		HTTPClient:        s.Client(),
		RequestsPerSecond: 1e6,
		Burst:             1000,
		Now:               s.Now,
		Sleep: func(ctx context.Context, d time.Duration) error {
			sl.mu.Lock()
			sl.d = append(sl.d, d)
			sl.mu.Unlock()
			s.Advance(d)
			return ctx.Err()
		},
	}
	for _, e := range edit {
		e(&opts)
	}
	c, err := gitlabapi.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return c, sl
}

// count returns how many requests went to a path (escaped) with method.
func count(s *gitlabtest.Server, method, path string) int {
	n := 0
	for _, r := range s.Requests() {
		if r.Method == method && r.Path == path {
			n++
		}
	}
	return n
}

func TestCurrentUser(t *testing.T) {
	s := gitlabtest.New(t)
	c, _ := newClient(t, s)
	u, err := c.CurrentUser(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(gitlabapi.User{ID: 1, Username: "keyless-bot"}, u); diff != "" {
		t.Errorf("user (-want +got):\n%s", diff)
	}
	s.Admin = true
	if u, err := c.CurrentUser(t.Context()); err != nil || !u.IsAdmin {
		t.Errorf("admin: %+v, %v", u, err)
	}
}

func TestProjectAndGroup(t *testing.T) {
	s := gitlabtest.New(t)
	p := s.AddProject("top/sub.team/my.project")
	p.CIConfigPath = "ci/pipeline.yml"
	p.IDTokenSubClaimComponents = []string{"project_path", "ref_type", "ref", "environment_protected"}
	c, _ := newClient(t, s)

	got, err := c.Project(t.Context(), "top/sub.team/my.project")
	if err != nil {
		t.Fatal(err)
	}
	want := gitlabapi.Project{
		ID: p.ID, PathWithNamespace: "top/sub.team/my.project", DefaultBranch: "main",
		CIConfigPath: "ci/pipeline.yml", WebURL: s.URL + "/top/sub.team/my.project",
		IDTokenSubClaimComponents: []string{"project_path", "ref_type", "ref", "environment_protected"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("project (-want +got):\n%s", diff)
	}
	// client-go escapes the path, dots included.
	if n := count(s, "GET", "/api/v4/projects/top%2Fsub%2Eteam%2Fmy%2Eproject"); n != 1 {
		t.Errorf("requests to the encoded path = %d, want 1: %+v", n, s.Requests())
	}
	byID, err := c.Project(t.Context(), fmt.Sprint(p.ID))
	if err != nil || byID.PathWithNamespace != want.PathWithNamespace {
		t.Errorf("by ID: %+v, %v", byID, err)
	}

	g, err := c.Group(t.Context(), "top/sub.team")
	if err != nil {
		t.Fatal(err)
	}
	if g.FullPath != "top/sub.team" || g.ParentID == 0 {
		t.Errorf("group = %+v", g)
	}
	if diff := cmp.Diff([]string{"top"}, g.Ancestors()); diff != "" {
		t.Errorf("ancestors (-want +got):\n%s", diff)
	}
}

func TestGroupProjectsOffsetPagination(t *testing.T) {
	s := gitlabtest.New(t)
	for i := range 120 {
		s.AddProject(fmt.Sprintf("g/p%03d", i))
	}
	for i := range 130 {
		s.AddProject(fmt.Sprintf("g/sub/deeper/q%03d", i))
	}
	s.AddProject("other/x")
	c, _ := newClient(t, s)

	var all []string
	err := c.GroupProjects(t.Context(), "g", true, func(p gitlabapi.Project) error {
		all = append(all, p.PathWithNamespace)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 250 {
		t.Fatalf("got %d projects, want 250", len(all))
	}
	seen := map[string]bool{}
	for _, p := range all {
		if seen[p] {
			t.Errorf("%s listed twice", p)
		}
		seen[p] = true
	}
	var pages []string
	for _, r := range s.Requests() {
		if r.Path == "/api/v4/groups/g/projects" {
			pages = append(pages, r.Query.Get("page")+"/"+r.Query.Get("per_page")+"/"+r.Query.Get("include_subgroups"))
		}
	}
	if diff := cmp.Diff([]string{"/100/true", "2/100/true", "3/100/true"}, pages); diff != "" {
		t.Errorf("pages (-want +got):\n%s", diff)
	}

	n := 0
	if err := c.GroupProjects(t.Context(), "g", false, func(gitlabapi.Project) error { n++; return nil }); err != nil || n != 120 {
		t.Errorf("without subgroups: %d, %v", n, err)
	}

	// An error from fn stops the walk and comes back as is.
	stop := errors.New("stop")
	if err := c.GroupProjects(t.Context(), "g", true, func(gitlabapi.Project) error { return stop }); err != stop {
		t.Errorf("fn error = %v, want it returned as is", err)
	}
}

func TestAllProjectsKeysetPagination(t *testing.T) {
	s := gitlabtest.New(t)
	for i := range 230 {
		s.AddProject(fmt.Sprintf("g%d/p%d", i%3, i))
	}
	c, _ := newClient(t, s)
	var ids []int64
	if err := c.AllProjects(t.Context(), func(p gitlabapi.Project) error {
		ids = append(ids, p.ID)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(ids) != 230 {
		t.Fatalf("got %d projects, want 230", len(ids))
	}
	for i := 1; i < len(ids); i++ {
		if ids[i] <= ids[i-1] {
			t.Fatalf("ids not ascending at %d: %d after %d", i, ids[i], ids[i-1])
		}
	}
	var afters []string
	for _, r := range s.Requests() {
		if r.Path != "/api/v4/projects" {
			continue
		}
		if r.Query.Get("pagination") != "keyset" || r.Query.Get("order_by") != "id" || r.Query.Get("sort") != "asc" || r.Query.Get("per_page") != "100" {
			t.Errorf("request not keyset by id: %v", r.Query)
		}
		afters = append(afters, r.Query.Get("id_after"))
	}
	want := []string{"", fmt.Sprint(ids[99]), fmt.Sprint(ids[199])}
	if diff := cmp.Diff(want, afters); diff != "" {
		t.Errorf("id_after per page (-want +got):\n%s", diff)
	}
}

// AllGroups reads every page of GET /groups, groups without projects
// included, through the retrying transport; a non-administrator's list is
// narrowed to the groups where it has the role asked for.
func TestAllGroups(t *testing.T) {
	s := gitlabtest.New(t)
	var want []string
	for i := range 150 {
		want = append(want, s.AddGroup(fmt.Sprintf("g%03d", i)).FullPath)
	}
	s.AddGroup("g000/archive") // no project
	want = append(want, "g000/archive")
	s.AddGroup("g001").Role = int(gitlabapi.RoleDeveloper)
	s.Throttle(1)
	c, sl := newClient(t, s)
	list := func(min gitlabapi.Role) []string {
		t.Helper()
		var got []string
		if err := c.AllGroups(t.Context(), min, func(g gitlabapi.Group) error {
			got = append(got, g.FullPath)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return got
	}
	if d := cmp.Diff(want, list(0)); d != "" {
		t.Errorf("all groups (-want +got):\n%s", d)
	}
	if len(sl.d) != 1 {
		t.Errorf("waits: %v, want one retry of the 429", sl.d)
	}
	maint := list(gitlabapi.RoleMaintainer)
	if len(maint) != len(want)-1 || slices.Contains(maint, "g001") {
		t.Errorf("maintainer groups: %d, g001 in: %v", len(maint), slices.Contains(maint, "g001"))
	}
	var pages []string
	for _, r := range s.Requests() {
		if r.Path == "/api/v4/groups" && r.Status == 200 {
			if r.Query.Get("all_available") != "true" || r.Query.Get("order_by") != "id" || r.Query.Get("per_page") != "100" {
				t.Errorf("query: %v", r.Query)
			}
			pages = append(pages, r.Query.Get("page")+r.Query.Get("min_access_level"))
		}
	}
	if d := cmp.Diff([]string{"", "2", "40", "240"}, pages); d != "" {
		t.Errorf("pages (-want +got):\n%s", d)
	}
}

func TestDescendantGroups(t *testing.T) {
	s := gitlabtest.New(t)
	s.AddProject("a/b/c/p")
	s.AddGroup("a/d")
	s.AddGroup("ab") // not a descendant of "a"
	c, _ := newClient(t, s)
	var got []string
	if err := c.DescendantGroups(t.Context(), "a", func(g gitlabapi.Group) error {
		got = append(got, g.FullPath)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"a/b", "a/b/c", "a/d"}, got); diff != "" {
		t.Errorf("descendants (-want +got):\n%s", diff)
	}
}

func TestVariables(t *testing.T) {
	s := gitlabtest.New(t)
	s.AddProject("g/p")
	s.AddVariable("g/p", gitlabtest.Variable{Key: "PLAIN", Value: "v1", EnvironmentScope: "production", Description: "d"})
	s.AddVariable("g/p", gitlabtest.Variable{Key: "HIDDEN", Value: "hidden-value", Masked: true, Hidden: true})
	s.AddVariable("g/p", gitlabtest.Variable{Key: "KUBECONFIG", Value: "f", Type: "file", Protected: true, Raw: true})
	for i := range 150 {
		s.AddVariable("g", gitlabtest.Variable{Key: fmt.Sprintf("G%03d", i), Value: "x"})
	}
	s.AddVariable("", gitlabtest.Variable{Key: "INSTANCE", Value: "i", Masked: true})
	c, _ := newClient(t, s)

	vs, err := c.ProjectVariables(t.Context(), "g/p")
	if err != nil {
		t.Fatal(err)
	}
	type flat struct {
		Key, Type, Scope, Desc, Value  string
		Protected, Masked, Hidden, Raw bool
	}
	flatten := func(vs []gitlabapi.Variable) []flat {
		var out []flat
		for _, v := range vs {
			out = append(out, flat{v.Key, string(v.Type), v.EnvironmentScope, v.Description, v.Value.Reveal(), v.Protected, v.Masked, v.Hidden, v.Raw})
		}
		return out
	}
	want := []flat{
		{Key: "PLAIN", Type: "env_var", Scope: "production", Desc: "d", Value: "v1"},
		{Key: "HIDDEN", Type: "env_var", Scope: "*", Masked: true, Hidden: true},
		{Key: "KUBECONFIG", Type: "file", Scope: "*", Value: "f", Protected: true, Raw: true},
	}
	if diff := cmp.Diff(want, flatten(vs)); diff != "" {
		t.Errorf("project variables (-want +got):\n%s", diff)
	}
	if !vs[1].Value.IsZero() {
		t.Error("a hidden variable has a value")
	}
	if out := fmt.Sprintf("%v %+v %#v", vs, vs, vs); strings.Contains(out, "v1") {
		t.Errorf("a variable's value is printed: %s", out)
	}

	gv, err := c.GroupVariables(t.Context(), "g")
	if err != nil || len(gv) != 150 {
		t.Fatalf("group variables: %d, %v", len(gv), err)
	}
	if n := count(s, "GET", "/api/v4/groups/g/variables"); n != 2 {
		t.Errorf("group variable pages = %d, want 2", n)
	}

	_, err = c.InstanceVariables(t.Context())
	if !errors.Is(err, gitlabapi.ErrForbidden) {
		t.Fatalf("instance variables as a non-admin: %v, want ErrForbidden", err)
	}
	if !strings.Contains(err.Error(), "administrator") {
		t.Errorf("error does not say an administrator is needed: %v", err)
	}
	s.Admin = true
	iv, err := c.InstanceVariables(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]flat{{Key: "INSTANCE", Type: "env_var", Scope: "*", Value: "i", Masked: true}}, flatten(iv)); diff != "" {
		t.Errorf("instance variables (-want +got):\n%s", diff)
	}
}

func TestTypedErrors(t *testing.T) {
	s := gitlabtest.New(t)
	s.AddProject("g/p")
	s.Forbid("projects/g/p/variables")
	c, sl := newClient(t, s)

	_, err := c.ProjectVariables(t.Context(), "g/p")
	if !errors.Is(err, gitlabapi.ErrForbidden) {
		t.Fatalf("err = %v, want ErrForbidden", err)
	}
	const want = `reading project variables of "g/p": 403 Forbidden: the token needs the read_api or api scope and its user the Maintainer role on the project`
	if err.Error() != want {
		t.Errorf("message:\n got %s\nwant %s", err, want)
	}
	var ae *gitlabapi.Error
	if !errors.As(err, &ae) || ae.Status != 403 {
		t.Errorf("errors.As *Error: %#v", err)
	}

	_, err = c.Project(t.Context(), "g/missing")
	if !errors.Is(err, gitlabapi.ErrNotFound) {
		t.Errorf("err = %v, want ErrNotFound", err)
	}
	if !strings.HasPrefix(err.Error(), `reading project "g/missing": 404 Not Found: `) {
		t.Errorf("message = %s", err)
	}

	_, err = c.File(t.Context(), "g/p", "nope.yml", "main")
	if !errors.Is(err, gitlabapi.ErrNotFound) {
		t.Errorf("missing file: %v, want ErrNotFound", err)
	}

	bad, _ := newClient(t, s, func(o *gitlabapi.Options) { o.Token = secret.New("wrong-token") })
	_, err = bad.CurrentUser(t.Context())
	if !errors.Is(err, gitlabapi.ErrUnauthorized) {
		t.Errorf("err = %v, want ErrUnauthorized", err)
	}
	if !strings.Contains(err.Error(), "access token") {
		t.Errorf("401 message does not say what to do: %s", err)
	}

	// No 4xx was retried.
	if got := sl.all(); len(got) != 0 {
		t.Errorf("waits = %v, want none", got)
	}
	for _, r := range s.Requests() {
		if r.Status == http.StatusForbidden && count(s, r.Method, r.Path) != 1 {
			t.Errorf("a 403 was retried: %s", r.Path)
		}
	}
}

func TestRetry429HonoursRetryAfter(t *testing.T) {
	s := gitlabtest.New(t)
	s.RetryAfter = 7 * time.Second
	s.Throttle(2)
	c, sl := newClient(t, s)
	if _, err := c.CurrentUser(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := count(s, "GET", "/api/v4/user"); n != 3 {
		t.Errorf("attempts = %d, want 3", n)
	}
	if diff := cmp.Diff([]time.Duration{7 * time.Second, 7 * time.Second}, sl.all()); diff != "" {
		t.Errorf("waits (-want +got):\n%s", diff)
	}
}

func TestRetry429RateLimitWindow(t *testing.T) {
	s := gitlabtest.New(t)
	s.RateLimit = 3 // per minute of the fake's clock, which the client's waits advance
	s.Advance(15 * time.Second)
	c, sl := newClient(t, s)
	for range 5 {
		if _, err := c.CurrentUser(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	// The 4th call is refused until the minute ends, 45 s later.
	if diff := cmp.Diff([]time.Duration{45 * time.Second}, sl.all()); diff != "" {
		t.Errorf("waits (-want +got):\n%s", diff)
	}
	if n := count(s, "GET", "/api/v4/user"); n != 6 {
		t.Errorf("attempts = %d, want 6", n)
	}
}

func TestRetry5xxThenSuccess(t *testing.T) {
	s := gitlabtest.New(t)
	s.Fail(502, 503)
	c, sl := newClient(t, s)
	if _, err := c.CurrentUser(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := count(s, "GET", "/api/v4/user"); n != 3 {
		t.Errorf("attempts = %d, want 3", n)
	}
	w := sl.all()
	if len(w) != 2 || w[0] < time.Second || w[0] > 1250*time.Millisecond || w[1] < 2*time.Second || w[1] > 2500*time.Millisecond {
		t.Errorf("waits = %v, want ~1s then ~2s", w)
	}
}

func TestRetriesAreBounded(t *testing.T) {
	s := gitlabtest.New(t)
	s.Fail(500, 500, 500, 500, 500, 500, 500, 500)
	c, sl := newClient(t, s, func(o *gitlabapi.Options) { o.MaxRetries = 2 })
	_, err := c.CurrentUser(t.Context())
	if !errors.Is(err, gitlabapi.ErrServer) {
		t.Fatalf("err = %v, want ErrServer", err)
	}
	if n := count(s, "GET", "/api/v4/user"); n != 3 {
		t.Errorf("attempts = %d, want 3", n)
	}
	if len(sl.all()) != 2 {
		t.Errorf("waits = %v, want 2", sl.all())
	}
}

func TestRetryAfterBeyondLimitFailsAtOnce(t *testing.T) {
	s := gitlabtest.New(t)
	s.RetryAfter = 10 * time.Minute
	s.Throttle(1)
	c, sl := newClient(t, s)
	_, err := c.CurrentUser(t.Context())
	if !errors.Is(err, gitlabapi.ErrRateLimited) {
		t.Fatalf("err = %v, want ErrRateLimited", err)
	}
	if len(sl.all()) != 0 || count(s, "GET", "/api/v4/user") != 1 {
		t.Errorf("waited %v over %d attempts, want no wait and 1 attempt", sl.all(), count(s, "GET", "/api/v4/user"))
	}

	// Nor past the context's deadline.
	s.RetryAfter = 30 * time.Second
	s.Throttle(1)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	c2, sl2 := newClient(t, s, func(o *gitlabapi.Options) { o.Now = time.Now })
	if _, err := c2.CurrentUser(ctx); !errors.Is(err, gitlabapi.ErrRateLimited) {
		t.Errorf("err = %v, want ErrRateLimited", err)
	}
	if len(sl2.all()) != 0 {
		t.Errorf("waited %v past the deadline", sl2.all())
	}
}

func TestContextCancelled(t *testing.T) {
	s := gitlabtest.New(t)
	c, _ := newClient(t, s)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := c.CurrentUser(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}

func TestNoTokenInErrors(t *testing.T) {
	const canary = "glpat-CANARY-7f3a9c0d1e2f"
	s := gitlabtest.New(t)
	s.AddProject("g/p")
	s.AddVariable("g/p", gitlabtest.Variable{Key: "K", Value: "CANARY-VALUE-91ab"})
	s.AddUser(canary, "canary", false)
	s.Forbid("projects/g/p/variables")

	mk := func(edit ...func(*gitlabapi.Options)) *gitlabapi.Client {
		c, _ := newClient(t, s, append([]func(*gitlabapi.Options){func(o *gitlabapi.Options) {
			o.Token = secret.New(canary)
			o.MaxRetries = 1
		}}, edit...)...)
		return c
	}
	c := mk()
	var errs []error
	add := func(_ any, err error) { errs = append(errs, err) }
	add(c.ProjectVariables(t.Context(), "g/p"))                                                         // 403
	add(c.Project(t.Context(), "g/none"))                                                               // 404
	add(c.InstanceVariables(t.Context()))                                                               // 403 admin
	add(c.File(t.Context(), "g/p", "x.yml", canary))                                                    // 404
	add(mk(func(o *gitlabapi.Options) { o.Token = secret.New(canary + "x") }).CurrentUser(t.Context())) // 401
	s.Fail(500, 500)
	add(c.CurrentUser(t.Context())) // 5xx exhausted
	s.Throttle(2)
	add(c.CurrentUser(t.Context())) // 429 exhausted
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	add(c.CurrentUser(ctx)) // context
	dead := mk(func(o *gitlabapi.Options) { o.BaseURL = "http://127.0.0.1:1" })
	add(dead.CurrentUser(t.Context())) // transport

	if out := fmt.Sprintf("%v %+v %#v", c, c, c); strings.Contains(out, canary) {
		t.Errorf("the client prints its token: %s", out)
	}
	for i, err := range errs {
		if err == nil {
			t.Errorf("case %d: no error", i)
			continue
		}
		for _, out := range []string{err.Error(), fmt.Sprintf("%v", err), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)} {
			if strings.Contains(out, canary) || strings.Contains(out, "CANARY-VALUE") {
				t.Errorf("case %d leaks a secret: %s", i, out)
			}
		}
	}
	if _, err := gitlabapi.New(gitlabapi.Options{BaseURL: "://bad" + canary, Token: secret.New(canary)}); err != nil && strings.Contains(err.Error(), canary+"x") {
		t.Errorf("New leaks: %v", err)
	}
}

func TestFileAndTemplate(t *testing.T) {
	s := gitlabtest.New(t)
	s.AddProject("g/p")
	s.AddFile("g/p", "main", ".gitlab-ci.yml", "main: yes\n")
	s.AddFile("g/p", "v1.0", "ci/jobs.v2.yml", "tag: yes\n")
	s.AddTemplate("Jobs/SAST", "sast: {}\n")
	c, _ := newClient(t, s)

	for _, tc := range []struct{ path, ref, want string }{
		{".gitlab-ci.yml", "", "main: yes\n"},
		{"/.gitlab-ci.yml", "main", "main: yes\n"},
		{"ci/jobs.v2.yml", "v1.0", "tag: yes\n"},
	} {
		b, err := c.File(t.Context(), "g/p", tc.path, tc.ref)
		if err != nil || string(b) != tc.want {
			t.Errorf("File(%q, %q) = %q, %v; want %q", tc.path, tc.ref, b, err, tc.want)
		}
	}
	if n := count(s, "GET", "/api/v4/projects/g%2Fp/repository/files/ci%2Fjobs%2Ev2%2Eyml/raw"); n != 1 {
		t.Errorf("file path not encoded as GitLab expects: %+v", s.Requests())
	}
	b, err := c.CITemplate(t.Context(), "Jobs/SAST")
	if err != nil || string(b) != "sast: {}\n" {
		t.Errorf("CITemplate = %q, %v", b, err)
	}
	if _, err := c.CITemplate(t.Context(), "Nope"); !errors.Is(err, gitlabapi.ErrNotFound) {
		t.Errorf("missing template: %v", err)
	}
}

func TestUpsertIssue(t *testing.T) {
	s := gitlabtest.New(t)
	s.AddProject("g/reports")
	s.AddUser("other-token", "someone", false)
	const title = "keyless: long-lived CI/CD secrets"
	s.AddIssue("g/reports", "other-token", title, "theirs", "opened")     // another author
	s.AddIssue("g/reports", s.Token, title, "closed one", "closed")       // closed
	s.AddIssue("g/reports", s.Token, title+" (old)", "similar", "opened") // not the exact title
	c, _ := newClient(t, s)

	is, err := c.UpsertIssue(t.Context(), "g/reports", title, "first body")
	if err != nil {
		t.Fatal(err)
	}
	if !is.Created || is.IID != 4 || is.WebURL != s.URL+"/g/reports/-/issues/4" {
		t.Errorf("first upsert = %+v, want issue 4 created", is)
	}
	is2, err := c.UpsertIssue(t.Context(), "g/reports", title, "second body")
	if err != nil {
		t.Fatal(err)
	}
	if is2.Created || is2.IID != 4 {
		t.Errorf("second upsert = %+v, want issue 4 updated", is2)
	}
	want := [][3]string{
		{title, "theirs", "opened"},
		{title, "closed one", "closed"},
		{title + " (old)", "similar", "opened"},
		{title, "second body", "opened"},
	}
	if diff := cmp.Diff(want, s.Issues("g/reports")); diff != "" {
		t.Errorf("issues (-want +got):\n%s", diff)
	}
	if n := count(s, "POST", "/api/v4/projects/g%2Freports/issues"); n != 1 {
		t.Errorf("POSTs = %d, want 1", n)
	}
	if n := count(s, "PUT", "/api/v4/projects/g%2Freports/issues/4"); n != 1 {
		t.Errorf("PUTs = %d, want 1", n)
	}
}

func TestPostIsNotRetriedOn5xx(t *testing.T) {
	s := gitlabtest.New(t)
	s.AddProject("g/reports")
	c, _ := newClient(t, s)
	if _, err := c.CurrentUser(t.Context()); err != nil { // cache the user
		t.Fatal(err)
	}
	if _, err := c.UpsertIssue(t.Context(), "g/reports", "warm", "up"); err != nil {
		t.Fatal(err)
	}
	// The issue search succeeds; the POST meets a 502 and is not retried.
	s.Fail(0, 502)
	_, err := c.UpsertIssue(t.Context(), "g/reports", "new title", "body")
	if !errors.Is(err, gitlabapi.ErrServer) {
		t.Fatalf("err = %v, want ErrServer", err)
	}
	if n := count(s, "POST", "/api/v4/projects/g%2Freports/issues"); n != 2 {
		t.Errorf("POSTs = %d, want 2 (one per upsert, none retried)", n)
	}
}
