package pipeline

import (
	"iter"
	"maps"
	"path"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// JobView is what one job GitLab would run runs and reads, derived from
// the resolved job. internal/lint and internal/report both read jobs
// through it, so that they cannot disagree on what a job does (issue 14).
type JobView struct {
	Job *Job
	// Child is the configuration file of the child pipeline the job is
	// in (Pipeline.Children, its trigger:include file); "" for a job of
	// the pipeline itself.
	Child string
	// Extends is the job's extends chain (Job.Extends), then the names
	// the chain's jobs extend as written: a hidden job of an include not
	// read offline is named here though it is not in Jobs.
	Extends []string
	// Lines are the shell lines in the order the job runs them:
	// before_script, script, after_script, then
	// hooks:pre_get_sources_script; then the command lines its
	// containers start with (Job.Lines).
	Lines []*Node
	// Variables are the variables the job sees: the global ones (unless
	// inherit:variables is false), then its own, then its rules', then in
	// a child pipeline those its trigger jobs pass down
	// (Pipeline.Upstream); a later entry of a name wins. Jobs with no
	// variables of their own, or the same variables: node, share the
	// slice: read it, do not write to it.
	Variables []Variable
	// Refs are the variables the job expands: in its lines, variables,
	// rules, services and image, and in the global variables it
	// inherits.
	Refs RefSet
	// Images are the image: and services: images, as written.
	Images []*Node
	// IDTokens are the job's id_tokens.
	IDTokens []IDToken
	// Commands are the commands the job's lines run, in order, each
	// named by its base name (see CommandNames).
	Commands []Command
	// Environment is the job's environment name as written ("" for
	// none).
	Environment string
	// Tags are the job's runner tags (default: tags included).
	Tags []*Node
	// CredentialUses are the commands that read a credential from the
	// environment, by the EnvReaders table (credentials.go), in the
	// order the job runs them.
	CredentialUses []CredentialUse
	// Artifacts are the files the job keeps when it ends.
	Artifacts Artifacts
	// CachePaths are the cache:paths of each of its caches, which later
	// jobs restore; cache:untracked: true is a "." path.
	CachePaths []*Node
	// Secrets are the job's secrets: entries.
	Secrets []Secret
	// EnvMaps are the job's assignments of the variables tools read
	// (ToolEnv): in Variables, then in its lines in the order they run
	// (NAME=value cmd, export NAME=value). They say which stored
	// variable reaches a tool under which name: AWS_ACCESS_KEY_ID from
	// $S3_UPLOAD_KEY (issue 16).
	EnvMaps []EnvMap
}

// EnvMap is one assignment of a variable that a tool reads from the
// environment.
type EnvMap struct {
	// Env is the variable assigned: "AWS_ACCESS_KEY_ID".
	Env string
	// From is the variable whose value it takes: "S3_UPLOAD_KEY" for
	// $S3_UPLOAD_KEY, ${S3_UPLOAD_KEY} or "$S3_UPLOAD_KEY"; "" for a
	// value that is not one variable (a literal, "$A$B", '$A').
	From string
	// Node is the variables: value, or the line that assigns it.
	Node *Node
	// Inline is set for an assignment in a line. It wins over a stored
	// CI/CD variable of the same name, where a variables: entry does not:
	// project, group and instance variables take precedence over the
	// .gitlab-ci.yml's
	// (https://docs.gitlab.com/ci/variables/#cicd-variable-precedence).
	Inline bool
}

// MapsFrom returns the first assignment of a variable tools read that
// takes the value of name, or nil.
func (v *JobView) MapsFrom(name string) *EnvMap {
	for i := range v.EnvMaps {
		if v.EnvMaps[i].From == name {
			return &v.EnvMaps[i]
		}
	}
	return nil
}

// Artifacts is a job's artifacts: (https://docs.gitlab.com/ci/yaml/#artifacts).
type Artifacts struct {
	// Paths are artifacts:paths as written: relative to the project
	// directory, with globs and CI/CD variables.
	Paths []*Node
	// Exclude are artifacts:exclude.
	Exclude []*Node
	// Untracked is artifacts:untracked: true, which keeps every file Git
	// does not track.
	Untracked bool
	// Reports are the files of artifacts:reports, in the order written.
	Reports []Report
	// Access is who may download them: artifacts:access ("all",
	// "developer", "maintainer", "none"), "developer" for public: false,
	// "" when neither is set (everyone who can see the job).
	Access string
}

// Report is one file of artifacts:reports.
type Report struct {
	Type string // "dotenv", "junit"
	Path *Node
}

// Secret is one secrets: entry of a job
// (https://docs.gitlab.com/ci/yaml/#secrets).
type Secret struct {
	Name   string
	KeyPos Pos
	// File is true when the variable holds the path of a file with the
	// secret (file: true, the default) rather than the secret.
	File bool
}

// Variable is one variables: entry: for the long form, Value is its
// value: (description: and options: are documentation, not values).
type Variable struct {
	Name   string
	KeyPos Pos
	Value  *Node
	// Scope is "global", "job" or "rules": where the pipeline that
	// writes it has it (for a variable a trigger job passes down, the
	// parent pipeline).
	Scope string
}

// IDToken is one id_tokens: entry.
type IDToken struct {
	Name   string
	KeyPos Pos
	Aud    []*Node // one or more audiences
	Node   *Node   // the aud: value
}

// Command is one command a job runs.
type Command struct {
	Name string // "aws" for /usr/bin/aws
	Line *Node  // the line that runs it
	// Args are the words after the name, quotes removed: ["s3", "ls"].
	Args []string
	// Env are the variables tools read (ToolEnv) that the job's lines
	// set for it: its own NAME=value prefix, and what the lines before
	// it export or assign in the same shell. The command reads these
	// values, not stored CI/CD variables of the names.
	Env []string
}

// Runs returns the first line that runs the command name, or nil.
func (v *JobView) Runs(name string) *Node {
	for _, c := range v.Commands {
		if c.Name == name {
			return c.Line
		}
	}
	return nil
}

// Reads reports whether the job expands the variable name.
func (v *JobView) Reads(name string) bool { return v.Refs.Has(name) }

// RefSet is a set of variable names: those a pipeline's jobs inherit,
// shared by them all, and one job's others. Jobs used to clone the
// inherited map each and add theirs, the most costly part of JobViews
// (issue 15).
type RefSet struct {
	base map[string]bool // shared: never written once made
	own  []string        // sorted, none in base
}

// Has reports whether name is in the set.
func (s RefSet) Has(name string) bool {
	if s.base[name] {
		return true
	}
	_, ok := slices.BinarySearch(s.own, name)
	return ok
}

// All yields each name once, in no set order.
func (s RefSet) All() iter.Seq[string] {
	return func(yield func(string) bool) {
		for r := range s.base {
			if !yield(r) {
				return
			}
		}
		for _, r := range s.own {
			if !yield(r) {
				return
			}
		}
	}
}

// Len is the number of names in the set.
func (s RefSet) Len() int { return len(s.base) + len(s.own) }

// Variable returns the value the job sees for name, or nil.
func (v *JobView) Variable(name string) *Variable {
	for i := len(v.Variables) - 1; i >= 0; i-- {
		if v.Variables[i].Name == name {
			return &v.Variables[i]
		}
	}
	return nil
}

// EveryJobView is JobViews of the pipeline and of each child pipeline
// it starts (All), every child's views naming it in Child: the jobs
// of every pipeline a push runs.
func (p *Pipeline) EveryJobView() []JobView {
	var out []JobView
	for _, q := range p.All() {
		views := q.JobViews()
		if q != p && len(q.Files) > 0 {
			for i := range views {
				views[i].Child = q.Files[0].Path
			}
		}
		out = append(out, views...)
	}
	return out
}

// JobViews returns a view of each job GitLab would run (not hidden), in
// definition order. It is linear in the jobs: the top-level keys and the
// global variables are read once, as a configuration can hold hundreds of
// thousands of jobs and Get is a scan. Callers keep the result.
func (p *Pipeline) JobViews() []JobView {
	b := &viewBase{top: map[string]*Node{}, upstream: p.Upstream}
	globalRefs := map[string]bool{}
	if p.Global != nil {
		b.top = make(map[string]*Node, len(p.Global.Pairs))
		for _, pr := range p.Global.Pairs {
			b.top[pr.Key] = pr.Value
		}
		b.globals = Variables(b.top["variables"], "global")
		addRefs(globalRefs, b.top["variables"])
	}
	// What every job of a child gets, and every job that inherits the
	// global variables, read once.
	b.inherited = append(slices.Clip(b.globals), p.Upstream...)
	b.globalMaps = appendEnvMaps(nil, b.globals)
	b.upstreamMaps = appendEnvMaps(nil, p.Upstream)
	b.upstreamRefs = map[string]bool{}
	for _, u := range p.Upstream {
		for _, r := range VarRefs(u.Value.Value) {
			b.upstreamRefs[r] = true
		}
	}
	b.inheritedRefs = maps.Clone(b.upstreamRefs)
	maps.Copy(b.inheritedRefs, globalRefs)
	// Jobs share nodes (what extends, anchors and !reference merge in),
	// so each node's variables and commands are read once.
	cache := &viewCache{lines: map[*Node]*lineInfo{}, refs: map[*Node][]string{}, vars: map[varsKey][]Variable{}, cmds: map[scriptNodes]sharedCommands{},
		slabs: p.viewSlabs()}
	// Sized once: a JobView is some 400 bytes, and growing the list by
	// appending copied a pipeline's views about twice over.
	n := 0
	for _, j := range p.Jobs {
		if !j.Hidden && j.Node != nil {
			n++
		}
	}
	if n == 0 {
		return nil
	}
	out := cache.viewSlab().take(n)
	for _, j := range p.Jobs {
		if j.Hidden || j.Node == nil {
			continue
		}
		out = append(out, jobView(j, b, cache))
	}
	return out
}

// viewBase is what JobViews reads once for all the jobs of a pipeline.
type viewBase struct {
	top map[string]*Node
	// globals are the global variables, upstream those trigger jobs
	// pass down, inherited the two.
	globals, upstream, inherited []Variable
	// globalMaps and upstreamMaps are the EnvMaps of globals and
	// upstream.
	globalMaps, upstreamMaps []EnvMap
	// upstreamRefs are the variables upstream expand; inheritedRefs
	// those and the ones the global variables expand.
	upstreamRefs, inheritedRefs map[string]bool
}

// appendEnvMaps appends the assignments of variables tools read among vs.
func appendEnvMaps(out []EnvMap, vs []Variable) []EnvMap {
	for _, va := range vs {
		if ToolEnv(va.Name) {
			out = append(out, EnvMap{Env: va.Name, From: valueRef(va.Value.Value), Node: va.Value})
		}
	}
	return out
}

// refKeys are the job keys whose values expand variables.
var refKeys = []string{"before_script", "script", "after_script", "hooks", "variables", "rules", "services", "image"}

// jobVariables are the variables job n sees, later entries winning: the
// global ones unless inherit:variables is false, its own, its rules', then
// upstream. A job with no variables of its own shares upstream, or
// inherited (globals then upstream, made here when nil); the others copy
// them once into a slice of their size: JobViews makes one for every job,
// most of them the global and upstream variables (issue 15). Jobs whose
// variables: is one node (extended from one template) and whose rules set
// none share the slice too, through memo.
func jobVariables(n *Node, globals, upstream, inherited []Variable, memo map[varsKey][]Variable, vs *slab[Variable]) []Variable {
	inherit := inheritsVariables(n)
	own := n.Get("variables")
	var rules []*Node
	if r := n.Get("rules"); r != nil && r.Kind == Seq {
		rules = r.Items
	}
	size := len(own.pairsOrNil()) + len(upstream)
	if inherit {
		size += len(globals)
	}
	ruleVars := 0
	for _, r := range rules {
		ruleVars += len(r.Get("variables").pairsOrNil())
	}
	size += ruleVars
	if size == 0 {
		return nil
	}
	if size == len(upstream) || inherit && size == len(globals)+len(upstream) {
		// No variables of its own: the jobs share them.
		if !inherit {
			return slices.Clip(upstream)
		}
		if inherited == nil {
			inherited = append(slices.Clip(globals), upstream...)
		}
		return slices.Clip(inherited)
	}
	var key varsKey
	if ruleVars == 0 {
		key = varsKey{own, inherit}
		if out, ok := memo[key]; ok {
			return out
		}
	}
	out := vs.take(size)
	if inherit {
		out = append(out, globals...)
	}
	out = AppendVariables(out, own, "job")
	for _, r := range rules {
		out = AppendVariables(out, r.Get("variables"), "rules")
	}
	out = append(out, upstream...)
	if len(out) == 0 {
		return nil
	}
	out = slices.Clip(out)
	if key.own != nil && memo != nil {
		memo[key] = out
	}
	return out
}

// varsKey is what a job's variables are made of when its rules set
// none: its variables: node, and whether it inherits the global ones.
type varsKey struct {
	own     *Node
	inherit bool
}

// viewCache holds what JobViews has read of nodes that several jobs
// share: the commands of a shell line, the variables a scalar expands.
type viewCache struct {
	lines map[*Node]*lineInfo
	refs  map[*Node][]string // the references under a job's key
	// scratch is refSet's, reused from job to job.
	scratch []string
	vars    map[varsKey][]Variable
	cmds    map[scriptNodes]sharedCommands
	// slabs are the pipeline's (Pipeline.viewSlabs): what JobViews
	// makes for each job dies with the model, and is recycled with it
	// (issue 15).
	slabs *viewSlabs
}

func (c *viewCache) viewSlab() *slab[JobView] {
	if c == nil || c.slabs == nil {
		return nil
	}
	return &c.slabs.views
}

func (c *viewCache) varSlab() *slab[Variable] {
	if c == nil || c.slabs == nil {
		return nil
	}
	return &c.slabs.vars
}

func (c *viewCache) cmdSlab() *slab[Command] {
	if c == nil || c.slabs == nil {
		return nil
	}
	return &c.slabs.cmds
}

// viewSlabs are p's JobViews slabs, taken from the pool at first use;
// nil unless the main pipeline's model will be released (Release), which
// gives them back.
func (p *Pipeline) viewSlabs() *viewSlabs {
	root := p
	for root.Parent != nil {
		root = root.Parent
	}
	if root.nodes == nil {
		return nil
	}
	if p.views == nil {
		p.views = viewSlabPool.Get().(*viewSlabs)
	}
	return p.views
}

// lineInfo is what a shell line runs: its commands, and, for a line that
// assigns variables tools read, the steps in the order the shell takes
// them.
type lineInfo struct {
	cmds  []Command
	steps []envStep // nil when the line assigns none
}

// envStep is one simple command of a line that assigns variables tools
// read: the command (an index of cmds, -1 for none) with its NAME=value
// prefix (prefix), or assignments that stay for the rest of the shell
// (keep: export NAME=value, or NAME=value alone).
type envStep struct {
	cmd          int
	prefix, keep []EnvMap
}

// line reads line l once.
func (c *viewCache) line(l *Node) *lineInfo {
	info, ok := c.lines[l]
	if ok {
		return info
	}
	info = &lineInfo{}
	assigns := strings.IndexByte(l.Value, '=') >= 0
	for _, seg := range commandSegments(l.Value) {
		name, args := command(seg)
		st := envStep{cmd: -1}
		if name != "" {
			st.cmd = len(info.cmds)
			info.cmds = append(info.cmds, Command{Name: name, Line: l, Args: args})
		}
		if assigns {
			st.prefix, st.keep = segmentAssigns(seg, l)
			if len(st.prefix) > 0 || len(st.keep) > 0 {
				info.steps = append(info.steps, st)
			}
		}
	}
	c.lines[l] = info
	return info
}

// exportWords are the builtins whose NAME=value arguments set variables
// for the rest of the shell.
var exportWords = map[string]bool{"export": true, "declare": true, "typeset": true, "local": true, "readonly": true}

// segmentAssigns reads the assignments of variables tools read in a
// simple command: the NAME=value words before its command (prefix; with
// no command they stay, as the shell keeps them), and an export's
// arguments (keep).
func segmentAssigns(seg string, l *Node) (prefix, keep []EnvMap) {
	words := strings.Fields(seg)
	i := 0
	for ; i < len(words); i++ {
		w := words[i]
		if prefixWords[w] || strings.HasPrefix(w, "/") && prefixWords[path.Base(w)] || strings.HasPrefix(w, "-") {
			continue
		}
		eq := strings.IndexByte(w, '=')
		if eq <= 0 || !isName(w[:eq]) {
			break
		}
		if ToolEnv(w[:eq]) {
			prefix = append(prefix, EnvMap{Env: w[:eq], From: valueRef(w[eq+1:]), Node: l, Inline: true})
		}
	}
	if i == len(words) {
		return nil, prefix // assignments alone
	}
	if exportWords[words[i]] {
		for _, w := range words[i+1:] {
			if eq := strings.IndexByte(w, '='); eq > 0 && isName(w[:eq]) && ToolEnv(w[:eq]) {
				keep = append(keep, EnvMap{Env: w[:eq], From: valueRef(w[eq+1:]), Node: l, Inline: true})
			}
		}
	}
	return prefix, keep
}

// valueRef is the variable a value is, quotes removed: "S3_KEY" for
// $S3_KEY, ${S3_KEY} and "$S3_KEY"; "" for anything else ('$S3_KEY'
// included: single quotes do not expand).
func valueRef(val string) string {
	if len(val) >= 2 && val[0] == '"' && val[len(val)-1] == '"' {
		val = val[1 : len(val)-1]
	}
	if !strings.HasPrefix(val, "$") {
		return ""
	}
	name := val[1:]
	if strings.HasPrefix(name, "{") && strings.HasSuffix(name, "}") {
		name = name[1 : len(name)-1]
	}
	if !isName(name) {
		return ""
	}
	return name
}

// refSet is the variables job n expands: base, and those under its
// refKeys not in base. The references under each node are read once:
// jobs share their keys' values (extends, default:, anchors).
func (c *viewCache) refSet(n *Node, base map[string]bool) RefSet {
	own := c.scratch[:0]
	for _, k := range refKeys {
		v := n.Get(k)
		if v == nil {
			continue
		}
		refs, ok := c.refs[v]
		if !ok {
			eachScalar(v, true, 0, func(s *Node) {
				if strings.ContainsAny(s.Value, "$%") {
					refs = appendVarRefs(refs, s.Value)
				}
			})
			c.refs[v] = refs
		}
		for _, r := range refs {
			if !base[r] {
				own = append(own, r)
			}
		}
	}
	c.scratch = own
	if len(own) == 0 {
		return RefSet{base: base}
	}
	slices.Sort(own)
	return RefSet{base: base, own: slices.Clone(slices.Compact(own))}
}

func jobView(j *Job, b *viewBase, cache *viewCache) JobView {
	n := j.Node
	inherit := inheritsVariables(n)
	refs := b.upstreamRefs
	if inherit {
		refs = b.inheritedRefs
	}
	v := JobView{Job: j, Lines: j.Lines(), IDTokens: j.IDTokens()}

	v.Extends = append([]string(nil), j.Extends...)
	seen := map[string]bool{j.Name: true}
	for _, e := range j.Extends {
		seen[e] = true
	}
	for todo := append([]string{j.Name}, j.Extends...); len(todo) > 0 && len(seen) < 64; {
		name := todo[0]
		todo = todo[1:]
		for _, e := range b.top[name].Get("extends").Scalars() {
			if !seen[e.Value] {
				seen[e.Value] = true
				v.Extends = append(v.Extends, e.Value)
				todo = append(todo, e.Value)
			}
		}
	}

	// The variables trigger jobs pass down win over the child's own
	// (Pipeline.Upstream).
	v.Variables = jobVariables(n, b.globals, b.upstream, b.inherited, cache.vars, cache.varSlab())
	v.Refs = cache.refSet(n, refs)

	if img := n.Get("image"); img != nil {
		v.Images = append(v.Images, imageName(img))
	}
	if svcs := n.Get("services"); svcs != nil && svcs.Kind == Seq {
		for _, s := range svcs.Items {
			v.Images = append(v.Images, imageName(s))
		}
	}

	// v.Variables are the global ones (when inherited), the job's own
	// and its rules', then upstream (jobVariables).
	own := v.Variables[:len(v.Variables)-len(b.upstream)]
	if inherit {
		v.EnvMaps = append(v.EnvMaps, b.globalMaps...)
		own = own[len(b.globals):]
	}
	v.EnvMaps = appendEnvMaps(v.EnvMaps, own)
	v.EnvMaps = append(v.EnvMaps, b.upstreamMaps...)
	v.Commands, v.EnvMaps = cache.commands(j, v.Lines, v.EnvMaps)
	v.Tags = n.Get("tags").Scalars()
	v.CredentialUses = credentialUses(&v)

	switch e := n.Get("environment"); {
	case e == nil:
	case e.Kind == Scalar:
		v.Environment = e.Value
	case e.Kind == Map:
		v.Environment = e.Get("name").String()
	}
	v.Artifacts = artifacts(n.Get("artifacts"))
	v.CachePaths = cachePaths(n.Get("cache"))
	v.Secrets = secrets(n.Get("secrets"))
	return v
}

// scriptNodes are the values Job.Lines reads a job's shell lines from,
// container commands aside.
type scriptNodes [len(scriptKeys) + 1]*Node

func (j *Job) scriptNodes() scriptNodes {
	var keys scriptNodes
	for i, k := range scriptKeys {
		keys[i] = j.Node.Get(k)
	}
	keys[len(scriptKeys)] = j.Node.Lookup("hooks", "pre_get_sources_script")
	return keys
}

// commands is lineCommands of job j's lines, shared by the jobs whose
// lines are the same script values when those lines assign no variable
// tools read (most jobs: a template's script extended by many): their
// commands are then the lines' commands, in order, and nothing else.
func (c *viewCache) commands(j *Job, lines []*Node, maps []EnvMap) ([]Command, []EnvMap) {
	key := j.scriptNodes()
	if cmds, ok := c.cmds[key]; ok && len(cmds.lines) == len(lines) {
		return cmds.cmds, maps
	}
	cmds, maps := lineCommands(j.Node, lines, maps, c)
	plain := len(ContainerLines(j.Node)) == 0
	for _, l := range lines {
		plain = plain && c.line(l).steps == nil
	}
	if plain {
		c.cmds[key] = sharedCommands{lines: lines, cmds: slices.Clip(cmds)}
	}
	return cmds, maps
}

// sharedCommands are the commands of lines that set no variable tools
// read (viewCache.commands).
type sharedCommands struct {
	lines []*Node
	cmds  []Command
}

// lineCommands are the commands the job's lines run, each with the
// variables tools read that the lines set for it (Command.Env), and maps
// with the lines' assignments of such variables added. before_script and
// script run in one shell; after_script in another
// (https://docs.gitlab.com/ci/yaml/#after_script), the hooks in another,
// and each container command in its own.
func lineCommands(job *Node, lines []*Node, maps []EnvMap, cache *viewCache) ([]Command, []EnvMap) {
	// The lines are read first, for the commands' number: a job can run
	// thousands (issue 15).
	infos := make([]*lineInfo, len(lines))
	n := 0
	for i, l := range lines {
		infos[i] = cache.line(l)
		n += len(infos[i].cmds)
	}
	var cmds []Command
	if n > 0 {
		cmds = cache.cmdSlab().take(n)
	}
	var kept []string // set for the rest of the shell
	var breaks []int  // the indexes of lines that start a shell, read once kept is set
	for i := range lines {
		if len(kept) > 0 {
			if breaks == nil {
				breaks = shellBreaks(job, len(lines))
			}
			if slices.Contains(breaks, i) {
				kept = nil
			}
		}
		info := infos[i]
		if info.steps == nil && len(kept) == 0 {
			cmds = append(cmds, info.cmds...)
			continue
		}
		next := 0
		for _, st := range info.steps {
			for ; next < st.cmd; next++ {
				c := info.cmds[next]
				c.Env = kept
				cmds = append(cmds, c)
			}
			maps = append(maps, st.prefix...)
			maps = append(maps, st.keep...)
			if st.cmd >= 0 {
				c := info.cmds[st.cmd]
				c.Env = slices.Clip(kept)
				for _, m := range st.prefix {
					c.Env = append(c.Env, m.Env)
				}
				cmds = append(cmds, c)
				next = st.cmd + 1
			}
			for _, m := range st.keep {
				kept = append(slices.Clip(kept), m.Env)
			}
		}
		for ; next < len(info.cmds); next++ {
			c := info.cmds[next]
			c.Env = kept
			cmds = append(cmds, c)
		}
	}
	return cmds, maps
}

// shellBreaks are the indexes in Job.Lines of the lines that start a new
// shell: the first of after_script, the first of the hooks, and each
// container command.
func shellBreaks(job *Node, n int) []int {
	i := len(job.Get("before_script").Scalars()) + len(job.Get("script").Scalars())
	out := []int{i}
	i += len(job.Get("after_script").Scalars())
	out = append(out, i)
	i += len(job.Lookup("hooks", "pre_get_sources_script").Scalars())
	for ; i < n; i++ {
		out = append(out, i)
	}
	return out
}

// artifacts reads a job's artifacts:.
func artifacts(n *Node) Artifacts {
	var a Artifacts
	if n == nil || n.Kind != Map {
		return a
	}
	a.Paths = n.Get("paths").Scalars()
	a.Exclude = n.Get("exclude").Scalars()
	a.Untracked, _ = n.Get("untracked").Bool()
	if r := n.Get("reports"); r != nil && r.Kind == Map {
		for _, p := range r.Pairs {
			for _, f := range p.Value.Scalars() {
				a.Reports = append(a.Reports, Report{Type: p.Key, Path: f})
			}
		}
	}
	a.Access = n.Get("access").String()
	if public, ok := n.Get("public").Bool(); ok && !public && a.Access == "" {
		a.Access = "developer"
	}
	return a
}

// cachePaths reads the paths of a job's cache: (one cache or a list).
func cachePaths(n *Node) []*Node {
	caches := []*Node{n}
	if n != nil && n.Kind == Seq {
		caches = n.Items
	}
	var out []*Node
	for _, c := range caches {
		if c == nil || c.Kind != Map {
			continue
		}
		out = append(out, c.Get("paths").Scalars()...)
		if u, _ := c.Get("untracked").Bool(); u {
			out = append(out, strAt(".", c.Pos))
		}
	}
	return out
}

// secrets reads a job's secrets:.
func secrets(n *Node) []Secret {
	if n == nil || n.Kind != Map {
		return nil
	}
	out := make([]Secret, 0, len(n.Pairs))
	for _, p := range n.Pairs {
		file := true
		if f, ok := p.Value.Get("file").Bool(); ok {
			file = f
		}
		out = append(out, Secret{Name: p.Key, KeyPos: p.KeyPos, File: file})
	}
	return out
}

// imageName is an image: or services: entry's image: the entry, or its
// name: in the long form.
func imageName(n *Node) *Node {
	if n.Kind == Map {
		if name := n.Get("name"); name != nil {
			return name
		}
	}
	return n
}

// inheritsVariables reads inherit:variables: false (a list names the
// ones inherited; those are kept, conservatively all of them).
func inheritsVariables(job *Node) bool {
	n := job.Lookup("inherit", "variables")
	if n == nil || n.Kind != Scalar {
		return true
	}
	b, ok := n.Bool()
	return !ok || b
}

// scriptKeys are a job's keys that hold shell lines, in the order the
// runner runs them.
var scriptKeys = [...]string{"before_script", "script", "after_script"}

// Lines returns the shell lines the job runs: before_script, script,
// after_script, hooks:pre_get_sources_script, then the command lines of
// its containers (ContainerLines), which every rule that reads scripts
// reads too (issue 15).
func (j *Job) Lines() []*Node {
	// Scalars of each, into one list sized by the lists' lengths.
	keys := j.scriptNodes()
	n := 0
	for _, k := range keys {
		if k != nil {
			n += max(len(k.Items), 1)
		}
	}
	var out []*Node
	if n > 0 {
		out = make([]*Node, 0, n)
	}
	add := func(s *Node) { out = append(out, s) }
	for _, k := range keys {
		eachScalar(k, false, 0, add)
	}
	if out != nil && len(out) == 0 {
		out = nil
	}
	return append(out, ContainerLines(j.Node)...)
}

// ContainerLines are the commands a job's containers run, each read as a
// script line: image:entrypoint, then each service's entrypoint: and
// command: (https://docs.gitlab.com/ci/yaml/#imageentrypoint,
// https://docs.gitlab.com/ci/yaml/#servicesentrypoint,
// https://docs.gitlab.com/ci/yaml/#servicescommand). The runner starts
// the job's shell through the image's entrypoint, so an entrypoint such as
// ["/usr/bin/env", "AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY}", ...]
// hands the job's commands that variable; services see the job's
// variables too. A list is one line, its arguments joined by spaces at
// the first argument's position (Pipeline.At places an offset of it in
// its argument); a list that runs a shell on a script ([sh, -c, script])
// is the script, a value of its own. A job's default: image and services
// are in its node.
func ContainerLines(job *Node) []*Node {
	var out []*Node
	add := func(n *Node) {
		if l := argvLine(n.Scalars()); l != nil {
			out = append(out, l)
		}
	}
	if img := job.Get("image"); img != nil && img.Kind == Map {
		add(img.Get("entrypoint"))
	}
	if svcs := job.Get("services"); svcs != nil && svcs.Kind == Seq {
		for _, s := range svcs.Items {
			if s.Kind == Map {
				add(s.Get("entrypoint"))
				add(s.Get("command"))
			}
		}
	}
	return out
}

// shells run the script after their -c flag.
var shells = map[string]bool{"sh": true, "bash": true, "dash": true, "ash": true, "zsh": true, "ksh": true}

// argvLine reads an argument list as the command line it runs; nil for an
// empty list, or one of empty strings (entrypoint: [""] clears the image's
// entrypoint).
func argvLine(args []*Node) *Node {
	empty := true
	for _, a := range args {
		empty = empty && strings.TrimSpace(a.Value) == ""
	}
	if empty {
		return nil
	}
	if shells[path.Base(args[0].Value)] {
		for i := 1; i+1 < len(args); i++ {
			f := args[i].Value
			if !strings.HasPrefix(f, "-") {
				break
			}
			if !strings.HasPrefix(f, "--") && strings.Contains(f, "c") {
				return args[i+1] // sh -c 'script': the script
			}
		}
	}
	if len(args) == 1 {
		return args[0]
	}
	words := make([]string, len(args))
	for i, a := range args {
		words[i] = a.Value
	}
	n := strAt(strings.Join(words, " "), args[0].Pos)
	n.Items = args
	return n
}

// IDTokens returns the job's id_tokens.
func (j *Job) IDTokens() []IDToken {
	n := j.Node.Get("id_tokens")
	if n == nil || n.Kind != Map {
		return nil
	}
	out := make([]IDToken, 0, len(n.Pairs))
	for _, p := range n.Pairs {
		aud := p.Value.Get("aud")
		out = append(out, IDToken{Name: p.Key, KeyPos: p.KeyPos, Aud: aud.Scalars(), Node: aud})
	}
	return out
}

// Variables lists a variables: map, each entry with scope; the long
// form's value: is the value. Entries without a scalar value are left
// out.
func Variables(n *Node, scope string) []Variable {
	if n == nil || n.Kind != Map {
		return nil
	}
	return AppendVariables(make([]Variable, 0, len(n.Pairs)), n, scope)
}

// AppendVariables appends the entries of variables: map n to out
// (Variables): a caller that only reads them reuses out (issue 15).
func AppendVariables(out []Variable, n *Node, scope string) []Variable {
	if n == nil || n.Kind != Map {
		return out
	}
	for _, p := range n.Pairs {
		v := p.Value
		if v != nil && v.Kind == Map {
			v = v.Get("value")
		}
		if v == nil || v.Kind != Scalar {
			continue
		}
		out = append(out, Variable{Name: p.Key, KeyPos: p.KeyPos, Value: v, Scope: scope})
	}
	return out
}

// Scalars returns the scalars of a string or a (nested) list of strings,
// as GitLab reads script: (a !reference may leave a list inside a list).
// Maps and nulls are skipped, as Strings skips them.
func (n *Node) Scalars() []*Node {
	switch {
	case n == nil:
		return nil
	case n.Kind == Scalar:
		return []*Node{n}
	case n.Kind != Seq:
		return nil
	}
	out := make([]*Node, 0, len(n.Items))
	eachScalar(n, false, 0, func(s *Node) { out = append(out, s) })
	if len(out) == 0 {
		return nil
	}
	return out
}

// eachScalar calls fn for each scalar of n: through lists, and through
// maps' values when maps is set. It is the one walk behind Scalars and
// JobView.Refs.
func eachScalar(n *Node, maps bool, depth int, fn func(*Node)) {
	if n == nil || depth > 32 {
		return
	}
	switch n.Kind {
	case Scalar:
		fn(n)
	case Seq:
		if !maps && depth > maxFlatten {
			return
		}
		for _, it := range n.Items {
			eachScalar(it, maps, depth+1, fn)
		}
	case Map:
		if maps {
			for i := range n.Pairs {
				eachScalar(n.Pairs[i].Value, maps, depth+1, fn)
			}
		}
	}
}

// addRefs adds the variables every scalar under n expands to set.
func addRefs(set map[string]bool, n *Node) {
	eachScalar(n, true, 0, func(s *Node) {
		for _, r := range VarRefs(s.Value) {
			set[r] = true
		}
	})
}

// VarRefs returns the variables s expands: $NAME, ${NAME}, PowerShell's
// $env:NAME and cmd's %NAME%.
func VarRefs(s string) []string {
	// Sized once: rules call this on every line and value (issue 15).
	n := strings.Count(s, "$") + strings.Count(s, "%")/2
	if n == 0 {
		return nil
	}
	out := appendVarRefs(make([]string, 0, n), s)
	if len(out) == 0 {
		return nil
	}
	return out
}

// appendVarRefs appends the variables s expands (VarRefs) to out.
func appendVarRefs(out []string, s string) []string {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '$':
			j := i + 1
			if strings.HasPrefix(s[j:], "env:") {
				j += 4
			}
			if j < len(s) && s[j] == '{' {
				j++
			}
			k := j
			for k < len(s) && IsNameByte(s[k]) {
				k++
			}
			if k > j && (s[j] < '0' || s[j] > '9') {
				out = append(out, s[j:k])
			}
			i = max(k-1, i)
		case '%':
			k := i + 1
			for k < len(s) && IsNameByte(s[k]) {
				k++
			}
			if k > i+1 && k < len(s) && s[k] == '%' {
				out = append(out, s[i+1:k])
				i = k
			}
		}
	}
	return out
}

// IsNameByte reports whether c can be part of a variable name.
func IsNameByte(c byte) bool {
	return c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
}

// prefixWords are words that run the command after them (with their
// flags): the command is the next word.
var prefixWords = map[string]bool{
	"!": true, "{": true, "(": true, "if": true, "then": true, "elif": true, "else": true,
	"do": true, "while": true, "until": true, "time": true, "exec": true, "command": true,
	"sudo": true, "nohup": true, "env": true, "xargs": true,
}

// CommandNames returns the names of the commands a shell line runs, in
// order: the first word of each simple command (after ; | & && || and
// newlines, and inside $( ) and backquotes), past variable assignments
// and prefixes such as sudo, then, do and env (/usr/bin/env too), and
// through the wrappers that run a package's command (npx cdk, poetry run
// python: cdk, python). A name is its base name without .exe, so
// /usr/bin/aws, ./aws and aws.exe are all "aws".
// Commands in quoted strings passed to another shell (sh -c "...") are
// not seen.
func CommandNames(line string) []string {
	var out []string
	for _, seg := range commandSegments(line) {
		if name, _ := command(seg); name != "" {
			out = append(out, name)
		}
	}
	return out
}

// commandSegments splits line into simple commands. Single quotes hide
// everything; double quotes hide separators but not $( ) or backquotes.
// A segment is a slice of line unless a backslash-newline in it is read
// as a space: only then is it copied (issue 15).
func commandSegments(line string) []string {
	var out []string
	start := 0     // where the current segment starts in line
	var cur []byte // the segment, once it is no longer a slice of line
	flush := func(end, next int) {
		if cur != nil {
			out = append(out, string(cur))
			cur = nil
		} else {
			out = append(out, line[start:end])
		}
		start = next
	}
	// The quote state of each enclosing $( ) or backquote.
	type frame struct {
		dq       bool
		backtick bool
	}
	var stack []frame
	var sq, dq bool
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case sq:
			if c == '\'' {
				sq = false
			}
		case c == '\\' && i+1 < len(line):
			if line[i+1] == '\n' {
				if cur == nil {
					cur = append([]byte(nil), line[start:i]...)
				}
				cur = append(cur, ' ')
				i++
				continue
			}
			if cur != nil {
				cur = append(cur, c)
			}
			i++
			c = line[i]
		case c == '$' && i+1 < len(line) && line[i+1] == '(':
			stack = append(stack, frame{dq: dq})
			dq = false
			flush(i, i+2)
			i++
			continue
		case c == '`':
			if n := len(stack); n > 0 && stack[n-1].backtick {
				dq = stack[n-1].dq
				stack = stack[:n-1]
			} else {
				stack = append(stack, frame{dq: dq, backtick: true})
				dq = false
			}
			flush(i, i+1)
			continue
		case dq:
			if c == '"' {
				dq = false
			}
		case c == '\'':
			sq = true
		case c == '"':
			dq = true
		case c == ')' && len(stack) > 0 && !stack[len(stack)-1].backtick:
			dq = stack[len(stack)-1].dq
			stack = stack[:len(stack)-1]
			flush(i, i+1)
			continue
		case c == ';' || c == '|' || c == '&' || c == '\n' || c == '(' || c == ')':
			flush(i, i+1)
			continue
		}
		if cur != nil {
			cur = append(cur, c)
		}
	}
	flush(len(line), len(line))
	return out
}

// wrappers are commands that run the command their next argument names:
// "npx cdk deploy" runs cdk, "poetry run python x.py" runs python.
var wrappers = map[string][]string{
	"npx": nil, "bunx": nil,
	"pnpm": {"exec", "dlx"}, "yarn": {"dlx"}, "poetry": {"run"}, "pipenv": {"run"},
	"uv": {"run"}, "pdm": {"run"}, "bundle": {"exec"},
}

// command is the name of the command a simple command runs, "" when it
// runs none that can be named (only assignments, a variable), and the
// words after it.
func command(seg string) (string, []string) {
	prefix := false
	for rest := seg; ; {
		w, after := nextField(rest)
		if w == "" {
			return "", nil
		}
		rest = after
		switch {
		case prefixWords[w], strings.HasPrefix(w, "/") && prefixWords[path.Base(w)]: // /usr/bin/env aws
			prefix = true
			continue
		case prefix && strings.HasPrefix(w, "-"):
			continue // sudo -E, env -i
		}
		if eq := strings.IndexByte(w, '='); eq > 0 && isName(w[:eq]) {
			continue // NAME=value
		}
		w = strings.Trim(w, `"'`)
		if w == "" || strings.ContainsAny(w, "$=<>") {
			return "", nil
		}
		w = strings.TrimSuffix(path.Base(strings.ReplaceAll(w, `\`, "/")), ".exe")
		next, afterNext := nextField(rest)
		if subs, ok := wrappers[w]; ok && next != "" {
			if subs == nil {
				prefix = true
				continue
			}
			if slices.Contains(subs, next) {
				prefix = true
				rest = afterNext
				continue
			}
		}
		n := 0
		for a, r := nextField(rest); a != ""; a, r = nextField(r) {
			n++
		}
		args := make([]string, 0, n)
		for a, r := nextField(rest); a != ""; a, r = nextField(r) {
			args = append(args, strings.Trim(a, `"'`))
		}
		return w, args
	}
}

// nextField returns the first field of s as strings.Fields splits it
// (around runs of unicode.IsSpace) and what follows it; "" when there is
// none. command reads a line's words with it, without a list of them.
func nextField(s string) (field, rest string) {
	i := 0
	for i < len(s) {
		if c := s[i]; c < utf8.RuneSelf {
			if !asciiSpace(c) {
				break
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if !unicode.IsSpace(r) {
			break
		}
		i += size
	}
	j := i
	for j < len(s) {
		if c := s[j]; c < utf8.RuneSelf {
			if asciiSpace(c) {
				break
			}
			j++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[j:])
		if unicode.IsSpace(r) {
			break
		}
		j += size
	}
	return s[i:j], s[j:]
}

func asciiSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

// isName reports whether s is a shell variable name.
func isName(s string) bool {
	for i := 0; i < len(s); i++ {
		if !IsNameByte(s[i]) || i == 0 && s[i] >= '0' && s[i] <= '9' {
			return false
		}
	}
	return s != ""
}
