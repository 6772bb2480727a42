package migrate_test

import (
	"bufio"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"gitlab.com/keyless-ci/keyless/internal/lint"
	"gitlab.com/keyless-ci/keyless/internal/migrate"
	"gitlab.com/keyless-ci/keyless/internal/pipeline"
)

const corpusDir = "../../testdata/corpus"

// corpusProjects are the corpus's pipelines as lint's corpus test reads
// them: each .gitlab-ci.yml, then each listed YAML file no pipeline
// reads, alone; each as its repository (owner/repo) and the file in it.
func corpusProjects(t *testing.T) [][2]string {
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
	split := func(f string) [2]string {
		parts := strings.SplitN(f, "/", 3)
		return [2]string{parts[0] + "/" + parts[1], parts[2]}
	}
	read := map[string]bool{}
	var out [][2]string
	add := func(f string) {
		pr := split(f)
		p, err := pipeline.LoadProject(filepath.Join(corpusDir, filepath.FromSlash(pr[0])), pipeline.Options{CIConfig: pr[1]})
		if err != nil {
			t.Fatal(err)
		}
		for _, pf := range p.Files {
			read[path.Join(pr[0], pf.Path)] = true
		}
		out = append(out, pr)
	}
	for _, f := range files {
		if path.Base(f) == ".gitlab-ci.yml" {
			add(f)
		}
	}
	for _, f := range files {
		if !read[f] && (strings.HasSuffix(f, ".yml") || strings.HasSuffix(f, ".yaml")) {
			add(f)
		}
	}
	return out
}

// TestMigrateCorpus migrates every corpus pipeline in which lint sees a
// stored cloud credential, with an identity for every cloud, and asserts
// the post-conditions of issue 17 on each (checkPost, checkPreview). It
// logs the counts: pipelines with stored credentials, migrated whole, in
// part, refused, and the refusals by reason.
func TestMigrateCorpus(t *testing.T) {
	migrateCorpus(t, migrate.Options{Identities: migrate.Identities{Default: flagIdentities}})
}

// TestMigrateCorpusImplicit is TestMigrateCorpus with --implicit: the
// jobs lint is not sure of are migrated too, which puts the edits to
// more of the corpus's YAML.
func TestMigrateCorpusImplicit(t *testing.T) {
	migrateCorpus(t, migrate.Options{Identities: migrate.Identities{Default: flagIdentities}, Implicit: true})
}

func migrateCorpus(t *testing.T, o migrate.Options) {
	var with, whole, part, refused int
	reasons := map[string][]string{}
	for _, pr := range corpusProjects(t) {
		repo, config := pr[0], pr[1]
		p, err := pipeline.LoadProject(filepath.Join(corpusDir, filepath.FromSlash(repo)), pipeline.Options{CIConfig: config})
		if err != nil {
			t.Fatal(err)
		}
		uses := lint.StoredUses(p)
		for _, c := range p.All()[1:] {
			uses = append(uses, lint.StoredUses(c)...)
		}
		if len(uses) == 0 {
			continue
		}
		with++
		name := repo + "/" + config
		t.Run(name, func(t *testing.T) {
			before := copyDir(t, filepath.Join(corpusDir, filepath.FromSlash(repo)))
			work := copyDir(t, before)
			oc := o
			oc.CIConfig = config
			r, err := migrate.Migrate(work, oc)
			if err != nil {
				t.Fatal(err)
			}
			if err := r.Write(); err != nil {
				t.Fatal(err)
			}
			switch {
			case len(r.Plan.Refused) == 0:
				whole++
			case len(r.Plan.Jobs) > 0:
				part++
			default:
				refused++
			}
			for _, rf := range r.Plan.Refused {
				reasons[rf.Reason] = append(reasons[rf.Reason], fmt.Sprintf("%s: job %q (%s): %s", name, rf.Job, rf.Cloud, rf.Message))
			}
			checkPost(t, before, work, config, r.Plan, oc)
			if len(r.Changes) > 0 {
				checkPreview(t, before, config, oc)
			}
		})
	}
	t.Logf("corpus: %d pipelines with stored cloud credentials: %d migrated whole, %d in part, %d refused", with, whole, part, refused)
	for _, k := range sortedReasons(reasons) {
		t.Logf("refused, %s (%d):", k, len(reasons[k]))
		for _, s := range reasons[k] {
			t.Logf("  %s", s)
		}
	}
	if with == 0 {
		t.Fatal("no corpus pipeline has a stored cloud credential: the test checks nothing")
	}
	if whole+part == 0 {
		t.Error("no corpus pipeline was migrated, even in part")
	}
}

func sortedReasons(m map[string][]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
