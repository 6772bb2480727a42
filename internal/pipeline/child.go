package pipeline

import (
	"fmt"
	"path"
	"strings"
)

// This file reads child pipelines: the configuration a trigger job names
// in trigger:include (https://docs.gitlab.com/ci/yaml/#triggerinclude) is
// read as a pipeline of its own, below the one that triggers it
// (Pipeline.Children), so that its jobs are checked with the parent's.

// maxChildDepth: "Parent and child pipelines have a maximum depth of two
// levels of child pipelines ... You cannot trigger another level of child
// pipelines" (https://docs.gitlab.com/ci/pipelines/downstream_pipelines/#nested-child-pipelines).
const maxChildDepth = 2

// children reads the child pipelines the jobs of l.p start, in job order.
// Hidden jobs start none.
func (l *loader) children() {
	for _, j := range l.p.Jobs {
		if j.Hidden || j.Node == nil {
			continue
		}
		if inc := j.Node.Lookup("trigger", "include"); inc != nil {
			l.child(j, inc)
		}
	}
}

// child reads the child pipeline job j starts with trigger:include inc,
// or adds j to the triggers of the same configuration read already. A
// configuration that is one of the pipelines above (a child re-including
// the main .gitlab-ci.yml) is not read again.
func (l *loader) child(j *Job, inc *Node) {
	entries := l.parseIncludes(inc, fileCtx{trigger: j})
	if len(entries) == 0 {
		return
	}
	key := childKey(entries)
	for q := l.p; q != nil; q = q.Parent {
		if q.key == key {
			return // a cycle: what it would read is read already, above
		}
	}
	up := passedVariables(j, l.p.Global)
	if c := l.configs[key]; c != nil {
		// Read already: the entries read what the first trigger's read.
		var first []*Include
		for _, inc := range c.Includes {
			if inc.Trigger == c.Triggers[0] {
				first = append(first, inc)
			}
		}
		for i, e := range entries {
			if i < len(first) {
				e.inc.Resolved, e.inc.Files = first[i].Resolved, first[i].Files
			}
			c.Includes = append(c.Includes, e.inc)
		}
		c.Triggers = append(c.Triggers, j)
		c.Upstream = append(c.Upstream, up...)
		return
	}
	if l.level+1 > maxChildDepth {
		l.problem(entries[0].inc.Pos, "limit", fmt.Sprintf("job %q starts a child pipeline %d levels below the main one; GitLab starts child pipelines at most %d levels deep, "+
			"so this one never runs and %s is not read: trigger it from a pipeline higher up", j.Name, l.level+1, maxChildDepth, entries[0].inc.Location))
		return
	}
	o := l.o
	o.CIConfig, o.Inputs = "", nil // --input is the main file's
	sub := &loader{
		o: o, root: l.root,
		p:         &Pipeline{Root: l.root, Parent: l.p, Triggers: []*Job{j}, Upstream: up, key: key},
		seen:      map[string]*Node{},
		seenFiles: map[string][]string{},
		level:     l.level + 1,
		shared:    l.shared,
	}
	l.configs[key] = sub.p
	var merged *Node
	for _, e := range entries {
		for _, n := range sub.include(e, 0) {
			merged = sub.deepMerge(merged, n, false)
		}
	}
	if merged == nil {
		merged = &Node{Kind: Map, Tag: "!!map", Pos: entries[0].inc.Pos}
	}
	sub.finish(merged)
	l.p.Children = append(l.p.Children, sub.p)
	have := make(map[string]bool, len(l.p.Files))
	for _, f := range l.p.Files {
		have[f.Path] = true
	}
	for _, f := range sub.p.Files {
		if !have[f.Path] {
			have[f.Path] = true
			l.p.Files = append(l.p.Files, f)
		}
	}
}

// childKey names the configuration that include entries make: the same
// files with the same inputs are the same child pipeline.
func childKey(entries []incEntry) string {
	keys := make([]string, len(entries))
	for i, e := range entries {
		inc := *e.inc
		if inc.Kind == IncludeLocal {
			inc.Location = path.Clean(strings.TrimPrefix(inc.Location, "/"))
		}
		keys[i] = dedupKey(&inc, e.inputs)
	}
	return strings.Join(keys, "\x01")
}

// passedVariables are the variables trigger job j passes down to its
// child pipeline: the ones it sees itself, the global ones included
// unless inherit:variables is false, as trigger variables; none when
// trigger:forward:yaml_variables is false
// (https://docs.gitlab.com/ci/pipelines/downstream_pipelines/#pass-yaml-defined-cicd-variables,
// https://docs.gitlab.com/ci/yaml/#triggerforward).
func passedVariables(j *Job, global *Node) []Variable {
	if fwd, ok := j.Node.Lookup("trigger", "forward", "yaml_variables").Bool(); ok && !fwd {
		return nil
	}
	return jobVariables(j.Node, Variables(global.Get("variables"), "global"), nil, nil, nil, nil)
}

// All returns p and the child pipelines below it, each once, every
// pipeline before its children.
func (p *Pipeline) All() []*Pipeline {
	out := []*Pipeline{p}
	for i := 0; i < len(out); i++ {
		out = append(out, out[i].Children...)
	}
	return out
}

// LocalFiles are the project files p reads, slash-separated and relative
// to its root: the main file, local includes, and the local files of its
// child pipelines.
func (p *Pipeline) LocalFiles() []string {
	var out []string
	if len(p.Files) > 0 && p.Parent == nil {
		out = append(out, p.Files[0].Path)
	}
	for _, q := range p.All() {
		for _, inc := range q.Includes {
			if inc.Kind == IncludeLocal {
				out = append(out, inc.Files...)
			}
		}
	}
	return out
}
