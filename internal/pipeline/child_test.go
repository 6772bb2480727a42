package pipeline

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
)

// TestChildPipelines: trigger:include starts a child pipeline, read as a
// pipeline of its own below the parent, with the variables the trigger
// job passes down (issue 15; testdata/child).
func TestChildPipelines(t *testing.T) {
	p := loadDir(t, "child")
	type child struct {
		Files, Triggers, Jobs, Upstream, Problems []string
	}
	describe := func(q *Pipeline) child {
		var c child
		for _, f := range q.Files {
			c.Files = append(c.Files, f.Path)
		}
		for _, j := range q.Triggers {
			c.Triggers = append(c.Triggers, j.Name)
		}
		for _, j := range q.Jobs {
			c.Jobs = append(c.Jobs, j.Name)
		}
		for _, v := range q.Upstream {
			c.Upstream = append(c.Upstream, fmt.Sprintf("%s:%s=%s", v.Scope, v.Name, v.Value.Value))
		}
		c.Problems = problems(q)
		return c
	}
	var got []child
	for _, q := range p.All()[1:] {
		got = append(got, describe(q))
	}
	want := []child{
		{
			Files:    []string{"ci/deploy.yml", "ci/common.yml", "ci/nested.yml"},
			Triggers: []string{"deploy", "deploy-again"},
			Jobs:     []string{".common", "deploy-job", "nested"},
			Upstream: []string{"global:GLOBAL=parent", "job:TARGET=production", "global:GLOBAL=parent"},
		},
		{Files: []string{"ci/alone.yml"}, Triggers: []string{"alone"}, Jobs: []string{"alone-job"}, Upstream: []string{"job:JOB_VAR=only-this"}},
		{Files: []string{"ci/quiet.yml"}, Triggers: []string{"quiet"}, Jobs: []string{"quiet-job"}},
		// Offline, a project: file is not read; the problem is the child's.
		{Triggers: []string{"elsewhere"}, Upstream: []string{"global:GLOBAL=parent"}, Problems: []string{"unresolved .gitlab-ci.yml:46:9"}},
		// Two levels below the main pipeline: GitLab starts no third.
		{
			Files: []string{"ci/nested.yml"}, Triggers: []string{"nested"}, Jobs: []string{"nested-job", "too-deep"},
			Upstream: []string{"global:CHILD=child"}, Problems: []string{"limit ci/nested.yml:6:14"},
		},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("child pipelines (-want +got):\n%s", d)
	}
	// The artifact of a dynamic child pipeline cannot be read; "again"
	// re-includes the main file, a cycle, and starts nothing.
	if d := cmp.Diff([]string{"include .gitlab-ci.yml:40:9"}, problems(p)); d != "" {
		t.Errorf("the parent's problems (-want +got):\n%s", d)
	}
	if !strings.Contains(p.Problems[0].Message, `run keyless lint generated.yml in job "generate"`) {
		t.Errorf("the artifact problem does not name the fix: %s", p.Problems[0].Message)
	}

	// The child's jobs are its own: not the parent's default: image.
	deploy := p.Children[0]
	if img := deploy.Job("deploy-job").Node.Get("image"); img != nil {
		t.Errorf("the child's job inherits the parent's default: image %s", at(img))
	}
	if deploy.Job("build") != nil || deploy.Parent != p || p.Children[0].Children[0].Parent != deploy {
		t.Error("a child pipeline holds its parent's jobs, or its parent is wrong")
	}
	v := deploy.JobViews()[0]
	var vars []string
	for _, x := range v.Variables {
		vars = append(vars, x.Name)
	}
	if d := cmp.Diff([]string{"CHILD", "GLOBAL", "TARGET", "GLOBAL"}, vars); d != "" {
		t.Errorf("deploy-job's variables, the passed-down ones last (-want +got):\n%s", d)
	}

	// The parent's Files hold every file read, for sources and
	// suppressions; LocalFiles the project files the tree reads.
	var files []string
	for _, f := range p.Files {
		files = append(files, f.Path)
	}
	wantFiles := []string{".gitlab-ci.yml", "ci/deploy.yml", "ci/common.yml", "ci/nested.yml", "ci/alone.yml", "ci/quiet.yml"}
	if d := cmp.Diff(wantFiles, files); d != "" {
		t.Errorf("files (-want +got):\n%s", d)
	}
	local := p.LocalFiles()
	sort.Strings(local)
	local = compactStrings(local)
	sort.Strings(wantFiles)
	if d := cmp.Diff(wantFiles, local); d != "" {
		t.Errorf("LocalFiles (-want +got):\n%s", d)
	}
}

func compactStrings(s []string) []string {
	out := s[:0]
	for i, x := range s {
		if i == 0 || x != s[i-1] {
			out = append(out, x)
		}
	}
	return out
}

// TestChildFromProject: trigger:include:project is read with --online like
// other project includes, and the file's own local includes are files of
// the project running the pipeline, as GitLab reads them
// (https://docs.gitlab.com/ci/yaml/#triggerinclude).
func TestChildFromProject(t *testing.T) {
	f := &countingFetcher{files: map[string][]byte{
		"child.yml": []byte("include:\n  - local: ci/local.yml\nchild-job:\n  extends: .local\n"),
	}}
	o := Options{
		Fetcher: f,
		FS:      fstest.MapFS{"ci/local.yml": {Data: []byte(".local:\n  script: [echo local]\n")}},
	}
	p := Parse("", ".gitlab-ci.yml", []byte("trigger-job:\n  trigger:\n    include:\n      - project: group/lib\n        file: child.yml\n"), o)
	if len(p.Children) != 1 {
		t.Fatalf("%d children, want 1 (problems %v)", len(p.Children), problems(p))
	}
	c := p.Children[0]
	var files []string
	for _, f := range c.Files {
		files = append(files, f.Path)
	}
	if d := cmp.Diff([]string{"project:group/lib:child.yml", "ci/local.yml"}, files); d != "" {
		t.Errorf("child files (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{"child.yml"}, f.fetched); d != "" {
		t.Errorf("fetched (-want +got):\n%s", d)
	}
	if j := c.Job("child-job"); j == nil || len(j.Node.Get("script").Items) != 1 || len(c.Problems) > 0 {
		t.Errorf("child-job does not extend .local of the running project: %v", problems(c))
	}
}

// TestChildReferenceBombs: child pipelines share the parent's bounds, so
// many children each holding a reference bomb expand no more than one
// pipeline may.
func TestChildReferenceBombs(t *testing.T) {
	var bomb strings.Builder
	bomb.WriteString("spec:\n  inputs:\n    n:\n---\n.a0:\n  s: [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < 8; i++ {
		fmt.Fprintf(&bomb, ".a%d:\n  s:\n", i)
		for j := 0; j < 10; j++ {
			fmt.Fprintf(&bomb, "    - !reference [.a%d, s]\n", i-1)
		}
	}
	bomb.WriteString("job-$[[ inputs.n ]]:\n  script: !reference [.a7, s]\n")
	var main strings.Builder
	for i := 0; i < 40; i++ {
		fmt.Fprintf(&main, "t%d:\n  trigger:\n    include:\n      - local: bomb.yml\n        inputs: {n: %d}\n", i, i)
	}
	p := Parse("", ".gitlab-ci.yml", []byte(main.String()), Options{FS: fstest.MapFS{"bomb.yml": {Data: []byte(bomb.String())}}})
	if len(p.Children) != 40 {
		t.Fatalf("%d children, want 40", len(p.Children))
	}
	total, limits := 0, 0
	for _, q := range p.All() {
		for _, j := range q.Jobs {
			j.Node.Walk(func(_ []string, _ *Node) bool { total++; return true })
		}
		for _, pr := range q.Problems {
			if pr.Kind == "limit" {
				limits++
			}
		}
	}
	if total > maxResolved+100_000 || limits == 0 {
		t.Errorf("resolved jobs hold %d nodes (%d limit problems), want at most %d", total, limits, maxResolved)
	}
}

// TestChildSharedFileProblems: a file the parent and a child pipeline both
// include is decoded once (issue 15), and each pipeline still reports its
// problems, at the same places.
func TestChildSharedFileProblems(t *testing.T) {
	fsys := fstest.MapFS{
		".gitlab-ci.yml": {Data: []byte("include: ci/shared.yml\nkick:\n  trigger:\n    include: ci/child.yml\n")},
		"ci/child.yml":   {Data: []byte("include: ci/shared.yml\nchild-job:\n  script: [echo child]\n")},
		"ci/shared.yml":  {Data: []byte("shared:\n  script: [echo \xff]\nbad: [\n")},
	}
	p, err := LoadFS(Options{FS: fsys})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Children) != 1 {
		t.Fatalf("%d child pipelines, want 1", len(p.Children))
	}
	want := []string{"syntax ci/shared.yml:2:17", "syntax ci/shared.yml:3:0"}
	if d := cmp.Diff(want, problems(p)); d != "" {
		t.Errorf("the parent's problems (-want +got):\n%s", d)
	}
	if d := cmp.Diff(want, problems(p.Children[0])); d != "" {
		t.Errorf("the child's problems (-want +got):\n%s", d)
	}
	for _, q := range p.All() {
		if q.Job("shared") == nil {
			t.Errorf("pipeline %s lacks the job of the shared file", q.Files[0].Path)
		}
	}
}
