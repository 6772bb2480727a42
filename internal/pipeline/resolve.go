package pipeline

import (
	"fmt"
	"slices"
	"strings"
)

// reserved are the top-level keywords that are not jobs
// (https://docs.gitlab.com/ci/yaml/#global-keywords); "types" is the
// removed alias of stages, "spec" the header keyword. pages is a job.
var reserved = map[string]bool{
	"default": true, "include": true, "stages": true, "variables": true,
	"workflow": true, "image": true, "services": true, "cache": true,
	"before_script": true, "after_script": true, "spec": true, "types": true,
}

// IsJobKey reports whether a top-level key with a map value is a job.
func IsJobKey(key string) bool { return !reserved[key] }

// globalDefaults are the deprecated top-level keywords that act as
// default: entries (https://docs.gitlab.com/ci/yaml/#globally-defined-image-services-cache-before_script-after_script).
var globalDefaults = []string{"image", "services", "cache", "before_script", "after_script"}

// defaultKeys are the keywords a job inherits from default:
// (https://docs.gitlab.com/ci/yaml/#default).
var defaultKeys = []string{"image", "services", "cache", "before_script", "after_script",
	"artifacts", "interruptible", "retry", "tags", "timeout", "hooks", "id_tokens", "identity"}

// flattenKeys hold lists in which GitLab flattens nested arrays, so a
// !reference yielding a list is spliced into the parent list: script
// (https://docs.gitlab.com/ci/yaml/#script) and rules
// (https://docs.gitlab.com/ci/jobs/job_rules/#reuse-rules-in-different-jobs).
var flattenKeys = map[string]bool{
	"script": true, "before_script": true, "after_script": true,
	"pre_get_sources_script": true, "rules": true,
}

const (
	// maxExtends: "extends supports up to eleven levels of inheritance"
	// (https://docs.gitlab.com/ci/yaml/#extends).
	maxExtends = 11
	// maxRefNesting: "you can nest !reference tags up to 10 levels deep"
	// (https://docs.gitlab.com/ci/yaml/yaml_optimization/#reference-tags).
	maxRefNesting = 10
)

// resolver applies extends, then !reference, then default:, in the order
// GitLab's Ci::Config does (External::Processor, Extendable,
// Yaml::Tags::Resolver, then entry composition).
type resolver struct {
	l *loader
	// keep applies extends as GitLab's merged_yaml shows it (Merged): a
	// null stays in the job instead of removing the inherited key, and
	// extends: stays, naming the parents already merged in.
	keep bool
	top  *pairList // the merged top level as written
	post *pairList // the top level after extends
	ext  map[string]*extState
	refs map[string]*refState
	// sizes memoises subtree sizes; budget is what resolved jobs and
	// references may still expand to, so that references to references
	// or many jobs sharing a huge template stay bounded for walkers.
	sizes  map[*Node]int
	budget int
	capped bool
}

// maxResolved bounds the nodes of all resolved jobs together, child
// pipelines' included.
const maxResolved = 10 * maxNodes

// size counts n's nodes as a walker sees them (shared subtrees counted
// each time), memoised per node; it saturates at maxResolved.
func (r *resolver) size(n *Node) int {
	if n == nil {
		return 0
	}
	if len(n.Pairs) == 0 && len(n.Items) == 0 {
		return 1 // a leaf: not worth a memo entry, most nodes are one
	}
	if s, ok := r.sizes[n]; ok {
		return s
	}
	s := 1
	for _, p := range n.Pairs {
		s += r.size(p.Value)
		if s > maxResolved {
			s = maxResolved + 1
			break
		}
	}
	for _, it := range n.Items {
		s += r.size(it)
		if s > maxResolved {
			s = maxResolved + 1
			break
		}
	}
	r.sizes[n] = s
	return s
}

// spend takes n's size from the budget; false (and one "limit" problem)
// when the budget is exhausted.
func (r *resolver) spend(n *Node, pos Pos) bool {
	s := r.size(n)
	if s > r.budget {
		if !r.capped {
			r.capped = true
			r.l.problem(pos, "limit", fmt.Sprintf("resolved jobs expand to more than %d nodes (a reference or extends bomb?); the rest are kept as written", maxResolved))
		}
		return false
	}
	r.budget -= s
	return true
}

type extState struct {
	node   *Node
	height int
	state  int // 0 new, 1 in progress, 2 done
}

type refState struct {
	node  *Node
	state int
}

// newResolver reads global (the merged top level) and applies extends to
// every job: r.post is the top level after extends. budget is the nodes the
// resolved jobs may expand to.
func newResolver(l *loader, global *Node, keep bool, budget int) *resolver {
	// A Map's keys are unique: the top level is indexed as it is, not
	// set pair by pair into a copy whose index grows as it fills, and
	// the top level after extends takes the same keys (issue 15).
	r := &resolver{l: l, keep: keep, top: indexPairs(global.Pairs), ext: map[string]*extState{}, refs: map[string]*refState{},
		sizes: map[*Node]int{}, budget: budget}
	post := l.pairs(len(global.Pairs))
	for _, p := range global.Pairs {
		if IsJobKey(p.Key) && p.Value.Kind == Map {
			n, _ := r.extend(p.Key, nil)
			p.Value = n
		}
		post = append(post, p)
	}
	r.post = indexPairs(post)
	return r
}

func (l *loader) resolve(global *Node) {
	r := newResolver(l, global, false, l.resolveBudget)
	// The pipeline and its child pipelines share the budget.
	defer func() { l.resolveBudget = r.budget }()
	// !reference in the non-job keywords, shown in Global.
	pairs := make([]Pair, len(global.Pairs))
	for i, p := range global.Pairs {
		if !IsJobKey(p.Key) {
			p.Value = r.resolveRefs(p.Value, p.Key, 0)
		}
		pairs[i] = p
	}
	l.p.Global = l.withPairs(global, pairs)
	def := r.defaults(l.p.Global)
	for _, p := range global.Pairs {
		if !IsJobKey(p.Key) || p.Value.Kind != Map {
			continue
		}
		j := &Job{Name: p.Key, Hidden: strings.HasPrefix(p.Key, "."), Pos: p.KeyPos}
		n := r.resolveRefs(r.post.get(p.Key), "", 0)
		if !j.Hidden {
			n = r.inheritDefault(n, def)
		}
		if !r.spend(n, p.KeyPos) {
			n = p.Value
		}
		j.Node = n
		j.Extends = r.chain(p.Key)
		l.p.Jobs = append(l.p.Jobs, j)
	}
}

// parents lists the names a job's extends: names, with their nodes.
func parents(n *Node) []*Node {
	ex := n.Get("extends")
	switch {
	case ex == nil:
		return nil
	case ex.Kind == Scalar:
		return []*Node{ex}
	case ex.Kind == Seq:
		return ex.Items
	}
	return nil
}

// extend returns job name with its extends applied: parents merged left to
// right (later parents win), then the job itself, null removing an
// inherited key; extends: is dropped, as the job GitLab runs has none.
// With r.keep both stay, as in GitLab's merged_yaml
// (lib/gitlab/ci/config/extendable/entry.rb: merged.deep_merge!(value)).
func (r *resolver) extend(name string, stack []string) (*Node, int) {
	st := r.ext[name]
	if st == nil {
		st = &extState{}
		r.ext[name] = st
	}
	raw := r.top.get(name)
	switch st.state {
	case 2:
		return st.node, st.height
	case 1:
		return raw, 0 // the cycle is reported by the caller
	}
	if raw.Get("extends") == nil {
		st.node, st.state = raw, 2
		return raw, 0
	}
	st.state = 1
	stack = append(stack, name)
	var merged *Node
	height := 0
	for _, pn := range parents(raw) {
		pname := pn.Value
		if pn.Kind != Scalar {
			r.l.problem(pn.Pos, "extends", fmt.Sprintf("job %q: extends entries must be job names", name))
			continue
		}
		base := r.top.get(pname)
		switch {
		case base == nil:
			r.l.problem(pn.Pos, "extends", fmt.Sprintf("job %q extends %q, which is not defined; define it or include the file that defines it", name, pname))
			continue
		case base.Kind != Map:
			r.l.problem(pn.Pos, "extends", fmt.Sprintf("job %q extends %q, which is not a job (not a mapping)", name, pname))
			continue
		case r.ext[pname] != nil && r.ext[pname].state == 1:
			r.l.problem(pn.Pos, "extends", fmt.Sprintf("extends cycle: %s -> %s; remove one of these extends", strings.Join(stack, " -> "), pname))
			continue
		}
		pnode, ph := r.extend(pname, stack)
		if ph+1 > maxExtends {
			r.l.problem(pn.Pos, "extends", fmt.Sprintf("job %q: extends nests more than %d levels through %q; GitLab refuses it, flatten the chain", name, maxExtends, pname))
			continue
		}
		height = max(height, ph+1)
		merged = r.l.deepMerge(merged, pnode, !r.keep)
	}
	var n *Node
	if r.keep {
		n = r.l.deepMerge(merged, raw, false)
	} else {
		// The parents have no extends: left (extend), so the job's
		// own is all there is to drop.
		n = r.l.mergeWithout(merged, raw, true, "extends")
	}
	st.node, st.height, st.state = n, height, 2
	return n, height
}

// chain is a job's extends ancestry, nearest first (breadth first).
func (r *resolver) chain(name string) []string {
	var out []string
	seen := map[string]bool{name: true}
	queue := []string{name}
	for len(queue) > 0 && len(out) < 1000 {
		n := r.top.get(queue[0])
		queue = queue[1:]
		for _, p := range parents(n) {
			if p.Kind == Scalar && !seen[p.Value] && r.top.get(p.Value) != nil {
				seen[p.Value] = true
				out = append(out, p.Value)
				queue = append(queue, p.Value)
			}
		}
	}
	return out
}

func isRef(n *Node) bool { return n != nil && n.Tag == "!reference" }

// resolveRefs replaces every !reference in n by the value it names in the
// configuration after extends. key is the key n is the value of, to
// flatten script and rules lists.
func (r *resolver) resolveRefs(n *Node, key string, depth int) *Node {
	if n == nil {
		return nil
	}
	if isRef(n) {
		v := r.ref(n, depth)
		if v == n || !r.spend(v, n.Pos) {
			return n
		}
		if flattenKeys[key] && !isRef(v) {
			return flatten(v)
		}
		return v
	}
	switch n.Kind {
	case Map:
		var out []Pair
		for i, p := range n.Pairs {
			v := r.resolveRefs(p.Value, p.Key, depth)
			if v != p.Value && out == nil {
				out = r.l.pairs(len(n.Pairs))[:len(n.Pairs)]
				copy(out, n.Pairs[:i])
			}
			if out != nil {
				p.Value = v
				out[i] = p
			}
		}
		if out != nil {
			return r.l.withPairs(n, out)
		}
	case Seq:
		var out []*Node
		changed := false
		fl := flattenKeys[key]
		for i, it := range n.Items {
			v := r.resolveRefs(it, "", depth)
			if (v != it || (fl && v.Kind == Seq && !isRef(v))) && !changed {
				changed = true
				out = make([]*Node, 0, len(n.Items))
				out = append(out, n.Items[:i]...)
			}
			if changed {
				if fl && v.Kind == Seq && !isRef(v) {
					out = appendFlat(out, v, 0)
				} else {
					out = append(out, v)
				}
			}
		}
		if changed {
			c := *n
			c.Items = out
			return &c
		}
	}
	return n
}

func flatten(n *Node) *Node {
	if n.Kind != Seq {
		return n
	}
	c := *n
	c.Items = appendFlat(nil, n, 0)
	return &c
}

// appendFlat splices a nested list, as GitLab flattens script arrays (up to
// 10 levels).
func appendFlat(out []*Node, n *Node, depth int) []*Node {
	for _, it := range n.Items {
		if it.Kind == Seq && !isRef(it) && depth < maxFlatten {
			out = appendFlat(out, it, depth+1)
		} else {
			out = append(out, it)
		}
	}
	return out
}

// ref resolves one !reference [job, key, ...] node.
func (r *resolver) ref(n *Node, depth int) *Node {
	if n.Kind != Seq || len(n.Items) == 0 {
		r.l.problem(n.Pos, "reference", "!reference needs a list of keys, such as !reference [.job, script]")
		return n
	}
	keys := make([]string, len(n.Items))
	for i, it := range n.Items {
		if it.Kind != Scalar {
			r.l.problem(n.Pos, "reference", "!reference keys must be plain names, such as !reference [.job, script]")
			return n
		}
		keys[i] = it.Value
	}
	id := strings.Join(keys, "\x00")
	show := "[" + strings.Join(keys, ", ") + "]"
	st := r.refs[id]
	if st != nil && st.state == 2 {
		return st.node
	}
	if st != nil && st.state == 1 {
		r.l.problem(n.Pos, "reference", fmt.Sprintf("!reference %s refers to itself through other references; break the cycle", show))
		return n
	}
	if depth >= maxRefNesting {
		r.l.problem(n.Pos, "reference", fmt.Sprintf("!reference %s nests more than %d levels of references; GitLab refuses it", show, maxRefNesting))
		return n
	}
	v := r.post.get(keys[0])
	for i := 1; i < len(keys) && v != nil; i++ {
		v = v.Get(keys[i])
	}
	if v == nil {
		r.l.problem(n.Pos, "reference", fmt.Sprintf("!reference %s points to a key that is not defined; define it or fix the reference", show))
		return n
	}
	st = &refState{state: 1}
	r.refs[id] = st
	v = r.resolveRefs(v, keys[len(keys)-1], depth+1)
	st.node, st.state = v, 2
	return v
}

// defaults is the effective default: the default: keyword plus the
// deprecated top-level keywords it does not set.
func (r *resolver) defaults(global *Node) *Node {
	d := global.Get("default")
	l := newPairList(16)
	for _, p := range d.pairsOrNil() {
		l.set(p)
	}
	for _, k := range globalDefaults {
		if l.get(k) != nil {
			continue
		}
		for _, p := range global.Pairs {
			if p.Key == k {
				l.set(p)
			}
		}
	}
	return &Node{Kind: Map, Tag: "!!map", Pairs: l.list()}
}

// inheritDefault gives job the default: keys it does not set, honouring
// inherit:default (https://docs.gitlab.com/ci/yaml/#inheritdefault). A key
// set to null counts as unset, as GitLab treats it.
func (r *resolver) inheritDefault(job, def *Node) *Node {
	if len(def.Pairs) == 0 || job == nil || job.Kind != Map {
		return job
	}
	allow := func(string) bool { return true }
	if in := job.Lookup("inherit", "default"); in != nil {
		switch {
		case in.Kind == Scalar && in.Tag == "!!bool" && in.Value == "false":
			return job
		case in.Kind == Seq:
			names := map[string]bool{}
			for _, it := range in.Items {
				names[it.Value] = true
			}
			allow = func(k string) bool { return names[k] }
		}
	}
	// job's keys are unique, and so are def's: a default key replaces
	// the job's null in its place or is added at the end. The pairs are
	// copied only once a key is inherited.
	var out []Pair
	for _, k := range defaultKeys {
		dv := def.Get(k)
		if dv == nil || !allow(k) {
			continue
		}
		i := slices.IndexFunc(job.Pairs, func(p Pair) bool { return p.Key == k })
		if i >= 0 && job.Pairs[i].Value.Kind != Null {
			continue
		}
		if out == nil {
			out = r.l.pairs(len(job.Pairs) + len(def.Pairs))[:len(job.Pairs)]
			copy(out, job.Pairs)
		}
		for _, p := range def.Pairs {
			if p.Key != k {
				continue
			}
			if i >= 0 {
				out[i] = p
			} else {
				out = append(out, p)
			}
		}
	}
	if out == nil {
		return job
	}
	return r.l.withPairs(job, out)
}
