package report

import (
	"bufio"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"gitlab.com/keyless-ci/keyless/internal/detect"
	"gitlab.com/keyless-ci/keyless/internal/lint"
	"gitlab.com/keyless-ci/keyless/internal/pipeline"
)

// agreementCorpora are the real-world corpus: the shared copy (required
// by issue 14, skipped with a message when absent) and the copy at the
// repository root.
var agreementCorpora = []string{
	filepath.Join("..", "..", "..", "shared", "corpus"),
	filepath.Join("..", "..", "testdata", "corpus"),
}

// corpusPipelines loads every pipeline of a corpus as internal/lint's
// corpus test does: each .gitlab-ci.yml as a project (owner/repo is the
// root), then each listed YAML file no project read, alone.
func corpusPipelines(t *testing.T, dir string) map[string]*pipeline.Pipeline {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "MANIFEST.tsv"))
	if err != nil {
		t.Fatalf("corpus %s: %v", dir, err)
	}
	defer f.Close()
	var files []string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for first := true; sc.Scan(); first = false {
		if !first {
			files = append(files, strings.SplitN(sc.Text(), "\t", 2)[0])
		}
	}
	sort.Strings(files)
	read := map[string]bool{}
	out := map[string]*pipeline.Pipeline{}
	load := func(f string) {
		parts := strings.SplitN(f, "/", 3)
		if len(parts) < 3 {
			return
		}
		root, rel := parts[0]+"/"+parts[1], parts[2]
		p, err := pipeline.LoadProject(filepath.Join(dir, filepath.FromSlash(root)), pipeline.Options{CIConfig: rel})
		if err != nil {
			t.Fatalf("load %s: %v", f, err)
		}
		for _, pf := range p.Files {
			read[path.Join(root, pf.Path)] = true
		}
		out[f] = p
	}
	for _, f := range files {
		if path.Base(f) == ".gitlab-ci.yml" {
			load(f)
		}
	}
	for _, f := range files {
		if !read[f] && (strings.HasSuffix(f, ".yml") || strings.HasSuffix(f, ".yaml")) {
			load(f)
		}
	}
	return out
}

// reportFacts is what the report's usage concludes of each job, in the
// shape of lint.JobFacts: the credential variables (detect.SecretName)
// jobUse finds it references, and the tool jobUse says reads each
// credential variable of pipeline.CredentialEnvs from the environment.
// candidates are the names to ask about.
func reportFacts(p *pipeline.Pipeline, candidates func(child, job string) []string) []lint.JobFacts {
	var out []lint.JobFacts
	for _, v := range jobViews(p) {
		f := lint.JobFacts{Job: v.Job.Name, Child: v.Child}
		for _, k := range candidates(v.Child, v.Job.Name) {
			if how, _ := jobUse(&v, k); detect.SecretName(k) && (strings.HasPrefix(how, "references ") || strings.HasPrefix(how, "sets ")) {
				f.Reads = append(f.Reads, k)
			}
		}
		sort.Strings(f.Reads)
		for _, e := range pipeline.CredentialEnvs {
			for _, c := range e.Credentials {
				how, _ := jobUse(&v, c)
				if how, ok := strings.CutPrefix(how, "runs "); ok {
					tool, _, _ := strings.Cut(how, " ")
					f.Implicit = append(f.Implicit, tool+":"+c)
				}
			}
		}
		sort.Strings(f.Implicit)
		out = append(out, f)
	}
	return out
}

// agree compares lint's and report's facts of p's jobs; it returns the
// number of jobs compared.
func agree(t *testing.T, name string, p *pipeline.Pipeline) int {
	t.Helper()
	lf := lint.Facts(p)
	// A job is its name in its pipeline: a child pipeline may hold a job
	// of the parent's name (one that re-includes the parent's file).
	key := func(child, job string) string { return child + "\x00" + job }
	byJob := map[string]lint.JobFacts{}
	for _, f := range lf {
		byJob[key(f.Child, f.Job)] = f
	}
	// Report asks about a name it is given (a stored variable's key):
	// ask it about every name lint saw and every name the job's own
	// words expand, so that a name only one of them sees shows up.
	views := map[string]pipeline.JobView{}
	for _, v := range jobViews(p) {
		views[key(v.Child, v.Job.Name)] = v
	}
	candidates := func(child, job string) []string {
		k := key(child, job)
		c := slices.Clone(byJob[k].Reads)
		for _, l := range views[k].Lines {
			c = append(c, pipeline.VarRefs(l.Value)...)
		}
		for _, v := range views[k].Variables {
			c = append(c, pipeline.VarRefs(v.Value.Value)...)
		}
		return c
	}
	rf := reportFacts(p, candidates)
	// Lint's tools are every command the job runs; what report knows of
	// them is in Implicit, compared there.
	got := make([]lint.JobFacts, 0, len(lf))
	for _, f := range lf {
		f.Tools = nil
		got = append(got, f)
	}
	for i := range rf {
		rf[i].Reads = slices.Compact(rf[i].Reads)
	}
	if d := cmp.Diff(got, rf, cmpopts.EquateEmpty()); d != "" {
		t.Errorf("%s: lint and report disagree on its jobs (-lint +report):\n%s", name, d)
	}
	return len(lf)
}

// TestLintReportAgreeOnJobs: over every pipeline of the corpus, lint and
// report answer the same for every job: the credential variables it
// reads (issue 14), and which tool reads each cloud credential from the
// environment (issue 15).
func TestLintReportAgreeOnJobs(t *testing.T) {
	jobs, pipelines := 0, 0
	for i, dir := range agreementCorpora {
		if _, err := os.Stat(dir); err != nil {
			if i == 0 {
				t.Logf("shared corpus %s absent (%v): only the repository's corpus is checked", dir, err)
				continue
			}
			t.Skipf("corpus %s absent: %v", dir, err)
		}
		ps := corpusPipelines(t, dir)
		names := make([]string, 0, len(ps))
		for n := range ps {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			jobs += agree(t, n, ps[n])
			pipelines++
		}
	}
	if jobs == 0 {
		t.Fatal("no job compared")
	}
	t.Logf("%d jobs of %d pipelines agree", jobs, pipelines)
}

// TestLintReportAgreeOnPaths is the case the issue names: /usr/bin/aws is
// the AWS CLI for both.
func TestLintReportAgreeOnPaths(t *testing.T) {
	src := `deploy:
  script:
    - /usr/bin/aws s3 ls
    - echo "$AWS_SECRET_ACCESS_KEY" > /dev/null
`
	p := pipeline.Parse("", ".gitlab-ci.yml", []byte(src), pipeline.Options{})
	if n := agree(t, "inline", p); n != 1 {
		t.Fatalf("compared %d jobs, want 1", n)
	}
	f := lint.Facts(p)[0]
	if !slices.Contains(f.Tools, "aws") || !slices.Contains(f.Reads, "AWS_SECRET_ACCESS_KEY") {
		t.Errorf("lint.Facts = %+v, want aws run and AWS_SECRET_ACCESS_KEY read", f)
	}
	v := jobViews(p)[0]
	if got, _ := jobUse(&v, "AWS_ACCESS_KEY_ID"); got != "runs aws (reads AWS_* from the environment)" {
		t.Errorf("jobUse(AWS_ACCESS_KEY_ID) = %q", got)
	}
}
