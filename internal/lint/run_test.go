package lint

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"gitlab.com/keyless-ci/keyless/internal/pipeline"
)

// fakeRule reports one finding per entry of at, with the given key.
type fakeRule struct {
	id string
	at []Finding
}

func (r fakeRule) Meta() Meta { return Meta{ID: r.id, Title: "fake", Severity: Major, Group: "secret"} }
func (r fakeRule) Check(p *Pass) {
	for _, f := range r.at {
		p.Report(f)
	}
}

// withRegistry runs the test with rules as the registry.
func withRegistry(t *testing.T, rules ...Rule) {
	t.Helper()
	saved := registry
	registry = rules
	t.Cleanup(func() { registry = saved })
}

func pipelineOf(files map[string]string) *pipeline.Pipeline {
	p := &pipeline.Pipeline{}
	for name, src := range files {
		p.Files = append(p.Files, &pipeline.File{Path: name, Src: []byte(src)})
	}
	return p
}

func at(file string, line int, key string) Finding {
	return Finding{Pos: pipeline.Pos{File: file, Line: line, Col: 3}, Message: "m", Key: key}
}

func TestRunFillsDefaultsSortsAndDedupes(t *testing.T) {
	withRegistry(t, fakeRule{id: "b-rule", at: []Finding{at("b.yml", 1, "k"), at("a.yml", 9, "k"), at("a.yml", 9, "k")}},
		fakeRule{id: "a-rule", at: []Finding{at("a.yml", 9, "k")}})
	fs, err := Run(pipelineOf(nil), Options{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range fs {
		got = append(got, f.Pos.File+":"+f.Rule+":"+f.Severity.String()+":"+f.Confidence.String())
	}
	want := []string{"a.yml:a-rule:major:high", "a.yml:b-rule:major:high", "b.yml:b-rule:major:high"}
	if d := cmp.Diff(want, got); d != "" {
		t.Error(d)
	}
}

// Fingerprints depend on rule, file and content, not on the line; two
// occurrences of the same content differ; new content on an old line is new.
func TestFingerprints(t *testing.T) {
	run := func(fs ...Finding) []Finding {
		withRegistry(t, fakeRule{id: "r", at: fs})
		out, err := Run(pipelineOf(nil), Options{})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	before := run(at("a.yml", 3, "secret-1"))
	moved := run(at("a.yml", 30, "secret-1"))
	if before[0].Fingerprint != moved[0].Fingerprint {
		t.Error("moving a finding changed its fingerprint")
	}
	if other := run(at("a.yml", 3, "secret-2")); other[0].Fingerprint == before[0].Fingerprint {
		t.Error("a new secret on the same line kept the old fingerprint")
	}
	if other := run(at("b.yml", 3, "secret-1")); other[0].Fingerprint == before[0].Fingerprint {
		t.Error("the same secret in another file has the same fingerprint")
	}
	twice := run(at("a.yml", 3, "secret-1"), at("a.yml", 8, "secret-1"))
	if len(twice) != 2 || twice[0].Fingerprint == twice[1].Fingerprint {
		t.Errorf("two occurrences share a fingerprint: %+v", twice)
	}
}

func TestInlineSuppression(t *testing.T) {
	src := strings.Join([]string{
		"variables:",
		"  A: x # keyless:ignore[r] test fixture",
		"  # keyless:ignore[other, r] rotated already",
		"  B: x",
		"  C: x # keyless:ignore[other]",
		"  D: x",
		"  E: x # keyless:ignore[r",
		"  F: \"# keyless:ignore[r]\" # not a comment before the directive",
	}, "\n")
	withRegistry(t, fakeRule{id: "r", at: []Finding{at("ci.yml", 2, "a"), at("ci.yml", 4, "b"), at("ci.yml", 5, "c"), at("ci.yml", 6, "d"), at("ci.yml", 7, "e")}},
		fakeRule{id: "other", at: []Finding{at("ci.yml", 5, "c")}})
	fs, err := Run(pipelineOf(map[string]string{"ci.yml": src}), Options{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range fs {
		got = append(got, f.Rule+"@"+string(rune('0'+f.Pos.Line)))
	}
	// Line 6 follows line 5's trailing comment, which is not alone on its
	// line; line 7's directive is not closed.
	if d := cmp.Diff([]string{"r@5", "r@6", "r@7"}, got); d != "" {
		t.Error(d)
	}
}

func TestRuleSelection(t *testing.T) {
	withRegistry(t, fakeRule{id: "r1", at: []Finding{at("a", 1, "1")}}, fakeRule{id: "r2", at: []Finding{at("a", 2, "2")}})
	p := pipelineOf(nil)
	p.Problems = []pipeline.Problem{{Kind: "unresolved", Message: "remote includes are read only with --online", Pos: pipeline.Pos{File: "a", Line: 3}}}
	count := func(o Options) []string {
		fs, err := Run(p, o)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, f := range fs {
			ids = append(ids, f.Rule)
		}
		return ids
	}
	if d := cmp.Diff([]string{"r1", "r2", "include"}, count(Options{})); d != "" {
		t.Error(d)
	}
	if d := cmp.Diff([]string{"r2"}, count(Options{Rules: []string{"r2"}})); d != "" {
		t.Error(d)
	}
	if d := cmp.Diff([]string{"r1", "include"}, count(Options{SkipRules: []string{"r2"}})); d != "" {
		t.Error(d)
	}
	if _, err := Run(p, Options{Rules: []string{"nope"}}); err == nil || !strings.Contains(err.Error(), `unknown rule "nope"`) {
		t.Errorf("an unknown rule id: %v", err)
	}
}

func TestBaseline(t *testing.T) {
	withRegistry(t, fakeRule{id: "r", at: []Finding{at("a.yml", 1, "old"), at("a.yml", 2, "old2")}})
	old, _ := Run(pipelineOf(nil), Options{})
	var buf bytes.Buffer
	if err := NewBaseline(old).Write(&buf); err != nil {
		t.Fatal(err)
	}
	b, err := ReadBaseline(&buf)
	if err != nil {
		t.Fatal(err)
	}
	// The old findings moved down and a new one arrived on line 1.
	withRegistry(t, fakeRule{id: "r", at: []Finding{at("a.yml", 1, "new"), at("a.yml", 5, "old"), at("a.yml", 6, "old2")}})
	now, _ := Run(pipelineOf(nil), Options{})
	left := b.Filter(now)
	if len(left) != 1 || left[0].Key != "new" {
		t.Errorf("after the baseline: %+v", left)
	}
	if _, err := ReadBaseline(strings.NewReader(`{"version": 2, "findings": []}`)); err == nil {
		t.Error("a baseline of another version was read")
	}
	if _, err := ReadBaseline(strings.NewReader(`[]`)); err == nil || !strings.Contains(err.Error(), "--write-baseline") {
		t.Errorf("a malformed baseline: %v", err)
	}
}

// A configuration cut short (a "limit" problem: the total size reached,
// too many includes) may define elsewhere what a job extends: as with an
// include not read, the limit is reported and the "not defined" findings
// it may cause are not (issue 13, item 8).
func TestLimitMakesNotDefinedPartial(t *testing.T) {
	withRegistry(t)
	p := pipelineOf(nil)
	p.Problems = []pipeline.Problem{
		{Pos: pipeline.Pos{File: ".gitlab-ci.yml", Line: 3, Col: 5}, Kind: "limit", Message: "the configuration is larger than 10 bytes"},
		{Pos: pipeline.Pos{File: ".gitlab-ci.yml", Line: 9, Col: 12}, Kind: "extends", Message: `job "build" extends ".tmpl", which is not defined; define it or include the file that defines it`},
	}
	fs, err := Run(p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != 1 || fs[0].Rule != "syntax" {
		t.Errorf("want the limit alone, got %v", fs)
	}
}

// TestRunChildPipelines: a child pipeline's findings and problems are the
// parent's findings, at the child's lines, and an inline suppression in a
// child file holds (issue 15).
func TestRunChildPipelines(t *testing.T) {
	p, err := pipeline.LoadProject("testdata/err/child_pipeline", pipeline.Options{})
	if err != nil {
		t.Fatal(err)
	}
	fs, err := Run(p, Options{Rules: []string{"stored-aws-keys"}})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range fs {
		got = append(got, where(f))
	}
	if d := cmp.Diff([]string{"ci/deploy.yml:4:28", "ci/deploy.yml:11:7"}, got); d != "" {
		t.Errorf("findings (-want +got):\n%s", d)
	}

	// A suppression in the child's file holds.
	dir := t.TempDir()
	for name, src := range map[string]string{
		".gitlab-ci.yml": "child:\n  trigger:\n    include: child.yml\n",
		"child.yml":      "sync:\n  script:\n    # keyless:ignore[stored-aws-keys] the runner's instance role\n    - aws s3 ls\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if p, err = pipeline.LoadProject(dir, pipeline.Options{}); err != nil {
		t.Fatal(err)
	}
	if fs, err = Run(p, Options{Rules: []string{"stored-aws-keys"}}); err != nil || len(fs) != 0 {
		t.Errorf("a suppressed finding in a child file: %v, %v", fs, err)
	}

	// A dynamic child pipeline cannot be read: one include finding, at
	// the trigger:include entry, naming the job to lint it in.
	src := "generate:\n  script: [./gen.sh > child.yml]\n  artifacts: {paths: [child.yml]}\n" +
		"run-child:\n  trigger:\n    include:\n      - artifact: child.yml\n        job: generate\n"
	fs, err = Run(pipeline.Parse("", ".gitlab-ci.yml", []byte(src), pipeline.Options{}), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != 1 || fs[0].Rule != "include" || fs[0].Severity != Info || where(fs[0]) != ".gitlab-ci.yml:7:9" ||
		!strings.Contains(fs[0].Message, `run keyless lint child.yml in job "generate"`) {
		t.Errorf("findings of a dynamic child pipeline: %v", fs)
	}
}
