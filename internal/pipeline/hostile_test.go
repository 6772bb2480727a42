package pipeline

import (
	"bytes"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func countNodes(p *Pipeline) int {
	n := 0
	p.Global.Walk(func(_ []string, _ *Node) bool { n++; return n < 10*maxNodes })
	return n
}

func kinds(p *Pipeline) map[string]int {
	m := map[string]int{}
	for _, pr := range p.Problems {
		m[pr.Kind]++
	}
	return m
}

func billionLaughs() []byte {
	var b strings.Builder
	b.WriteString("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n")
	for i := 1; i < 10; i++ {
		fmt.Fprintf(&b, "a%d: &a%d [", i, i)
		for j := 0; j < 10; j++ {
			if j > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "*a%d", i-1)
		}
		b.WriteString("]\n")
	}
	b.WriteString("job:\n  script: *a9\n")
	return []byte(b.String())
}

func TestHostile(t *testing.T) {
	garbage := make([]byte, 64<<10)
	rand.New(rand.NewSource(1)).Read(garbage)
	deep := 10_000
	tests := []struct {
		name string
		src  []byte
		want string // a problem kind that must be reported
	}{
		{"billion laughs", billionLaughs(), "limit"},
		{"deep sequences", []byte("x: " + strings.Repeat("[", deep) + strings.Repeat("]", deep) + "\n"), ""},
		{"deep flow maps", []byte("x: " + strings.Repeat("{a: ", deep) + "1" + strings.Repeat("}", deep) + "\n"), ""},
		{"deep block maps", deepBlock(600), "limit"},
		{"self alias", []byte("a: &x [*x]\n"), ""},
		{"invalid utf-8", []byte("job:\n  script: \"\xff\xfe\"\n"), "syntax"},
		{"only ---", []byte("---\n"), "syntax"},
		{"empty", nil, "syntax"},
		{"top-level list", []byte("- a\n- b\n"), "syntax"},
		{"scalar", []byte("hello\n"), "syntax"},
		{"binary", garbage, "syntax"},
		{"nul bytes", []byte("job:\x00\n  script: x\n"), "syntax"},
		{"tabs", []byte("job:\n\tscript: x\n"), "syntax"},
		{"many documents", bytes.Repeat([]byte("a: 1\n---\n"), 100), "syntax"},
		{"unclosed", []byte("job: [a, b\n"), "syntax"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Parse("", "h.yml", tt.src, Options{})
			k := kinds(p)
			t.Logf("problems %v, nodes %d", k, countNodes(p))
			if len(p.Problems) == 0 {
				t.Fatal("no problem reported")
			}
			if tt.want != "" && k[tt.want] == 0 {
				t.Errorf("no %q problem: %v", tt.want, p.Problems)
			}
			for _, pr := range p.Problems {
				if pr.Pos.Line < 0 || pr.Pos.File != "h.yml" {
					t.Errorf("bad position %+v", pr)
				}
			}
			if n := countNodes(p); n > maxNodes+10 {
				t.Errorf("%d nodes, want at most %d", n, maxNodes)
			}
		})
	}
}

func deepBlock(n int) []byte {
	var b bytes.Buffer
	for i := 0; i < n; i++ {
		b.WriteString(strings.Repeat(" ", i))
		b.WriteString("a:\n")
	}
	b.WriteString(strings.Repeat(" ", n) + "b: 1\n")
	return b.Bytes()
}

func TestAliasBombBounded(t *testing.T) {
	p := Parse("", "bomb.yml", billionLaughs(), Options{})
	if kinds(p)["limit"] != 1 {
		t.Errorf("want one limit problem, got %v", p.Problems)
	}
	if n := countNodes(p); n > maxNodes+10 {
		t.Errorf("%d nodes after the cap", n)
	}
	// A reasonable alias use is expanded in full.
	p = Parse("", "ok.yml", []byte("a: &a [x, y]\njob:\n  script: [*a, *a]\n"), Options{})
	if got := p.Job("job").Node.Get("script").Strings(); len(got) != 4 || len(p.Problems) != 0 {
		t.Errorf("aliases %v, problems %v", got, p.Problems)
	}
}

func TestLargeFile(t *testing.T) {
	big := bytes.Repeat([]byte("# filler line of a very large file\n"), (50<<20)/35+1)
	p := Parse("", "big.yml", big, Options{})
	if kinds(p)["limit"] != 1 || len(p.Jobs) != 0 {
		t.Errorf("Parse: want one limit problem, got %v", p.Problems)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, ".gitlab-ci.yml"), big, 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := LoadProject(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if kinds(p)["limit"] != 1 || p.Files[0].Src != nil {
		t.Errorf("LoadProject: want one limit problem and no source kept, got %v", p.Problems)
	}
	// An included file over the limit is a problem at the include.
	if err := os.WriteFile(filepath.Join(dir, ".gitlab-ci.yml"), []byte("include: big.yml\njob: {script: x}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "big.yml"), big, 0o600); err != nil {
		t.Fatal(err)
	}
	p, err = LoadProject(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := problems(p); len(diff) != 1 || diff[0] != "limit .gitlab-ci.yml:1:10" {
		t.Errorf("include of a big file: %v", diff)
	}
}

func TestSyntaxErrorKeepsWhatPrecedes(t *testing.T) {
	src := []byte("before:\n  script: ok\nbroken:\n  script: \"unterminated\n  x: [\n")
	p := Parse("", "s.yml", src, Options{})
	if kinds(p)["syntax"] != 1 {
		t.Fatalf("want one syntax problem, got %v", p.Problems)
	}
	if p.Problems[0].Pos.Line == 0 {
		t.Errorf("syntax problem without a line: %+v", p.Problems[0])
	}
	if p.Job("before") == nil {
		t.Error("job before the error was not kept")
	}
}

func TestReferenceBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString(".a0:\n  s: [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < 9; i++ {
		fmt.Fprintf(&b, ".a%d:\n  s:\n", i)
		for j := 0; j < 10; j++ {
			fmt.Fprintf(&b, "    - !reference [.a%d, s]\n", i-1)
		}
	}
	for i := 0; i < 50; i++ {
		fmt.Fprintf(&b, "job%d:\n  script: !reference [.a8, s]\n", i)
	}
	p := Parse("", "refs.yml", []byte(b.String()), Options{})
	if kinds(p)["limit"] != 1 {
		t.Errorf("want one limit problem, got %v", p.Problems)
	}
	total := 0
	for _, j := range p.Jobs {
		j.Node.Walk(func(_ []string, _ *Node) bool { total++; return true })
	}
	if total > maxResolved+1000 {
		t.Errorf("resolved jobs hold %d nodes, want at most %d", total, maxResolved)
	}
}
