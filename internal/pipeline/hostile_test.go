package pipeline

import (
	"bytes"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
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

// totalSizeProject is a project, path to content, whose .gitlab-ci.yml
// includes n local files of size bytes each, ci/part00.yml to
// ci/part<n-1>.yml, each defining one job.
func totalSizeProject(n, size int) (files map[string][]byte) {
	files = map[string][]byte{}
	var main strings.Builder
	main.WriteString("include:\n")
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("ci/part%02d.yml", i)
		fmt.Fprintf(&main, "  - local: %s\n", name)
		var b bytes.Buffer
		fmt.Fprintf(&b, "job%02d:\n  script: [x]\n", i)
		for b.Len() < size {
			b.WriteString("# filler of a large included file\n")
		}
		files[name] = b.Bytes()[:size]
	}
	main.WriteString("main-job:\n  script: [x]\n")
	files[".gitlab-ci.yml"] = []byte(main.String())
	return files
}

// readUpTo returns how many parts fit under limit after the main file.
func readUpTo(files map[string][]byte, n int, limit int64) int {
	total := int64(len(files[".gitlab-ci.yml"]))
	for i := 0; i < n; i++ {
		total += int64(len(files[fmt.Sprintf("ci/part%02d.yml", i)]))
		if total > limit {
			return i
		}
	}
	return n
}

// checkTotalCap checks a pipeline read under limit: the main file and the
// first fit parts read, in order, and nothing after them; one "limit"
// problem at the include entry of the first part left out, naming the cap,
// the total, GitLab's limit and what to do; the jobs read still there.
func checkTotalCap(t *testing.T, p *Pipeline, files map[string][]byte, fit int, limit int64) {
	t.Helper()
	var read []string
	var total int64
	for _, f := range p.Files {
		read = append(read, f.Path)
		total += int64(len(f.Src))
	}
	if len(read) != fit+1 || total > limit {
		t.Errorf("read %d files (%d bytes) under a %d-byte cap, want the main file and %d parts: %v", len(read), total, limit, fit, read)
	}
	if len(p.Problems) != 1 || p.Problems[0].Kind != "limit" {
		t.Fatalf("want one limit problem, got %v", p.Problems)
	}
	pr := p.Problems[0]
	t.Logf("%s:%d:%d: %s", pr.Pos.File, pr.Pos.Line, pr.Pos.Col, pr.Message)
	first := fmt.Sprintf("ci/part%02d.yml", fit)
	if pr.Pos.File != ".gitlab-ci.yml" || pr.Pos.Line != fit+2 {
		t.Errorf("problem at %+v, want the include of %s (.gitlab-ci.yml:%d)", pr.Pos, first, fit+2)
	}
	for _, want := range []string{strconv.FormatInt(limit, 10), strconv.FormatInt(total, 10), strconv.Quote(first), "later includes are not read", "ci_max_total_yaml_size_bytes", "314572800", "include fewer or smaller files"} {
		if !strings.Contains(pr.Message, want) {
			t.Errorf("message lacks %q: %s", want, pr.Message)
		}
	}
	if p.Job("main-job") == nil || p.Job(fmt.Sprintf("job%02d", fit-1)) == nil {
		t.Errorf("jobs read before the cap are missing: %v", p.Jobs)
	}
	if p.Job(fmt.Sprintf("job%02d", fit)) != nil {
		t.Errorf("job of %s defined, though it is past the cap", first)
	}
}

// countingFS counts the files read from it.
type countingFS struct {
	fstest.MapFS
	reads map[string]int
}

func (c countingFS) ReadFile(name string) ([]byte, error) {
	c.reads[name]++
	return c.MapFS.ReadFile(name)
}

// countingFetcher serves project: includes from files and counts them.
type countingFetcher struct {
	files   map[string][]byte
	fetched []string
}

func (c *countingFetcher) Fetch(inc *Include) (string, []byte, error) {
	c.fetched = append(c.fetched, inc.Location)
	return "project:" + inc.Project + ":" + inc.Location, c.files[inc.Location], nil
}

// Issue 13, item 8: each file is capped, but 40 local includes of 7.5 MB
// each took 6.3 GB and 130 s. The whole configuration is capped too, as
// it is read: past the cap no include is read (nor fetched), and what was
// read is kept. A small cap stands in for the default.
func TestTotalSizeCap(t *testing.T) {
	const n, size = 40, 10 << 10
	const limit = 100 << 10
	files := totalSizeProject(n, size)
	fit := readUpTo(files, n, limit)
	if fit == 0 || fit >= n {
		t.Fatalf("test setup: %d of %d parts fit", fit, n)
	}

	t.Run("disk", func(t *testing.T) {
		dir := t.TempDir()
		for name, src := range files {
			os.MkdirAll(filepath.Join(dir, filepath.Dir(name)), 0o755)
			if err := os.WriteFile(filepath.Join(dir, name), src, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		p, err := LoadProject(dir, Options{MaxTotalSize: limit})
		if err != nil {
			t.Fatal(err)
		}
		checkTotalCap(t, p, files, fit, limit)
	})

	t.Run("fs", func(t *testing.T) {
		m := fstest.MapFS{}
		for name, src := range files {
			m[name] = &fstest.MapFile{Data: src}
		}
		fsys := countingFS{m, map[string]int{}}
		p, err := LoadFS(Options{FS: fsys, MaxTotalSize: limit})
		if err != nil {
			t.Fatal(err)
		}
		checkTotalCap(t, p, files, fit, limit)
		for i := 0; i < n; i++ {
			name := fmt.Sprintf("ci/part%02d.yml", i)
			if want := map[bool]int{true: 1, false: 0}[i < fit]; fsys.reads[name] != want {
				t.Errorf("%s read %d times, want %d", name, fsys.reads[name], want)
			}
		}
	})

	t.Run("fetched", func(t *testing.T) {
		var main strings.Builder
		main.WriteString("include:\n")
		for i := 0; i < n; i++ {
			fmt.Fprintf(&main, "  - {project: group/ci, file: ci/part%02d.yml}\n", i)
		}
		main.WriteString("main-job:\n  script: [x]\n")
		remote := map[string][]byte{".gitlab-ci.yml": []byte(main.String())}
		for name, src := range files {
			if name != ".gitlab-ci.yml" {
				remote[name] = src
			}
		}
		f := &countingFetcher{files: remote}
		p := Parse("", ".gitlab-ci.yml", remote[".gitlab-ci.yml"], Options{Fetcher: f, MaxTotalSize: limit})
		fit := readUpTo(remote, n, limit)
		// The file that goes over is fetched (its size is known only then),
		// not read; nothing after it is fetched.
		if len(f.fetched) != fit+1 {
			t.Errorf("fetched %d files, want %d: %v", len(f.fetched), fit+1, f.fetched)
		}
		if len(p.Files) != fit+1 || kinds(p)["limit"] != 1 || len(p.Problems) != 1 {
			t.Errorf("read %d files, want %d; problems %v", len(p.Files), fit+1, p.Problems)
		}
	})

	t.Run("main file", func(t *testing.T) {
		p := Parse("", "big.yml", files["ci/part00.yml"], Options{MaxTotalSize: 1 << 10})
		if kinds(p)["limit"] != 1 || len(p.Jobs) != 0 || p.Files[0].Src != nil {
			t.Errorf("main file over the cap: problems %v, jobs %d", p.Problems, len(p.Jobs))
		}
	})
}

// The default total is GitLab's: ci_max_total_yaml_size_bytes defaults to
// max_yaml_size_bytes (2 MB) × ci_max_includes (150) = 314572800 bytes
// since GitLab 17.3
// (https://docs.gitlab.com/administration/instance_limits/#maximum-size-of-the-entire-cicd-configuration).
func TestTotalSizeCapDefault(t *testing.T) {
	if got := newLoader("", Options{}).maxTotal(); got != 314572800 {
		t.Errorf("default total cap %d, want GitLab's 314572800", got)
	}
}

// BenchmarkIncludesOverTotalCap reads a project of 40 includes of 1 MiB
// under an 8 MiB cap: the work stops at the cap.
func BenchmarkIncludesOverTotalCap(b *testing.B) {
	files := totalSizeProject(40, 1<<20)
	m := fstest.MapFS{}
	for name, src := range files {
		m[name] = &fstest.MapFile{Data: src}
	}
	b.ReportAllocs()
	for b.Loop() {
		p, err := LoadFS(Options{FS: m, MaxTotalSize: 8 << 20})
		if err != nil || len(p.Files) > 9 {
			b.Fatalf("%v: read %d files", err, len(p.Files))
		}
	}
}

// jobHeavyProject is n local includes of jobs jobs each: YAML whose nodes,
// not bytes, are what costs memory.
func jobHeavyProject(n, jobs int) fstest.MapFS {
	m := fstest.MapFS{}
	var main strings.Builder
	main.WriteString("include:\n")
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("ci/jobs%02d.yml", i)
		fmt.Fprintf(&main, "  - local: %s\n", name)
		var b strings.Builder
		for j := 0; j < jobs; j++ {
			fmt.Fprintf(&b, "job_%d_%d:\n  stage: test\n  variables:\n    A: b\n  script:\n    - echo %d\n    - make test\n", i, j, j)
		}
		m[name] = &fstest.MapFile{Data: []byte(b.String())}
	}
	main.WriteString("main-job:\n  script: [x]\n")
	m[".gitlab-ci.yml"] = &fstest.MapFile{Data: []byte(main.String())}
	return m
}

// The whole configuration's nodes are bounded, since bytes under GitLab's
// total cap can still be gigabytes of model: once over, the rest of the
// file and every later include are left unread, with one problem.
func TestTotalNodesCap(t *testing.T) {
	const n, jobs, limit = 40, 200, 20_000 // about 2,000 nodes a file
	m := jobHeavyProject(n, jobs)
	fsys := countingFS{m, map[string]int{}}
	p, err := LoadFS(Options{FS: fsys, MaxTotalNodes: limit})
	if err != nil {
		t.Fatal(err)
	}
	var limits []Problem
	for _, pr := range p.Problems {
		if pr.Kind == "limit" {
			limits = append(limits, pr)
		}
	}
	if len(limits) != 1 || !strings.Contains(limits[0].Message, "more than 20000 YAML nodes across its files") {
		t.Fatalf("limit problems: %+v", limits)
	}
	read := 0
	for name, c := range fsys.reads {
		if strings.HasPrefix(name, "ci/") && c > 0 {
			read++
		}
	}
	if read == 0 || read > n/2 {
		t.Errorf("%d of %d includes read under a budget of %d nodes", read, n, limit)
	}
	if p.Job("main-job") == nil {
		t.Error("the main file's own job was lost")
	}
	if got := newLoader("", Options{}).maxTotalNodes(); got != 2_000_000 {
		t.Errorf("default node budget %d", got)
	}
}
