package lint

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// findProjects weighs each project by the YAML below it, its nested
// projects' included, so that Lint can start the largest first.
func TestFindProjectsWeighsTheYAMLBelow(t *testing.T) {
	root := t.TempDir()
	for path, size := range map[string]int{
		".gitlab-ci.yml":                100,
		"ci/build.yml":                  50,
		"README.md":                     1000, // not YAML
		"svc/.gitlab-ci.yml":            20,
		"svc/deep/x.yaml":               5,
		"node_modules/p/.gitlab-ci.yml": 7, // skipped
		"lone/.gitlab-ci.yml":           3,
	} {
		p := filepath.Join(root, filepath.FromSlash(path))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(strings.Repeat("#", size)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got := map[string]int64{}
	projects, err := findProjects(root, ".gitlab-ci.yml")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range projects {
		rel, _ := filepath.Rel(root, p.dir)
		got[filepath.ToSlash(rel)] = p.yaml
	}
	want := map[string]int64{".": 178, "svc": 25, "lone": 3}
	if len(got) != len(want) {
		t.Fatalf("projects %v, want %v", got, want)
	}
	for dir, n := range want {
		if got[dir] != n {
			t.Errorf("%s weighs %d, want %d", dir, got[dir], n)
		}
	}
}
