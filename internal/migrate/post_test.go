package migrate_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"gitlab.com/keyless-ci/keyless/internal/lint"
	"gitlab.com/keyless-ci/keyless/internal/migrate"
	"gitlab.com/keyless-ci/keyless/internal/pipeline"
)

// componentFetcher reads the keyless components from this repository's
// templates/, as GitLab reads them from the catalog: what the migrated
// jobs extend is the real component.
type componentFetcher struct{}

var componentRe = regexp.MustCompile(`(?:^|/)(aws|gcp|azure|vault|pypi|npm|crates)@[^/]*$`)

func (componentFetcher) Fetch(inc *pipeline.Include) (string, []byte, error) {
	m := componentRe.FindStringSubmatch(inc.Location)
	if inc.Kind != pipeline.IncludeComponent || m == nil {
		return "", nil, fmt.Errorf("not a keyless component: %s", inc.Location)
	}
	b, err := os.ReadFile(filepath.Join("..", "..", "templates", m[1]+".yml"))
	return "component:keyless-ci/keyless/" + m[1] + "@1", b, err
}

func load(t *testing.T, dir, config string) *pipeline.Pipeline {
	t.Helper()
	p, err := pipeline.LoadProject(dir, pipeline.Options{CIConfig: config, Fetcher: componentFetcher{}})
	if err != nil {
		t.Fatalf("load %s: %v", dir, err)
	}
	return p
}

// jobLines are a resolved job's shell lines by key.
type jobLines struct{ before, script, after []*pipeline.Node }

func linesOf(j *pipeline.Job) jobLines {
	get := func(k string) []*pipeline.Node { return j.Node.Get(k).Scalars() }
	return jobLines{get("before_script"), get("script"), get("after_script")}
}

func values(ns []*pipeline.Node) []string {
	out := []string{}
	for _, n := range ns {
		out = append(out, n.Value)
	}
	return out
}

func jobsByName(p *pipeline.Pipeline) map[string]*pipeline.Job {
	out := map[string]*pipeline.Job{}
	for _, j := range p.Jobs {
		if !j.Hidden {
			out[j.Name] = j
		}
	}
	return out
}

// checkPost asserts issue 17's post-conditions on a project migrated from
// before (a directory) to after: lint sees no stored credential of a
// migrated job's cloud; the job set is the same (keyless:install aside);
// each migrated job runs the component's before_script, its own lines
// less those removed, and the component's after_script, and every other
// job runs what it ran; and migrating again changes nothing.
func checkPost(t *testing.T, before, after, config string, plan migrate.Plan, o migrate.Options) {
	t.Helper()
	pb, pa := load(t, before, config), load(t, after, config)
	for _, pr := range pa.Problems {
		if pr.Kind != "unresolved" && !slices.ContainsFunc(pb.Problems, func(q pipeline.Problem) bool { return q.Message == pr.Message }) {
			t.Errorf("the migrated configuration has a problem the original has not: %s:%d: %s [%s]", pr.Pos.File, pr.Pos.Line, pr.Message, pr.Kind)
		}
	}
	migrated := map[[2]string]bool{}
	// removed[job][pos] is what takes a removed line's place: "" none.
	removed := map[string]map[pipeline.Pos]string{}
	for _, j := range plan.Jobs {
		migrated[[2]string{j.Job, j.Cloud}] = true
		if removed[j.Job] == nil {
			removed[j.Job] = map[pipeline.Pos]string{}
		}
		for _, r := range j.Removed {
			removed[j.Job][pipeline.Pos{File: r.File, Line: r.Line}] = r.With
		}
	}
	for _, u := range lint.StoredUses(pa) {
		if migrated[[2]string{u.Job, u.Replacement}] {
			t.Errorf("lint still sees job %q use a stored %s credential: %s", u.Job, u.Replacement, u.Signals[0].What)
		}
	}
	// keyless compile's output (Pipeline.Merged) has the same jobs, the
	// component's own (keyless:install, its hidden job) aside.
	compiled := func(p *pipeline.Pipeline) []string {
		var out []string
		for _, pr := range p.Merged().Pairs {
			if pipeline.IsJobKey(pr.Key) && pr.Key != "keyless:install" && !strings.HasPrefix(pr.Key, ".keyless-") {
				out = append(out, pr.Key)
			}
		}
		sort.Strings(out)
		return out
	}
	if d := cmp.Diff(compiled(pb), compiled(pa)); d != "" {
		t.Errorf("keyless compile's jobs changed (-before +after):\n%s", d)
	}
	jb, ja := jobsByName(pb), jobsByName(pa)
	var nb, na []string
	for n := range jb {
		if n != "keyless:install" {
			nb = append(nb, n)
		}
	}
	for n := range ja {
		if n != "keyless:install" {
			na = append(na, n)
		}
	}
	sort.Strings(nb)
	sort.Strings(na)
	if d := cmp.Diff(nb, na); d != "" {
		t.Errorf("job set changed (-before +after):\n%s", d)
	}
	for name, j := range jb {
		a := ja[name]
		if a == nil {
			continue
		}
		lb, la := linesOf(j), linesOf(a)
		keep := func(ns []*pipeline.Node) []string {
			var out []string
			for _, n := range ns {
				with, gone := removed[name][pipeline.Pos{File: n.Pos.File, Line: n.Pos.Line}]
				switch {
				case !gone:
					out = append(out, n.Value)
				case with != "":
					out = append(out, with)
				}
			}
			return append([]string{}, out...)
		}
		want := jobLines{}
		wb, ws, wa := keep(lb.before), keep(lb.script), keep(lb.after)
		if removed[name] != nil {
			var hidden *pipeline.Job
			for _, jp := range plan.Jobs {
				if jp.Job == name {
					for _, h := range pa.Jobs {
						if h.Name == jp.Extends {
							hidden = h
						}
					}
					break
				}
			}
			if hidden == nil {
				t.Errorf("job %q: the hidden job it extends is not in the migrated pipeline", name)
				continue
			}
			hl := linesOf(hidden)
			if len(hl.before) == 0 {
				t.Errorf("job %q: the component's hidden job has no before_script (was the component read?)", name)
			}
			wb = append(values(hl.before), wb...)
			wa = append(values(hl.after), wa...)
		}
		_ = want
		for _, c := range []struct {
			key       string
			want, got []string
		}{{"before_script", wb, values(la.before)}, {"script", ws, values(la.script)}, {"after_script", wa, values(la.after)}} {
			if len(c.want) == 0 && len(c.got) == 0 {
				continue
			}
			if d := cmp.Diff(c.want, c.got); d != "" {
				t.Errorf("job %q %s (-want +got):\n%s", name, c.key, d)
			}
		}
	}
	again, err := migrate.Migrate(after, o)
	if err != nil {
		t.Fatalf("second migrate: %v", err)
	}
	if len(again.Changes) > 0 {
		t.Errorf("a second migrate changes the configuration again:\n%s", again.Diff())
	}
}

// copyDir copies a directory tree into a new temporary directory.
func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	copyTree(t, src, dst)
	return dst
}
