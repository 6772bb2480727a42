package pipeline

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
	"unsafe"

	"go.yaml.in/yaml/v3"

	"gitlab.com/keyless-ci/keyless/internal/pipeline/yamlfast"
)

// Limits that keep hostile input bounded in time and memory.
const (
	// maxNodes bounds the nodes one file expands to, aliases included
	// (a "billion laughs" alias bomb stops here).
	maxNodes = 1_000_000
	// maxDepth bounds nesting so that no recursion can exhaust the stack.
	maxDepth = 512
	// maxDocs bounds the YAML documents read from one file.
	maxDocs = 16
)

// decodeDocs parses src into its YAML documents, or returns those of the
// same file with the same content decoded before in this run (with the
// problems found then, reported again).
func (l *loader) decodeDocs(file string, src []byte) []*yaml.Node {
	if d := l.decoded[file]; d != nil && bytes.Equal(d.src, src) {
		l.p.Problems = append(l.p.Problems, d.problems...)
		return d.docs
	}
	before := len(l.p.Problems)
	docs := l.decode(file, src)
	if l.decoded != nil {
		l.decoded[file] = &decodedFile{src: src, docs: docs, problems: slices.Clone(l.p.Problems[before:])}
	}
	return docs
}

// decode parses src into its YAML documents. yaml.v3 stops at the first
// syntax error: it is reported once, with its line, and the lines before it
// are read again on their own so that what precedes the error is kept.
func (l *loader) decode(file string, src []byte) []*yaml.Node {
	if !utf8.Valid(src) {
		line, col := invalidUTF8At(src)
		l.problem(Pos{file, line, col}, "syntax",
			"file is not valid UTF-8 text; save it as UTF-8 (invalid bytes are read as U+FFFD)")
		src = bytes.ToValidUTF8(src, []byte("\uFFFD"))
	}
	docs, err := decodeAll(src, l.arena)
	if err == nil {
		return docs
	}
	line, msg := yamlErrLine(err)
	l.problem(Pos{File: file, Line: line}, "syntax", "invalid YAML: "+msg+"; GitLab refuses this file, fix the YAML syntax")
	// Keep going with what can be read: retry with the lines before the
	// error, a few times at most.
	for try := 0; try < 4 && line > 1; try++ {
		cut := lineOffset(src, line)
		src = src[:cut]
		d, err := decodeAll(src, l.arena)
		if err == nil {
			return d
		}
		if line, _ = yamlErrLine(err); line <= 0 || lineOffset(src, line) >= cut {
			break
		}
	}
	return docs
}

// decodeAll returns the documents read before an error, and the error;
// yamlfast's nodes come from a.
func decodeAll(src []byte, a *yamlfast.Arena) (docs []*yaml.Node, err error) {
	defer func() {
		// yaml.v3 is not known to panic on input any more, but a parser
		// bug must not take the linter down.
		if r := recover(); r != nil {
			err = fmt.Errorf("yaml: parser failure: %v", r)
		}
	}()
	// Most configuration is read by yamlfast, which yields the same nodes
	// in a fraction of the time; yaml.v3 reads the rest and words every
	// error (issue 15).
	if docs, err := yamlfast.Parse(src, maxDocs, a); err == nil {
		return docs, nil
	}
	dec := yaml.NewDecoder(bytes.NewReader(src))
	for len(docs) < maxDocs {
		var n yaml.Node
		if err := dec.Decode(&n); err != nil {
			if errors.Is(err, io.EOF) {
				return docs, nil
			}
			return docs, err
		}
		docs = append(docs, &n)
	}
	return docs, nil
}

var yamlLineRe = regexp.MustCompile(`^yaml: (?:line (\d+): )?(.*)$`)

// yamlErrLine splits yaml.v3's "yaml: line N: msg" into N and msg.
func yamlErrLine(err error) (int, string) {
	m := yamlLineRe.FindStringSubmatch(err.Error())
	if m == nil {
		return 0, err.Error()
	}
	n, _ := strconv.Atoi(m[1])
	return n, m[2]
}

// lineOffset is the byte offset where 1-based line starts.
func lineOffset(src []byte, line int) int {
	off := 0
	for i := 1; i < line; i++ {
		j := bytes.IndexByte(src[off:], '\n')
		if j < 0 {
			return len(src)
		}
		off += j + 1
	}
	return off
}

func invalidUTF8At(src []byte) (line, col int) {
	line, col = 1, 1
	for len(src) > 0 {
		r, size := utf8.DecodeRune(src)
		if r == utf8.RuneError && size <= 1 {
			return line, col
		}
		if r == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
		src = src[size:]
	}
	return line, col
}

// conv converts one file's yaml.v3 nodes into Nodes: aliases expanded
// (sharing the anchor's converted node, so an alias keeps the anchor's
// position), << merge keys applied, YAML 1.1 scalars typed and
// $[[ inputs ]] interpolated.
type conv struct {
	l      *loader
	file   string
	nodes  int
	limit  bool
	memo   map[*yaml.Node]*memoNode
	interp *interp
}

type memoNode struct {
	n            *Node
	size, height int
	busy         bool
}

// alloc hands out nodes from slabs: one allocation per 256 nodes. The
// slab is the run's, not the file's: most included files are a few dozen
// nodes, and a slab each left most of it unused (issue 15).
func (c *conv) alloc(n Node) *Node { return c.l.shared.alloc(n) }

// A nil s allocates.
func (s *shared) alloc(n Node) *Node {
	if s == nil {
		return newNode(n) // not &n: n would escape, allocated on every call
	}
	if len(s.slab) == 0 {
		s.slab = s.slabs.chunk()
	}
	p := &s.slab[0]
	*p = n
	s.slab = s.slab[1:]
	return p
}

// pairs hands out an empty pair list of capacity n from slabs, as alloc
// does nodes: maps' pairs, converted, merged and resolved, were a fifth
// of the bytes a lint allocates, each a fresh page fault with GOGC off
// (issue 15). A nil s allocates.
func (s *shared) pairs(n int) []Pair {
	if s == nil || n > pairChunk/8 {
		return make([]Pair, 0, n)
	}
	if len(s.pslab) < n {
		s.pslab = s.slabs.pairChunk()
	}
	p := s.pslab[:0:n] // capped: an append past n must not take the next list's
	s.pslab = s.pslab[n:]
	return p
}

// nodeSlabs are the chunks conv hands Nodes out of, and the pair lists of
// maps. A Pipeline keeps them until Release gives them to the next load:
// a linter reading many projects then stops faulting in fresh pages for
// each (issue 15).
type nodeSlabs struct {
	chunks [][]Node
	n      int // handed out
	pairs  [][]Pair
	np     int // handed out
}

// viewSlabs hold what JobViews makes for each job of a pipeline, recycled
// with its model (Release). Each pipeline, child ones included, has its
// own: lint checks a parent and its children on goroutines of their own.
type viewSlabs struct {
	views slab[JobView]
	vars  slab[Variable]
	cmds  slab[Command]
}

var viewSlabPool = sync.Pool{New: func() any { return new(viewSlabs) }}

// slab hands out slices of T from chunks kept from pipeline to pipeline
// (nodeSlabs).
type slab[T any] struct {
	chunks [][]T
	n      int // handed out
	cur    []T
}

// slabBytes is the size of a slab's chunk.
const slabBytes = 128 << 10

// take returns an empty slice of capacity n; a nil s, or an n of more
// than half a chunk, allocates.
func (s *slab[T]) take(n int) []T {
	size := max(16, slabBytes/int(unsafe.Sizeof(*new(T))))
	if s == nil || n > size/2 {
		return make([]T, 0, n)
	}
	if len(s.cur) < n {
		if s.n == len(s.chunks) {
			// Fresh, and zero: not cleared, so that its pages are
			// touched only as it is used.
			s.chunks = append(s.chunks, make([]T, size))
			s.cur = s.chunks[s.n]
		} else {
			s.cur = s.chunks[s.n]
			clear(s.cur)
		}
		s.n++
	}
	out := s.cur[:0:n] // capped: an append past n must not take the next slice's
	s.cur = s.cur[n:]
	return out
}

func (s *slab[T]) reset() { s.n, s.cur = 0, nil }

const pairChunk = 1024

func (s *nodeSlabs) pairChunk() []Pair {
	if s.np == len(s.pairs) {
		s.pairs = append(s.pairs, make([]Pair, pairChunk))
		s.np++
		return s.pairs[s.np-1] // fresh, and zero: its pages are touched as used
	}
	s.np++
	c := s.pairs[s.np-1]
	clear(c)
	return c
}

//go:noinline
func newNode(n Node) *Node { return &n }

var slabPool = sync.Pool{New: func() any { return new(nodeSlabs) }}

func (s *nodeSlabs) chunk() []Node {
	if s.n == len(s.chunks) {
		s.chunks = append(s.chunks, make([]Node, 256))
	}
	s.n++
	c := s.chunks[s.n-1]
	clear(c) // what the last pipeline left is not kept alive
	return c
}

// Release hands the memory of p's nodes to the next pipeline loaded.
// Neither p nor anything read from it (its Nodes, Jobs, JobViews, child
// pipelines) may be used after; strings and Files stay valid.
func (p *Pipeline) Release() {
	if s := p.nodes; s != nil {
		p.nodes = nil
		s.n, s.np = 0, 0
		for _, q := range p.All() {
			if v := q.views; v != nil {
				q.views = nil
				v.views.reset()
				v.vars.reset()
				v.cmds.reset()
				viewSlabPool.Put(v)
			}
		}
		slabPool.Put(s)
	}
}

func (c *conv) pos(yn *yaml.Node) Pos { return Pos{c.file, yn.Line, yn.Column} }

func (c *conv) hitLimit(yn *yaml.Node, msg string) *Node {
	if !c.limit {
		c.limit = true
		c.l.problem(c.pos(yn), "limit", msg)
	}
	return nullAt(c.pos(yn))
}

// node converts yn found at depth; it returns the node, the number of
// nodes it stands for and its height.
func (c *conv) node(yn *yaml.Node, depth int) (*Node, int, int) {
	if depth > maxDepth {
		return c.hitLimit(yn, fmt.Sprintf("YAML nested deeper than %d levels; the rest of this value is not read", maxDepth)), 1, 1
	}
	if c.nodes >= maxNodes {
		return c.hitLimit(yn, fmt.Sprintf("file expands to more than %d YAML nodes (an alias bomb?); the rest is not read", maxNodes)), 1, 1
	}
	if max := c.l.maxTotalNodes(); c.l.nodes+c.nodes >= max {
		c.l.over = true // and no further include is read
		return c.hitLimit(yn, fmt.Sprintf("the configuration expands to more than %d YAML nodes across its files, the most keyless reads of one "+
			"(%d files so far; GitLab's own CI configuration, about 100 files, has some 50,000); the rest of this file and later includes "+
			"are not read, so what they define is not checked: include fewer or smaller files", max, len(c.l.p.Files))), 1, 1
	}
	switch yn.Kind {
	case yaml.DocumentNode:
		if len(yn.Content) == 0 {
			c.nodes++
			return nullAt(c.pos(yn)), 1, 1
		}
		return c.node(yn.Content[0], depth)
	case yaml.AliasNode:
		t := yn.Alias
		if t == nil {
			c.nodes++
			return nullAt(c.pos(yn)), 1, 1
		}
		m := c.memo[t]
		if m == nil {
			n, size, h := c.node(t, depth)
			return n, size, h
		}
		if m.busy {
			c.l.problem(c.pos(yn), "syntax", fmt.Sprintf("alias *%s is used inside its own anchor; GitLab refuses recursive aliases", yn.Value))
			c.nodes++
			return nullAt(c.pos(yn)), 1, 1
		}
		if depth+m.height > maxDepth {
			return c.hitLimit(yn, fmt.Sprintf("YAML nested deeper than %d levels through aliases; the rest of this value is not read", maxDepth)), 1, 1
		}
		if c.nodes+m.size > maxNodes {
			return c.hitLimit(yn, fmt.Sprintf("file expands to more than %d YAML nodes (an alias bomb?); the rest is not read", maxNodes)), 1, 1
		}
		c.nodes += m.size
		return m.n, m.size, m.height
	}
	var m *memoNode
	if yn.Anchor != "" {
		if c.memo == nil {
			c.memo = make(map[*yaml.Node]*memoNode)
		}
		m = &memoNode{busy: true}
		c.memo[yn] = m
	}
	var (
		n    *Node
		size = 1
		h    = 1
	)
	c.nodes++
	switch yn.Kind {
	case yaml.ScalarNode:
		n = c.scalar(yn)
	case yaml.SequenceNode:
		n = c.alloc(Node{Kind: Seq, Tag: seqTag(yn), Pos: c.pos(yn), Items: make([]*Node, 0, len(yn.Content))})
		for _, it := range yn.Content {
			x, s, xh := c.node(it, depth+1)
			n.Items = append(n.Items, x)
			size += s
			h = max(h, xh+1)
		}
	case yaml.MappingNode:
		n, size, h = c.mapping(yn, depth)
	default:
		n = nullAt(c.pos(yn))
	}
	if m != nil {
		m.n, m.size, m.height, m.busy = n, size, h, false
	}
	return n, size, h
}

func seqTag(yn *yaml.Node) string {
	if yn.Style&yaml.TaggedStyle != 0 {
		return yn.Tag
	}
	return "!!seq"
}

func (c *conv) scalar(yn *yaml.Node) *Node {
	pos := c.pos(yn)
	text := yn.Value
	style := scalarStyle(yn.Style)
	if c.interp != nil && strings.Contains(text, "$[[") {
		if r := c.interp.expand(text, pos); r != nil {
			if r.Kind == Scalar {
				r.style = style
			}
			return r
		}
	}
	tag, val := typed(yn)
	if tag == "!!null" {
		return c.alloc(Node{Kind: Null, Tag: tag, Raw: text, Pos: pos})
	}
	return c.alloc(Node{Kind: Scalar, style: style, Tag: tag, Value: val, Raw: text, Pos: pos})
}

// typed is the tag and value GitLab reads scalar yn as, inputs aside; a
// null's value is "".
func typed(yn *yaml.Node) (tag, val string) {
	text := yn.Value
	switch {
	case yn.Style&yaml.TaggedStyle != 0:
		tag, val = yn.Tag, text
		switch tag {
		case "!!null":
			return tag, ""
		case "!!bool", "!!int", "!!float":
			if t, v := resolvePlain(text); t == tag {
				val = v
			}
		}
		return tag, val
	case yn.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) != 0:
		return "!!str", text
	}
	return resolvePlain(text)
}

// scalarStyle is Node.style for a yaml.v3 style.
func scalarStyle(s yaml.Style) byte {
	switch {
	case s&yaml.LiteralStyle != 0:
		return '|'
	case s&yaml.FoldedStyle != 0:
		return '>'
	case s&yaml.DoubleQuotedStyle != 0:
		return '"'
	case s&yaml.SingleQuotedStyle != 0:
		return '\''
	}
	return 0
}

// isMergeKey is a plain "<<" key (a quoted one is an ordinary key).
func isMergeKey(k *yaml.Node) bool {
	return k.Kind == yaml.ScalarNode && k.Value == "<<" &&
		k.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) == 0 &&
		(k.Style&yaml.TaggedStyle == 0 || k.Tag == "!!merge")
}

// mapping converts a YAML mapping. << merges follow Psych's ToRuby visitor
// rather than the YAML merge spec: the merged map is applied with
// Hash#merge! where the << key appears, so keys written before << are
// overridden by the merged ones and keys after it win; with a list of maps,
// earlier maps win. A repeated key keeps its first place and its last value.
func (c *conv) mapping(yn *yaml.Node, depth int) (*Node, int, int) {
	l := &pairList{pairs: c.l.shared.pairs(len(yn.Content) / 2)}
	size, h := 1, 1
	for i := 0; i+1 < len(yn.Content); i += 2 {
		k, v := yn.Content[i], yn.Content[i+1]
		val, s, vh := c.node(v, depth+1)
		size += s
		h = max(h, vh+1)
		if isMergeKey(k) {
			if c.merge(l, val) {
				continue
			}
		}
		key := c.key(k, depth+1)
		size++
		l.set(Pair{Key: key, KeyPos: c.pos(k), Value: val})
	}
	return c.alloc(Node{Kind: Map, Tag: "!!map", Pos: c.pos(yn), Pairs: l.list()}), size, h
}

// merge applies a << value; false when it is neither a map nor a list of
// maps (Psych then keeps "<<" as an ordinary key).
func (c *conv) merge(l *pairList, v *Node) bool {
	switch v.Kind {
	case Map:
		for _, p := range v.Pairs {
			l.set(p)
		}
		return true
	case Seq:
		for _, it := range v.Items {
			if it.Kind != Map {
				return false
			}
		}
		merged := newPairList(0)
		for i := len(v.Items) - 1; i >= 0; i-- {
			for _, p := range v.Items[i].Pairs {
				merged.set(p)
			}
		}
		for _, p := range merged.list() {
			l.set(p)
		}
		return true
	}
	return false
}

// key converts a mapping key to the string GitLab sees: YAML 1.1 typing
// applies (on: is "true"), inputs are interpolated; a complex key is kept
// in flow form.
func (c *conv) key(k *yaml.Node, depth int) string {
	if k.Kind == yaml.ScalarNode {
		if c.interp != nil && strings.Contains(k.Value, "$[[") {
			return c.scalar(k).Value
		}
		// Keys are a third of the scalars: no Node for them.
		_, v := typed(k)
		return v
	}
	n, _, _ := c.node(k, depth)
	return n.String()
}
