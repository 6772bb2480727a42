package pipeline

import (
	"bufio"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// corpusDirs are the real-world corpus: the shared copy when present and
// the copy committed at the repository root.
func corpusDirs(t testing.TB) []string {
	var dirs []string
	for _, d := range []string{"/work/shared/corpus", filepath.Join("..", "..", "testdata", "corpus")} {
		if st, err := os.Stat(d); err == nil && st.IsDir() {
			dirs = append(dirs, d)
		}
	}
	if len(dirs) == 0 {
		t.Skip("no corpus found")
	}
	return dirs
}

// invalidInCorpus lists the corpus files MANIFEST.tsv marks as invalid
// YAML as published: they must give a syntax problem, and no others may.
func invalidInCorpus(t testing.TB, dir string) map[string]bool {
	out := map[string]bool{}
	f, err := os.Open(filepath.Join(dir, "MANIFEST.tsv"))
	if err != nil {
		t.Fatalf("open manifest: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		cols := strings.Split(sc.Text(), "\t")
		if len(cols) >= 5 && strings.Contains(cols[4], "INVALID YAML") {
			out[cols[0]] = true
		}
	}
	return out
}

func TestCorpus(t *testing.T) {
	for _, dir := range corpusDirs(t) {
		invalid := invalidInCorpus(t, dir)
		if len(invalid) == 0 {
			t.Errorf("%s: manifest lists no invalid file; the test expects one", dir)
		}
		var files []string
		projects := map[string]bool{}
		err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if ext := filepath.Ext(p); !d.IsDir() && (ext == ".yml" || ext == ".yaml") {
				files = append(files, p)
				if d.Name() == ".gitlab-ci.yml" {
					projects[filepath.Dir(p)] = true
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(files) < 100 {
			t.Fatalf("%s: %d YAML files, want the whole corpus", dir, len(files))
		}
		for _, p := range files {
			rel, _ := filepath.Rel(dir, p)
			rel = filepath.ToSlash(rel)
			var pl *Pipeline
			if projects[filepath.Dir(p)] && filepath.Base(p) == ".gitlab-ci.yml" {
				pl, err = LoadProject(filepath.Dir(p), Options{})
			} else {
				pl, err = LoadFile(p, Options{})
			}
			if err != nil {
				t.Errorf("%s: %v", rel, err)
				continue
			}
			counts := map[string]int{}
			syntax := 0
			for _, pr := range pl.Problems {
				counts[pr.Kind]++
				if pr.Kind == "syntax" {
					syntax++
					if !invalid[rel] {
						t.Errorf("%s: unexpected syntax problem %s:%d:%d: %s", rel, pr.Pos.File, pr.Pos.Line, pr.Pos.Col, pr.Message)
					}
				}
				if pr.Pos.Line < 0 {
					t.Errorf("%s: problem with negative line: %+v", rel, pr)
				}
			}
			if invalid[rel] && syntax == 0 {
				t.Errorf("%s: invalid YAML gave no syntax problem", rel)
			}
			t.Logf("%s: %d files, %d jobs, problems %v", rel, len(pl.Files), len(pl.Jobs), counts)
		}
	}
}
