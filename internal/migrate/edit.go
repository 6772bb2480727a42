package migrate

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"gitlab.com/keyless-ci/keyless/internal/lazyre"
	"gitlab.com/keyless-ci/keyless/internal/pipeline"
)

// jobLayout is how a job is written, as far as migrate edits it.
type jobLayout struct {
	file string
	key  *yaml.Node // the job's key as written
	jm   *yaml.Node // the job's mapping as written
	// before and after say where the job's own before_script and
	// after_script come from: "" none, "own" the job's mapping, else the
	// !reference path of what it inherits (".tmpl, before_script",
	// "default, before_script", "before_script").
	before, after string
	// needs is the needs: sequence to add keyless:install to (nil:
	// none), written in needsFile.
	needs     *yaml.Node
	needsFile string
	needsPos  pipeline.Pos
}

// layout checks that the job can be edited and records how.
func (m *migrator) layout(u *use, j *pipeline.Job) *Refusal {
	s := m.srcs[j.Pos.File]
	te := s.top[j.Name]
	if te == nil || te.value.Kind != yaml.MappingNode || te.value.Style&yaml.FlowStyle != 0 || len(te.value.Content) == 0 {
		return m.refuse(u, ReasonLayout, j.Pos, "the job is not written as a block mapping migrate can add keys to (flow style, an alias, or empty)",
			"write the job in block style, then run keyless migrate again")
	}
	u.lay = jobLayout{file: j.Pos.File, key: te.node, jm: te.value}
	for _, key := range []string{"before_script", "after_script"} {
		where, r := m.scriptFrom(u, j, te.value, key)
		if r != nil {
			return r
		}
		if key == "before_script" {
			u.lay.before = where
		} else {
			u.lay.after = where
		}
	}
	if in := u.id.Inputs["install"]; in != "" && in != "artifact" {
		return nil
	}
	n := j.Node.Get("needs")
	if n == nil || n.Kind != pipeline.Seq {
		return nil
	}
	for _, it := range n.Items {
		if it.Value == "keyless:install" || it.Get("job").String() == "keyless:install" {
			return nil
		}
	}
	e := m.entryAt(n.Pos)
	if len(n.Items) == 0 {
		e = nil
		if ne := m.pairIn(te.value, "needs"); ne != nil && ne.Kind == yaml.SequenceNode {
			e = &entry{node: ne}
		}
	}
	if e == nil || e.node.Kind != yaml.SequenceNode || !m.local[n.Pos.File] {
		return m.refuse(u, ReasonLayout, j.Pos, "the job's needs: is written where migrate cannot add keyless:install to it",
			"add keyless:install to the job's needs: (install: artifact hands the helper on as its artifact), or pass --install path")
	}
	file := n.Pos.File
	if len(n.Items) == 0 {
		file = j.Pos.File
	}
	u.lay.needs, u.lay.needsFile, u.lay.needsPos = e.node, file, n.Pos
	return nil
}

// pairIn is the value of key in a mapping as written.
func (m *migrator) pairIn(mp *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(mp.Content); i += 2 {
		if mp.Content[i].Value == key {
			return mp.Content[i+1]
		}
	}
	return nil
}

// scriptFrom says where the job's before_script or after_script (key)
// comes from, once migrate's removals are made.
func (m *migrator) scriptFrom(u *use, j *pipeline.Job, jm *yaml.Node, key string) (string, *Refusal) {
	if own := m.pairIn(jm, key); own != nil {
		if own.Kind != yaml.SequenceNode || (own.Style&yaml.FlowStyle != 0 && m.srcs[j.Pos.File].flowClose(own) < 0) {
			return "", m.refuse(u, ReasonLayout, pipeline.Pos{File: j.Pos.File, Line: own.Line},
				"the job's "+key+" is not a list migrate can add the component's to",
				"write it as a list, then run keyless migrate again")
		}
		return "own", nil
	}
	if slices.Contains(u.dropped, key) {
		return "", nil
	}
	n := j.Node.Get(key)
	if n == nil || n.Kind != pipeline.Seq || len(n.Items) == 0 {
		return "", nil
	}
	e := m.entryAt(n.Pos)
	if e == nil && len(n.Items) > 0 {
		if ie := m.entryAt(n.Items[0].Pos); ie != nil {
			e = ie.parent
		}
	}
	if e == nil {
		return "", m.refuse(u, ReasonLayout, j.Pos, "the job's "+key+" is written where migrate cannot see it",
			"add "+key+": with !reference [.keyless-"+u.c.name+", "+key+"] first to the job by hand")
	}
	owner := e.top
	switch {
	case e.parent == nil && owner == key:
		// The deprecated top-level before_script: GitLab's !reference
		// reads any key of the configuration, as keyless compile and
		// gitlab-ci-local do.
		return key, nil
	case strings.HasPrefix(owner, ".") || owner == "default":
		if e.key == key && e.parent != nil && e.parent.parent == nil {
			return owner + ", " + key, nil
		}
	}
	return "", m.refuse(u, ReasonDefaultScript, n.Pos,
		"the job gets its "+key+" from "+owner+", where migrate cannot !reference it, and the component's "+key+" would replace it",
		"add to the job "+key+": [!reference [.keyless-"+u.c.name+", "+key+"], then the lines it runs now], then run keyless migrate again")
}

// edit is one change of a file's text: the bytes [start, end) become
// text.
type edit struct {
	start, end int
	text       string
	order      int
}

func (m *migrator) edit(uses []*use) error {
	edits := map[string][]edit{}
	seen := map[string]bool{}
	add := func(file string, e edit) {
		k := fmt.Sprintf("%s\x00%d\x00%d\x00%s", file, e.start, e.end, e.text)
		if seen[k] {
			return
		}
		seen[k] = true
		e.order = len(seen)
		edits[file] = append(edits[file], e)
	}
	for _, u := range uses {
		if u.refused != nil {
			m.plan.Refused = append(m.plan.Refused, *u.refused)
		}
	}
	incs := m.assignIncludes(uses)

	// Removals, a mapping emptied by them going as a whole.
	type mapCount struct {
		e    *entry
		file string
		n    int
	}
	maps := map[*yaml.Node]*mapCount{}
	for _, u := range uses {
		if u.refused != nil {
			continue
		}
		for _, r := range u.removals {
			s := m.srcs[r.pos.File]
			e := m.removalAt(r)
			if r.line {
				first, last, _ := s.seqItemLines(e)
				with := ""
				if r.with != "" {
					at := s.off(e.node.Line, e.node.Column)
					with = string(s.src[s.lineStart(first):at]) + r.with + "\n"
				}
				add(r.pos.File, edit{start: s.lineStart(first), end: s.lineEnd(last), text: with})
				continue
			}
			mc := maps[e.parent.node]
			if mc == nil {
				mc = &mapCount{e: e.parent, file: r.pos.File}
				maps[e.parent.node] = mc
			}
			k := fmt.Sprintf("%s\x00%d\x00%d", r.pos.File, r.pos.Line, r.pos.Col)
			if !seen["pair\x00"+k] {
				seen["pair\x00"+k] = true
				mc.n++
			}
			first, last, _ := s.pairLines(e)
			add(r.pos.File, edit{start: s.lineStart(first), end: s.lineEnd(last)})
		}
		for _, d := range u.drops {
			s := m.srcs[d.File]
			if first, last, ok := s.pairLines(s.lookupKey(d.Line, d.Col)); ok {
				add(d.File, edit{start: s.lineStart(first), end: s.lineEnd(last)})
			}
		}
	}
	emptied := map[*yaml.Node]bool{}
	for node, mc := range maps {
		if mc.n < len(node.Content)/2 || mc.e.keyNode == nil {
			continue
		}
		emptied[node] = true
		s := m.srcs[mc.file]
		if ke := s.lookupKey(mc.e.keyNode.Line, mc.e.keyNode.Column); ke != nil {
			if first, last, ok := s.pairLines(ke); ok {
				add(mc.file, edit{start: s.lineStart(first), end: s.lineEnd(last)})
			}
		}
	}

	// Each job: extends, the component's scripts, needs.
	var order []string
	byJob := map[string][]*use{}
	for _, u := range uses {
		if u.refused != nil {
			continue
		}
		if byJob[u.job] == nil {
			order = append(order, u.job)
		}
		byJob[u.job] = append(byJob[u.job], u)
	}
	for _, name := range order {
		us := byJob[name]
		j := m.jobs[name]
		lay := us[0].lay
		s := m.srcs[lay.file]
		var hidden []string
		for _, u := range us {
			as := incs[u.id.key()].As
			if !slices.Contains(hidden, as) && !slices.Contains(j.Extends, as) {
				hidden = append(hidden, as)
			}
		}
		// New keys go first, right under the job's name (a comment above
		// the first key stays with it), or after extends:.
		first := lay.jm.Content[0]
		pad := strings.Repeat(" ", s.off(first.Line, first.Column)-s.lineStart(first.Line))
		at := s.lineStart(first.Line)
		if lay.key.Line < first.Line {
			at = s.lineEnd(lay.key.Line)
		}
		var keys strings.Builder
		if ext := m.pairIn(lay.jm, "extends"); ext != nil {
			// New keys go after extends:, where a reader looks for what
			// the job inherits.
			for i := 0; i+1 < len(lay.jm.Content); i += 2 {
				if k := lay.jm.Content[i]; k.Value == "extends" {
					if ke := s.lookupKey(k.Line, k.Column); ke != nil {
						if _, last, ok := s.pairLines(ke); ok {
							at = s.lineEnd(last)
						}
					}
				}
			}
		}
		if ext := m.pairIn(lay.jm, "extends"); ext == nil {
			if len(hidden) == 1 {
				fmt.Fprintf(&keys, "%sextends: %s\n", pad, hidden[0])
			} else {
				fmt.Fprintf(&keys, "%sextends: [%s]\n", pad, strings.Join(hidden, ", "))
			}
		} else if err := m.appendTo(s, lay.file, ext, hidden, add); err != nil {
			return err
		}
		ref := incs[us[0].id.key()].As
		scripts := "extends"
		for _, k := range []struct{ key, from string }{{"before_script", lay.before}, {"after_script", lay.after}} {
			item := fmt.Sprintf("!reference [%s, %s]", ref, k.key)
			switch k.from {
			case "":
			case "own":
				scripts = "reference"
				m.prepend(s, lay.file, m.pairIn(lay.jm, k.key), item, add)
			default:
				scripts = "reference"
				fmt.Fprintf(&keys, "%s%s:\n%s  - %s\n%s  - !reference [%s]\n", pad, k.key, pad, item, pad, k.from)
			}
		}
		var added []string
		var vars [][2]string
		for _, u := range us {
			for _, v := range u.c.vars {
				if j.Node.Get("variables").Get(v[0]) == nil && !slices.Contains(added, v[0]) {
					added = append(added, v[0])
					vars = append(vars, v)
				}
			}
		}
		if len(vars) > 0 {
			own := m.pairIn(lay.jm, "variables")
			switch {
			case own != nil && !emptied[own] && own.Kind == yaml.MappingNode && own.Style&yaml.FlowStyle == 0 && len(own.Content) > 0:
				last := own.Content[len(own.Content)-2]
				end := max(s.blockEnd(last.Line, s.indent(last.Line)), last.Line)
				vpad := strings.Repeat(" ", s.off(own.Content[0].Line, own.Content[0].Column)-s.lineStart(own.Content[0].Line))
				var vb strings.Builder
				for _, v := range vars {
					fmt.Fprintf(&vb, "%s%s: %s\n", vpad, v[0], v[1])
				}
				add(lay.file, edit{start: s.lineEnd(end), end: s.lineEnd(end), text: vb.String()})
			case own != nil && !emptied[own] && own.Kind == yaml.MappingNode && own.Style&yaml.FlowStyle != 0 && s.flowClose(own) >= 0:
				var parts []string
				for _, v := range vars {
					parts = append(parts, v[0]+": "+v[1])
				}
				sep := ", "
				if len(own.Content) == 0 {
					sep = ""
				}
				at := s.flowClose(own)
				add(lay.file, edit{start: at, end: at, text: sep + strings.Join(parts, ", ")})
			case own == nil || emptied[own]:
				fmt.Fprintf(&keys, "%svariables:\n", pad)
				for _, v := range vars {
					fmt.Fprintf(&keys, "%s  %s: %s\n", pad, v[0], v[1])
				}
			default:
				return fmt.Errorf("migrate: %s:%d: job %q: variables: is written in a way migrate cannot add %s to", lay.file, own.Line, name, added[0])
			}
		}
		if keys.Len() > 0 {
			add(lay.file, edit{start: at, end: at, text: keys.String()})
		}
		needs := false
		if lay.needs != nil {
			needs = true
			if err := m.appendTo(m.srcs[lay.needsFile], lay.needsFile, lay.needs, []string{"keyless:install"}, add); err != nil {
				return err
			}
		}
		for _, u := range us {
			jp := JobPlan{Job: name, Rule: u.rule, Cloud: u.c.name, Extends: incs[u.id.key()].As, Credentials: u.refs, Scripts: scripts, Needs: needs}
			for _, r := range u.removals {
				jp.Removed = append(jp.Removed, Removal{File: r.pos.File, Line: r.pos.Line, What: r.what, With: r.with})
			}
			for _, v := range u.c.vars {
				if slices.Contains(added, v[0]) {
					jp.Variables = append(jp.Variables, v[0])
				}
			}
			m.plan.Jobs = append(m.plan.Jobs, jp)
		}
	}

	// The includes, in the main file.
	var fresh []*includeAt
	for _, k := range sortedKeys(incs) {
		if !incs[k].Existing {
			fresh = append(fresh, incs[k])
		}
	}
	sort.SliceStable(fresh, func(i, j int) bool { return fresh[i].order < fresh[j].order })
	if len(fresh) > 0 {
		if err := m.addIncludes(fresh, add); err != nil {
			return err
		}
	}
	for _, k := range sortedKeys(incs) {
		m.plan.Includes = append(m.plan.Includes, incs[k].IncludePlan)
	}
	sort.SliceStable(m.plan.Includes, func(i, j int) bool { return m.plan.Includes[i].As < m.plan.Includes[j].As })

	for _, f := range m.p.Files {
		es := edits[f.Path]
		if len(es) == 0 {
			continue
		}
		out, err := apply(f.Src, es)
		if err != nil {
			return fmt.Errorf("migrate %s: %w", f.Path, err)
		}
		m.changes = append(m.changes, Change{Path: f.Path, Disk: m.diskPath(f.Path), Before: f.Src, After: out})
		m.plan.Files = append(m.plan.Files, f.Path)
	}
	return nil
}

// appendTo adds items to the sequence (or scalar, made a flow sequence)
// n as written.
func (m *migrator) appendTo(s *source, file string, n *yaml.Node, items []string, add func(string, edit)) error {
	if len(items) == 0 {
		return nil
	}
	switch {
	case n.Kind == yaml.ScalarNode:
		end, ok := s.scalarEnd(n)
		if !ok {
			return fmt.Errorf("%s:%d: a multi-line value where a name was expected", file, n.Line)
		}
		start := s.off(n.Line, n.Column)
		add(file, edit{start: start, end: start, text: "["})
		add(file, edit{start: end, end: end, text: ", " + strings.Join(items, ", ") + "]"})
	case n.Kind == yaml.SequenceNode && n.Style&yaml.FlowStyle != 0:
		at := s.flowClose(n)
		if at < 0 {
			return fmt.Errorf("%s:%d: a flow sequence over several lines", file, n.Line)
		}
		sep := ", "
		if len(n.Content) == 0 {
			sep = ""
		}
		add(file, edit{start: at, end: at, text: sep + strings.Join(items, ", ")})
	case n.Kind == yaml.SequenceNode && len(n.Content) > 0:
		last := n.Content[len(n.Content)-1]
		end := s.blockEnd(last.Line, s.indent(last.Line))
		if last.Line > end {
			end = last.Line
		}
		prefix := s.seqPrefix(n)
		var b strings.Builder
		for _, it := range items {
			b.WriteString(prefix + it + "\n")
		}
		at := s.lineEnd(end)
		if at == len(s.src) && len(s.src) > 0 && s.src[len(s.src)-1] != '\n' {
			add(file, edit{start: at, end: at, text: "\n" + strings.TrimSuffix(b.String(), "\n")})
		} else {
			add(file, edit{start: at, end: at, text: b.String()})
		}
	default:
		return fmt.Errorf("%s:%d: a value migrate cannot add to", file, n.Line)
	}
	return nil
}

// prepend puts item first in the sequence n as written.
func (m *migrator) prepend(s *source, file string, n *yaml.Node, item string, add func(string, edit)) {
	if n.Style&yaml.FlowStyle != 0 {
		at := s.off(n.Line, n.Column) + 1
		sep := ", "
		if len(n.Content) == 0 {
			sep = ""
		}
		add(file, edit{start: at, end: at, text: item + sep})
		return
	}
	if len(n.Content) == 0 {
		return
	}
	first := n.Content[0]
	at := s.lineStart(first.Line)
	add(file, edit{start: at, end: at, text: s.seqPrefix(n) + item + "\n"})
}

// includeAt is an include in the making.
type includeAt struct {
	IncludePlan
	order int
	id    Identity
}

var keylessComponentRe = lazyre.New(`(?:^|/)(aws|gcp|azure|vault|pypi|npm|crates)@[^/]*$`)

// assignIncludes gives each identity its include: one already in the
// configuration with the same inputs, else a new one, named with as:
// when the cloud's default hidden job is taken.
func (m *migrator) assignIncludes(uses []*use) map[string]*includeAt {
	out := map[string]*includeAt{}
	taken := map[string]bool{}
	var existing []*includeAt
	for _, inc := range m.p.Includes {
		mm := keylessComponentRe().FindStringSubmatch(inc.Location)
		if inc.Kind != pipeline.IncludeComponent || mm == nil {
			continue
		}
		as := inc.Inputs["as"]
		if as == "" {
			as = clouds[mm[1]].hidden()
		}
		taken[as] = true
		existing = append(existing, &includeAt{IncludePlan: IncludePlan{File: inc.Pos.File, Component: inc.Location, Cloud: mm[1], As: as, Inputs: inc.Inputs, Existing: true}})
	}
	for i, u := range uses {
		if u.refused != nil {
			continue
		}
		k := u.id.key()
		if inc := out[k]; inc != nil {
			inc.Credentials = dedupe(append(inc.Credentials, u.refs...))
			continue
		}
		var inc *includeAt
		for _, e := range existing {
			if e.Cloud == u.c.name && sameInputs(e.Inputs, u.id.Inputs) {
				inc = e
			}
		}
		if inc == nil {
			as := u.id.As
			if as == "" {
				as = u.c.hidden()
				if taken[as] {
					as = u.c.hidden() + "-" + slug(u.refs[0], u.c.name)
					for n := 2; taken[as]; n++ {
						as = fmt.Sprintf("%s-%s-%d", u.c.hidden(), slug(u.refs[0], u.c.name), n)
					}
				}
			}
			taken[as] = true
			in := map[string]string{}
			for k, v := range u.id.Inputs {
				in[k] = v
			}
			if as != u.c.hidden() {
				in["as"] = as
			}
			inc = &includeAt{IncludePlan: IncludePlan{File: m.p.Files[0].Path, Component: m.o.Component + "/" + u.c.name + "@" + m.o.Version,
				Cloud: u.c.name, As: as, Inputs: in}, order: i, id: u.id}
		}
		inc.Credentials = dedupe(append(inc.Credentials, u.refs...))
		out[k] = inc
	}
	return out
}

// sameInputs reports whether an existing include has the inputs an
// identity sets.
func sameInputs(have, want map[string]string) bool {
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}

// slug names a second identity's hidden job after its credential
// variable: PROD_AWS_ACCESS_KEY_ID is "prod".
func slug(ref, cloud string) string {
	drop := map[string]bool{"aws": true, "access": true, "key": true, "id": true, "secret": true, "gcp": true, "gcloud": true,
		"google": true, "sa": true, "json": true, "azure": true, "arm": true, "client": true, "vault": true, "token": true,
		"credentials": true, "service": true, "account": true, "password": true, "file": true, "keyfile": true, cloud: true}
	var parts []string
	for _, p := range strings.Split(strings.ToLower(ref), "_") {
		if p != "" && !drop[p] {
			parts = append(parts, p)
		}
	}
	if len(parts) == 0 {
		return strings.ReplaceAll(strings.ToLower(ref), "_", "-")
	}
	return strings.Join(parts, "-")
}

// inputOrder lists a component's inputs as its spec does.
var inputOrder = []string{"as", "package", "role_arn", "provider", "service_account", "client_id", "tenant_id", "addr", "role", "aud"}

// addIncludes writes the new includes into the main file's include:.
func (m *migrator) addIncludes(incs []*includeAt, add func(string, edit)) error {
	file := m.p.Files[0].Path
	s := m.srcs[file]
	if s == nil || s.topMap == nil {
		return fmt.Errorf("migrate: %s is not a YAML mapping migrate can add include: to", file)
	}
	item := func(prefix string, inc *includeAt) string {
		pad := strings.Repeat(" ", len(prefix))
		var b strings.Builder
		fmt.Fprintf(&b, "%scomponent: %s\n", prefix, inc.Component)
		if len(inc.Inputs) > 0 {
			fmt.Fprintf(&b, "%sinputs:\n", pad)
		}
		var names []string
		for _, k := range inputOrder {
			if _, ok := inc.Inputs[k]; ok {
				names = append(names, k)
			}
		}
		for _, k := range sortedKeys(inc.Inputs) {
			if !slices.Contains(names, k) {
				names = append(names, k)
			}
		}
		for _, k := range names {
			fmt.Fprintf(&b, "%s  %s: %s\n", pad, k, yamlScalar(inc.Inputs[k]))
		}
		return b.String()
	}
	ie := s.top["include"]
	if ie == nil {
		var b strings.Builder
		b.WriteString("include:\n")
		for _, inc := range incs {
			b.WriteString(item("  - ", inc))
		}
		b.WriteString("\n")
		at := s.lineStart(s.topMap.Content[0].Line)
		add(file, edit{start: at, end: at, text: b.String()})
		return nil
	}
	v := ie.value
	switch {
	case v.Kind == yaml.SequenceNode && v.Style&yaml.FlowStyle == 0 && len(v.Content) > 0:
		prefix := s.seqPrefix(v)
		if strings.TrimSpace(prefix) != "-" {
			prefix = strings.Repeat(" ", s.indent(v.Content[0].Line)) + "- "
		}
		var b strings.Builder
		for _, inc := range incs {
			b.WriteString(item(prefix, inc))
		}
		last := v.Content[len(v.Content)-1]
		end := max(s.blockEnd(last.Line, s.indent(last.Line)), last.Line)
		add(file, edit{start: s.lineEnd(end), end: s.lineEnd(end), text: b.String()})
	case v.Kind == yaml.ScalarNode:
		end, ok := s.scalarEnd(v)
		if !ok {
			return fmt.Errorf("migrate: %s:%d: include: is a multi-line value: write it as a list, then run keyless migrate again", file, v.Line)
		}
		start := s.off(v.Line, v.Column)
		keyEnd := s.off(ie.node.Line, ie.node.Column) + len(ie.node.Value) + 1
		var b strings.Builder
		b.WriteString("\n")
		for _, inc := range incs {
			b.WriteString(item("  - ", inc))
		}
		add(file, edit{start: keyEnd, end: start, text: "\n  - "})
		add(file, edit{start: end, end: end, text: strings.TrimSuffix(b.String(), "\n")})
	case v.Kind == yaml.SequenceNode && v.Style&yaml.FlowStyle != 0:
		at := s.flowClose(v)
		if at < 0 {
			return fmt.Errorf("migrate: %s:%d: include: is a flow list over several lines: write it as a block list, then run keyless migrate again", file, v.Line)
		}
		var parts []string
		for _, inc := range incs {
			var in []string
			for _, k := range sortedKeys(inc.Inputs) {
				in = append(in, k+": "+yamlScalar(inc.Inputs[k]))
			}
			parts = append(parts, fmt.Sprintf("{component: %s, inputs: {%s}}", inc.Component, strings.Join(in, ", ")))
		}
		sep := ", "
		if len(v.Content) == 0 {
			sep = ""
		}
		add(file, edit{start: at, end: at, text: sep + strings.Join(parts, ", ")})
	default:
		return fmt.Errorf("migrate: %s:%d: include: is a single mapping: write it as a list (- local: …), then run keyless migrate again", file, v.Line)
	}
	return nil
}

var plainRe = lazyre.New(`^[A-Za-z0-9_/$.][A-Za-z0-9_./:@$+=,-]*$`)

// yamlScalar writes v as a YAML string: plain where YAML reads it back as
// the same string, else double-quoted.
func yamlScalar(v string) string {
	var n any
	if plainRe().MatchString(v) && !strings.Contains(v, ": ") {
		if err := yaml.Unmarshal([]byte(v), &n); err == nil {
			if s, ok := n.(string); ok && s == v {
				return v
			}
		}
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// apply makes edits to src: at one offset, insertions come in the order
// they were added, before what is removed there.
func apply(src []byte, es []edit) ([]byte, error) {
	sort.SliceStable(es, func(i, j int) bool {
		if es[i].start != es[j].start {
			return es[i].start < es[j].start
		}
		ii, jj := es[i].end == es[i].start, es[j].end == es[j].start
		if ii != jj {
			return ii
		}
		return es[i].order < es[j].order
	})
	var b []byte
	at := 0
	for _, e := range es {
		if e.start < at {
			if e.end <= at && e.text == "" {
				continue // inside what an earlier removal took out
			}
			return nil, fmt.Errorf("overlapping edits at byte %d", e.start)
		}
		b = append(b, src[at:e.start]...)
		b = append(b, e.text...)
		at = e.end
	}
	return append(b, src[at:]...), nil
}
