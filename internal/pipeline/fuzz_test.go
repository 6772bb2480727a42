package pipeline

import (
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"
)

func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("testdata", "*", "*.yml"))
	more, _ := filepath.Glob(filepath.Join("testdata", "*", ".gitlab-ci.yml"))
	for _, p := range append(seeds, more...) {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add(billionLaughs())
	f.Add([]byte("spec:\n  inputs:\n    a:\n      type: array\n---\nj:\n  script: $[[ inputs.a | truncate(1,2) ]]\n"))
	f.Add([]byte("a: &a {<<: *a}\n"))
	f.Add([]byte("t:\n  trigger:\n    include: c.yml\nj:\n  image: {name: x, entrypoint: [env, A=1]}\n  script:\n    - >-2\n        a\n      b\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		// The source is also c.yml, which a trigger:include may start as
		// a child pipeline (that starts itself: a cycle).
		p := Parse("", "f.yml", src, Options{Inputs: map[string]string{"a": "[1, 2]"}, FS: fstest.MapFS{"c.yml": {Data: src}}})
		for _, pr := range p.Problems {
			if pr.Pos.Line < 0 || pr.Pos.Col < 0 {
				t.Fatalf("problem with negative position: %+v", pr)
			}
		}
		check := func(_ []string, n *Node) bool {
			if n == nil || n.Pos.Line < 0 || n.Pos.Col < 0 {
				t.Fatalf("node with bad position: %+v", n)
			}
			return true
		}
		// At places every offset of a scalar at or after the scalar, in
		// its file.
		at := func(q *Pipeline, n *Node) {
			for _, off := range []int{0, len(n.Value) / 2, len(n.Value)} {
				if got := q.At(n, off); got.File != n.Pos.File || got.Line < n.Pos.Line {
					t.Fatalf("At(%q, %d) = %+v, before the scalar at %+v", n.Value, off, got, n.Pos)
				}
			}
		}
		for _, q := range p.All() {
			q.Global.Walk(check)
			for _, j := range q.Jobs {
				j.Node.Walk(check)
				j.Node.Walk(func(_ []string, n *Node) bool {
					if n.Kind == Scalar {
						at(q, n)
					}
					return true
				})
			}
			for _, v := range q.JobViews() {
				for _, l := range v.Lines {
					at(q, l)
				}
			}
		}
	})
}
