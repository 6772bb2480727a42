package report

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"gitlab.com/keyless-ci/keyless/internal/gitlabapi"
	"gitlab.com/keyless-ci/keyless/internal/lint"
	"gitlab.com/keyless-ci/keyless/internal/option"
	"gitlab.com/keyless-ci/keyless/internal/pipeline"
)

// DefaultConcurrency is how many projects Collect reads at once when
// Options.Concurrency is 0.
const DefaultConcurrency = 8

// The options of a run that messages name (package option): the CLI says
// them in the words the user typed.
const (
	OptResume option.Name = "resume" // Options.Resume
	OptShard  option.Name = "shard"  // Options.Shard
)

// Options configure Collect.
type Options struct {
	// API reads GitLab; it rate-limits and retries on its own.
	API gitlabapi.API
	// Fetcher reads project:, remote:, template: and component: includes
	// (gitlabapi.NewFetcher); nil leaves them unread (an "include"
	// finding), and a CI/CD configuration given as a URL unread.
	Fetcher pipeline.Fetcher
	// Scope is what to inventory: Kind "group" (Paths: groups, with their
	// subgroups and projects), "project" (Paths: projects) or "instance".
	Scope Scope
	// Concurrency is how many projects are read at once (default 8).
	Concurrency int
	// Shard, when set, limits the run to the projects whose index in
	// project ID order, modulo Total, is Index-1 (see Merge).
	Shard *Shard
	// Resume is the partial report of an interrupted run of the same
	// scope and shard: its projects that were read (Status "ok", or a
	// 401, 403 or 404 recorded) are kept as they are and not read again.
	Resume *Report
	// Progress, when set, is called as each project is done (resumed
	// ones counting as done from the start), one call at a time.
	Progress func(done, total int)
	// Log receives debug records: names and ids, never a value. Nil logs
	// nothing.
	Log *slog.Logger
	// Now stamps the report (default time.Now).
	Now func() time.Time
	// GitLabURL is the instance's URL, the ID tokens' issuer in the
	// trusts the report writes.
	GitLabURL string
	// ToolVersion is keyless's version; a release version is also the
	// component version the replacements include.
	ToolVersion string
}

// Collect inventories the long-lived credentials stored in the CI/CD
// variables of o.Scope: the instance's (for the instance scope), the
// groups' (the scope's groups, their subgroups and the groups above them,
// whose variables the projects inherit; for the instance scope, every
// group the groups API lists, with or without projects) and the
// projects'. Report.Summary counts the groups, subgroups and projects
// read. Each variable's
// value is classified (internal/detect) and dropped; each project's
// pipeline, read from its default branch, tells which jobs use which
// credential.
//
// The error is for what stops the run: the token refused (401 on the
// current user), a scope group or every scope project not found, the
// project list unreadable; the report is nil then. A project that cannot
// be read (401, 403, 404, another failure) is recorded in its
// Project.Status, and a group's variables that cannot be read in
// Report.Errors. When ctx ends while projects are being read, Collect
// returns the report of the projects done so far with an error wrapping
// ctx.Err(): written out, it is what Options.Resume continues.
//
// Archived projects are listed and their variables reported (they still
// hold the credentials), but their pipelines are not read: they run none.
func Collect(ctx context.Context, o Options) (*Report, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	c := &collector{o: o}
	rep := &Report{
		Version:     Version,
		Tool:        Tool{Name: "keyless", Version: o.ToolVersion},
		GitLabURL:   strings.TrimSuffix(o.GitLabURL, "/"),
		Scope:       Scope{Kind: o.Scope.Kind, Paths: append([]string{}, o.Scope.Paths...)},
		GeneratedAt: o.Now().UTC(),
		Errors:      []Error{},
	}
	if o.Shard != nil {
		s := *o.Shard
		rep.Shard = &s
	}

	me, err := o.API.CurrentUser(ctx)
	if err != nil {
		return nil, err
	}
	o.Log.Debug("report: token user", "user", me.Username, "id", me.ID, "admin", me.IsAdmin)
	c.admin = me.IsAdmin

	if err := c.walk(ctx); err != nil {
		return nil, err
	}
	if err := c.readGroupVariables(ctx); err != nil {
		return nil, err
	}

	todo := shardProjects(c.projects, o.Shard)
	done := map[int64]projectResult{}
	if o.Resume != nil {
		done = resumedProjects(o.Resume)
	}
	results := make([]*projectResult, len(todo))
	var fetch []int
	for i, p := range todo {
		if r, ok := done[p.ID]; ok {
			results[i] = &r
			o.Log.Debug("report: project resumed", "project", p.PathWithNamespace, "id", p.ID)
			continue
		}
		fetch = append(fetch, i)
	}
	interrupted := c.readProjects(ctx, todo, fetch, results)

	var parts []projectResult
	if o.Shard == nil || o.Shard.Index == 1 {
		parts = append(parts, c.missing...) // project paths not found, once
	}
	read := 0
	for _, r := range results {
		if r != nil {
			parts = append(parts, *r)
			read++
		}
	}
	rep.Errors = append(rep.Errors, c.errors...)
	rep.Summary.Groups, rep.Summary.Subgroups = c.groupsRead, c.subgroupsRead
	assemble(rep, c.scopeCreds, parts)
	if rc, ok := o.API.(interface {
		RequestStats() gitlabapi.RequestStats
	}); ok {
		st := rc.RequestStats()
		rep.Summary.Requests = &Requests{Sent: st.Sent, Throttled: st.Throttled, Retried: st.Retried}
	}
	if interrupted != nil {
		return rep, fmt.Errorf("read projects: interrupted after %d of %d: %w", read, len(todo), interrupted)
	}
	return rep, nil
}

func (o *Options) check() error {
	if o.API == nil {
		return errors.New("report: no GitLab API given")
	}
	switch o.Scope.Kind {
	case "group", "project":
		if len(o.Scope.Paths) == 0 {
			return fmt.Errorf("report: a %s scope needs at least one path", o.Scope.Kind)
		}
	case "instance":
	default:
		return fmt.Errorf("report: scope %q: use group, project or instance", o.Scope.Kind)
	}
	if s := o.Shard; s != nil && (s.Total < 1 || s.Index < 1 || s.Index > s.Total) {
		return fmt.Errorf("report: shard %d/%d: use 1 <= index <= total", s.Index, s.Total)
	}
	if r := o.Resume; r != nil {
		if r.Version != Version {
			return option.Errorf("resume: the saved report is version %d, this keyless writes version %d: run without %s", r.Version, Version, option.Ref(OptResume))
		}
		if !sameScope(r.Scope, o.Scope) {
			return option.Errorf("resume: the saved report is of %s, this run of %s: run the same scope, or without %s", scopeString(r.Scope), scopeString(o.Scope), option.Ref(OptResume))
		}
		if !sameShard(r.Shard, o.Shard) {
			return fmt.Errorf("resume: the saved report is of shard %s, this run of shard %s: resume each shard with its own file", shardString(r.Shard), shardString(o.Shard))
		}
		if r.GitLabURL != "" && o.GitLabURL != "" && r.GitLabURL != strings.TrimSuffix(o.GitLabURL, "/") {
			return fmt.Errorf("resume: the saved report is of %q, this run of %q", r.GitLabURL, o.GitLabURL)
		}
	}
	return nil
}

// collector holds one run's state.
type collector struct {
	o     Options
	admin bool // the token's user is an administrator

	// groups are the groups whose variables apply, by full path; true
	// when the group is certain to exist (from the group API), false for
	// a project's namespace, which may be a user's (a 404 is skipped).
	groups     map[string]bool
	projects   []gitlabapi.Project
	missing    []projectResult // scope projects not found or forbidden
	scopeCreds []Credential    // instance and group credentials
	errors     []Error

	groupsRead, subgroupsRead int // whose variables were read

	// sharedFS are the repositories that projects' ci_config_path names
	// in another project, by project and ref: one per run, so that a
	// file many projects name is read once (each ProjectFS reads a file
	// once).
	mu       sync.Mutex
	sharedFS map[string]*gitlabapi.ProjectFS
}

// projectFS returns the repository of project at ref ("" the default
// branch) that a ci_config_path in another project names, the same one
// for every project that names it.
func (c *collector) projectFS(ctx context.Context, project, ref string) *gitlabapi.ProjectFS {
	c.mu.Lock()
	defer c.mu.Unlock()
	key := project + "\x00" + ref
	fsys, ok := c.sharedFS[key]
	if !ok {
		if c.sharedFS == nil {
			c.sharedFS = map[string]*gitlabapi.ProjectFS{}
		}
		fsys = gitlabapi.NewProjectFS(ctx, c.o.API, project, ref)
		c.sharedFS[key] = fsys
	}
	return fsys
}

func (c *collector) addGroup(path string, certain bool) {
	if c.groups == nil {
		c.groups = map[string]bool{}
	}
	c.groups[path] = c.groups[path] || certain
}

// addNamespace adds the namespace of a project path and its ancestors.
func (c *collector) addNamespace(project string) {
	for i := 0; i < len(project); i++ {
		if project[i] == '/' {
			c.addGroup(project[:i], false)
		}
	}
}

// walk lists the scope's groups and projects, and reads the instance's
// variables for the instance scope.
func (c *collector) walk(ctx context.Context) error {
	api, log := c.o.API, c.o.Log
	seen := map[int64]bool{}
	addProject := func(p gitlabapi.Project) error {
		if !seen[p.ID] {
			seen[p.ID] = true
			c.projects = append(c.projects, p)
		}
		return nil
	}
	switch c.o.Scope.Kind {
	case "group":
		for _, path := range c.o.Scope.Paths {
			g, err := api.Group(ctx, path)
			if err != nil {
				return err
			}
			for _, a := range g.Ancestors() {
				c.addGroup(a, true)
			}
			c.addGroup(g.FullPath, true)
			err = api.DescendantGroups(ctx, g.FullPath, func(d gitlabapi.Group) error {
				c.addGroup(d.FullPath, true)
				return nil
			})
			if err != nil {
				if ctx.Err() != nil {
					return err
				}
				c.fail("subgroups of "+g.FullPath, err)
			}
			if err := api.GroupProjects(ctx, g.FullPath, true, addProject); err != nil {
				return err
			}
			log.Debug("report: group walked", "group", g.FullPath, "id", g.ID)
		}
	case "project":
		var first error
		for _, path := range c.o.Scope.Paths {
			p, err := api.Project(ctx, path)
			if err != nil {
				st := statusOf(err)
				if ctx.Err() != nil || (st != "not-found" && st != "forbidden") {
					return err
				}
				if first == nil {
					first = err
				}
				c.missing = append(c.missing, projectResult{project: Project{Path: path, Status: st, Error: err.Error(), Findings: []Finding{}}})
				log.Debug("report: project not readable", "project", path, "status", st)
				continue
			}
			_ = addProject(p)
			c.addNamespace(p.PathWithNamespace)
		}
		if len(c.projects) == 0 {
			return fmt.Errorf("no project of the scope can be read: %w", first)
		}
	case "instance":
		vs, err := api.InstanceVariables(ctx)
		switch {
		case err == nil:
			c.scopeCreds = append(c.scopeCreds, classifyVariables(levelInstance, "", vs)...)
			log.Debug("report: instance variables read", "variables", len(vs))
		case ctx.Err() != nil:
			return err
		case errors.Is(err, gitlabapi.ErrForbidden):
			c.errors = append(c.errors, Error{What: "instance variables", Status: "forbidden",
				Error: "instance variables need an administrator token: " + err.Error()})
		default:
			c.fail("instance variables", err)
		}
		if err := api.AllProjects(ctx, addProject); err != nil {
			return err
		}
		for _, p := range c.projects {
			c.addNamespace(p.PathWithNamespace)
		}
		// Groups from the groups API too, not only the namespaces of
		// projects: a group with no project of its own (an archive, a
		// parent of subgroups only) still holds variables (issue 16). An
		// administrator lists every group; another user the groups whose
		// variables it may read.
		minRole := gitlabapi.RoleMaintainer
		if c.admin {
			minRole = 0
		}
		n := 0
		err = api.AllGroups(ctx, minRole, func(g gitlabapi.Group) error {
			c.addGroup(g.FullPath, true)
			n++
			return nil
		})
		switch {
		case err == nil:
			log.Debug("report: groups listed", "groups", n, "min_role", int(minRole))
		case ctx.Err() != nil:
			return err
		default:
			c.fail("groups", err)
		}
	}
	return nil
}

// fail records a failure not tied to one project.
func (c *collector) fail(what string, err error) {
	c.errors = append(c.errors, Error{What: what, Status: statusOf(err), Error: err.Error()})
	c.o.Log.Debug("report: not read", "what", what, "status", statusOf(err))
}

// readGroupVariables reads the variables of every group of the scope, a
// few at a time.
func (c *collector) readGroupVariables(ctx context.Context) error {
	paths := make([]string, 0, len(c.groups))
	for p := range c.groups {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	type result struct {
		creds []Credential
		err   error
		n     int
	}
	out := make([]result, len(paths))
	sem := make(chan struct{}, c.o.Concurrency)
	var wg sync.WaitGroup
	for i, p := range paths {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			vs, err := c.o.API.GroupVariables(ctx, p)
			out[i] = result{creds: classifyVariables(levelGroup, p, vs), err: err, n: len(vs)}
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("read group variables: %w", err)
	}
	for i, r := range out {
		switch {
		case r.err == nil:
			c.scopeCreds = append(c.scopeCreds, r.creds...)
			if strings.Contains(paths[i], "/") {
				c.subgroupsRead++
			} else {
				c.groupsRead++
			}
			c.o.Log.Debug("report: group variables read", "group", paths[i], "variables", r.n, "credentials", len(r.creds))
		case !c.groups[paths[i]] && errors.Is(r.err, gitlabapi.ErrNotFound):
			// A user's namespace: it has no variables.
			c.o.Log.Debug("report: namespace is not a group", "namespace", paths[i])
		default:
			c.fail("group variables of "+paths[i], r.err)
		}
	}
	return nil
}

// projectResult is one project read: its entry, its own credentials and
// the uses its jobs make of every credential, by credential ID.
type projectResult struct {
	project Project
	creds   []Credential
	uses    map[string][]Usage
}

// readProjects reads todo[i] for each i of fetch into results, a few at a
// time. It returns ctx's error when ctx ended before all were read; the
// projects being read then are left out, to be read again on resume.
func (c *collector) readProjects(ctx context.Context, todo []gitlabapi.Project, fetch []int, results []*projectResult) error {
	total := len(todo)
	var mu sync.Mutex
	done := total - len(fetch)
	if c.o.Progress != nil && done > 0 {
		c.o.Progress(done, total)
	}
	scope := make([]*Credential, len(c.scopeCreds))
	for i := range c.scopeCreds {
		scope[i] = &c.scopeCreds[i]
	}
	sem := make(chan struct{}, c.o.Concurrency)
	var wg sync.WaitGroup
loop:
	for _, i := range fetch {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			break loop
		}
		if ctx.Err() != nil {
			<-sem
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			r := c.readProject(ctx, todo[i], scope)
			mu.Lock()
			defer mu.Unlock()
			if ctx.Err() != nil {
				// Some call may have failed because ctx ended: read the
				// project again on resume.
				return
			}
			results[i] = &r
			done++
			if c.o.Progress != nil {
				c.o.Progress(done, total)
			}
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}
	return nil
}

// readProject reads one project: its variables, then its pipeline (for
// the jobs that use the credentials and the lint findings).
func (c *collector) readProject(ctx context.Context, gp gitlabapi.Project, scope []*Credential) projectResult {
	log := c.o.Log
	r := projectResult{
		project: Project{
			Path: gp.PathWithNamespace, ID: gp.ID, WebURL: gp.WebURL, Status: "ok",
			DefaultBranch: gp.DefaultBranch, Archived: gp.Archived,
			IDTokenSubClaimComponents: gp.IDTokenSubClaimComponents,
			Findings:                  []Finding{},
		},
		uses: map[string][]Usage{},
	}
	pr := &r.project
	failed := func(err error) {
		if pr.Status == "ok" {
			pr.Status, pr.Error = statusOf(err), err.Error()
		}
	}
	vs, err := c.o.API.ProjectVariables(ctx, gp.PathWithNamespace)
	if err != nil {
		failed(err)
	} else {
		r.creds = classifyVariables(levelProject, gp.PathWithNamespace, vs)
	}
	log.Debug("report: project variables", "project", gp.PathWithNamespace, "id", gp.ID, "variables", len(vs), "credentials", len(r.creds), "status", pr.Status)
	vs = nil

	if gp.Archived || gp.DefaultBranch == "" {
		pr.NoCIConfig = !gp.Archived // an empty repository has none
		log.Debug("report: pipeline not read", "project", gp.PathWithNamespace, "archived", gp.Archived, "empty", gp.DefaultBranch == "")
		return r
	}
	p, cfg, err := c.readPipeline(ctx, gp)
	switch {
	case err != nil:
		failed(err)
		return r
	case p == nil && cfg != "":
		// A configuration keyless could not read: noted as a finding.
		pr.Findings = append(pr.Findings, Finding{Rule: "include", Severity: lint.Info.String(), File: cfg,
			Message: fmt.Sprintf("the CI/CD configuration %q is a URL, which keyless reads only with a fetcher; its jobs are not checked", cfg)})
		return r
	case p == nil:
		pr.NoCIConfig = true
		return r
	}
	pr.CIConfigPath = cfg
	jobs := jobViews(p)
	pr.Jobs = len(jobs)
	found, err := lint.Run(p, lint.Options{})
	if err == nil {
		for _, f := range found {
			pr.Findings = append(pr.Findings, Finding{Rule: f.Rule, Severity: f.Severity.String(), File: f.Pos.File, Line: f.Pos.Line, Message: f.Message})
		}
	}
	own := make([]*Credential, 0, len(scope)+len(r.creds))
	own = append(own, scope...)
	for i := range r.creds {
		own = append(own, &r.creds[i])
	}
	r.uses = projectUsage(gp.PathWithNamespace, jobs, own)
	log.Debug("report: pipeline read", "project", gp.PathWithNamespace, "file", cfg, "jobs", len(jobs), "findings", len(pr.Findings))
	return r
}

// readPipeline reads the project's CI/CD configuration at its default
// branch. ci_config_path may name a file of the project, a file of
// another project ("ci.yml@group/other[:ref]") or a URL
// (https://docs.gitlab.com/ci/pipelines/settings/#specify-a-custom-cicd-configuration-file).
// A nil pipeline with a nil error is a project without one (or, with cfg
// set, a URL that could not be read without a Fetcher).
func (c *collector) readPipeline(ctx context.Context, gp gitlabapi.Project) (*pipeline.Pipeline, string, error) {
	cfg := gp.CIConfigPath
	if cfg == "" {
		cfg = ".gitlab-ci.yml"
	}
	if strings.Contains(cfg, "://") {
		if c.o.Fetcher == nil {
			return nil, cfg, nil
		}
		name, src, err := c.o.Fetcher.Fetch(&pipeline.Include{Kind: pipeline.IncludeRemote, Location: cfg})
		if err != nil {
			return nil, cfg, fmt.Errorf("read the CI/CD configuration %q: %w", cfg, err)
		}
		return pipeline.Parse("", name, src, pipeline.Options{Fetcher: c.o.Fetcher}), cfg, nil
	}
	file := cfg
	var fsys *gitlabapi.ProjectFS
	if i := strings.LastIndexByte(cfg, '@'); i > 0 {
		project, ref := cfg[i+1:], ""
		file = cfg[:i]
		if j := strings.IndexByte(project, ':'); j >= 0 {
			project, ref = project[:j], project[j+1:]
		}
		fsys = c.projectFS(ctx, project, ref)
	} else {
		fsys = gitlabapi.NewProjectFS(ctx, c.o.API, gp.PathWithNamespace, gp.DefaultBranch)
	}
	file = strings.TrimPrefix(path.Clean("/"+file), "/")
	src, err := fsys.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, "", nil
	}
	if err != nil {
		return nil, "", err
	}
	return pipeline.Parse("", file, src, pipeline.Options{FS: fsys, Fetcher: c.o.Fetcher}), cfg, nil
}

// statusOf is the Project.Status of a failed call.
func statusOf(err error) string {
	switch {
	case errors.Is(err, gitlabapi.ErrUnauthorized):
		return "unauthorized"
	case errors.Is(err, gitlabapi.ErrForbidden):
		return "forbidden"
	case errors.Is(err, gitlabapi.ErrNotFound):
		return "not-found"
	}
	return "error"
}

// assemble fills rep from the scope's credentials and the projects read:
// each credential with its uses, then finish.
func assemble(rep *Report, scopeCreds []Credential, parts []projectResult) {
	byID := map[string]*Credential{}
	var creds []Credential
	add := func(c Credential) {
		if _, ok := byID[c.ID]; ok {
			return
		}
		c.Usage = []Usage{}
		creds = append(creds, c)
	}
	for _, c := range scopeCreds {
		add(c)
	}
	for _, r := range parts {
		for _, c := range r.creds {
			add(c)
		}
	}
	for i := range creds {
		byID[creds[i].ID] = &creds[i]
	}
	rep.Projects = []Project{}
	for _, r := range parts {
		rep.Projects = append(rep.Projects, r.project)
		for id, us := range r.uses {
			if c := byID[id]; c != nil {
				c.Usage = append(c.Usage, us...)
			}
		}
	}
	rep.Credentials = creds
	finish(rep)
}

// finish sorts rep, fills each credential's replacement from its uses and
// counts the summary.
func finish(rep *Report) {
	if rep.Credentials == nil {
		rep.Credentials = []Credential{}
	}
	if rep.Projects == nil {
		rep.Projects = []Project{}
	}
	if rep.Errors == nil {
		rep.Errors = []Error{}
	}
	slices.SortFunc(rep.Projects, func(a, b Project) int {
		if a.Path != b.Path {
			return strings.Compare(a.Path, b.Path)
		}
		return cmp.Compare(a.ID, b.ID)
	})
	slices.SortFunc(rep.Errors, func(a, b Error) int {
		return strings.Compare(a.What+"\x00"+a.Error, b.What+"\x00"+b.Error)
	})
	rep.Errors = slices.Compact(rep.Errors)
	slices.SortFunc(rep.Credentials, func(a, b Credential) int { return strings.Compare(a.ID, b.ID) })
	for i := range rep.Credentials {
		c := &rep.Credentials[i]
		slices.SortFunc(c.Usage, compareUsage)
		c.Usage = slices.Compact(c.Usage)
	}
	kindsByUse(rep.Credentials)
	rc := newReplaceContext(rep.GitLabURL, rep.Tool.Version, rep.Projects)
	for i := range rep.Credentials {
		c := &rep.Credentials[i]
		c.Replacement = rc.replacement(c)
	}
	rep.Summary = summarize(rep)
}

func compareUsage(a, b Usage) int {
	for _, d := range [][2]string{{a.Project, b.Project}, {a.Job, b.Job}, {a.File, b.File}} {
		if d[0] != d[1] {
			return strings.Compare(d[0], d[1])
		}
	}
	if a.Line != b.Line {
		return a.Line - b.Line
	}
	return strings.Compare(a.How, b.How)
}

// summarize counts rep's lists; the groups read, which no list holds, are
// kept from rep.Summary.
func summarize(rep *Report) Summary {
	s := Summary{ByKind: map[string]int{}, ByExposure: map[string]int{}, ByLevel: map[string]int{}}
	s.Groups, s.Subgroups = rep.Summary.Groups, rep.Summary.Subgroups
	s.Projects = len(rep.Projects)
	for _, p := range rep.Projects {
		if p.Status != "ok" {
			s.ProjectsFailed++
		}
		s.Findings += len(p.Findings)
	}
	s.Credentials = len(rep.Credentials)
	for _, c := range rep.Credentials {
		s.ByKind[c.Kind]++
		s.ByLevel[c.Level]++
		for _, e := range c.Exposure {
			s.ByExposure[e]++
		}
	}
	return s
}

func sameScope(a, b Scope) bool {
	if a.Kind != b.Kind {
		return false
	}
	x, y := slices.Clone(a.Paths), slices.Clone(b.Paths)
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(x, y)
}

func scopeString(s Scope) string {
	if s.Kind == "instance" {
		return "the instance"
	}
	return s.Kind + " " + strings.Join(s.Paths, ", ")
}
