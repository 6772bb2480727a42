package lint

import (
	"bufio"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"gitlab.com/keyless-ci/keyless/internal/pipeline"
)

const (
	corpusDir      = "../../testdata/corpus"
	corpusFindings = "testdata/corpus-findings.txt"
)

// corpusRun lints the corpus: each .gitlab-ci.yml as a project, then each
// listed file no project read, alone. It returns "file:line: rule-id"
// lines, file relative to the corpus.
func corpusRun(t *testing.T) []string {
	t.Helper()
	f, err := os.Open(filepath.Join(corpusDir, "MANIFEST.tsv"))
	if err != nil {
		t.Skipf("corpus not present: %v", err)
	}
	defer f.Close()
	var files []string
	sc := bufio.NewScanner(f)
	for first := true; sc.Scan(); first = false {
		if !first {
			files = append(files, strings.SplitN(sc.Text(), "\t", 2)[0])
		}
	}
	sort.Strings(files)
	read := map[string]bool{}
	var out []string
	lint := func(dir, config string) {
		p, err := pipeline.LoadProject(filepath.Join(corpusDir, filepath.FromSlash(dir)), pipeline.Options{CIConfig: config})
		if err != nil {
			t.Fatal(err)
		}
		for _, pf := range p.Files {
			read[path.Join(dir, pf.Path)] = true
		}
		fs, err := Run(p, Options{SkipRules: []string{"syntax", "include", "config"}})
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range fs {
			out = append(out, path.Join(dir, f.Pos.File)+":"+strconv.Itoa(f.Pos.Line)+": "+f.Rule)
		}
	}
	// The project root is owner/repo: a nested .gitlab-ci.yml is a child
	// pipeline whose local includes are relative to the repository.
	split := func(f string) (root, rel string) {
		parts := strings.SplitN(f, "/", 3)
		return parts[0] + "/" + parts[1], parts[2]
	}
	for _, f := range files {
		if path.Base(f) == ".gitlab-ci.yml" {
			lint(split(f))
		}
	}
	for _, f := range files {
		if !read[f] && (strings.HasSuffix(f, ".yml") || strings.HasSuffix(f, ".yaml")) {
			lint(split(f))
		}
	}
	return out
}

// TestCorpusFindings: the findings over the corpus are the reviewed ones
// in testdata/corpus-findings.txt, each followed by a "# real: why" line.
// With -update, the file is rewritten; a new finding gets "# TODO review"
// and fails until someone reviews it.
func TestCorpusFindings(t *testing.T) {
	got := corpusRun(t)
	reviews := map[string]string{}
	var want []string
	if b, err := os.ReadFile(corpusFindings); err == nil {
		lines := strings.Split(string(b), "\n")
		for i, l := range lines {
			if l == "" || strings.HasPrefix(l, "#") {
				continue
			}
			want = append(want, l)
			if i+1 < len(lines) && strings.HasPrefix(lines[i+1], "# ") {
				reviews[l] = lines[i+1]
			}
		}
	}
	if *update {
		var b strings.Builder
		b.WriteString("## Findings of keyless lint over testdata/corpus, each reviewed: \"# real: why\".\n")
		b.WriteString("## A finding that is wrong is fixed in its rule, not listed here.\n")
		for _, g := range got {
			r, ok := reviews[g]
			if !ok {
				r = "# TODO review"
			}
			b.WriteString(g + "\n" + r + "\n")
		}
		if err := os.WriteFile(corpusFindings, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		want = got
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("corpus findings differ from %s (-file +now); review each and run -update:\n%s", corpusFindings, d)
	}
	for _, w := range want {
		if r := reviews[w]; !strings.HasPrefix(r, "# real: ") {
			t.Errorf("%s: finding %q has no \"# real: why\" review", corpusFindings, w)
		}
	}
}
