package pipeline

import (
	"strconv"
	"strings"
)

// Nodes may be shared between several places of the model (an alias and
// its anchor, an inherited value and its parent job): treat them as
// read-only. Every transformation in this package builds new nodes.

// Walk visits n and its descendants depth-first. path holds the keys and
// "[i]" indexes leading from n to the visited node; fn returning false skips
// that node's children. path is not reused between calls, so fn may keep it.
func (n *Node) Walk(fn func(path []string, n *Node) bool) {
	n.walk(nil, fn)
}

func (n *Node) walk(path []string, fn func([]string, *Node) bool) {
	if n == nil || !fn(path, n) {
		return
	}
	switch n.Kind {
	case Map:
		for i := range n.Pairs {
			n.Pairs[i].Value.walk(append(path[:len(path):len(path)], n.Pairs[i].Key), fn)
		}
	case Seq:
		for i, it := range n.Items {
			it.walk(append(path[:len(path):len(path)], "["+strconv.Itoa(i)+"]"), fn)
		}
	}
}

// String returns a scalar's value as GitLab reads it, "" for nil or null,
// and a compact flow form of maps and sequences (for debugging).
func (n *Node) String() string {
	if n == nil {
		return ""
	}
	switch n.Kind {
	case Scalar:
		return n.Value
	case Null:
		return ""
	}
	var b strings.Builder
	n.flow(&b, 0)
	return b.String()
}

func (n *Node) flow(b *strings.Builder, depth int) {
	if b.Len() > 1<<16 || depth > 64 {
		b.WriteString("...")
		return
	}
	switch n.Kind {
	case Null:
		b.WriteString("null")
	case Scalar:
		if n.Tag == "!!str" {
			b.WriteString(strconv.Quote(n.Value))
		} else {
			b.WriteString(n.Value)
		}
	case Seq:
		if n.Tag != "" && n.Tag != "!!seq" {
			b.WriteString(n.Tag + " ")
		}
		b.WriteByte('[')
		for i, it := range n.Items {
			if i > 0 {
				b.WriteString(", ")
			}
			it.flow(b, depth+1)
		}
		b.WriteByte(']')
	case Map:
		b.WriteByte('{')
		for i, p := range n.Pairs {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(p.Key)
			b.WriteString(": ")
			p.Value.flow(b, depth+1)
		}
		b.WriteByte('}')
	}
}

// maxFlatten is how deep GitLab flattens nested arrays in script:
// https://docs.gitlab.com/ci/yaml/#script ("nested arrays ... up to 10 levels").
const maxFlatten = 10

// Strings flattens a scalar or a (nested) list of scalars into their values,
// as GitLab reads script: and similar keys. Maps and nulls are skipped.
func (n *Node) Strings() []string {
	var out []string
	n.strings(&out, 0)
	return out
}

func (n *Node) strings(out *[]string, depth int) {
	if n == nil {
		return
	}
	switch n.Kind {
	case Scalar:
		*out = append(*out, n.Value)
	case Seq:
		if depth > maxFlatten {
			return
		}
		for _, it := range n.Items {
			it.strings(out, depth+1)
		}
	}
}

// Lookup follows keys through nested maps and returns the value, or nil.
func (n *Node) Lookup(keys ...string) *Node {
	for _, k := range keys {
		n = n.Get(k)
	}
	return n
}

// Bool reports a boolean scalar's value; ok is false when n is not one.
func (n *Node) Bool() (v, ok bool) {
	if n == nil || n.Kind != Scalar || n.Tag != "!!bool" {
		return false, false
	}
	return n.Value == "true", true
}

// pairIndex finds key in a pair list: linear for small maps, indexed for
// large ones so that merging stays linear.
type pairList struct {
	pairs []Pair
	idx   map[string]int
	dead  int
}

func newPairList(n int) *pairList { return &pairList{pairs: make([]Pair, 0, n)} }

func (l *pairList) find(k string) int {
	if l.idx != nil {
		if i, ok := l.idx[k]; ok {
			return i
		}
		return -1
	}
	for i := range l.pairs {
		if l.pairs[i].Value != nil && l.pairs[i].Key == k {
			return i
		}
	}
	return -1
}

// set adds p, or replaces the value of an existing key in place (Ruby
// hashes keep a key where it was first inserted).
func (l *pairList) set(p Pair) {
	if i := l.find(p.Key); i >= 0 {
		l.pairs[i] = p
		return
	}
	l.pairs = append(l.pairs, p)
	if l.idx != nil {
		l.idx[p.Key] = len(l.pairs) - 1
	} else if len(l.pairs) > 32 {
		l.idx = make(map[string]int, len(l.pairs)*2)
		for i := range l.pairs {
			if l.pairs[i].Value != nil {
				l.idx[l.pairs[i].Key] = i
			}
		}
	}
}

// addAll adds a Map's pairs to an empty list. A Map's keys are unique, so
// none is looked for first: set would compare each key with all before it
// (issue 15).
func (l *pairList) addAll(ps []Pair) {
	l.pairs = append(l.pairs, ps...)
	if len(l.pairs) > 32 {
		l.idx = make(map[string]int, len(l.pairs)*2)
		for i := range l.pairs {
			l.idx[l.pairs[i].Key] = i
		}
	}
}

// indexPairs is a read-only pairList of a Map's pairs, which it shares.
func indexPairs(ps []Pair) *pairList {
	l := &pairList{pairs: ps}
	if len(ps) > 32 {
		l.idx = make(map[string]int, len(ps))
		for i := range ps {
			l.idx[ps[i].Key] = i
		}
	}
	return l
}

func (l *pairList) get(k string) *Node {
	if i := l.find(k); i >= 0 {
		return l.pairs[i].Value
	}
	return nil
}

func (l *pairList) del(k string) {
	if i := l.find(k); i >= 0 {
		l.pairs[i].Value = nil
		l.dead++
		if l.idx != nil {
			delete(l.idx, k)
		}
	}
}

func (l *pairList) list() []Pair {
	if l.dead == 0 {
		return l.pairs
	}
	out := make([]Pair, 0, len(l.pairs)-l.dead)
	for _, p := range l.pairs {
		if p.Value != nil {
			out = append(out, p)
		}
	}
	return out
}

// deepMerge merges over into base as ActiveSupport's Hash#deep_merge does
// (GitLab merges included files and extends this way): maps merge key by
// key, every other value replaces. With dropNull, a null in over removes an
// inherited key ("you can use null to remove a key",
// https://docs.gitlab.com/ci/yaml/#extends). Neither input is modified.
func (s *shared) deepMerge(base, over *Node, dropNull bool) *Node {
	return s.mergeWithout(base, over, dropNull, "")
}

// mergeWithout is deepMerge with over's top-level key skip left out
// (unless skip is ""): include: and extends: are dropped once applied,
// and leaving them out of the merge saves copying the merged list again
// without them (issue 15).
func (s *shared) mergeWithout(base, over *Node, dropNull bool, skip string) *Node {
	if over == nil {
		return base
	}
	if base == nil || base.Kind != Map || over.Kind != Map {
		if skip != "" && over.Kind == Map && over.Get(skip) != nil {
			pairs := s.pairs(len(over.Pairs) - 1)
			for _, p := range over.Pairs {
				if p.Key != skip {
					pairs = append(pairs, p)
				}
			}
			return s.withPairs(over, pairs)
		}
		return over
	}
	// Sized for the keys of both; over's keys are mostly base's (a job
	// overriding its template's), so small maps count them out first.
	n := len(base.Pairs) + len(over.Pairs)
	if len(base.Pairs) <= 32 && len(over.Pairs) <= 32 {
		for _, p := range over.Pairs {
			if skip != "" && p.Key == skip || base.Get(p.Key) != nil {
				n--
			}
		}
	}
	l := &pairList{pairs: s.pairs(n)}
	l.addAll(base.Pairs)
	for _, p := range over.Pairs {
		if skip != "" && p.Key == skip {
			continue
		}
		old := l.get(p.Key)
		switch {
		case old != nil && dropNull && p.Value.Kind == Null:
			l.del(p.Key)
		case old != nil && old.Kind == Map && p.Value.Kind == Map:
			l.set(Pair{Key: p.Key, KeyPos: p.KeyPos, Value: s.deepMerge(old, p.Value, dropNull)})
		default:
			l.set(p)
		}
	}
	return s.alloc(Node{Kind: Map, Tag: over.Tag, Pairs: l.list(), Pos: over.Pos})
}

// withPairs returns a copy of map n with new pairs.
func withPairs(n *Node, pairs []Pair) *Node {
	c := *n
	c.Pairs = pairs
	return &c
}

// withPairs is withPairs with the copy taken from s's slabs.
func (s *shared) withPairs(n *Node, pairs []Pair) *Node {
	c := *n
	c.Pairs = pairs
	return s.alloc(c)
}

func nullAt(pos Pos) *Node { return &Node{Kind: Null, Tag: "!!null", Pos: pos} }

func strAt(s string, pos Pos) *Node {
	return &Node{Kind: Scalar, Tag: "!!str", Value: s, Raw: s, Pos: pos}
}
