package report

import (
	"strings"

	"gitlab.com/keyless-ci/keyless/internal/pipeline"
)

// jobView is what usage needs of one job GitLab would run: it is built
// from the resolved pipeline, which is dropped right after.
type jobView struct {
	name string
	pos  pipeline.Pos
	// env is the job's environment name ("" for none), as written
	// (variables unexpanded).
	env string
	// refs are the variables the job expands in its scripts, variables,
	// rules, services and image (and, when it inherits them, the global
	// variables).
	refs map[string]bool
	// lines are its script lines (before_script, script, after_script).
	lines []string
	// image is true when the job or a service names an image.
	image bool
}

// referencing are the job keys whose values expand variables that usage
// looks for.
var referencing = []string{"script", "before_script", "after_script", "variables", "rules", "services", "image"}

// jobViews returns the runnable (not hidden) jobs of p.
func jobViews(p *pipeline.Pipeline) []jobView {
	var global map[string]bool
	if p.Global != nil {
		global = map[string]bool{}
		addRefs(global, p.Global.Get("variables"))
	}
	var out []jobView
	for _, j := range p.Jobs {
		if j.Hidden || j.Node == nil {
			continue
		}
		v := jobView{name: j.Name, pos: j.Pos, refs: map[string]bool{}}
		for _, k := range referencing {
			addRefs(v.refs, j.Node.Get(k))
		}
		if inheritsVariables(j.Node) {
			for k := range global {
				v.refs[k] = true
			}
		}
		for _, k := range []string{"before_script", "script", "after_script"} {
			for _, n := range scalarNodes(j.Node.Get(k)) {
				v.lines = append(v.lines, n.Value)
			}
		}
		v.image = j.Node.Get("image") != nil || j.Node.Get("services") != nil
		switch e := j.Node.Get("environment"); {
		case e == nil:
		case e.Kind == pipeline.Scalar:
			v.env = e.Value
		case e.Kind == pipeline.Map && e.Get("name") != nil:
			v.env = e.Get("name").Value
		}
		out = append(out, v)
	}
	return out
}

// inheritsVariables is false for a job with inherit:variables: false
// (a list of names inherits some; counted as inheriting).
func inheritsVariables(job *pipeline.Node) bool {
	n := job.Lookup("inherit", "variables")
	if n == nil || n.Kind != pipeline.Scalar {
		return true
	}
	b, ok := n.Bool()
	return !ok || b
}

// scalarNodes returns every scalar under n, keys' values included.
func scalarNodes(n *pipeline.Node) []*pipeline.Node {
	var out []*pipeline.Node
	var walk func(n *pipeline.Node, depth int)
	walk = func(n *pipeline.Node, depth int) {
		if n == nil || depth > 32 {
			return
		}
		switch n.Kind {
		case pipeline.Scalar:
			out = append(out, n)
		case pipeline.Seq:
			for _, it := range n.Items {
				walk(it, depth+1)
			}
		case pipeline.Map:
			for _, p := range n.Pairs {
				walk(p.Value, depth+1)
			}
		}
	}
	walk(n, 0)
	return out
}

func addRefs(set map[string]bool, n *pipeline.Node) {
	for _, s := range scalarNodes(n) {
		for _, r := range varRefs(s.Value) {
			set[r] = true
		}
	}
}

// varRefs returns the variables s expands: $NAME, ${NAME}, PowerShell's
// $env:NAME and cmd's %NAME% (as internal/lint reads them).
func varRefs(s string) []string {
	if !strings.ContainsAny(s, "$%") {
		return nil
	}
	var out []string
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
			for k < len(s) && isNameByte(s[k]) {
				k++
			}
			if k > j && (s[j] < '0' || s[j] > '9') {
				out = append(out, s[j:k])
			}
			i = max(k-1, i)
		case '%':
			k := i + 1
			for k < len(s) && isNameByte(s[k]) {
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

func isNameByte(c byte) bool {
	return c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
}

// implicitUse is a tool that reads a credential from the environment
// without the job naming it.
type implicitUse struct {
	key   func(key string) bool
	cmds  []string
	reads string
}

var implicitUses = []implicitUse{
	{key: prefixed("AWS_"), cmds: []string{"aws", "terraform", "tofu", "sam", "cdk"}, reads: "AWS_* from the environment"},
	{key: prefixed("ARM_"), cmds: []string{"terraform", "tofu", "az"}, reads: "ARM_* from the environment"},
	{key: named("GOOGLE_APPLICATION_CREDENTIALS"), cmds: []string{"gcloud", "terraform", "tofu"}, reads: "GOOGLE_APPLICATION_CREDENTIALS"},
	{key: named("GOOGLE_CREDENTIALS"), cmds: []string{"terraform", "tofu"}, reads: "GOOGLE_CREDENTIALS"},
	{key: named("VAULT_TOKEN"), cmds: []string{"vault", "bao"}, reads: "VAULT_TOKEN"},
	{key: named("BAO_TOKEN"), cmds: []string{"bao"}, reads: "BAO_TOKEN"},
}

func prefixed(p string) func(string) bool {
	return func(k string) bool { return strings.HasPrefix(k, p) }
}

func named(n string) func(string) bool {
	return func(k string) bool { return k == n }
}

// jobUse tells how job uses the variable key, "" when it does not.
func jobUse(job *jobView, key string) string {
	if job.refs[key] {
		return "references $" + key
	}
	for _, u := range implicitUses {
		if !u.key(key) {
			continue
		}
		for _, l := range job.lines {
			for _, c := range u.cmds {
				if runsCommand(l, c) {
					return "runs " + c + " (reads " + u.reads + ")"
				}
			}
		}
	}
	if key == "DOCKER_AUTH_CONFIG" && job.image {
		return "pulls its image or services (the runner reads DOCKER_AUTH_CONFIG)"
	}
	return ""
}

// runsCommand reports whether the shell line runs cmd: the word cmd
// where a command starts (line start, after ; | & ( ` or a space, or a
// path's last /) followed by a space or the end.
func runsCommand(line, cmd string) bool {
	for i := 0; ; {
		j := strings.Index(line[i:], cmd)
		if j < 0 {
			return false
		}
		at := i + j
		end := at + len(cmd)
		before := at == 0 || strings.IndexByte(" \t;|&(`/", line[at-1]) >= 0
		after := end == len(line) || line[end] == ' ' || line[end] == '\t' || line[end] == ';' || line[end] == '\n'
		if before && after {
			return true
		}
		i = at + 1
	}
}

// envScopeMatches reports whether a variable of environment scope scope
// reaches a job deploying to env. "*" reaches every job; another scope
// only jobs with an environment it matches, * matching any run of
// characters as in GitLab
// (https://docs.gitlab.com/ci/environments/#limit-the-environment-scope-of-a-cicd-variable).
// An environment name with variables ("review/$CI_COMMIT_REF_SLUG") is
// known only at run time: it is taken to match when its literal start
// agrees with the scope's.
func envScopeMatches(scope, env string) bool {
	if scope == "" || scope == "*" {
		return true
	}
	if env == "" {
		return false
	}
	if i := strings.IndexByte(env, '$'); i >= 0 {
		lit := env[:i]
		sp := scope
		if k := strings.IndexByte(sp, '*'); k >= 0 {
			sp = sp[:k]
		}
		return strings.HasPrefix(lit, sp) || strings.HasPrefix(sp, lit)
	}
	return wildcardMatch(scope, env)
}

// wildcardMatch matches s against pattern, where * is any run of
// characters ("/" included).
func wildcardMatch(pattern, s string) bool {
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return pattern == s
	}
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	last := parts[len(parts)-1]
	for _, p := range parts[1 : len(parts)-1] {
		i := strings.Index(s, p)
		if i < 0 {
			return false
		}
		s = s[i+len(p):]
	}
	return len(s) >= len(last) && strings.HasSuffix(s, last)
}

// visibleTo reports whether a credential reaches the project's jobs: a
// project's own, its groups' (at any level above) and the instance's.
func visibleTo(c *Credential, project string) bool {
	switch c.Level {
	case levelInstance:
		return true
	case levelGroup:
		return strings.HasPrefix(project, c.Owner+"/")
	default:
		return c.Owner == project
	}
}

// projectUsage returns the uses of each credential by the jobs of
// project, by credential ID.
func projectUsage(project string, jobs []jobView, creds []*Credential) map[string][]Usage {
	out := map[string][]Usage{}
	for _, c := range creds {
		if !visibleTo(c, project) {
			continue
		}
		for i := range jobs {
			j := &jobs[i]
			if !envScopeMatches(c.EnvironmentScope, j.env) {
				continue
			}
			if how := jobUse(j, c.Key); how != "" {
				out[c.ID] = append(out[c.ID], Usage{Project: project, Job: j.name, File: j.pos.File, Line: j.pos.Line, How: how})
			}
		}
	}
	return out
}
