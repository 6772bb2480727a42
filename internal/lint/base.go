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
	"aws":   {"aws", ".keyless-aws", "AWS"},
	"gcp":   {"gcp", ".keyless-gcp", "Google Cloud"},
	"azure": {"azure", ".keyless-azure", "Azure"},
	"vault": {"vault", ".keyless-vault", "Vault"},
	"sts":   {"sts", ".keyless-sts", "the token exchange server"},
}

// useComponent is the fix a message ends with: the include line and the
// hidden job to extend.
func useComponent(name string) string {
	c := components[name]
	return fmt.Sprintf("include component $CI_SERVER_FQDN/keyless-ci/keyless/%s@1 and extend %s, which exchanges the job's ID token for short-lived %s credentials (see components/%s)", c.name, c.hidden, c.cloud, c.name)
}

// walk visits n and its descendants depth-first; the path holds the map
// keys (and "[]" for sequence items) from the start.
func walk(n *pipeline.Node, path []string, fn func(path []string, n *pipeline.Node)) {
	if n == nil {
		return
	}
	fn(path, n)
	switch n.Kind {
	case pipeline.Map:
		for i := range n.Pairs {
			walk(n.Pairs[i].Value, append(path, n.Pairs[i].Key), fn)
		}
	case pipeline.Seq:
		for _, it := range n.Items {
			walk(it, append(path, "[]"), fn)
		}
	}
}

// scalars returns the scalars of a string or a (nested) list of strings,
// as script: is written (a !reference may leave a list inside a list).
func scalars(n *pipeline.Node) []*pipeline.Node {
	var out []*pipeline.Node
	var add func(n *pipeline.Node, depth int)
	add = func(n *pipeline.Node, depth int) {
		if n == nil || depth > 16 {
			return
		}
		switch n.Kind {
		case pipeline.Scalar:
			out = append(out, n)
		case pipeline.Seq:
			for _, it := range n.Items {
				add(it, depth+1)
			}
		}
	}
	add(n, 0)
	return out
}

// scriptKeys are a job's keys that hold shell lines.
var scriptKeys = []string{"before_script", "script", "after_script"}

// scriptLines returns every shell line a job (or default:) runs: its
// scripts and hooks:pre_get_sources_script.
func scriptLines(job *pipeline.Node) []*pipeline.Node {
	var out []*pipeline.Node
	for _, k := range scriptKeys {
		out = append(out, scalars(job.Get(k))...)
	}
	out = append(out, scalars(job.Get("hooks").Get("pre_get_sources_script"))...)
	return out
}

// variable is one variables: entry: its name and the node of its value
// (the value: of the long form).
type variable struct {
	name    string
	keyPos  pipeline.Pos
	value   *pipeline.Node
	context string // "variable", "services variable", "rules variable"
}

// variables lists a variables: map; the long form's value: is the value
// (description: and options: are documentation, not values).
func variables(n *pipeline.Node, context string) []variable {
	if n == nil || n.Kind != pipeline.Map {
		return nil
	}
	out := make([]variable, 0, len(n.Pairs))
	for _, p := range n.Pairs {
		v := p.Value
		if v != nil && v.Kind == pipeline.Map {
			v = v.Get("value")
		}
		if v == nil || v.Kind != pipeline.Scalar {
			continue
		}
		out = append(out, variable{name: p.Key, keyPos: p.KeyPos, value: v, context: context})
	}
	return out
}

// jobVariables are the variables a job sees: the global ones, then its
// own (which win), then its rules' (which win when the rule matches).
// globals are variables(p.Global.Get("variables"), "global variable").
func jobVariables(globals []variable, job *pipeline.Node) []variable {
	var out []variable
	if inheritsGlobalVariables(job) {
		out = append(out, globals...)
	}
	out = append(out, variables(job.Get("variables"), "variable")...)
	for _, r := range items(job.Get("rules")) {
		out = append(out, variables(r.Get("variables"), "rules variable")...)
	}
	return out
}

// inheritsGlobalVariables reads inherit:variables: false (a list names
// the ones inherited; those are kept, conservatively all of them).
func inheritsGlobalVariables(job *pipeline.Node) bool {
	v := job.Get("inherit").Get("variables")
	return v == nil || v.Kind != pipeline.Scalar || v.Value != "false"
}

// lookup returns the value a job sees for a variable, or nil.
func lookup(vars []variable, name string) *variable {
	for i := len(vars) - 1; i >= 0; i-- {
		if vars[i].name == name {
			return &vars[i]
		}
	}
	return nil
}

// isNameByte reports whether c can be part of a variable name.
func isNameByte(c byte) bool {
	return c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
}

// varRefs returns the variables s expands: $NAME, ${NAME}, PowerShell's
// $env:NAME and cmd's %NAME%.
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
			brace := j < len(s) && s[j] == '{'
			if brace {
				j++
			}
			k := j
			for k < len(s) && isNameByte(s[k]) {
				k++
			}
			if k > j && (s[j] < '0' || s[j] > '9') {
				out = append(out, s[j:k])
			}
			i = k - 1
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

// idTokens lists a job's id_tokens.
func idTokens(job *pipeline.Node) []idToken {
	n := job.Get("id_tokens")
	if n == nil || n.Kind != pipeline.Map {
		return nil
	}
	var out []idToken
	for _, p := range n.Pairs {
		aud := p.Value.Get("aud")
		out = append(out, idToken{name: p.Key, keyPos: p.KeyPos, aud: scalars(aud), node: aud})
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
