package main

// keyless compile held against an implementation nobody here wrote:
// gitlab-ci-local 4.73.0's --preview, over every pipeline of the public
// corpus (testdata/corpus, a copy of shared/corpus). For each project the
// two must agree on the set of jobs and, job by job, on script,
// before_script, after_script, variables, image, services and rules.
// Every difference either is fixed or is listed in
// testdata/compile-differences.tsv with the reason and the GitLab
// documentation that says which side is right; the test fails on a
// difference not listed, and on a listed one that no longer occurs.
//
// The comparison normalises only what GitLab's documentation calls the
// same (see normalize); where keyless compile prints the configuration as
// GitLab's merged YAML does, default: stays unmerged, so the test applies
// it to keyless's jobs as https://docs.gitlab.com/ci/yaml/#default says
// jobs inherit it, before comparing with gitlab-ci-local, which merges it.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"
)

const (
	corpusDir       = "../../testdata/corpus"
	differencesFile = "../../testdata/compile-differences.tsv"
)

// comparedKeys are the job keys the test compares.
var comparedKeys = []string{"script", "before_script", "after_script", "variables", "image", "services", "rules"}

// The difference keys that are not job keys: gitlab-ci-local's preview
// fails on the project (job "-"), or a job is in one output only.
const (
	keyPreview = "(preview)"
	keyJob     = "(job)"
)

// difference is one row of testdata/compile-differences.tsv, or one
// difference found.
type difference struct {
	Project, Job, Key string
	Reason, Doc       string
	// Detail is what differs, for the test log.
	Detail string
}

func (d difference) id() string { return d.Project + "\t" + d.Job + "\t" + d.Key }

func TestE2ECompileDifferential(t *testing.T) {
	p := e2e(t)
	gcl := filepath.Join(p.Tools, "bin", "gitlab-ci-local")
	if p.Tools == "" {
		home, _ := os.UserHomeDir()
		gcl = filepath.Join(home, ".cache", "keyless-tools", "bin", "gitlab-ci-local")
	}
	if _, err := os.Stat(gcl); err != nil {
		t.Fatalf("gitlab-ci-local is missing at %s: run scripts/install-peers.sh", gcl)
	}
	listed := readDifferences(t)

	var found []difference
	var stats compareStats
	compared, equal, refused := 0, 0, 0
	projects := corpusPipelines(t)
	for _, pr := range projects {
		dir := corpusProject(t, pr.repo)
		k := run(t, nil, p.Bin, "compile", "--format", "json", "--ci-config", pr.path, dir)
		if k.Code != 0 && k.Code != 1 {
			t.Errorf("%s: keyless compile: exit %d\n%s", pr.name(), k.Code, k.Stderr)
			continue
		}
		g := previewGCL(t, gcl, dir, pr.path)
		if g.Code != 0 {
			refused++
			found = append(found, difference{Project: pr.name(), Job: "-", Key: keyPreview, Detail: firstLines(g.Stderr, 3)})
			continue
		}
		compared++
		diffs := compareConfigs(t, pr.name(), k.Stdout, g.Stdout, &stats)
		if len(diffs) == 0 {
			equal++
		}
		found = append(found, diffs...)
	}

	seen := map[string]bool{}
	reasons := map[string]int{}
	for _, d := range found {
		seen[d.id()] = true
		l, ok := listed[d.id()]
		if !ok {
			t.Errorf("difference not listed in %s:\n%s\t%s\t%s\t<reason>\t<GitLab doc URL>\n%s", differencesFile, d.Project, d.Job, d.Key, d.Detail)
			continue
		}
		reasons[l.Reason]++
	}
	for id, l := range listed {
		if !seen[id] {
			t.Errorf("%s lists a difference that no longer occurs: remove it\n%s\t%s\t%s\t%s", differencesFile, l.Project, l.Job, l.Key, l.Reason)
		}
	}
	t.Logf("%d pipelines: %d compared (%d equal, %d differing; %d jobs, %d job keys set on either side), %d that gitlab-ci-local --preview refuses; %d differences, by reason:",
		len(projects), compared, equal, compared-equal, stats.jobs, stats.keys, refused, len(found))
	var rs []string
	for r := range reasons {
		rs = append(rs, r)
	}
	sort.Strings(rs)
	for _, r := range rs {
		t.Logf("%4d  %s", reasons[r], r)
	}
}

// corpusPipeline is one pipeline of the corpus: a .gitlab-ci.yml at path
// in repository repo (corpus/<repo>/<path>).
type corpusPipeline struct{ repo, path string }

func (c corpusPipeline) name() string { return c.repo + "/" + c.path }

// corpusPipelines lists the corpus's .gitlab-ci.yml files from its
// MANIFEST.tsv: the files GitLab reads as a project's CI/CD configuration.
func corpusPipelines(t *testing.T) []corpusPipeline {
	t.Helper()
	f, err := os.Open(filepath.Join(corpusDir, "MANIFEST.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []corpusPipeline
	sc := bufio.NewScanner(f)
	for first := true; sc.Scan(); first = false {
		cols := strings.Split(sc.Text(), "\t")
		if first || len(cols) < 3 || filepath.Base(cols[2]) != ".gitlab-ci.yml" {
			continue
		}
		out = append(out, corpusPipeline{repo: cols[1], path: cols[2]})
	}
	if len(out) < 40 {
		t.Fatalf("%d pipelines in the corpus manifest, want the whole corpus", len(out))
	}
	return out
}

// corpusProject copies the corpus's files of repo into a new Git
// repository whose origin is the project on gitlab.com, as a clone has it
// (gitlab-ci-local reads the project from Git).
func corpusProject(t *testing.T, repo string) string {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join(corpusDir, filepath.FromSlash(repo))
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dir, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"init", "-q", "-b", "main"},
		{"config", "user.name", "keyless e2e"},
		{"config", "user.email", "e2e@keyless.invalid"},
		{"remote", "add", "origin", "https://gitlab.com/" + repo + ".git"},
		{"add", "-A"},
		{"commit", "-q", "-m", "corpus"},
		{"update-ref", "refs/remotes/origin/main", "HEAD"},
		{"symbolic-ref", "refs/remotes/origin/HEAD", "refs/remotes/origin/main"},
	} {
		if r := run(t, nil, "git", append([]string{"-C", dir}, args...)...); r.Code != 0 {
			t.Fatalf("git %s: %s", strings.Join(args, " "), r.Stderr)
		}
	}
	return dir
}

// previewGCL runs gitlab-ci-local --preview on file of the project in
// dir. Its JSON schema check is off: it validates the configuration, which
// is not what is compared here (on schema grounds it refuses three corpus
// pipelines, Kitware/CMake, OpenMW/openmw and coq/coq). Its stdout is a file: Node.js exits before a pipe has taken all
// of a large preview (the corpus's biggest are cut at 64 KiB).
func previewGCL(t *testing.T, gcl, dir, file string) result {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	rel, err := filepath.Rel(wd, dir) // gitlab-ci-local refuses an absolute --cwd
	if err != nil {
		t.Fatal(err)
	}
	out, err := os.CreateTemp(t.TempDir(), "preview-*.yml")
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd := exec.Command(gcl, "--cwd", rel, "--file", file, "--preview", "--no-json-schema-validation", "--no-color")
	// Kept off the network (a proxy that refuses): an include it would
	// fetch fails alike on every machine, and nothing leaves the test.
	off := "http://127.0.0.1:1"
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "TMPDIR=" + t.TempDir(),
		"HTTPS_PROXY=" + off, "https_proxy=" + off, "HTTP_PROXY=" + off, "http_proxy=" + off, "ALL_PROXY=" + off, "all_proxy=" + off}
	var errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = out, &errb
	if err := cmd.Run(); err != nil && cmd.ProcessState == nil {
		t.Fatalf("gitlab-ci-local: %v", err)
	}
	b, err := os.ReadFile(out.Name())
	if err != nil {
		t.Fatal(err)
	}
	return result{Stdout: string(b), Stderr: errb.String(), Code: cmd.ProcessState.ExitCode()}
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(strings.TrimSpace(s), "\n", n+1)
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, "\n")
}

// readDifferences reads testdata/compile-differences.tsv: project, job,
// key, reason, documentation URL; # starts a comment line.
func readDifferences(t *testing.T) map[string]difference {
	t.Helper()
	b, err := os.ReadFile(differencesFile)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]difference{}
	for i, line := range strings.Split(string(b), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		cols := strings.Split(line, "\t")
		if len(cols) != 5 || cols[3] == "" || !strings.HasPrefix(cols[4], "https://docs.gitlab.com/") {
			t.Fatalf("%s:%d: want project, job, key, reason and a https://docs.gitlab.com/ URL, tab-separated: %q", differencesFile, i+1, line)
		}
		d := difference{Project: cols[0], Job: cols[1], Key: cols[2], Reason: cols[3], Doc: cols[4]}
		if _, dup := out[d.id()]; dup {
			t.Fatalf("%s:%d: listed twice: %s", differencesFile, i+1, d.id())
		}
		out[d.id()] = d
	}
	return out
}

// reservedKeys are the top-level keywords that are not jobs
// (https://docs.gitlab.com/ci/yaml/#global-keywords), with "types", the
// old name of stages, and "spec".
var reservedKeys = map[string]bool{
	"default": true, "include": true, "stages": true, "variables": true, "workflow": true,
	"image": true, "services": true, "cache": true, "before_script": true, "after_script": true,
	"spec": true, "types": true,
}

// gclNotJobs are the top-level keys gitlab-ci-local does not take for jobs
// (Job.illegalJobNames in its src/job.ts).
var gclNotJobs = map[string]bool{
	"include": true, "local_configuration": true, "image": true, "services": true, "stages": true,
	"before_script": true, "default": true, "after_script": true, "variables": true, "cache": true,
	"workflow": true, "page:deploy": true,
}

// compareStats counts what was compared, so that a comparison that
// compares nothing shows.
type compareStats struct{ jobs, keys int }

// compareConfigs compares keyless compile's JSON with gitlab-ci-local's
// preview YAML and returns the differences.
func compareConfigs(t *testing.T, project, keylessJSON, gclYAML string, stats *compareStats) []difference {
	t.Helper()
	var k map[string]any
	dec := json.NewDecoder(strings.NewReader(keylessJSON))
	dec.UseNumber()
	if err := dec.Decode(&k); err != nil {
		t.Fatalf("%s: keyless compile --format json: %v", project, err)
	}
	// Warnings come first on stdout; the preview is the document after
	// them (src/handler.ts writes "---\n" and the YAML).
	if i := strings.Index(gclYAML, "\n---\n"); i >= 0 && !strings.HasPrefix(gclYAML, "---\n") {
		gclYAML = gclYAML[i+1:]
	}
	var g map[string]any
	if err := yaml.Unmarshal([]byte(gclYAML), &g); err != nil {
		t.Fatalf("%s: gitlab-ci-local --preview: %v", project, err)
	}
	kJobs := jobsOf(k, reservedKeys)
	gJobs := jobsOf(g, gclNotJobs)
	inheritDefaults(k, kJobs)

	var out []difference
	var names []string
	for name := range kJobs {
		names = append(names, name)
	}
	for name := range gJobs {
		if _, ok := kJobs[name]; !ok {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	for _, name := range names {
		kj, kok := kJobs[name]
		gj, gok := gJobs[name]
		if !kok || !gok {
			where := "keyless"
			if gok {
				where = "gitlab-ci-local"
			}
			out = append(out, difference{Project: project, Job: name, Key: keyJob, Detail: "only in " + where})
			continue
		}
		stats.jobs++
		for _, key := range comparedKeys {
			if kj[key] != nil || gj[key] != nil {
				stats.keys++
			}
			kv, gv := normalize(key, kj[key]), normalize(key, gj[key])
			if d := cmp.Diff(gv, kv); d != "" {
				out = append(out, difference{Project: project, Job: name, Key: key, Detail: "(-gitlab-ci-local +keyless)\n" + d})
			}
		}
	}
	return out
}

// jobsOf is the jobs of a configuration: the top-level maps that are not
// keywords or hidden.
func jobsOf(config map[string]any, notJobs map[string]bool) map[string]map[string]any {
	out := map[string]map[string]any{}
	for name, v := range config {
		m, ok := asMap(v)
		if !ok || notJobs[name] || strings.HasPrefix(name, ".") {
			continue
		}
		out[name] = m
	}
	return out
}

// inheritedKeys are the compared keys a job inherits from default: (and
// the old top-level keywords) when it does not set them
// (https://docs.gitlab.com/ci/yaml/#default,
// https://docs.gitlab.com/ci/yaml/#globally-defined-image-services-cache-before_script-after_script),
// unless inherit:default says otherwise
// (https://docs.gitlab.com/ci/yaml/#inheritdefault).
var inheritedKeys = []string{"image", "services", "before_script", "after_script"}

func inheritDefaults(config map[string]any, jobs map[string]map[string]any) {
	def, _ := asMap(config["default"])
	for _, job := range jobs {
		allow := func(string) bool { return true }
		if in, ok := asMap(job["inherit"]); ok {
			switch v := in["default"].(type) {
			case bool:
				if !v {
					continue
				}
			case []any:
				allow = func(k string) bool {
					for _, x := range v {
						if x == k {
							return true
						}
					}
					return false
				}
			}
		}
		for _, k := range inheritedKeys {
			if job[k] != nil || !allow(k) {
				continue
			}
			if v, ok := def[k]; ok {
				job[k] = v
			} else if v, ok := config[k]; ok {
				job[k] = v
			}
		}
	}
}

// normalize brings a value of key to the form both tools are compared in,
// writing alike only what GitLab's documentation calls the same.
func normalize(key string, v any) any {
	v = canon(v)
	switch key {
	case "script", "before_script", "after_script":
		// "a single command or an array of commands"; nested arrays are
		// flattened (https://docs.gitlab.com/ci/yaml/#script).
		if s, ok := v.(string); ok {
			return []any{s}
		}
		if l, ok := v.([]any); ok {
			return flattenList(l)
		}
	case "rules":
		// A list of rules in a list, as !reference makes it, is
		// flattened (https://docs.gitlab.com/ci/jobs/job_rules/#reuse-rules-in-different-jobs).
		if l, ok := v.([]any); ok {
			return flattenList(l)
		}
	case "variables":
		return normalizeVariables(v)
	case "image":
		// image: NAME is image:name: NAME
		// (https://docs.gitlab.com/ci/yaml/#imagename).
		if s, ok := v.(string); ok {
			return map[string]any{"name": s}
		}
	case "services":
		// services: [NAME] is services: [{name: NAME}]
		// (https://docs.gitlab.com/ci/yaml/#servicesname); a service's
		// variables are variables (https://docs.gitlab.com/ci/services/#define-services-in-the-gitlab-ciyml-file).
		l, ok := v.([]any)
		if !ok {
			return v
		}
		out := make([]any, len(l))
		for i, s := range l {
			switch s := s.(type) {
			case string:
				out[i] = map[string]any{"name": s}
			case map[string]any:
				m := map[string]any{}
				for k, x := range s {
					m[k] = x
				}
				if vars, ok := m["variables"]; ok {
					m["variables"] = normalizeVariables(vars)
				}
				out[i] = m
			default:
				out[i] = s
			}
		}
		return out
	}
	return v
}

// normalizeVariables writes each variable as the string the job gets:
// the long form's value: (its description: and options: only document
// it, https://docs.gitlab.com/ci/yaml/#variablesdescription), with
// expand: false written as $$ escapes, which also keep a $ from being
// expanded (https://docs.gitlab.com/ci/yaml/#variablesexpand,
// https://docs.gitlab.com/ci/variables/#use-the--character-in-cicd-variables);
// a number is its decimal text, whichever way it is written.
func normalizeVariables(v any) any {
	m, ok := v.(map[string]any)
	if !ok {
		return v
	}
	out := map[string]any{}
	for name, x := range m {
		expand := true
		if long, ok := x.(map[string]any); ok {
			if e, ok := long["expand"].(bool); ok {
				expand = e
			}
			x = long["value"]
		}
		s := scalarText(x)
		if !expand {
			s = strings.ReplaceAll(s, "$", "$$")
		}
		out[name] = s
	}
	return out
}

func scalarText(x any) string {
	switch x := x.(type) {
	case nil:
		return ""
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	}
	return fmt.Sprint(x)
}

func flattenList(l []any) []any {
	var out []any
	for _, x := range l {
		if sub, ok := x.([]any); ok {
			out = append(out, flattenList(sub)...)
		} else {
			out = append(out, x)
		}
	}
	return out
}

// canon is v with maps keyed by strings and every number a float64, as
// JSON and YAML decoders differ there.
func canon(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[k] = canon(x)
		}
		return out
	case map[any]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[fmt.Sprint(k)] = canon(x)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = canon(x)
		}
		return out
	case json.Number:
		f, err := v.Float64()
		if err != nil {
			return v.String()
		}
		return f
	case int:
		return float64(v)
	case int64:
		return float64(v)
	case uint64:
		return float64(v)
	}
	return v
}

func asMap(v any) (map[string]any, bool) {
	switch m := canon(v).(type) {
	case map[string]any:
		return m, true
	}
	return nil, false
}

// TestCompareConfigs checks the comparison itself, without peers: what
// the documentation calls the same compares equal, anything else does not.
func TestCompareConfigs(t *testing.T) {
	keyless := `{
  "default": {"image": "debian:12", "before_script": ["echo default"]},
  "variables": {"GLOBAL": "g"},
  ".hidden": {"script": ["x"]},
  "same": {
    "script": "make",
    "variables": {"A": {"value": "a$b", "expand": false}, "B": {"value": "b", "description": "d"}, "N": 1},
    "services": ["postgres", {"name": "redis", "alias": "cache"}],
    "rules": [[{"if": "$X"}], {"when": "manual"}]
  },
  "no-default": {"inherit": {"default": false}, "script": ["true"]},
  "some-default": {"inherit": {"default": ["image"]}, "script": ["true"]},
  "differs": {"script": ["one"], "image": {"name": "alpine", "pull_policy": "always"}},
  "only-keyless": {"script": ["x"]}
}`
	gcl := `---
stages: [.pre, test, .post]
variables:
  GLOBAL: g
same:
  image:
    name: debian:12
  before_script: [echo default]
  script: [make]
  variables:
    A: a$$b
    B: b
    N: "1"
  services:
    - name: postgres
    - name: redis
      alias: cache
  rules:
    - if: $X
    - when: manual
no-default:
  inherit:
    default: false
  script: ["true"]
some-default:
  inherit:
    default: [image]
  image:
    name: debian:12
  script: ["true"]
differs:
  image:
    name: alpine
  before_script: [echo default]
  script: [two]
only-gcl:
  script: [x]
`
	var got []string
	for _, d := range compareConfigs(t, "p", keyless, gcl, &compareStats{}) {
		got = append(got, d.Job+" "+d.Key)
	}
	want := []string{"differs script", "differs image", "only-gcl (job)", "only-keyless (job)"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("differences (-want +got):\n%s", d)
	}
}
