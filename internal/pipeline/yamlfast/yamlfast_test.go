package yamlfast

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

const maxDocs = 16

// decodeV3 is how package pipeline decodes without this package.
func decodeV3(src []byte) (docs []*yaml.Node, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("yaml.v3 panicked: %v", r)
		}
	}()
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

// diff is where our documents and yaml.v3's differ, "" if nowhere. An
// untagged plain scalar's Tag is ours to leave empty; comments are not
// compared.
func diff(ours, theirs []*yaml.Node) string {
	if len(ours) != len(theirs) {
		return fmt.Sprintf("%d documents, yaml.v3 %d", len(ours), len(theirs))
	}
	same := map[*yaml.Node]*yaml.Node{}
	var walk func(path string, a, b *yaml.Node) string
	walk = func(path string, a, b *yaml.Node) string {
		same[a] = b
		tagA := a.Tag
		if tagA == "" && a.Kind == yaml.ScalarNode && a.Style == 0 {
			tagA = b.Tag
		}
		if a.Kind != b.Kind || a.Style != b.Style || tagA != b.Tag || a.Value != b.Value || a.Anchor != b.Anchor ||
			a.Line != b.Line || a.Column != b.Column || len(a.Content) != len(b.Content) {
			return fmt.Sprintf("%s: ours %s, yaml.v3 %s", path, show(a), show(b))
		}
		if a.Kind == yaml.AliasNode && same[a.Alias] != b.Alias {
			return fmt.Sprintf("%s: alias *%s points elsewhere", path, a.Value)
		}
		for i := range a.Content {
			if d := walk(fmt.Sprintf("%s/%d", path, i), a.Content[i], b.Content[i]); d != "" {
				return d
			}
		}
		return ""
	}
	for i := range ours {
		if d := walk(fmt.Sprint(i), ours[i], theirs[i]); d != "" {
			return d
		}
	}
	return ""
}

func show(n *yaml.Node) string {
	return fmt.Sprintf("{kind %d style %d tag %q value %q anchor %q at %d:%d, %d children}",
		n.Kind, n.Style, n.Tag, n.Value, n.Anchor, n.Line, n.Column, len(n.Content))
}

// check holds one input to the contract: where parse reads it, yaml.v3
// reads the same nodes.
func check(t *testing.T, name string, src []byte) (read bool) {
	t.Helper()
	return checkIn(t, name, src, nil)
}

// checkIn is check with the nodes from a.
func checkIn(t *testing.T, name string, src []byte, a *Arena) (read bool) {
	t.Helper()
	ours, b := parse(src, maxDocs, a)
	if b != nil {
		return false
	}
	theirs, err := decodeV3(src)
	if err != nil {
		t.Errorf("%s: read here, but yaml.v3 refuses it: %v", name, err)
		return true
	}
	if d := diff(ours, theirs); d != "" {
		t.Errorf("%s: %s", name, d)
	}
	return true
}

// yamlFiles are the YAML files below dir.
func yamlFiles(t *testing.T, dir string) []string {
	var out []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "node_modules" || d.Name() == ".git") {
			return filepath.SkipDir
		}
		if !d.IsDir() && (strings.HasSuffix(path, ".yml") || strings.HasSuffix(path, ".yaml")) {
			out = append(out, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestCorpus reads every YAML file of the repository, the real pipelines
// of testdata/corpus among them, here and with yaml.v3. The corpus must be
// read here in full: a file left to yaml.v3 is what make bench-lint pays
// for.
func TestCorpus(t *testing.T) {
	files := yamlFiles(t, "../../..")
	if len(files) < 200 {
		t.Fatalf("only %d YAML files below the repository root", len(files))
	}
	reasons := map[string][]string{}
	read := 0
	// One arena for all: what a file leaves in it must not show in the
	// next file's nodes.
	var a Arena
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		a.Reset()
		if checkIn(t, f, src, &a) {
			read++
			continue
		}
		_, b := parse(src, maxDocs, nil)
		why := fmt.Sprintf("%s (line %d)", b.why, b.line)
		reasons[b.why] = append(reasons[b.why], f+":"+fmt.Sprint(b.line))
		if _, err := decodeV3(src); err == nil && strings.Contains(f, "testdata/corpus/") {
			t.Errorf("%s: corpus file left to yaml.v3: %s", f, why)
		}
	}
	var rs []string
	for r, fs := range reasons {
		rs = append(rs, fmt.Sprintf("%3d %s (%s)", len(fs), r, fs[0]))
	}
	sort.Strings(rs)
	t.Logf("read %d of %d YAML files; left to yaml.v3:\n%s", read, len(files), strings.Join(rs, "\n"))
}

// cases are forms read here, which TestCases holds to yaml.v3.
var cases = []string{
	"a: 1\n",
	"a:\n  b:\nc: 1\n",
	"a:\n  b:   \n\n  # x\nc: 1\n",
	"a:\n  b:",
	"- a\n-\n- b\n",
	"a:\n- x\n-\nb: 1\n",
	"a:\n  - x\n  -\n  - y\nb: 1\n",
	"k: 'x'\n",
	"k: 'it''s'\n",
	"k: \"a\\tb\\u00e9\\x41\\U0001F600\"\n",
	"k: \"\\0\\a\\b\\t\\\t\\n\\v\\f\\r\\e\\ \\\"\\'\\\\\\N\\_\\L\\P\"\n",
	"k: \"a\n  b\n\n  c\"\n",
	"k: 'a\n\n\n  b  \n  c'\n",
	"k: \"a\\\n   b\"\n",
	"k: a\n  b\n\n  c\n",
	"- name: x\n  script:\n    - echo 1\n    - echo 2\n",
	"- - a\n  - b\n- - c\n",
	"a: &x\n  b: 1\nc: *x\nd:\n  <<: *x\n  e: 2\n",
	"a: &x 1\nb: [*x, *x]\n",
	"a: !reference [.x, script]\n",
	"a: !!str 1\n",
	"a: [1, 'b', \"c\", [d], {e: f}]\n",
	"a: {b: 1, \"c\": 2, d: [3]}\n",
	"a: [\n  1,\n  2,\n]\n",
	"a: [\n1,\n2]\nb: {\nc: 1}\n",
	"a: [!reference [.x, y], z]\n",
	"a: []\nb: {}\n",
	"a: |\n  x\n  y\n",
	"a: |-\n  x\n\n",
	"a: |+\n  x\n\n\nb: 1\n",
	"a: >\n  x\n  y\n\n  z\n   w\n  v\n",
	"a: >-\n  x\n",
	"a: |2\n    x\n   y\n",
	"a: |\n\n  x\n",
	"- |\n  x\n- >\n  y\n",
	"spec:\n  inputs:\n    a:\n---\njob:\n  script: echo $[[ inputs.a ]]\n",
	"---\na: 1\n---\nb: 2\n",
	"é: ü\nö: [ä, ß]\n",
	"a: b # c\nd: e#f\n",
	"a: http://x:8080/y\n",
	"a: -1\nb: ?x\nc: :y\n",
	"a : 1\n",
	"\"a\": 1\n'b': 2\n",
	"a:\n  &x\n  b: 1\n",
	"a: &x\n- 1\n",
	"- &x a\n- *x\n",
	"<<: {a: 1}\n",
	"a: <<\n",
	"a:\n  b\n",
	"a:    \n   - x\n",
}

// left are forms left to yaml.v3.
var left = []string{
	"- a\n  b: c\n",
	"a: 1\n...\n",
	"a: b: c\n",
	"a: - b\n",
	"a:\tb\n",
	"a: \"b\" c\n",
	"%YAML 1.2\n---\na: 1\n",
	"? a\n: b\n",
	"a: *nope\n",
	"a: [b: c]\n",
	"a: {b}\n",
	"a: 1\n  b: 2\n",
	"a: b\n# c\n  d\n",
	"a: 'b\n",
	"a: \"\\q\"\n",
	"a: &x\nb: 1\n",
	"---\n",
	"a: 1\r\n",
	"\ufeffa: 1\n",
	"&x a: 1\n",
	"a: [\n---\n]\n",
}

func TestCases(t *testing.T) {
	for _, c := range cases {
		if !check(t, fmt.Sprintf("%q", c), []byte(c)) {
			_, b := parse([]byte(c), maxDocs, nil)
			t.Errorf("%q: left to yaml.v3 (%s, line %d)", c, b.why, b.line)
		}
	}
	for _, c := range left {
		if check(t, fmt.Sprintf("%q", c), []byte(c)) {
			t.Errorf("%q: read here, want it left to yaml.v3", c)
		}
	}
}

// FuzzParse: whatever parse reads, yaml.v3 reads the same; parse never
// panics but to give up.
func FuzzParse(f *testing.F) {
	for _, c := range append(cases, left...) {
		f.Add([]byte(c))
	}
	for _, file := range yamlFiles(&testing.T{}, "../../../testdata/corpus") {
		if src, err := os.ReadFile(file); err == nil && len(src) < 8<<10 {
			f.Add(src)
		}
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		check(t, "input", src)
	})
}

// BenchmarkCorpus reads the corpus with yamlfast and with yaml.v3, side by
// side in each iteration, and reports each one's time and how many times
// faster yamlfast is ("x").
func BenchmarkCorpus(b *testing.B) {
	var srcs [][]byte
	var n int64
	for _, f := range yamlFiles(&testing.T{}, "../../../testdata/corpus") {
		src, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		srcs = append(srcs, src)
		n += int64(len(src))
	}
	b.SetBytes(n)
	var a Arena
	var fast, v3 time.Duration
	for b.Loop() {
		t0 := time.Now()
		for _, src := range srcs {
			a.Reset()
			_, _ = Parse(src, maxDocs, &a)
		}
		t1 := time.Now()
		for _, src := range srcs {
			_, _ = decodeV3(src)
		}
		fast, v3 = fast+t1.Sub(t0), v3+time.Since(t1)
	}
	b.ReportMetric(float64(fast.Microseconds())/1e3/float64(b.N), "yamlfast-ms")
	b.ReportMetric(float64(v3.Microseconds())/1e3/float64(b.N), "yaml.v3-ms")
	b.ReportMetric(float64(v3)/float64(fast), "x")
}
