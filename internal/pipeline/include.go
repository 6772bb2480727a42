package pipeline

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// GitLab's include limits (https://docs.gitlab.com/ci/yaml/includes/):
// 150 included files per pipeline, nesting up to 100 levels.
const (
	maxIncludes     = 150
	maxIncludeDepth = 100
)

// fileCtx is where a file comes from, for the includes it makes.
type fileCtx struct {
	kind    IncludeKind // "" for the main file
	project string
	ref     string
	// trigger is the job whose trigger:include is read, nil for
	// include:.
	trigger *Job
}

// incEntry is one include: entry with the inputs it passes.
type incEntry struct {
	inc    *Include
	inputs map[string]*Node
}

// parseIncludes reads an include: value: a string, a map, or a list of
// either (https://docs.gitlab.com/ci/yaml/#include).
func (l *loader) parseIncludes(n *Node, ctx fileCtx) []incEntry {
	var out []incEntry
	var one func(n *Node)
	one = func(n *Node) {
		switch n.Kind {
		case Scalar:
			inc := &Include{Kind: IncludeLocal, Location: n.Value, Pos: n.Pos}
			if strings.HasPrefix(n.Value, "https://") || strings.HasPrefix(n.Value, "http://") {
				inc.Kind = IncludeRemote
			}
			out = append(out, incEntry{inc: inc})
		case Map:
			base := Include{Pos: n.Pos, Conditional: n.Get("rules") != nil}
			var inputs map[string]*Node
			if in := n.Get("inputs"); in != nil && in.Kind == Map {
				inputs = make(map[string]*Node, len(in.Pairs))
				base.Inputs = make(map[string]string, len(in.Pairs))
				for _, p := range in.Pairs {
					inputs[p.Key] = p.Value
					base.Inputs[p.Key] = inputText(p.Value)
				}
			}
			add := func(kind IncludeKind, loc *Node) {
				inc := base
				inc.Kind, inc.Location = kind, loc.Value
				out = append(out, incEntry{inc: &inc, inputs: inputs})
			}
			switch {
			case n.Get("local") != nil:
				add(IncludeLocal, n.Get("local"))
			case n.Get("project") != nil:
				base.Project = n.Get("project").Value
				base.Ref = n.Get("ref").String()
				f := n.Get("file")
				if f == nil {
					l.problem(n.Pos, "include", "include:project needs file: naming the file(s) to include")
				}
				if f != nil && f.Kind == Seq {
					for _, it := range f.Items {
						add(IncludeProject, it)
					}
				} else if f != nil {
					add(IncludeProject, f)
				}
			case n.Get("remote") != nil:
				add(IncludeRemote, n.Get("remote"))
			case n.Get("template") != nil:
				add(IncludeTemplate, n.Get("template"))
			case n.Get("component") != nil:
				add(IncludeComponent, n.Get("component"))
			case n.Get("artifact") != nil && ctx.trigger != nil:
				// A dynamic child pipeline: its configuration is made by
				// a job (https://docs.gitlab.com/ci/pipelines/downstream_pipelines/#dynamic-child-pipelines).
				art, job := n.Get("artifact").String(), n.Get("job").String()
				l.problem(n.Pos, "include", fmt.Sprintf("the child pipeline of job %q is generated at run time (artifact %q of job %q) and cannot be read before the pipeline runs, so its secrets are not checked; "+
					"lint the file where it is made: run keyless lint %s in job %q after generating it", ctx.trigger.Name, art, job, art, job))
			case n.Get("artifact") != nil:
				l.problem(n.Pos, "include", "include:artifact is read only in trigger:include; GitLab refuses it in include:, generate a child pipeline with trigger:include instead")
			default:
				l.problem(n.Pos, "include", "include entry names no file; use local:, project: with file:, remote:, template: or component:")
			}
		case Seq:
			for _, it := range n.Items {
				if it.Kind == Seq {
					l.problem(it.Pos, "include", "include entry is a nested list; list the includes at one level")
					continue
				}
				one(it)
			}
		default:
			l.problem(n.Pos, "include", "include: is empty; remove it or name a file")
		}
	}
	one(n)
	// A local include in a file read from another project names a file of
	// that project.
	for _, e := range out {
		if e.inc.Kind == IncludeLocal && ctx.kind != "" && ctx.kind != IncludeLocal {
			e.inc.Kind, e.inc.Project, e.inc.Ref = IncludeProject, ctx.project, ctx.ref
		}
		e.inc.Trigger = ctx.trigger
	}
	return out
}

// include reads one entry's files and returns their merged content, in
// order. Problems are reported at the include entry.
func (l *loader) include(e incEntry, depth int) []*Node {
	inc := e.inc
	l.p.Includes = append(l.p.Includes, inc)
	if l.over {
		// Past the total size: reported once, where it was reached.
		return nil
	}
	if depth >= maxIncludeDepth {
		l.problem(inc.Pos, "limit", fmt.Sprintf("includes nested more than %d levels deep; %q is not read", maxIncludeDepth, inc.Location))
		return nil
	}
	if inc.Kind == IncludeLocal {
		return l.includeLocal(e, depth)
	}
	if inc.Kind == IncludeProject && inc.Project == "" {
		l.problem(inc.Pos, "include", fmt.Sprintf("local include %q in a %s file cannot be read; include it with project: and file:", inc.Location, inc.Kind))
		return nil
	}
	if l.o.Fetcher == nil {
		if !l.noted[inc.Kind] {
			l.noted[inc.Kind] = true
			l.problem(inc.Pos, "unresolved", fmt.Sprintf("%s includes are not read offline (first: %q); run keyless lint --online with a GitLab token to read them", inc.Kind, inc.Location))
		}
		return nil
	}
	key := dedupKey(inc, e.inputs)
	if _, ok := l.seen[key]; ok {
		// Read once: the same file with the same inputs merges once.
		inc.Resolved, inc.Files = true, l.seenFiles[key]
		return nil
	}
	if !l.countFile(inc) {
		return nil
	}
	name, src, err := l.o.Fetcher.Fetch(inc)
	if err != nil {
		l.problem(inc.Pos, "include", fmt.Sprintf("read %s include %q: %v", inc.Kind, inc.Location, err))
		return nil
	}
	if int64(len(src)) > l.maxSize() {
		l.problem(inc.Pos, "limit", fmt.Sprintf("included file %q is larger than %d bytes; it is not read", name, l.maxSize()))
		return nil
	}
	if !l.admit(inc.Pos, name, int64(len(src))) {
		return nil
	}
	ctx := fileCtx{kind: inc.Kind, project: inc.Project, ref: inc.Ref}
	if inc.Kind == IncludeComponent {
		ctx.project, ctx.ref = componentProject(inc.Location)
	}
	if inc.Trigger != nil && inc.Kind == IncludeProject {
		// "If the file contains additional include entries, GitLab looks
		// for the files in the project running the pipeline, not the
		// project hosting the file" (https://docs.gitlab.com/ci/yaml/#triggerinclude).
		ctx = fileCtx{}
	}
	n := l.loadFile(name, src, e, ctx, depth+1)
	inc.Resolved, inc.Files = true, []string{name}
	l.seen[key], l.seenFiles[key] = n, inc.Files
	return []*Node{n}
}

func (l *loader) countFile(inc *Include) bool {
	if l.nfiles >= maxIncludes {
		l.problem(inc.Pos, "limit", fmt.Sprintf("more than %d included files; %q and later includes are not read (GitLab refuses the pipeline)", maxIncludes, inc.Location))
		return false
	}
	l.nfiles++
	return true
}

func dedupKey(inc *Include, inputs map[string]*Node) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\x00%s\x00%s\x00%s", inc.Kind, inc.Project, inc.Ref, inc.Location)
	keys := make([]string, 0, len(inputs))
	for k := range inputs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "\x00%s=%s", k, inputs[k].String())
	}
	return b.String()
}

// componentProject splits "host/group/project/name@version" into the
// project path and the version.
func componentProject(ref string) (project, version string) {
	loc, version, _ := strings.Cut(ref, "@")
	parts := strings.Split(loc, "/")
	if len(parts) >= 3 {
		return strings.Join(parts[1:len(parts)-1], "/"), version
	}
	return loc, version
}

// componentFields are the $[[ component.x ]] values known from the
// include reference (https://docs.gitlab.com/ci/components/).
func componentFields(ref string) map[string]string {
	loc, version, _ := strings.Cut(ref, "@")
	name := loc[strings.LastIndexByte(loc, '/')+1:]
	m := map[string]string{"name": name, "reference": ref}
	if version != "" && !strings.HasPrefix(version, "~") {
		m["version"] = version
	}
	return m
}

// includeLocal reads a local include: a path relative to the project root
// (a leading "/" changes nothing) or a glob where * matches within a
// directory and ** across directories
// (https://docs.gitlab.com/ci/yaml/#includelocal).
func (l *loader) includeLocal(e incEntry, depth int) []*Node {
	inc := e.inc
	loc := inc.Location
	if l.root == "" && l.o.FS == nil {
		l.problem(inc.Pos, "include", fmt.Sprintf("local include %q cannot be read without a project directory; lint the project directory instead", loc))
		return nil
	}
	if strings.Contains(loc, "$") {
		l.problem(inc.Pos, "include", fmt.Sprintf("local include %q uses a CI/CD variable that keyless does not expand; write the path literally to have it checked", loc))
		return nil
	}
	var paths []string
	if strings.ContainsAny(loc, "*") {
		var err error
		if paths, err = l.glob(strings.TrimPrefix(loc, "/")); err != nil {
			l.problem(inc.Pos, "include", fmt.Sprintf("local include %q is a glob and the project's files cannot be listed (%v); name the files one by one to have them checked", loc, err))
			return nil
		}
	} else {
		p := path.Clean(strings.TrimPrefix(loc, "/"))
		if p == ".." || strings.HasPrefix(p, "../") || p == "." {
			l.problem(inc.Pos, "include", fmt.Sprintf("local include %q points outside the project; include files of the project only", loc))
			return nil
		}
		paths = []string{p}
	}
	var out []*Node
	for _, p := range paths {
		if ext := path.Ext(p); ext != ".yml" && ext != ".yaml" {
			l.problem(inc.Pos, "include", fmt.Sprintf("local include %q does not have a .yml or .yaml extension; GitLab refuses it", p))
			continue
		}
		key := dedupKey(&Include{Kind: IncludeLocal, Location: p}, e.inputs)
		if _, ok := l.seen[key]; ok {
			// Read once: the same file with the same inputs merges once.
			inc.Files = append(inc.Files, p)
			inc.Resolved = true
			continue
		}
		size, err := l.statLocal(p)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				l.problem(inc.Pos, "include", fmt.Sprintf("local include %q does not exist in the project; add the file or fix the path", p))
			} else {
				l.problem(inc.Pos, "include", fmt.Sprintf("read local include %q: %v", p, err))
			}
			continue
		}
		if !l.countFile(inc) {
			break
		}
		if size > l.maxSize() {
			l.problem(inc.Pos, "limit", fmt.Sprintf("included file %q is larger than %d bytes; it is not read", p, l.maxSize()))
			continue
		}
		if !l.admit(inc.Pos, p, size) {
			break
		}
		src, err := l.readLocal(p)
		if err != nil {
			l.problem(inc.Pos, "include", fmt.Sprintf("read local include %q: %v", p, err))
			continue
		}
		// Count what was read, should the file have changed since its stat.
		l.total += int64(len(src)) - size
		n := l.loadFile(p, src, e, fileCtx{kind: IncludeLocal}, depth+1)
		l.seen[key] = n
		inc.Files = append(inc.Files, p)
		inc.Resolved = true
		out = append(out, n)
	}
	return out
}

// glob matches pattern against the project's files, sorted.
func (l *loader) glob(pattern string) ([]string, error) {
	if l.o.FS != nil {
		if err := l.fsTree(); err != nil {
			return nil, err
		}
	}
	if l.tree == nil {
		l.tree = []string{}
		_ = filepath.WalkDir(l.root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return nil
			}
			if d.IsDir() && d.Name() == ".git" {
				return filepath.SkipDir
			}
			if !d.IsDir() && len(l.tree) < 100_000 {
				if rel, err := filepath.Rel(l.root, p); err == nil {
					l.tree = append(l.tree, filepath.ToSlash(rel))
				}
			}
			return nil
		})
		sort.Strings(l.tree)
	}
	var out []string
	for _, p := range l.tree {
		if globMatch(pattern, p) {
			out = append(out, p)
		}
	}
	return out, nil
}

// globMatch matches name against pattern: * any run of characters but
// "/", ** any run including "/" ("**/" also matches no directory), ? one
// character but "/". Memoised on (pattern, name) offsets: quadratic at worst
// in two short strings.
func globMatch(pattern, name string) bool {
	memo := make([]int8, (len(pattern)+1)*(len(name)+1))
	var m func(p, n int) bool
	m = func(p, n int) bool {
		k := p*(len(name)+1) + n
		if memo[k] != 0 {
			return memo[k] > 0
		}
		r := false
		switch {
		case p == len(pattern):
			r = n == len(name)
		case strings.HasPrefix(pattern[p:], "**"):
			q := p + 2
			if strings.HasPrefix(pattern[q:], "/") && m(q+1, n) {
				r = true
				break
			}
			for i := n; i <= len(name) && !r; i++ {
				r = m(q, i)
			}
		case pattern[p] == '*':
			for i := n; i <= len(name) && !r; i++ {
				r = m(p+1, i)
				if i < len(name) && name[i] == '/' {
					break
				}
			}
		case n < len(name) && (pattern[p] == '?' && name[n] != '/' || pattern[p] == name[n]):
			r = m(p+1, n+1)
		}
		if r {
			memo[k] = 1
		} else {
			memo[k] = -1
		}
		return r
	}
	return m(0, 0)
}
