package migrate

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// source is one configuration file as written: its bytes and its YAML
// nodes by position. The resolved pipeline (internal/pipeline) says what a
// job runs; source says where each of those values is written and how,
// so that an edit touches only those bytes (issue 17: never re-serialise).
type source struct {
	path  string
	src   []byte
	lines []int // offset of each line's start; lines[0] is line 1
	// at holds every value node by line and column, keys every key (a
	// block mapping starts where its first key does).
	at   map[[2]int]*entry
	keys map[[2]int]*entry
	// top are the documents' top-level mappings' pairs, by key.
	top map[string]*entry
	// topMap is the top-level mapping of the last document with one.
	topMap *yaml.Node
}

// entry is a node as written, with where it sits.
type entry struct {
	node *yaml.Node
	// parent is the collection holding node (nil at the top).
	parent *entry
	// key is node's own key in a mapping parent, or for a key node the
	// key itself; keyNode is that key's node.
	key     string
	keyNode *yaml.Node
	// value is, for a key node, the value it holds.
	value *yaml.Node
	isKey bool
	// top is the top-level key node is under ("deploy", "variables").
	top string
	// index is node's index in a sequence parent.
	index int
}

func parseSource(path string, src []byte) (*source, error) {
	s := &source{path: path, src: src, at: map[[2]int]*entry{}, keys: map[[2]int]*entry{}, top: map[string]*entry{}}
	s.lines = append(s.lines, 0)
	for i, b := range src {
		if b == '\n' {
			s.lines = append(s.lines, i+1)
		}
	}
	dec := yaml.NewDecoder(bytes.NewReader(src))
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
			continue
		}
		m := doc.Content[0]
		s.topMap = m
		for i := 0; i+1 < len(m.Content); i += 2 {
			k, v := m.Content[i], m.Content[i+1]
			ke := &entry{node: k, key: k.Value, keyNode: k, value: v, isKey: true, top: k.Value}
			s.put(ke)
			s.top[k.Value] = ke
			s.walk(v, &entry{node: v, key: k.Value, keyNode: k, top: k.Value}, nil)
		}
	}
	return s, nil
}

func (s *source) put(e *entry) {
	p := [2]int{e.node.Line, e.node.Column}
	at := s.at
	if e.isKey {
		at = s.keys
	}
	if _, ok := at[p]; !ok {
		at[p] = e
	}
}

// walk indexes n (described by e) and what it holds. Aliases are not
// followed: what they stand for is indexed where it is written.
func (s *source) walk(n *yaml.Node, e *entry, parent *entry) {
	e.parent = parent
	s.put(e)
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			s.put(&entry{node: k, parent: e, key: k.Value, keyNode: k, value: v, isKey: true, top: e.top})
			s.walk(v, &entry{node: v, key: k.Value, keyNode: k, top: e.top}, e)
		}
	case yaml.SequenceNode:
		for i, it := range n.Content {
			s.walk(it, &entry{node: it, top: e.top, index: i}, e)
		}
	}
}

// lookup returns the value written at line and col (1-based), or nil;
// lookupKey the key.
func (s *source) lookup(line, col int) *entry    { return s.at[[2]int{line, col}] }
func (s *source) lookupKey(line, col int) *entry { return s.keys[[2]int{line, col}] }

// off is the byte offset of a node's line and column (yaml.v3 counts
// columns in characters).
func (s *source) off(line, col int) int {
	if line < 1 || line > len(s.lines) {
		return len(s.src)
	}
	start := s.lines[line-1]
	i := start
	for c := 1; c < col && i < len(s.src) && s.src[i] != '\n'; c++ {
		_, n := utf8.DecodeRune(s.src[i:])
		i += n
	}
	return i
}

// lineStart is the offset where line starts; lineEnd where the next
// starts (or the end of the file).
func (s *source) lineStart(line int) int {
	if line < 1 {
		return 0
	}
	if line > len(s.lines) {
		return len(s.src)
	}
	return s.lines[line-1]
}

func (s *source) lineEnd(line int) int { return s.lineStart(line + 1) }

// line is the text of line (1-based) without its line break.
func (s *source) line(n int) string {
	return strings.TrimRight(string(s.src[s.lineStart(n):s.lineEnd(n)]), "\r\n")
}

// indent is the number of leading spaces of line n.
func (s *source) indent(n int) int {
	l := s.line(n)
	return len(l) - len(strings.TrimLeft(l, " "))
}

// blankOrComment reports whether line n holds nothing YAML reads.
func (s *source) blankOrComment(n int) bool {
	t := strings.TrimSpace(s.line(n))
	return t == "" || strings.HasPrefix(t, "#")
}

// blockEnd is the last line of the block that starts at line first with
// indentation ind: the lines after it that are indented deeper, less
// trailing blank and comment lines.
func (s *source) blockEnd(first, ind int) int {
	last := first
	for n := first + 1; n <= len(s.lines); n++ {
		if s.blankOrComment(n) {
			continue
		}
		if s.indent(n) <= ind {
			break
		}
		last = n
	}
	return last
}

// seqItemLines returns the lines a block sequence item occupies, when it
// is written as "- value" on lines of its own: the item's dash line and,
// for a nested collection, the deeper lines after it. ok is false for a
// flow sequence or an item sharing a line with something else.
func (s *source) seqItemLines(it *entry) (first, last int, ok bool) {
	if it.parent == nil || it.parent.node.Kind != yaml.SequenceNode || it.parent.node.Style&yaml.FlowStyle != 0 {
		return 0, 0, false
	}
	n := it.node.Line
	l := s.line(n)
	ind := s.indent(n)
	if !strings.HasPrefix(l[ind:], "-") {
		return 0, 0, false
	}
	// The dash must be the item's: "- value" with the value at its column.
	dashCol := ind + 1
	if s.off(n, it.node.Column)-s.lineStart(n) <= dashCol-1 {
		return 0, 0, false
	}
	return n, s.blockEnd(n, ind), true
}

// pairLines returns the lines a block mapping pair occupies: its key's
// line and the deeper lines after it.
func (s *source) pairLines(k *entry) (first, last int, ok bool) {
	if k.parent != nil && k.parent.node.Style&yaml.FlowStyle != 0 {
		return 0, 0, false
	}
	n := k.node.Line
	ind := s.indent(n)
	if s.off(n, k.node.Column)-s.lineStart(n) != ind {
		return 0, 0, false // "- key: value": the pair shares its line with a dash
	}
	return n, s.blockEnd(n, ind), true
}

// scalarEnd is the offset just after a single-line scalar written at
// off: its closing quote, or the end of a plain scalar before a comment
// or the line's end. ok is false for a scalar that goes on past its line.
func (s *source) scalarEnd(n *yaml.Node) (int, bool) {
	start := s.off(n.Line, n.Column)
	end := s.lineEnd(n.Line)
	text := s.src[start:end]
	switch {
	case n.Style&yaml.DoubleQuotedStyle != 0:
		for i := 1; i < len(text); i++ {
			switch text[i] {
			case '\\':
				i++
			case '"':
				return start + i + 1, true
			}
		}
		return 0, false
	case n.Style&yaml.SingleQuotedStyle != 0:
		for i := 1; i < len(text); i++ {
			if text[i] == '\'' {
				if i+1 < len(text) && text[i+1] == '\'' {
					i++
					continue
				}
				return start + i + 1, true
			}
		}
		return 0, false
	case n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0:
		return 0, false
	}
	t := strings.TrimRight(string(text), "\r\n")
	if i := strings.Index(t, " #"); i >= 0 {
		t = t[:i]
	}
	return start + len(strings.TrimRight(t, " \t")), true
}

// flowClose is the offset of the "]" or "}" that closes the single-line
// flow collection written at n, or -1.
func (s *source) flowClose(n *yaml.Node) int {
	start := s.off(n.Line, n.Column)
	end := s.lineEnd(n.Line)
	depth := 0
	var quote byte
	for i := start; i < end; i++ {
		c := s.src[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '[' || c == '{':
			depth++
		case c == ']' || c == '}':
			depth--
			if depth == 0 {
				return i
			}
		}
	}
	return -1
}

// seqIndent is how a block sequence's items are written: the text before
// the first item's value ("  - ").
func (s *source) seqPrefix(seq *yaml.Node) string {
	if len(seq.Content) == 0 {
		return ""
	}
	it := seq.Content[0]
	l := s.line(it.Line)
	col := s.off(it.Line, it.Column) - s.lineStart(it.Line)
	if col > len(l) {
		return ""
	}
	return l[:col]
}
