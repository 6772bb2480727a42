package pipeline

import (
	"bytes"
	"unicode/utf8"
)

// At returns where byte off of scalar n's value is written. A value on a
// later line than the scalar's first, as inside a literal (|) or folded (>)
// block scalar with any chomping (+, -) or indentation indicator, or on a
// continuation line of a plain or quoted scalar, is found on its own line
// and column: a finding about it points there, where Code Quality and
// SARIF viewers draw it (issue 15). A value on the scalar's first line is
// at n.Pos, the scalar's start, as findings have always been placed; so is
// one At cannot find in the source (an interpolated input, escapes in a
// quoted scalar before off).
//
// Block scalars keep their lines: each content line of the source, less
// its indentation, is a run of the value, and the runs are separated by
// what folding and chomping leave (spaces, line breaks, the more-indented
// lines' leading spaces). At walks the source lines and the value together
// and gives up at the first line that does not match.
func (p *Pipeline) At(n *Node, off int) Pos {
	if n == nil {
		return Pos{}
	}
	if p == nil || n.Kind != Scalar || off < 0 || off > len(n.Value) || n.Pos.Line <= 0 || n.Pos.Col <= 0 {
		return n.Pos
	}
	if len(n.Items) > 0 {
		// A line joined from arguments (ContainerLines): the argument
		// that holds off, each written where it is.
		for _, a := range n.Items {
			if off <= len(a.Value) {
				return p.At(a, off)
			}
			off -= len(a.Value) + 1
		}
		return n.Pos
	}
	block := n.style == '|' || n.style == '>'
	if !block && off == 0 {
		return n.Pos
	}
	src, start := p.lineStart(n.Pos.File, n.Pos.Line)
	if src == nil {
		return n.Pos
	}
	if start >= len(src) {
		return n.Pos
	}
	v := n.Value
	at := 0 // how much of v the lines so far account for
	for line, rest := n.Pos.Line, src[start:]; len(rest) > 0 && at <= len(v); line++ {
		text := rest
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			text, rest = rest[:i], rest[i+1:]
		} else {
			rest = nil
		}
		text = bytes.TrimSuffix(text, []byte("\r"))
		from := 0 // where the scalar's text starts on this line
		if line == n.Pos.Line {
			if block {
				continue // the header: | or > and its indicators
			}
			from = byteCol(text, n.Pos.Col)
			if n.style == '"' || n.style == '\'' {
				from++ // the opening quote
			}
			if from > len(text) {
				return n.Pos
			}
		} else {
			for from < len(text) && (text[from] == ' ' || text[from] == '\t') {
				from++
			}
		}
		run := bytes.TrimRight(text[from:], " \t")
		if len(run) == 0 {
			continue // an empty line: a line break in v, or nothing
		}
		q := at
		if line != n.Pos.Line || block {
			for q < len(v) && (v[q] == ' ' || v[q] == '\n' || v[q] == '\t') {
				q++
			}
		}
		k := 0
		for k < len(run) && q+k < len(v) && run[k] == v[q+k] {
			k++
		}
		if k < len(run) && q+k < len(v) {
			return n.Pos // the source no longer spells the value
		}
		if off < q+k || off <= q+k && q+k == len(v) {
			if line == n.Pos.Line {
				return n.Pos
			}
			c := from + max(off-q, 0)
			return Pos{File: n.Pos.File, Line: line, Col: utf8.RuneCount(text[:c]) + 1}
		}
		at = q + k
		if at >= len(v) {
			break
		}
	}
	return n.Pos
}

// source is the text of the file read as path: one of p's, or of the
// pipelines above it (a variable a trigger job passes down is written in
// the parent's).
// lineStart returns the source of the file path and the offset of its
// 1-based line (len(src) past its end), from p's cache of line starts.
func (p *Pipeline) lineStart(path string, line int) ([]byte, int) {
	src := p.source(path)
	if src == nil {
		return nil, 0
	}
	p.linesMu.Lock()
	starts, ok := p.lines[path]
	if !ok {
		starts = []int{0}
		for i, c := range src {
			if c == '\n' {
				starts = append(starts, i+1)
			}
		}
		if p.lines == nil {
			p.lines = map[string][]int{}
		}
		p.lines[path] = starts
	}
	p.linesMu.Unlock()
	if line < 1 || line > len(starts) {
		return src, len(src)
	}
	return src, starts[line-1]
}

func (p *Pipeline) source(path string) []byte {
	for q := p; q != nil; q = q.Parent {
		for _, f := range q.Files {
			if f.Path == path {
				return f.Src
			}
		}
	}
	return nil
}

// byteCol is the byte offset of 1-based column col in line (yaml.v3
// counts columns in characters), len(line)+1 past its end.
func byteCol(line []byte, col int) int {
	off := 0
	for i := 1; i < col; i++ {
		if off >= len(line) {
			return len(line) + 1
		}
		_, size := utf8.DecodeRune(line[off:])
		off += size
	}
	return off
}
