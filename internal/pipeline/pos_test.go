package pipeline

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// TestAt: a value inside a block scalar, or on a later line of any
// multi-line scalar, is found where it is written; one on the scalar's
// first line is at the scalar's start (issue 15). The needle is written
// once in each source, so where it is written is where the source has it.
func TestAt(t *testing.T) {
	for _, c := range []struct {
		name, src, needle string
		first             bool // on the scalar's first line: At is n.Pos
	}{
		{"literal", "j:\n  script:\n    - |\n      echo one\n      curl -H \"PRIVATE-TOKEN: NEEDLE\" x\n", "NEEDLE", false},
		{"literal strip", "j:\n  script:\n    - |-\n      echo one\n\n      NEEDLE two\n", "NEEDLE", false},
		{"literal keep", "j:\n  script:\n    - |+\n      echo one\n      a NEEDLE\n\n\nk: 1\n", "NEEDLE", false},
		{"literal indent indicator", "j:\n  script:\n    - |2\n        echo one\n        NEEDLE\n", "NEEDLE", false},
		{"literal indent and strip", "j:\n  v: |2-\n     lead\n    NEEDLE x\n", "NEEDLE", false},
		{"literal strip then indent", "j:\n  v: |-1\n    lead\n   NEEDLE x\n", "NEEDLE", false},
		{"literal leading empty lines", "j:\n  v: |\n\n\n    a\n    b NEEDLE\n", "NEEDLE", false},
		{"literal header comment", "j:\n  v: | # note\n    a\n    b NEEDLE\n", "NEEDLE", false},
		{"literal first content line", "j:\n  v: |\n    NEEDLE\n", "NEEDLE", false},
		{"folded", "j:\n  script:\n    - >\n      curl --header\n      \"PRIVATE-TOKEN: NEEDLE\"\n      https://gitlab.example.com\n", "NEEDLE", false},
		{"folded strip", "j:\n  v: >-\n    one\n    two three NEEDLE\n", "NEEDLE", false},
		{"folded keep", "j:\n  v: >+\n    one\n\n    NEEDLE\n\n", "NEEDLE", false},
		{"folded more indented", "j:\n  v: >\n    one\n      more indented\n    back NEEDLE\n", "NEEDLE", false},
		{"folded indent indicator", "j:\n  v: >2\n     lead\n    two NEEDLE\n", "NEEDLE", false},
		{"folded paragraphs", "j:\n  v: >\n    one\n    two\n\n    three\n    NEEDLE\n", "NEEDLE", false},
		{"plain continuation", "j:\n  v: curl -H x\n    -H NEEDLE\n", "NEEDLE", false},
		{"double quoted continuation", "j:\n  v: \"curl -H x\n    -H NEEDLE\"\n", "NEEDLE", false},
		{"single quoted continuation", "j:\n  v: 'curl\n\n    NEEDLE'\n", "NEEDLE", false},
		{"multibyte before", "j:\n  v: |\n    é ü NEEDLE\n", "NEEDLE", false},
		{"crlf", "j:\r\n  v: |\r\n    one\r\n    two NEEDLE\r\n", "NEEDLE", false},
		{"plain first line", "j:\n  v: curl NEEDLE\n    -H x\n", "NEEDLE", true},
		{"one line", "j:\n  script: [echo NEEDLE]\n", "NEEDLE", true},
		{"double quoted first line", "j:\n  v: \"a NEEDLE\n    b\"\n", "NEEDLE", true},
		{"escape before", "j:\n  v: \"a \\t b\n    NEEDLE\"\n", "NEEDLE", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := Parse("", "ci.yml", []byte(c.src), Options{})
			var n *Node
			p.Global.Walk(func(_ []string, x *Node) bool {
				if x.Kind == Scalar && strings.Contains(x.Value, c.needle) {
					n = x
				}
				return true
			})
			if n == nil {
				t.Fatalf("no scalar holds %q: %v", c.needle, p.Problems)
			}
			want := n.Pos
			if !c.first {
				i := strings.Index(c.src, c.needle)
				ls := strings.LastIndexByte(c.src[:i], '\n') + 1
				want = Pos{File: "ci.yml", Line: strings.Count(c.src[:i], "\n") + 1, Col: utf8.RuneCountInString(c.src[ls:i]) + 1}
			}
			if got := p.At(n, strings.Index(n.Value, c.needle)); got != want {
				t.Errorf("At(%q) = %d:%d, want %d:%d (the scalar is at %d:%d)", c.needle, got.Line, got.Col, want.Line, want.Col, n.Pos.Line, n.Pos.Col)
			}
		})
	}
}

// TestAtBounds: nodes and offsets At cannot place are at the node.
func TestAtBounds(t *testing.T) {
	p := Parse("", "ci.yml", []byte("j:\n  v: |\n    a\n    b\n"), Options{})
	n := p.Global.Lookup("j", "v")
	for _, off := range []int{-1, len(n.Value) + 1} {
		if got := p.At(n, off); got != n.Pos {
			t.Errorf("At(%d) = %v, want the node's %v", off, got, n.Pos)
		}
	}
	if got := p.At(n, 0); got.Line != 3 || got.Col != 5 {
		t.Errorf("At(0) of a block = %d:%d, want its first content line 3:5", got.Line, got.Col)
	}
	if got := p.At(strAt("x\ny", Pos{File: "other.yml", Line: 1, Col: 1}), 2); got.File != "other.yml" || got.Line != 1 {
		t.Errorf("a node of an unknown file: %v", got)
	}
	if got := p.At(nil, 0); got != (Pos{}) {
		t.Errorf("At(nil) = %v", got)
	}
}
