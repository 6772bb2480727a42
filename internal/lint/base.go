package lint

import (
	"fmt"
	"strings"

	"gitlab.com/keyless-ci/keyless/internal/pipeline"
)

// rule is the small base every rule embeds: its Meta.
type rule struct{ meta Meta }

func (r rule) Meta() Meta { return r.meta }

// component is a keyless component that replaces a stored credential.
type component struct {
	name   string // "aws"
	hidden string // the hidden job jobs extend, ".keyless-aws"
	cloud  string // "AWS"
}

var components = map[string]component{
	"aws":    {"aws", ".keyless-aws", "AWS"},
	"gcp":    {"gcp", ".keyless-gcp", "Google Cloud"},
	"azure":  {"azure", ".keyless-azure", "Azure"},
	"vault":  {"vault", ".keyless-vault", "Vault"},
	"sts":    {"sts", ".keyless-sts", "the token exchange server"},
	"pypi":   {"pypi", ".keyless-pypi", "PyPI"},
	"npm":    {"npm", ".keyless-npm", "npm"},
	"crates": {"crates", ".keyless-crates", "crates.io"},
}

// useComponent is the fix a message ends with: the include line and the
// hidden job to extend.
func useComponent(name string) string {
	c := components[name]
	return fmt.Sprintf("include component $CI_SERVER_FQDN/keyless-ci/keyless/%s@1 and extend %s, which exchanges the job's ID token for short-lived %s credentials (see components/%s)", c.name, c.hidden, c.cloud, c.name)
}

// walk visits n and its descendants depth-first; the path holds the map
// keys (and "[]" for sequence items) from the start. fn must not keep
// path: one buffer serves the whole walk.
func walk(n *pipeline.Node, path []string, fn func(path []string, n *pipeline.Node)) {
	walkIn(n, append(make([]string, 0, 32), path...), fn)
}

func walkIn(n *pipeline.Node, path []string, fn func(path []string, n *pipeline.Node)) {
	if n == nil {
		return
	}
	fn(path, n)
	switch n.Kind {
	case pipeline.Map:
		for i := range n.Pairs {
			walkIn(n.Pairs[i].Value, append(path, n.Pairs[i].Key), fn)
		}
	case pipeline.Seq:
		for _, it := range n.Items {
			walkIn(it, append(path, "[]"), fn)
		}
	}
}

// scriptKeys are a job's keys that hold shell lines.
var scriptKeys = []string{"before_script", "script", "after_script"}

// variable is one variables: entry as a job sees it (pipeline.Variable):
// its name, the node of its value (the value: of the long form), and its
// Scope, which secretScan.variables sets to the context a message names
// it in ("services variable").
type variable = pipeline.Variable

// scopeContext is how a message names a variable of each
// pipeline.Variable scope.
var scopeContext = map[string]string{"global": "global variable", "job": "variable", "rules": "rules variable"}

// varContext is how a message names v: by its scope, or by the context
// secretScan.variables was given.
func varContext(v *variable) string {
	if c, ok := scopeContext[v.Scope]; ok {
		return c
	}
	return v.Scope
}

// lookup returns the value a job sees for a variable, or nil.
func lookup(vars []variable, name string) *variable {
	for i := len(vars) - 1; i >= 0; i-- {
		if vars[i].Name == name {
			return &vars[i]
		}
	}
	return nil
}

// isNameByte reports whether c can be part of a variable name.
func isNameByte(c byte) bool { return pipeline.IsNameByte(c) }

// varRefs returns the variables s expands (pipeline.VarRefs).
func varRefs(s string) []string { return pipeline.VarRefs(s) }

// refersTo reports whether s expands the variable name.
func refersTo(s, name string) bool {
	if !strings.Contains(s, name) {
		return false
	}
	for _, r := range varRefs(s) {
		if r == name {
			return true
		}
	}
	return false
}

// onlyRef reports whether s is nothing but one variable reference
// ("$X", "${X}"), and returns its name.
func onlyRef(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, "$") {
		return "", false
	}
	refs := varRefs(s)
	if len(refs) != 1 {
		return "", false
	}
	if s == "$"+refs[0] || s == "${"+refs[0]+"}" {
		return refs[0], true
	}
	return "", false
}

// predefined reports whether name is a variable GitLab sets itself.
func predefined(name string) bool {
	return strings.HasPrefix(name, "CI_") || strings.HasPrefix(name, "GITLAB_")
}

// idToken is one id_tokens: entry of a job.
type idToken struct {
	name   string
	keyPos pipeline.Pos
	aud    []*pipeline.Node // one or more audiences
	node   *pipeline.Node   // the aud: value
}

// idTokens converts a job's id_tokens (pipeline.Job.IDTokens).
func idTokens(ts []pipeline.IDToken) []idToken {
	out := make([]idToken, 0, len(ts))
	for _, t := range ts {
		out = append(out, idToken{name: t.Name, keyPos: t.KeyPos, aud: t.Aud, node: t.Node})
	}
	return out
}

// audiences returns a token's audiences as text.
func (t idToken) audiences() []string {
	out := make([]string, 0, len(t.aud))
	for _, a := range t.aud {
		out = append(out, a.Value)
	}
	return out
}

// jobRef names a job in a message, with how many others share the finding.
func jobRef(names []string) string {
	switch len(names) {
	case 0:
		return ""
	case 1:
		return fmt.Sprintf("job %q", names[0])
	case 2:
		return fmt.Sprintf("jobs %q and %q", names[0], names[1])
	}
	return fmt.Sprintf("job %q and %d other jobs", names[0], len(names)-1)
}

// siteFindings gathers the jobs that share a finding at one place, so
// that a template extended by many jobs is reported once, where it is
// written, naming the jobs.
type siteFindings struct {
	order []string
	sites map[string]*site
}

type site struct {
	f    Finding
	jobs []string
	msg  func(jobs string) string
}

// add records that job has the finding key at pos; msg builds the
// message from the jobs' description once all are known.
func (s *siteFindings) add(job string, f Finding, msg func(jobs string) string) {
	if s.sites == nil {
		s.sites = map[string]*site{}
	}
	k := fmt.Sprintf("%s:%d:%d\x00%s", f.Pos.File, f.Pos.Line, f.Pos.Col, f.Key)
	st, ok := s.sites[k]
	if !ok {
		st = &site{f: f, msg: msg}
		s.sites[k] = st
		s.order = append(s.order, k)
	}
	for _, j := range st.jobs {
		if j == job {
			return
		}
	}
	st.jobs = append(st.jobs, job)
}

// report reports every site.
func (s *siteFindings) report(p *Pass) {
	for _, k := range s.order {
		st := s.sites[k]
		f := st.f
		f.Message = st.msg(jobRef(st.jobs))
		p.Report(f)
	}
}

// runnableJobs are the jobs GitLab would run: not hidden.
func runnableJobs(p *pipeline.Pipeline) []*pipeline.Job {
	var out []*pipeline.Job
	for _, j := range p.Jobs {
		if !j.Hidden && j.Node != nil {
			out = append(out, j)
		}
	}
	return out
}

// commandAt is where the shell command cmd, one of the line l's, is
// written: l's position when it is on l's first line, its own line and
// column inside a block scalar (pipeline.Pipeline.At, issue 15).
func commandAt(p *pipeline.Pipeline, l *pipeline.Node, cmd string) pipeline.Pos {
	cmd = strings.TrimSpace(cmd)
	i := strings.Index(l.Value, cmd)
	if f := strings.Fields(cmd); i < 0 && len(f) > 0 {
		i = strings.Index(l.Value, f[0]) // a command continued with \ is not verbatim in l
	}
	return p.At(l, max(i, 0))
}

// posOr returns the node's position, or def when the node has none.
func posOr(n *pipeline.Node, def pipeline.Pos) pipeline.Pos {
	if n != nil && n.Pos.Line > 0 {
		return n.Pos
	}
	return def
}

// items returns a sequence's items; nil for anything else.
func items(n *pipeline.Node) []*pipeline.Node {
	if n == nil || n.Kind != pipeline.Seq {
		return nil
	}
	return n.Items
}

// pairs returns a map's pairs; nil for anything else.
func pairs(n *pipeline.Node) []pipeline.Pair {
	if n == nil || n.Kind != pipeline.Map {
		return nil
	}
	return n.Pairs
}
