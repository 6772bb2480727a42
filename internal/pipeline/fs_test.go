package pipeline

import (
	"errors"
	"io/fs"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
)

// Local includes and globs are read from Options.FS, not the disk.
func TestLoadFS(t *testing.T) {
	fsys := fstest.MapFS{
		".gitlab-ci.yml":  {Data: []byte("include:\n  - local: /ci/build.yml\n  - local: ci/jobs/*.yml\nmain:\n  script: [echo main]\n")},
		"ci/build.yml":    {Data: []byte("build:\n  script: [make]\n")},
		"ci/jobs/a.yml":   {Data: []byte("a:\n  script: [echo a]\n")},
		"ci/jobs/b.yml":   {Data: []byte("b:\n  script: [echo b]\n")},
		"ci/jobs/c.txt":   {Data: []byte("not yaml")},
		"other/.keep.yml": {Data: []byte("x: {script: [x]}\n")},
	}
	p, err := LoadFS(Options{FS: fsys})
	if err != nil {
		t.Fatal(err)
	}
	var jobs []string
	for _, j := range p.Jobs {
		jobs = append(jobs, j.Name+"@"+j.Pos.File)
	}
	want := []string{"build@ci/build.yml", "a@ci/jobs/a.yml", "b@ci/jobs/b.yml", "main@.gitlab-ci.yml"}
	if d := cmp.Diff(want, jobs); d != "" {
		t.Errorf("jobs (-want +got):\n%s", d)
	}
	if len(p.Problems) != 0 {
		t.Errorf("problems: %v", problems(p))
	}

	// Parse with an FS reads local includes from it too.
	p = Parse("", ".gitlab-ci.yml", fsys[".gitlab-ci.yml"].Data, Options{FS: fsys})
	if p.Job("build") == nil || p.Job("a") == nil || len(p.Problems) != 0 {
		t.Errorf("Parse with FS: jobs %d, problems %v", len(p.Jobs), problems(p))
	}

	if _, err := LoadFS(Options{FS: fsys, CIConfig: "missing.yml"}); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a missing main file: %v, want fs.ErrNotExist", err)
	}
	p, err = LoadFS(Options{FS: fstest.MapFS{".gitlab-ci.yml": {Data: []byte("include: nope.yml\nj: {script: [x]}\n")}}})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"include .gitlab-ci.yml:1:10"}, problems(p)); d != "" {
		t.Errorf("a missing include (-want +got):\n%s", d)
	}
}

// fileOnlyFS opens files but cannot list directories, as an FS over the
// GitLab API.
type fileOnlyFS struct{ m fstest.MapFS }

func (f fileOnlyFS) Open(name string) (fs.File, error) {
	if f.m[name] == nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return f.m.Open(name)
}

// A glob over an FS that cannot list is an include problem; the named
// includes are still read.
func TestLoadFSGlobUnlisted(t *testing.T) {
	fsys := fileOnlyFS{fstest.MapFS{
		".gitlab-ci.yml": {Data: []byte("include:\n  - local: ci/*.yml\n  - local: ci/a.yml\nmain:\n  script: [x]\n")},
		"ci/a.yml":       {Data: []byte("a:\n  script: [x]\n")},
	}}
	p, err := LoadFS(Options{FS: fsys})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"include .gitlab-ci.yml:2:5"}, problems(p)); d != "" {
		t.Errorf("problems (-want +got):\n%s", d)
	}
	if p.Job("a") == nil {
		t.Error("the named include was not read")
	}
}
