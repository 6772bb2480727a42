package migrate_test

import (
	"bufio"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
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

// previewGaps are the corpus pipelines that gitlab-ci-local --preview
// refuses as they are, offline: each with the refusal it must give (a
// pattern of its output) and why it cannot be lifted here. A pipeline not
// listed must be accepted, and its migrated configuration too; a listed
// one that is accepted fails the test, so that its entry goes and the
// check applies.
var previewGaps = map[string]struct{ refusal, why string }{
	"OpenMW/openmw/.gitlab-ci.yml": {
		refusal: `property 'paths' must not have fewer than 1 items at \S+\.artifacts\.paths`,
		why:     "gitlab-ci-local's schema refuses the project's own `artifacts: paths: []`; migrate changes nothing in it (its jobs are refused: dynamic)",
	},
	"gitlabhq/gitlab-runner/.gitlab-ci.yml": {
		refusal: `Project include could not be fetched \{ project: gitlab-com/gl-security/security-operations/infrastructure-security-public/oidc-modules, ref: 3\.4\.0`,
		why:     "its project include oidc-modules@3.4.0 (and the components it includes) are on gitlab.com only, and their text was not looked for, as migrate changes nothing in it without --implicit (low-confidence)",
	},
	"gitlabhq/omnibus-gitlab/.gitlab-ci.yml": {
		refusal: `Component include could not be fetched \{ project: gitlab-org/components/danger-review, ref: 2\.1\.0`,
		why:     "the danger-review component's template at 2.1.0, whose job it extends, is on gitlab.com only, its text in no mirror searched (testdata/gcl-includes/README.md); Jobs/Container-Scanning.gitlab-ci.yml, which it includes too, is there",
	},
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
	var with, whole, part, refused, previewed int
	var gaps []string
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
			// migrate leaves a refused pipeline as it is: the preview
			// of its original is the preview of its result.
			switch refused, gap := previewMigrated(t, before, config, oc, len(r.Changes) > 0), previewGaps[name]; {
			case gclBin() == "":
			case refused == "" && gap.refusal != "":
				t.Errorf("gitlab-ci-local --preview accepts %s: remove its previewGaps entry, so that the migrated configuration is checked", name)
			case refused == "":
				previewed++
			case gap.refusal == "":
				t.Errorf("gitlab-ci-local --preview refuses the original %s, and previewGaps does not say why:\n%s", name, firstLines(gclErrors(refused), 10))
			case !regexp.MustCompile(gap.refusal).MatchString(refused):
				t.Errorf("gitlab-ci-local --preview refuses the original %s, not as previewGaps says (%s):\n%s", name, gap.refusal, firstLines(gclErrors(refused), 10))
			default:
				gaps = append(gaps, fmt.Sprintf("%s: %s", name, gap.why))
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
	if gclBin() != "" {
		t.Logf("gitlab-ci-local --preview: %d of %d accepted (and their migrated configuration); not previewable offline (%d):", previewed, with, len(gaps))
		for _, g := range gaps {
			t.Logf("  %s", g)
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
