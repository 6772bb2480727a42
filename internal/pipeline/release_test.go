package pipeline

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// dump renders every node of p's model with its position.
func dump(p *Pipeline) string {
	var b strings.Builder
	walk := func(name string, n *Node) {
		n.Walk(func(path []string, n *Node) bool {
			fmt.Fprintf(&b, "%s/%s %d %s %q %s:%d:%d\n", name, strings.Join(path, "/"), n.Kind, n.Tag, n.Raw, n.Pos.File, n.Pos.Line, n.Pos.Col)
			return true
		})
	}
	walk("", p.Global)
	for _, j := range p.Jobs {
		walk(j.Name, j.Node)
	}
	for _, c := range p.Children {
		b.WriteString(dump(c))
	}
	return b.String()
}

// TestReleaseReuse loads a project into the memory another one released:
// its model is the one it has loaded on its own (issue 15).
func TestReleaseReuse(t *testing.T) {
	dir := filepath.Join("..", "..", "testdata", "corpus")
	a, b := filepath.Join(dir, "gitlabhq", "omnibus-gitlab"), filepath.Join(dir, "Kitware", "CMake")
	load := func(d string) *Pipeline {
		p, err := LoadProject(d, Options{})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	want := dump(load(b))
	for range 3 {
		pa := load(a)
		wantA := dump(pa)
		pa.Release()
		pb := load(b)
		if d := cmp.Diff(want, dump(pb)); d != "" {
			t.Fatalf("CMake loaded after omnibus-gitlab's release (-alone +after):\n%s", d)
		}
		pb.Release()
		if got := dump(load(a)); got != wantA {
			t.Fatal("omnibus-gitlab loaded again differs")
		}
	}
}
