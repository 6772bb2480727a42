package pipeline

import (
	"os"
	"path/filepath"
	"testing"
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
	f.Fuzz(func(t *testing.T, src []byte) {
		p := Parse("", "f.yml", src, Options{Inputs: map[string]string{"a": "[1, 2]"}})
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
		p.Global.Walk(check)
		for _, j := range p.Jobs {
			j.Node.Walk(check)
		}
	})
}
