package lint

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"gitlab.com/keyless-ci/keyless/internal/pipeline"
)

var update = flag.Bool("update", false, "rewrite the golden files (testdata/err/*.out, testdata/corpus-findings.txt)")

// format is a finding as the golden files write it.
func format(f Finding) string {
	return fmt.Sprintf("%s:%d:%d: %s %s: %s", f.Pos.File, f.Pos.Line, f.Pos.Col, f.Severity, f.Rule, f.Message)
}

// load reads a case: a .yml file, or a directory with .gitlab-ci.yml.
func load(t *testing.T, path string) *pipeline.Pipeline {
	t.Helper()
	var p *pipeline.Pipeline
	var err error
	if st, serr := os.Stat(path); serr == nil && st.IsDir() {
		p, err = pipeline.LoadProject(path, pipeline.Options{})
	} else {
		// The case file is the project's CI config, so positions name it
		// relative to its directory.
		p, err = pipeline.LoadProject(filepath.Dir(path), pipeline.Options{CIConfig: filepath.Base(path)})
	}
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// cases lists the .yml files and directories of dir.
func cases(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() || strings.HasSuffix(e.Name(), ".yml") {
			out = append(out, e.Name())
		}
	}
	if len(out) == 0 {
		t.Fatalf("no cases in %s", dir)
	}
	return out
}

// TestGoldenOK: no rule reports anything in a clean pipeline. Component
// includes are not read offline, so the extends: of their hidden jobs do
// not resolve: the problem rules (syntax, include, config) are skipped.
func TestGoldenOK(t *testing.T) {
	for _, c := range cases(t, "testdata/ok") {
		t.Run(c, func(t *testing.T) {
			fs, err := Run(load(t, filepath.Join("testdata/ok", c)), Options{SkipRules: []string{"syntax", "include", "config"}})
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range fs {
				t.Errorf("unexpected finding: %s", format(f))
			}
		})
	}
}

// TestGoldenErr: each case's findings are its .out file.
func TestGoldenErr(t *testing.T) {
	for _, c := range cases(t, "testdata/err") {
		name := strings.TrimSuffix(c, ".yml")
		t.Run(name, func(t *testing.T) {
			fs, err := Run(load(t, filepath.Join("testdata/err", c)), Options{SkipRules: []string{"include"}})
			if err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			for _, f := range fs {
				if f.Confidence == 0 || f.Severity == 0 || f.Rule == "" {
					t.Errorf("finding without rule, severity or confidence: %+v", f)
				}
				b.WriteString(format(f) + "\n")
			}
			out := filepath.Join("testdata/err", name+".out")
			if *update {
				if err := os.WriteFile(out, []byte(b.String()), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(out)
			if err != nil {
				t.Fatalf("%v (run go test ./internal/lint -update)", err)
			}
			if d := cmp.Diff(string(want), b.String()); d != "" {
				t.Errorf("findings differ from %s (-want +got):\n%s", out, d)
			}
			if len(fs) == 0 {
				t.Error("an err case must produce findings")
			}
		})
	}
}

// TestMessagesHoldNoSecret: no finding repeats a secret of its case.
func TestMessagesHoldNoSecret(t *testing.T) {
	for _, c := range cases(t, "testdata/err") {
		p := load(t, filepath.Join("testdata/err", c))
		fs, err := Run(p, Options{})
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range scanSecrets(p) {
			for _, f := range fs {
				if len(h.secret) >= 8 && strings.Contains(f.Message+f.Key, h.secret) {
					t.Errorf("%s: %s finding holds a secret", c, f.Rule)
				}
			}
		}
	}
}
