package pipeline

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestMerged checks Merged against what GitLab's merged_yaml holds
// (lib/gitlab/ci/config.rb#build_config), on the fixtures the resolver's
// tests use.
func TestMerged(t *testing.T) {
	tests := []struct {
		dir  string
		path []string // keys from the top level
		want string   // Node.String() (a scalar unquoted), "null", or "<nil>" for absent
	}{
		// extends: merged, parents left to right; the job keeps its own
		// extends: (Extendable::Entry: merged.deep_merge!(value)).
		{"extends", []string{"job", "variables"}, `{ROOT: "root", TOKEN: "from-template", SHARED: "base", LOCAL: "1", OWN: "own"}`},
		{"extends", []string{"job", "extends"}, `[".base", ".local"]`},
		{"extends", []string{"job", "tags"}, `["docker"]`},
		{"extends", []string{"deep", "extends"}, ".level2"},
		{"extends", []string{"deep", "variables", "SHARED"}, "level2"},
		// a null stays (deep_merge keeps it), where the resolved job has
		// the key removed.
		{"extends", []string{"drop", "variables"}, "null"},
		// hidden jobs stay, extended too.
		{"extends", []string{".level2", "variables"}, `{ROOT: "root", TOKEN: "from-template", SHARED: "level2"}`},
		{"extends", []string{".level2", "image"}, "alpine:3"},
		// include: is gone; included keys come first.
		{"extends", []string{"include"}, "<nil>"},
		// default: and the old top-level keywords stay unmerged.
		{"default", []string{"plain"}, `{script: "echo"}`},
		{"default", []string{"image"}, "global-image"},
		{"default", []string{"default", "tags"}, `["default-tag"]`},
		// !reference replaced, script and rules flattened.
		{"reference", []string{"job", "script"}, `["echo setup", "echo remote", "echo job"]`},
		{"reference", []string{"missing", "script", "[0]"}, `!reference [".nope", "script"]`},
		// spec:inputs interpolated.
		{"inputs", []string{"job-test", "stage"}, "test"},
	}
	cache := map[string]*Node{}
	for _, tt := range tests {
		t.Run(tt.dir+"/"+strings.Join(tt.path, "."), func(t *testing.T) {
			m := cache[tt.dir]
			if m == nil {
				m = loadDir(t, tt.dir).Merged()
				cache[tt.dir] = m
			}
			n := m
			for _, k := range tt.path {
				if k == "[0]" {
					n = n.Items[0]
					continue
				}
				n = n.Get(k)
			}
			got := "<nil>"
			if n != nil {
				got = n.String()
				if n.Kind == Null {
					got = "null"
				}
			}
			if got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

// TestMergedKeepsTheModel checks that Merged changes nothing the resolved
// jobs (what lint reads) hold.
func TestMergedKeepsTheModel(t *testing.T) {
	p := loadDir(t, "extends")
	before := p.Job("drop").Node.String()
	problems := len(p.Problems)
	p.Merged()
	if got := p.Job("drop").Node.String(); got != before {
		t.Errorf("job drop changed: %s, was %s", got, before)
	}
	if p.Job("drop").Node.Get("variables") != nil || p.Job("job").Node.Get("extends") != nil {
		t.Error("the resolved jobs must have neither the null nor extends:")
	}
	if len(p.Problems) != problems {
		t.Errorf("Merged added problems: %d, was %d", len(p.Problems), problems)
	}
}

func TestMergedOrderAndStages(t *testing.T) {
	src := `include:
  - local: ci/a.yml
stages: [build, .post, test]
zeta:
  stage: build
  script: z
alpha:
  script: a
`
	root := t.TempDir()
	writeFiles(t, root, map[string]string{"ci/a.yml": "from-include:\n  script: i\nalpha:\n  image: inc\n"})
	p := Parse(root, ".gitlab-ci.yml", []byte(src), Options{})
	m := p.Merged()
	var keys []string
	for _, pr := range m.Pairs {
		keys = append(keys, pr.Key)
	}
	// Included keys first (External::Processor merges the file's own
	// keys into the included ones), a key keeps its first place.
	if d := cmp.Diff([]string{"from-include", "alpha", "stages", "zeta"}, keys); d != "" {
		t.Errorf("top-level keys (-want +got):\n%s", d)
	}
	if got := m.Get("alpha").String(); got != `{image: "inc", script: "a"}` {
		t.Errorf("alpha: %s", got)
	}
	// EdgeStagesInjector: .pre first, .post last, once each.
	if got := m.Get("stages").String(); got != `[".pre", "build", "test", ".post"]` {
		t.Errorf("stages: %s", got)
	}
	if got := p.Global.Get("stages").String(); got != `["build", ".post", "test"]` {
		t.Errorf("Global's stages changed: %s", got)
	}

	// No stages: nothing added; types: is wrapped when stages: is absent.
	if m := Parse("", "x.yml", []byte("job:\n  script: x\n"), Options{}).Merged(); m.Get("stages") != nil {
		t.Errorf("stages added: %s", m.Get("stages"))
	}
	if m := Parse("", "x.yml", []byte("types: [a]\njob:\n  script: x\n"), Options{}).Merged(); m.Get("types").String() != `[".pre", "a", ".post"]` {
		t.Errorf("types: %s", m.Get("types"))
	}
}

// writeFiles writes files (slash-separated paths) below root.
func writeFiles(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
