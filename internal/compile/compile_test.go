package compile

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"

	"gitlab.com/keyless-ci/keyless/internal/pipeline"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func load(t *testing.T, dir string) *pipeline.Pipeline {
	t.Helper()
	p, err := pipeline.LoadProject(dir, pipeline.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func encode(t *testing.T, format string, n *pipeline.Node) []byte {
	t.Helper()
	enc, err := New(format)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := enc.Encode(&b, n); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestGolden compares each format's output for the projects in testdata
// with testdata/<project>.<format> (go test -update rewrites them).
func TestGolden(t *testing.T) {
	for _, project := range []string{"merged", "scalars"} {
		p := load(t, filepath.Join("testdata", project))
		if len(p.Problems) > 0 {
			t.Errorf("%s: problems: %+v", project, p.Problems)
		}
		for _, format := range Names() {
			t.Run(project+"."+format, func(t *testing.T) {
				got := encode(t, format, p.Merged())
				path := filepath.Join("testdata", project+"."+format)
				if *update {
					if err := os.WriteFile(path, got, 0o644); err != nil {
						t.Fatal(err)
					}
					return
				}
				want, err := os.ReadFile(path)
				if err != nil {
					t.Fatalf("%v (run go test ./internal/compile -update)", err)
				}
				if d := cmp.Diff(string(want), string(got)); d != "" {
					t.Errorf("%s (-want +got):\n%s", path, d)
				}
			})
		}
	}
}

func TestNew(t *testing.T) {
	if _, err := New("toml"); err == nil || !strings.Contains(err.Error(), `"toml"`) || !strings.Contains(err.Error(), "yaml or json") {
		t.Errorf("New(toml): %v", err)
	}
}

var (
	corpusOnce sync.Once
	corpus     map[string]*pipeline.Pipeline
	corpusErr  error
)

// corpusMains are the corpus's files read as main files: each
// .gitlab-ci.yml with its project, every other YAML file on its own. They
// are read once for all tests.
func corpusMains(t *testing.T) map[string]*pipeline.Pipeline {
	t.Helper()
	corpusOnce.Do(func() { corpus, corpusErr = readCorpus() })
	if corpusErr != nil {
		t.Fatal(corpusErr)
	}
	if len(corpus) < 100 {
		t.Fatalf("%d corpus files, want the whole corpus", len(corpus))
	}
	return corpus
}

func readCorpus() (map[string]*pipeline.Pipeline, error) {
	dir := filepath.Join("..", "..", "testdata", "corpus")
	out := map[string]*pipeline.Pipeline{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if ext := filepath.Ext(p); d.IsDir() || (ext != ".yml" && ext != ".yaml") {
			return nil
		}
		var pl *pipeline.Pipeline
		if d.Name() == ".gitlab-ci.yml" {
			pl, err = pipeline.LoadProject(filepath.Dir(p), pipeline.Options{})
		} else {
			pl, err = pipeline.LoadFile(p, pipeline.Options{})
		}
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		rel, _ := filepath.Rel(dir, p)
		out[filepath.ToSlash(rel)] = pl
		return nil
	})
	return out, err
}

// TestRoundTrip reads every corpus configuration's YAML output back, as
// GitLab would (pipeline.Parse reads YAML as Psych does): it must hold the
// same configuration, and compiling it again must print the same bytes.
// The output of two runs must be the same too.
func TestRoundTrip(t *testing.T) {
	for name, p := range corpusMains(t) {
		m := p.Merged()
		out := encode(t, "yaml", m)
		if again := encode(t, "yaml", p.Merged()); !bytes.Equal(out, again) {
			t.Errorf("%s: two runs print different YAML", name)
		}
		back := pipeline.Parse("", "compiled.yml", out, pipeline.Options{})
		for _, pr := range back.Problems {
			if pr.Kind == "syntax" {
				t.Errorf("%s: the output does not parse: %s:%d: %s", name, pr.Pos.File, pr.Pos.Line, pr.Message)
			}
		}
		if d := cmp.Diff(shape(m), shape(back.Global)); d != "" {
			t.Errorf("%s: read back, the output differs (-printed +read):\n%s", name, d)
			continue
		}
		if again := encode(t, "yaml", back.Merged()); !bytes.Equal(out, again) {
			t.Errorf("%s: compiling the output again changes it:\n%s", name, cmp.Diff(string(out), string(again)))
		}
	}
}

// TestYAMLAndJSONAgree reads every corpus configuration's YAML output with
// a YAML 1.2 reader and its JSON output with encoding/json: the values
// must be the same.
func TestYAMLAndJSONAgree(t *testing.T) {
	for name, p := range corpusMains(t) {
		m := p.Merged()
		var y, j any
		if err := yaml.Unmarshal(encode(t, "yaml", m), &y); err != nil {
			t.Errorf("%s: yaml: %v", name, err)
			continue
		}
		raw := encode(t, "json", m)
		if !json.Valid(raw) {
			t.Errorf("%s: invalid JSON", name)
			continue
		}
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		if err := dec.Decode(&j); err != nil {
			t.Errorf("%s: json: %v", name, err)
			continue
		}
		if d := cmp.Diff(plain(y), plain(j)); d != "" {
			t.Errorf("%s: YAML and JSON differ (-yaml +json):\n%s", name, d)
		}
	}
}

// shape is a node's kind, tag, value and structure, without positions or
// source text: what a reader of the output can see.
func shape(n *pipeline.Node) any {
	if n == nil {
		return nil
	}
	switch n.Kind {
	case pipeline.Map:
		out := make([]any, 0, 2*len(n.Pairs))
		for _, p := range n.Pairs {
			out = append(out, p.Key, shape(p.Value))
		}
		return map[string]any{"map": out}
	case pipeline.Seq:
		out := make([]any, len(n.Items))
		for i, it := range n.Items {
			out[i] = shape(it)
		}
		return map[string]any{"seq " + n.Tag: out}
	case pipeline.Null:
		return "null"
	}
	return n.Tag + " " + n.Value
}

// plain is a decoded value with maps keyed by strings and numbers as
// float64; NaN and the infinities, which JSON writes as strings, as
// those strings.
func plain(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, x := range v {
			out[k] = plain(x)
		}
		return out
	case map[any]any:
		out := map[string]any{}
		for k, x := range v {
			out[fmt.Sprint(k)] = plain(x)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = plain(x)
		}
		return out
	case json.Number:
		f, _ := v.Float64()
		return f
	case int:
		return float64(v)
	case uint64:
		return float64(v)
	case float64:
		switch {
		case math.IsNaN(v):
			return "NaN"
		case math.IsInf(v, 1):
			return "Infinity"
		case math.IsInf(v, -1):
			return "-Infinity"
		}
	}
	return v
}
