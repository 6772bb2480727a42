// Package yamlfast reads the YAML that GitLab CI/CD configuration is
// written in and returns the nodes yaml.v3 returns for it, without
// yaml.v3's token and event queues: decoding was over a quarter of
// keyless lint's time on real pipelines (issue 15).
//
// It reads a subset of YAML: block mappings and sequences, flow
// collections, plain, quoted and block scalars, anchors, aliases and
// tags, in UTF-8 without tabs in indentation. On anything else, and on
// every error, it returns ErrUnsupported and the caller decodes with
// yaml.v3, which also words the errors. Where it returns nodes they equal
// yaml.v3's (yaml.NewDecoder(...).Decode, document after document) field
// for field, with two exceptions: comments are not kept, and an untagged
// plain scalar's Tag is left empty (yaml.v3 resolves it with YAML 1.2
// rules; package pipeline types scalars itself, the YAML 1.1 way GitLab
// reads them). FuzzParse and TestCorpus hold it to that against yaml.v3.
//
// The scalar rules are ports of yaml.v3's scannerc.go (itself a port of
// libyaml): yaml_parser_scan_plain_scalar, yaml_parser_scan_flow_scalar
// and yaml_parser_scan_block_scalar, named where they are used.
package yamlfast

import (
	"bytes"
	"errors"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// ErrUnsupported is returned for input this package does not read: decode
// it with yaml.v3.
var ErrUnsupported = errors.New("yamlfast: input outside the subset read here; decode it with yaml.v3")

// maxDepth bounds nesting; yaml.v3 has its own limits past it.
const maxDepth = 1000

// maxKey is the longest simple key read, in bytes (YAML's limit is 1024
// characters, which yaml.v3 enforces).
const maxKey = 1000

// Arena holds the nodes Parse makes, to be made again after Reset: a
// loader reads many files, and fresh memory costs a page fault a page
// (issue 15). The zero value is ready to use; an Arena is not safe for
// concurrent use.
type Arena struct {
	nodes [][]yaml.Node
	ptrs  [][]*yaml.Node
	// n and np are how many of nodes and ptrs are handed out.
	n, np int
}

// Reset lets the arena hand out its memory again: every node a Parse
// with it returned is then void.
func (a *Arena) Reset() {
	a.n, a.np = 0, 0
}

const (
	nodeChunk = 256
	ptrChunk  = 1024
)

func (a *Arena) nodeChunk() []yaml.Node {
	if a.n == len(a.nodes) {
		a.nodes = append(a.nodes, make([]yaml.Node, nodeChunk))
	}
	a.n++
	return a.nodes[a.n-1]
}

// ptrChunk returns a chunk of at least n pointers, cleared.
func (a *Arena) ptrChunk(n int) []*yaml.Node {
	if n > ptrChunk {
		return make([]*yaml.Node, n)
	}
	if a.np == len(a.ptrs) {
		a.ptrs = append(a.ptrs, make([]*yaml.Node, ptrChunk))
	}
	a.np++
	c := a.ptrs[a.np-1]
	clear(c)
	return c
}

// Parse returns the first max documents of src as yaml.v3 decodes them, or
// ErrUnsupported. Their nodes come from a (nil: from the heap).
func Parse(src []byte, max int, a *Arena) (docs []*yaml.Node, err error) {
	defer func() {
		// A bug here must cost speed, not a result: yaml.v3 reads the
		// file instead. FuzzParse calls parse, which does not recover.
		if r := recover(); r != nil {
			docs, err = nil, ErrUnsupported
		}
	}()
	docs, b := parse(src, max, a)
	if b != nil {
		return nil, ErrUnsupported
	}
	return docs, nil
}

// bail is why and where parse gave up.
type bail struct {
	why  string
	line int
}

func parse(src []byte, max int, a *Arena) (docs []*yaml.Node, b *bail) {
	if a == nil {
		a = &Arena{}
	}
	p := &parser{src: src, s: string(src), arena: a}
	defer func() {
		if r := recover(); r != nil {
			x, ok := r.(bail)
			if !ok {
				panic(r)
			}
			docs, b = nil, &x
		}
	}()
	p.prescan()
	return p.stream(max), nil
}

type parser struct {
	src []byte
	s   string // src, once: scalars written in one piece are substrings of it
	i   int    // next byte
	// line is i's 0-based line, which starts at ls.
	line, ls int
	ascii    bool // no byte >= 0x80: a column is a byte offset
	depth    int
	anchors  map[string]*yaml.Node
	arena    *Arena
	nodes    []yaml.Node  // the arena's chunk being handed out
	ptrs     []*yaml.Node // ... and of Content slices
	stack    []*yaml.Node // children of the open collections
	buf      []byte       // a scalar being unescaped or folded
}

func (p *parser) fail(why string) { panic(bail{why, p.line + 1}) }

// c is the byte at i, 0 past the end (prescan refuses NUL bytes).
func (p *parser) c(i int) byte {
	if i < len(p.src) {
		return p.src[i]
	}
	return 0
}

func (p *parser) eof() bool { return p.i >= len(p.src) }

// col is the column of offset i on the current line, in characters as
// yaml.v3 counts them.
func (p *parser) col(i int) int {
	if p.ascii {
		return i - p.ls
	}
	return utf8.RuneCount(p.src[p.ls:i])
}

func (p *parser) blankz(i int) bool {
	switch p.c(i) {
	case ' ', '\t', '\n', 0:
		return true
	}
	return false
}

// prescan refuses what yaml.v3 refuses or reads differently: control
// characters, carriage returns and the Unicode line breaks (yaml.v3 breaks
// lines at them), byte order marks, C1 controls.
func (p *parser) prescan() {
	p.ascii = true
	for i := 0; i < len(p.src); {
		b := p.src[i]
		if b < 0x80 {
			if b < 0x20 && b != '\n' && b != '\t' || b == 0x7f {
				p.line = bytes.Count(p.src[:i], []byte{'\n'})
				p.fail("control character")
			}
			i++
			continue
		}
		p.ascii = false
		r, n := utf8.DecodeRune(p.src[i:])
		if r == utf8.RuneError && n <= 1 || r <= 0x9f || r == 0x2028 || r == 0x2029 || r == 0xfeff || r == 0xfffe || r == 0xffff {
			p.line = bytes.Count(p.src[:i], []byte{'\n'})
			p.fail("character yaml.v3 refuses or breaks lines at")
		}
		i += n
	}
}

func (p *parser) newline() {
	p.i++
	p.line++
	p.ls = p.i
}

// skipSpace skips the spaces of the line; yaml.v3 allows a tab only in
// some of these places, and a tab is not read here.
func (p *parser) skipSpace() {
	for {
		switch p.c(p.i) {
		case ' ':
			p.i++
		case '\t':
			p.fail("tab")
		default:
			return
		}
	}
}

func (p *parser) skipComment() {
	if j := bytes.IndexByte(p.src[p.i:], '\n'); j >= 0 {
		p.i += j
	} else {
		p.i = len(p.src)
	}
}

// skipToContent skips spaces, comments and line breaks to the next token,
// or to the end.
func (p *parser) skipToContent() {
	for {
		p.skipSpace()
		switch p.c(p.i) {
		case '#':
			p.skipComment()
		case '\n':
			p.newline()
		default:
			return
		}
	}
}

// endLine is the end of a value that is not a plain scalar: the rest of
// its line must be blank or a comment.
func (p *parser) endLine() {
	p.skipSpace()
	switch p.c(p.i) {
	case '#', '\n', 0:
		p.skipToContent()
	default:
		p.fail("content after a value")
	}
}

// marker is a document marker ("---" or "...") at i, at a line start.
func (p *parser) marker(i int) bool {
	if i != p.ls || i+3 > len(p.src) {
		return false
	}
	m := p.src[i : i+3]
	return (string(m) == "---" || string(m) == "...") && p.blankz(i+3)
}

func (p *parser) node(kind yaml.Kind, style yaml.Style, tag, value string, line, col int) *yaml.Node {
	if len(p.nodes) == 0 {
		p.nodes = p.arena.nodeChunk()
	}
	n := &p.nodes[0]
	p.nodes = p.nodes[1:]
	*n = yaml.Node{Kind: kind, Style: style, Tag: tag, Value: value, Line: line + 1, Column: col + 1}
	return n
}

// take makes the children pushed since base a node's Content.
func (p *parser) take(base int) []*yaml.Node {
	n := len(p.stack) - base
	if n == 0 {
		return nil
	}
	if len(p.ptrs) < n {
		p.ptrs = p.arena.ptrChunk(n)
	}
	out := p.ptrs[:n:n]
	p.ptrs = p.ptrs[n:]
	copy(out, p.stack[base:])
	clear(p.stack[base:])
	p.stack = p.stack[:base]
	return out
}

// props are a node's anchor and tag, and where the first of them is.
type props struct {
	anchor, tag string
	line, col   int
	set         bool
	// sameLine: the node's content follows them on their line.
	sameLine bool
}

func (p *parser) apply(n *yaml.Node, pr props) {
	if !pr.set {
		return
	}
	n.Line, n.Column = pr.line+1, pr.col+1
	if pr.tag != "" {
		n.Tag = pr.tag
		n.Style |= yaml.TaggedStyle
	}
	if pr.anchor != "" {
		n.Anchor = pr.anchor
		if p.anchors == nil {
			p.anchors = map[string]*yaml.Node{}
		}
		p.anchors[pr.anchor] = n
	}
}

func isAlpha(b byte) bool {
	return b >= '0' && b <= '9' || b >= 'A' && b <= 'Z' || b >= 'a' && b <= 'z' || b == '_' || b == '-'
}

// props reads the anchor and tag at i, in either order.
func (p *parser) props() props {
	var pr props
	for {
		ch := p.c(p.i)
		if ch != '&' && ch != '!' {
			return pr
		}
		if !pr.set {
			pr.set, pr.line, pr.col = true, p.line, p.col(p.i)
		}
		j := p.i + 1
		if ch == '&' {
			if pr.anchor != "" {
				p.fail("two anchors")
			}
			for isAlpha(p.c(j)) {
				j++
			}
			if j == p.i+1 || !p.blankz(j) {
				p.fail("anchor form")
			}
			pr.anchor = p.s[p.i+1 : j]
		} else {
			if pr.tag != "" {
				p.fail("two tags")
			}
			named := p.c(j) == '!' // "!!str": yaml.v3 writes tag:yaml.org,2002:str as "!!str"
			if named {
				j++
			}
			k := j
			for isAlpha(p.c(k)) {
				k++
			}
			if k == j || !p.blankz(k) {
				p.fail("tag form")
			}
			pr.tag = p.s[p.i:k]
			j = k
		}
		p.i = j
		p.skipSpace()
	}
}

// alias reads *name at i.
func (p *parser) alias(flow bool) *yaml.Node {
	l, c := p.line, p.col(p.i)
	j := p.i + 1
	for isAlpha(p.c(j)) {
		j++
	}
	end := p.c(j)
	if j == p.i+1 || !(p.blankz(j) || flow && (end == ',' || end == ']' || end == '}')) {
		p.fail("alias form")
	}
	name := p.s[p.i+1 : j]
	t := p.anchors[name]
	if t == nil {
		p.fail("unknown anchor")
	}
	p.i = j
	n := p.node(yaml.AliasNode, 0, "", name, l, c)
	n.Alias = t
	return n
}

func (p *parser) empty(line, col int) *yaml.Node {
	return p.node(yaml.ScalarNode, 0, "", "", line, col)
}

// stream reads the documents: the first may start without "---", every
// later one starts with it.
func (p *parser) stream(max int) []*yaml.Node {
	var docs []*yaml.Node
	for len(docs) < max {
		p.skipToContent()
		if p.eof() {
			break
		}
		l, c := p.line, p.col(p.i)
		explicit := p.marker(p.i) && p.src[p.i] == '-'
		switch {
		case p.i == p.ls && p.src[p.i] == '%':
			p.fail("directive")
		case p.marker(p.i) && !explicit:
			p.fail("document end marker")
		case !explicit && len(docs) > 0:
			p.fail("content after a document")
		}
		doc := p.node(yaml.DocumentNode, 0, "", "", l, c)
		if explicit {
			p.i += 3
			p.endLine()
			if p.eof() || p.marker(p.i) {
				p.fail("empty document")
			}
		}
		if p.i == p.ls && p.src[p.i] == '%' {
			p.fail("directive")
		}
		base := len(p.stack)
		root := p.block(-1, onLine)
		p.stack = append(p.stack, root)
		doc.Content = p.take(base)
		docs = append(docs, doc)
		if !p.eof() && !(p.marker(p.i) && p.src[p.i] == '-') {
			p.fail("content after a document")
		}
	}
	return docs
}

// where is where a block node starts.
type where uint8

const (
	onLine     where = iota // first on its line
	afterDash               // after "- " on the line of the dash
	afterColon              // after "key:" on the line of the key
)

// block reads the node at i. indent is the column of the innermost block
// collection (yaml.v3's parser.indent), -1 at the top. It returns with i
// at the next token.
func (p *parser) block(indent int, at where) *yaml.Node {
	p.depth++
	if p.depth > maxDepth {
		p.fail("too deep")
	}
	defer func() { p.depth-- }()
	var pr props
	if ch := p.c(p.i); ch == '&' || ch == '!' {
		pr = p.props()
		switch p.c(p.i) {
		case '\n', '#', 0:
			// The content is on the lines below.
			p.skipToContent()
			switch {
			case p.eof() || p.marker(p.i):
				p.fail("properties without content")
			case p.col(p.i) > indent:
				return p.content(indent, onLine, pr)
			case at == afterColon && p.col(p.i) == indent && p.c(p.i) == '-' && p.blankz(p.i+1):
				return p.seq(indent, pr, true)
			}
			p.fail("properties without content")
		}
		pr.sameLine = true
	}
	return p.content(indent, at, pr)
}

func (p *parser) content(indent int, at where, pr props) *yaml.Node {
	l, c := p.line, p.col(p.i)
	switch ch := p.c(p.i); ch {
	case '*':
		if pr.set {
			p.fail("properties on an alias")
		}
		return p.notKey(p.alias(false))
	case '[', '{':
		return p.notKey(p.flowCollection(indent, pr))
	case '|', '>':
		return p.blockScalar(indent, pr)
	case '\'', '"':
		v, multi := p.quoted()
		style := yaml.DoubleQuotedStyle
		if ch == '\'' {
			style = yaml.SingleQuotedStyle
		}
		p.skipSpace()
		if p.c(p.i) == ':' && p.blankz(p.i+1) {
			if multi {
				p.fail("multi-line key")
			}
			if p.col(p.i)-c > maxKey {
				p.fail("long key")
			}
			return p.mapping(indent, at, pr, p.node(yaml.ScalarNode, style, "!!str", v, l, c))
		}
		n := p.node(yaml.ScalarNode, style, "!!str", v, l, c)
		p.apply(n, pr)
		p.endLine()
		return n
	case '-':
		if p.blankz(p.i + 1) {
			if at == afterColon || pr.sameLine {
				p.fail("block sequence here")
			}
			return p.seq(c, pr, false)
		}
	case '?', ':':
		if p.blankz(p.i + 1) {
			p.fail("complex key or empty key")
		}
	case '&', '!':
		p.fail("properties twice")
	case ',', ']', '}', '%', '@', '`', '#':
		p.fail("character that cannot start a node")
	}
	line := p.line
	start := p.i
	v, multi := p.plain(indent, false)
	if p.c(p.i) == ':' && p.blankz(p.i+1) {
		if multi || p.line != line {
			p.fail("multi-line key")
		}
		if p.i-start > maxKey {
			p.fail("long key")
		}
		return p.mapping(indent, at, pr, p.plainNode(v, l, c))
	}
	n := p.plainNode(v, l, c)
	p.apply(n, pr)
	p.skipToContent()
	return n
}

// notKey ends an alias or a flow collection, which may be keys in YAML,
// not in what is read here.
func (p *parser) notKey(n *yaml.Node) *yaml.Node {
	p.skipSpace()
	if p.c(p.i) == ':' {
		p.fail("alias or flow collection as a key")
	}
	p.endLine()
	return n
}

// plainNode is the node of a plain scalar, untagged.
func (p *parser) plainNode(v string, l, c int) *yaml.Node {
	tag := ""
	if v == "<<" {
		tag = "!!merge" // yaml.v3's parser.scalar
	}
	return p.node(yaml.ScalarNode, 0, tag, v, l, c)
}

// mapping reads a block mapping whose first key, first, was just read;
// i is at its ':'.
func (p *parser) mapping(indent int, at where, pr props, first *yaml.Node) *yaml.Node {
	if at == afterColon {
		p.fail("mapping on the line of a key")
	}
	if pr.sameLine {
		p.fail("properties on a key") // they are the key's, not the mapping's
	}
	mcol := first.Column - 1
	if mcol <= indent {
		p.fail("mapping not indented")
	}
	m := p.node(yaml.MappingNode, 0, "!!map", "", first.Line-1, mcol)
	p.apply(m, pr)
	base := len(p.stack)
	k := first
	for {
		v := p.after(mcol, afterColon) // pushes and takes its own children first
		p.stack = append(p.stack, k, v)
		if !p.more(mcol) {
			break
		}
		k = p.nextKey(mcol)
	}
	m.Content = p.take(base)
	return m
}

// after reads the node after the ':' or '-' at i of the block collection
// at column col: on that line (at), or on the lines below, indented past
// col, or, for a mapping's value, an indentless sequence at col. Without
// one, it is an empty scalar right after the indicator, where yaml.v3
// places it (yaml_parser_parse_block_mapping_value and
// yaml_parser_parse_block_sequence_entry).
func (p *parser) after(col int, at where) *yaml.Node {
	l, c := p.line, p.col(p.i)+1
	p.i++
	p.skipSpace()
	switch p.c(p.i) {
	case '\n', '#', 0:
	default:
		return p.block(col, at)
	}
	p.skipToContent()
	switch {
	case p.eof() || p.marker(p.i):
	case p.col(p.i) > col:
		return p.block(col, onLine)
	case at == afterColon && p.col(p.i) == col && p.c(p.i) == '-' && p.blankz(p.i+1):
		return p.seq(col, props{}, true)
	}
	return p.empty(l, c)
}

// more reports whether the next token belongs to the block collection at
// column col; one indented past col is an error.
func (p *parser) more(col int) bool {
	if p.eof() || p.marker(p.i) {
		return false
	}
	c := p.col(p.i)
	if c > col {
		p.fail("more indented than its collection")
	}
	return c == col
}

// nextKey reads a key of the mapping at column mcol, leaving i at its ':'.
func (p *parser) nextKey(mcol int) *yaml.Node {
	l, c := p.line, p.col(p.i)
	start := p.i
	var k *yaml.Node
	switch ch := p.c(p.i); ch {
	case '\'', '"':
		v, multi := p.quoted()
		if multi {
			p.fail("multi-line key")
		}
		style := yaml.DoubleQuotedStyle
		if ch == '\'' {
			style = yaml.SingleQuotedStyle
		}
		k = p.node(yaml.ScalarNode, style, "!!str", v, l, c)
		p.skipSpace()
	case '-', '?', ':':
		if p.blankz(p.i + 1) {
			p.fail("not a key")
		}
		fallthrough
	default:
		switch ch {
		case '&', '!', '*', '[', '{', '|', '>', ',', ']', '}', '%', '@', '`', '#':
			p.fail("key form")
		}
		v, multi := p.plain(mcol, false)
		if multi || p.line != l {
			p.fail("multi-line key")
		}
		k = p.plainNode(v, l, c)
	}
	if p.c(p.i) != ':' || !p.blankz(p.i+1) || p.line != l {
		p.fail("no ':' after a key")
	}
	if p.i-start > maxKey {
		p.fail("long key")
	}
	return k
}

// seq reads a block sequence whose first '-' is at i, in column scol.
// An indentless sequence (a mapping's value, at the mapping's column)
// ends at the first line of that column without a '-'.
func (p *parser) seq(scol int, pr props, indentless bool) *yaml.Node {
	s := p.node(yaml.SequenceNode, 0, "!!seq", "", p.line, scol)
	p.apply(s, pr)
	base := len(p.stack)
	for {
		it := p.after(scol, afterDash)
		p.stack = append(p.stack, it)
		if !p.more(scol) {
			break
		}
		if p.c(p.i) != '-' || !p.blankz(p.i+1) {
			if indentless {
				break
			}
			p.fail("no '-' in a sequence")
		}
	}
	s.Content = p.take(base)
	return s
}

// plain reads a plain scalar as yaml_parser_scan_plain_scalar does, with
// indent as parser.indent; it stops where that function stops (past the
// blanks and line breaks it consumed). multi is whether the value folds
// lines.
func (p *parser) plain(indent int, flow bool) (v string, multi bool) {
	least := indent + 1 // continuation lines' least column
	start, end := p.i, p.i
	var buf []byte // nil while the value is src[start:end]
	breaks := 0    // line breaks in the blanks before the next word
	for {
		if p.marker(p.i) || p.c(p.i) == '#' {
			break
		}
		word := p.i
		for {
			ch := p.c(p.i)
			if ch == ' ' || ch == '\t' || ch == '\n' || ch == 0 ||
				ch == ':' && p.blankz(p.i+1) ||
				flow && (ch == ',' || ch == '?' || ch == '[' || ch == ']' || ch == '{' || ch == '}') {
				break
			}
			p.i++
		}
		if p.i > word {
			switch {
			case breaks > 0:
				if buf == nil {
					buf = append(p.buf[:0], p.src[start:end]...)
				}
				if breaks == 1 {
					buf = append(buf, ' ')
				}
				for k := 1; k < breaks; k++ {
					buf = append(buf, '\n')
				}
				buf = append(buf, p.src[word:p.i]...)
				breaks, multi = 0, true
			case buf != nil:
				buf = append(buf, p.src[end:p.i]...) // blanks and word, as written
			}
			end = p.i
		}
		if ch := p.c(p.i); ch != ' ' && ch != '\t' && ch != '\n' {
			break
		}
		for {
			ch := p.c(p.i)
			if ch == ' ' || ch == '\t' {
				if ch == '\t' && breaks > 0 && p.i-p.ls < least {
					p.fail("tab in indentation")
				}
				p.i++
			} else if ch == '\n' {
				breaks++
				p.newline()
			} else {
				break
			}
		}
		if !flow && breaks > 0 && p.i-p.ls < least {
			break
		}
	}
	if buf != nil {
		p.buf = buf
		return string(buf), multi
	}
	return p.s[start:end], false
}

// quoted reads a quoted scalar as yaml_parser_scan_flow_scalar does.
func (p *parser) quoted() (v string, multi bool) {
	q := p.c(p.i)
	single := q == '\''
	p.i++
	// Most are one piece of one line.
	for j := p.i; ; j++ {
		ch := p.c(j)
		if ch == q && !(single && p.c(j+1) == '\'') {
			v = p.s[p.i:j]
			p.i = j + 1
			return v, false
		}
		if ch == q || ch == '\n' || ch == 0 || ch == '\\' && !single {
			break
		}
	}
	s := p.buf[:0]
	var ws []byte
	for {
		if p.marker(p.i) {
			p.fail("document marker in a quoted scalar")
		}
		if p.eof() {
			p.fail("unterminated quoted scalar")
		}
		leading := false // blanks start with a line break
		lead := 0        // ... and it was read (not an escaped one)
		for !p.blankz(p.i) {
			ch := p.c(p.i)
			if single && ch == '\'' && p.c(p.i+1) == '\'' {
				s = append(s, '\'')
				p.i += 2
				continue
			}
			if ch == q {
				break
			}
			if !single && ch == '\\' {
				if p.c(p.i+1) == '\n' {
					p.i++
					p.newline()
					leading, multi = true, true
					break
				}
				s = p.escape(s)
				continue
			}
			s = append(s, ch)
			p.i++
		}
		if p.c(p.i) == q {
			break
		}
		ws = ws[:0]
		trailing := 0
		for {
			ch := p.c(p.i)
			if ch == ' ' || ch == '\t' {
				if !leading {
					ws = append(ws, ch)
				}
				p.i++
			} else if ch == '\n' {
				if !leading {
					ws = ws[:0]
					leading, lead = true, 1
				} else {
					trailing++
				}
				multi = true
				p.newline()
			} else {
				break
			}
		}
		switch {
		case leading && lead == 1 && trailing == 0:
			s = append(s, ' ')
		case leading:
			for k := 0; k < trailing; k++ {
				s = append(s, '\n')
			}
		default:
			s = append(s, ws...)
		}
	}
	p.i++
	p.buf = s
	return string(s), multi
}

// escapes are yaml.v3's one-character escapes in double-quoted scalars.
var escapes = [...]string{'0': "\x00", 'a': "\a", 'b': "\b", 't': "\t", '\t': "\t", 'n': "\n", 'v': "\v",
	'f': "\f", 'r': "\r", 'e': "\x1b", ' ': " ", '"': "\"", '\'': "'", '\\': "\\", 'N': "\u0085",
	'_': "\u00a0", 'L': "\u2028", 'P': "\u2029"}

// escape appends the escape at i (a backslash) to s, as yaml.v3 reads it.
func (p *parser) escape(s []byte) []byte {
	n := 0
	switch e := p.c(p.i + 1); e {
	case 'x':
		n = 2
	case 'u':
		n = 4
	case 'U':
		n = 8
	default:
		if int(e) >= len(escapes) || escapes[e] == "" {
			p.fail("unknown escape")
		}
		s = append(s, escapes[e]...)
	}
	p.i += 2
	if n == 0 {
		return s
	}
	r := 0
	for k := 0; k < n; k++ {
		h := p.c(p.i + k)
		switch {
		case h >= '0' && h <= '9':
			r = r<<4 + int(h-'0')
		case h >= 'a' && h <= 'f':
			r = r<<4 + int(h-'a'+10)
		case h >= 'A' && h <= 'F':
			r = r<<4 + int(h-'A'+10)
		default:
			p.fail("bad hex escape")
		}
	}
	if r >= 0xd800 && r <= 0xdfff || r > 0x10ffff {
		p.fail("bad code point")
	}
	p.i += n
	// yaml.v3 encodes the code point itself, as utf8 does for these.
	return utf8.AppendRune(s, rune(r))
}

// blockScalar reads a literal or folded scalar as
// yaml_parser_scan_block_scalar does, with indent as parser.indent.
func (p *parser) blockScalar(indent int, pr props) *yaml.Node {
	l, c := p.line, p.col(p.i)
	literal := p.c(p.i) == '|'
	p.i++
	chomp, incr := 0, 0
	if ch := p.c(p.i); ch == '+' || ch == '-' {
		chomp = 1
		if ch == '-' {
			chomp = -1
		}
		p.i++
		if d := p.c(p.i); d >= '0' && d <= '9' {
			if d == '0' {
				p.fail("indentation indicator 0")
			}
			incr = int(d - '0')
			p.i++
		}
	} else if ch >= '0' && ch <= '9' {
		if ch == '0' {
			p.fail("indentation indicator 0")
		}
		incr = int(ch - '0')
		p.i++
		if ch := p.c(p.i); ch == '+' || ch == '-' {
			chomp = 1
			if ch == '-' {
				chomp = -1
			}
			p.i++
		}
	}
	for p.c(p.i) == ' ' || p.c(p.i) == '\t' {
		p.i++
	}
	if p.c(p.i) == '#' {
		p.skipComment()
	}
	switch p.c(p.i) {
	case '\n':
		p.newline()
	case 0:
	default:
		p.fail("content after a block scalar header")
	}
	ind := 0
	if incr > 0 {
		ind = incr
		if indent >= 0 {
			ind = indent + incr
		}
	}
	s := p.buf[:0]
	trailing := p.blockBreaks(&ind, indent)
	lead := false // a line break was read after the last line
	leadingBlank := false
	for p.i-p.ls == ind && !p.eof() {
		trailingBlank := p.c(p.i) == ' ' || p.c(p.i) == '\t'
		if !literal && !leadingBlank && !trailingBlank && lead {
			if trailing == 0 {
				s = append(s, ' ')
			}
		} else if lead {
			s = append(s, '\n')
		}
		lead = false
		for ; trailing > 0; trailing-- {
			s = append(s, '\n')
		}
		leadingBlank = trailingBlank
		j := bytes.IndexByte(p.src[p.i:], '\n')
		if j < 0 {
			j = len(p.src) - p.i
		}
		s = append(s, p.src[p.i:p.i+j]...)
		p.i += j
		if p.c(p.i) == '\n' {
			lead = true
			p.newline()
		}
		trailing = p.blockBreaks(&ind, indent)
	}
	if chomp != -1 && lead {
		s = append(s, '\n')
	}
	if chomp == 1 {
		for ; trailing > 0; trailing-- {
			s = append(s, '\n')
		}
	}
	p.buf = s
	style := yaml.LiteralStyle
	if !literal {
		style = yaml.FoldedStyle
	}
	n := p.node(yaml.ScalarNode, style, "!!str", string(s), l, c)
	p.apply(n, pr)
	p.skipToContent()
	return n
}

// blockBreaks is yaml_parser_scan_block_scalar_breaks: it skips empty
// lines and the indentation of the next, returns the line breaks read,
// and settles *ind when it is 0.
func (p *parser) blockBreaks(ind *int, indent int) int {
	most, breaks := 0, 0
	for {
		for (*ind == 0 || p.i-p.ls < *ind) && p.c(p.i) == ' ' {
			p.i++
		}
		most = max(most, p.i-p.ls)
		if (*ind == 0 || p.i-p.ls < *ind) && p.c(p.i) == '\t' {
			p.fail("tab in a block scalar's indentation")
		}
		if p.c(p.i) != '\n' {
			break
		}
		breaks++
		p.newline()
	}
	if *ind == 0 {
		*ind = max(most, indent+1, 1)
	}
	return breaks
}

// flowCollection reads [...] or {...} at i.
func (p *parser) flowCollection(indent int, pr props) *yaml.Node {
	p.depth++
	if p.depth > maxDepth {
		p.fail("too deep")
	}
	defer func() { p.depth-- }()
	l, c := p.line, p.col(p.i)
	isMap := p.c(p.i) == '{'
	kind, tag, end := yaml.SequenceNode, "!!seq", byte(']')
	if isMap {
		kind, tag, end = yaml.MappingNode, "!!map", '}'
	}
	n := p.node(kind, yaml.FlowStyle, tag, "", l, c)
	p.apply(n, pr)
	p.i++
	base := len(p.stack)
	for first := true; ; first = false {
		p.flowSpace()
		if p.c(p.i) == end {
			break
		}
		if !first {
			if p.c(p.i) != ',' {
				p.fail("no ',' between flow entries")
			}
			p.i++
			p.flowSpace()
			if p.c(p.i) == end {
				break
			}
		}
		if !isMap {
			v := p.flowNode(indent)
			p.stack = append(p.stack, v)
			p.flowSpace()
			if p.c(p.i) == ':' {
				p.fail("key in a flow sequence")
			}
			continue
		}
		kl := p.line
		k := p.flowNode(indent)
		if k.Kind != yaml.ScalarNode {
			p.fail("flow key form")
		}
		p.skipSpace()
		if p.c(p.i) != ':' || p.line != kl {
			p.fail("flow key without ':'")
		}
		p.i++
		p.flowSpace()
		if ch := p.c(p.i); ch == ',' || ch == end {
			p.fail("flow key without a value")
		}
		v := p.flowNode(indent)
		p.stack = append(p.stack, k, v)
	}
	p.i++
	n.Content = p.take(base)
	return n
}

// flowSpace skips blanks, comments and line breaks inside a flow
// collection (yaml.v3 does not hold them to any indentation).
func (p *parser) flowSpace() {
	p.skipToContent()
	if p.eof() {
		p.fail("unterminated flow collection")
	}
	if p.marker(p.i) {
		p.fail("document marker in a flow collection")
	}
}

// flowNode reads a node inside a flow collection.
func (p *parser) flowNode(indent int) *yaml.Node {
	var pr props
	if ch := p.c(p.i); ch == '&' || ch == '!' {
		pr = p.props()
		if ch := p.c(p.i); ch == '\n' || ch == '#' || ch == 0 {
			p.fail("properties without content on their line")
		}
	}
	l, c := p.line, p.col(p.i)
	var n *yaml.Node
	switch ch := p.c(p.i); ch {
	case '[', '{':
		return p.flowCollection(indent, pr)
	case '*':
		if pr.set {
			p.fail("properties on an alias")
		}
		return p.alias(true)
	case '\'', '"':
		v, _ := p.quoted()
		style := yaml.DoubleQuotedStyle
		if ch == '\'' {
			style = yaml.SingleQuotedStyle
		}
		n = p.node(yaml.ScalarNode, style, "!!str", v, l, c)
	case '-':
		if p.blankz(p.i + 1) {
			p.fail("block entry in a flow collection")
		}
	case '&', '!', '?', ':', ',', ']', '}', '|', '>', '%', '@', '`', '#':
		p.fail("flow node form")
	}
	if n == nil {
		v, _ := p.plain(indent, true)
		n = p.plainNode(v, l, c)
	}
	p.apply(n, pr)
	return n
}
