package pipeline

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// at renders a node as value@file:line:col, the form the tables use.
func at(n *Node) string {
	if n == nil {
		return "<nil>"
	}
	return fmt.Sprintf("%s@%s:%d:%d", n.String(), n.Pos.File, n.Pos.Line, n.Pos.Col)
}

func problems(p *Pipeline) []string {
	var out []string
	for _, pr := range p.Problems {
		out = append(out, fmt.Sprintf("%s %s:%d:%d", pr.Kind, pr.Pos.File, pr.Pos.Line, pr.Pos.Col))
	}
	return out
}

func loadDir(t *testing.T, dir string) *Pipeline {
	t.Helper()
	p, err := LoadProject(filepath.Join("testdata", dir), Options{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// lookup follows a path of keys and [i] indexes from a job's node.
func lookup(p *Pipeline, job string, path ...string) *Node {
	j := p.Job(job)
	if j == nil {
		return nil
	}
	n := j.Node
	for _, k := range path {
		var i int
		if _, err := fmt.Sscanf(k, "[%d]", &i); err == nil && n != nil && n.Kind == Seq {
			if i >= len(n.Items) {
				return nil
			}
			n = n.Items[i]
			continue
		}
		n = n.Get(k)
	}
	return n
}

func TestResolvedValues(t *testing.T) {
	tests := []struct {
		dir, job string
		path     []string
		want     string
	}{
		// extends: inherited values keep the included file's position.
		{"extends", "job", []string{"variables", "TOKEN"}, "from-template@ci/templates.yml:9:12"},
		{"extends", "job", []string{"variables", "ROOT"}, "root@ci/templates.yml:4:11"},
		{"extends", "job", []string{"variables", "OWN"}, "own@.gitlab-ci.yml:12:10"},
		{"extends", "job", []string{"variables", "LOCAL"}, "1@.gitlab-ci.yml:6:12"},
		{"extends", "job", []string{"image"}, "alpine:3@ci/templates.yml:2:10"},
		// later parents win: .local's tags replace .base's
		{"extends", "job", []string{"tags", "[0]"}, "docker@.gitlab-ci.yml:7:10"},
		{"extends", "job", []string{"extends"}, "<nil>"},
		{"extends", "drop", []string{"variables"}, "<nil>"},
		{"extends", "deep", []string{"variables", "SHARED"}, "level2@ci/templates.yml:18:13"},
		// anchors: an alias keeps the anchor's position; << as Psych.
		{"anchors", "job", []string{"variables", "A"}, "anchor-a@.gitlab-ci.yml:2:6"},
		{"anchors", "job", []string{"variables", "B"}, "own-b@.gitlab-ci.yml:12:8"},
		{"anchors", "job", []string{"script", "[1]"}, "echo two@.gitlab-ci.yml:7:5"},
		{"anchors", "before", []string{"variables", "B"}, "anchor-b@.gitlab-ci.yml:3:6"},
		{"anchors", "list-merge", []string{"variables", "A"}, "anchor-a@.gitlab-ci.yml:2:6"},
		{"anchors", "list-merge", []string{"variables", "C"}, "c@.gitlab-ci.yml:22:32"},
		{"anchors", "quoted", []string{"variables", "<<"}, "not-a-merge@.gitlab-ci.yml:26:11"},
		// YAML 1.1 as Psych reads it.
		{"yaml11", "job", []string{"variables", "B_ON"}, "true@.gitlab-ci.yml:3:11"},
		{"yaml11", "job", []string{"variables", "B_YES"}, "true@.gitlab-ci.yml:4:12"},
		{"yaml11", "job", []string{"variables", "B_OFF"}, "false@.gitlab-ci.yml:5:12"},
		{"yaml11", "job", []string{"variables", "B_Y"}, "y@.gitlab-ci.yml:6:10"},
		{"yaml11", "job", []string{"variables", "QUOTED"}, "on@.gitlab-ci.yml:7:13"},
		{"yaml11", "job", []string{"variables", "OCTAL"}, "493@.gitlab-ci.yml:8:12"},
		{"yaml11", "job", []string{"variables", "BIN"}, "10@.gitlab-ci.yml:9:10"},
		{"yaml11", "job", []string{"variables", "HEX"}, "31@.gitlab-ci.yml:10:10"},
		{"yaml11", "job", []string{"variables", "UNDERSCORE"}, "1000@.gitlab-ci.yml:11:17"},
		{"yaml11", "job", []string{"variables", "COMMA"}, "1000@.gitlab-ci.yml:12:12"},
		{"yaml11", "job", []string{"variables", "SEXA"}, "4800@.gitlab-ci.yml:13:11"},
		{"yaml11", "job", []string{"variables", "SEXA3"}, "4830@.gitlab-ci.yml:14:12"},
		{"yaml11", "job", []string{"variables", "FLOAT"}, "1.1@.gitlab-ci.yml:15:12"},
		{"yaml11", "job", []string{"variables", "EXP"}, "1e5@.gitlab-ci.yml:16:10"},
		{"yaml11", "job", []string{"variables", "NUL"}, "@.gitlab-ci.yml:17:10"},
		{"yaml11", "job", []string{"variables", "PLAIN09"}, "09@.gitlab-ci.yml:21:14"},
		{"yaml11", "job", []string{"true"}, "value@.gitlab-ci.yml:22:7"},
		// !reference across files, nested, flattened in script and rules.
		{"reference", "job", []string{"script", "[0]"}, "echo setup@.gitlab-ci.yml:5:7"},
		{"reference", "job", []string{"script", "[1]"}, "echo remote@ci.yml:3:7"},
		{"reference", "job", []string{"script", "[2]"}, "echo job@.gitlab-ci.yml:11:7"},
		{"reference", "job", []string{"variables", "TOKEN"}, "$VAULT_TOKEN@ci.yml:5:12"},
		{"reference", "job", []string{"rules", "[0]", "if"}, "$CI_COMMIT_TAG@ci.yml:9:11"},
		{"reference", "job", []string{"rules", "[1]", "when"}, "manual@.gitlab-ci.yml:16:13"},
		{"reference", "extended", []string{"after_script", "[1]"}, "echo remote@ci.yml:3:7"},
		{"reference", "missing", []string{"script", "[0]"}, `!reference [".nope", "script"]@.gitlab-ci.yml:25:7`},
		// includes: the including file wins, included keys merge.
		{"include", "a-job", []string{"script"}, "overridden@.gitlab-ci.yml:22:11"},
		{"include", "a-job", []string{"image"}, "a-image@ci/a.yml:6:10"},
		{"include", "b-job", []string{"script"}, "from-b@ci/sub/b.yml:3:11"},
		// spec:inputs: typed, functions, positions of the body scalar.
		{"inputs", "job-test", []string{"stage"}, "test@comp.yml:14:10"},
		{"inputs", "job-test", []string{"tags", "[1]"}, "b@comp.yml:15:9"},
		{"inputs", "job-test", []string{"variables", "DEBUG"}, "false@comp.yml:17:12"},
		{"inputs", "job-test", []string{"variables", "CUT"}, "abcd@comp.yml:18:10"},
		{"inputs", "job-test", []string{"variables", "TEXT"}, "stage=test@comp.yml:19:11"},
		{"inputs", "job-$[[ inputs.stage ]]", []string{"tags", "[0]"}, "c@comp.yml:15:9"},
		{"inputs", "job-$[[ inputs.stage ]]", []string{"variables", "CUT"}, "shor@comp.yml:18:10"},
		// default: and the deprecated globals.
		{"default", "plain", []string{"image"}, "global-image@.gitlab-ci.yml:1:8"},
		{"default", "plain", []string{"id_tokens", "VAULT_ID_TOKEN", "aud"}, "https://vault.example.com@.gitlab-ci.yml:8:12"},
		{"default", "own-image", []string{"image"}, "own@.gitlab-ci.yml:18:10"},
		{"default", "no-default", []string{"tags"}, "<nil>"},
		{"default", "some-default", []string{"tags", "[0]"}, "default-tag@.gitlab-ci.yml:9:10"},
		{"default", "some-default", []string{"image"}, "<nil>"},
		{"default", "plain", []string{"variables"}, "<nil>"},
		{"default", ".hidden", []string{"image"}, "<nil>"},
	}
	cache := map[string]*Pipeline{}
	for _, tt := range tests {
		t.Run(tt.dir+"/"+tt.job+"/"+strings.Join(tt.path, "."), func(t *testing.T) {
			p := cache[tt.dir]
			if p == nil {
				p = loadDir(t, tt.dir)
				cache[tt.dir] = p
			}
			if p.Job(tt.job) == nil {
				t.Fatalf("no job %q", tt.job)
			}
			if got := at(lookup(p, tt.job, tt.path...)); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func TestProblems(t *testing.T) {
	tests := map[string][]string{
		"extends":   {"extends .gitlab-ci.yml:28:12", "extends .gitlab-ci.yml:32:12"},
		"anchors":   nil,
		"yaml11":    nil,
		"reference": {"reference .gitlab-ci.yml:25:7", "reference .gitlab-ci.yml:28:11"},
		"include": {
			"include .gitlab-ci.yml:3:5",
			"unresolved .gitlab-ci.yml:7:5",
			"unresolved .gitlab-ci.yml:12:5",
			"unresolved .gitlab-ci.yml:13:5",
			"unresolved .gitlab-ci.yml:14:5",
		},
		"inputs":  {"inputs .gitlab-ci.yml:7:5"},
		"default": nil,
	}
	for dir, want := range tests {
		t.Run(dir, func(t *testing.T) {
			if diff := cmp.Diff(want, problems(loadDir(t, dir))); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}

func TestJobsAndIncludes(t *testing.T) {
	p := loadDir(t, "extends")
	j := p.Job("deep")
	if diff := cmp.Diff([]string{".level2", ".base", ".root"}, j.Extends); diff != "" {
		t.Errorf("extends chain (-want +got):\n%s", diff)
	}
	if got := fmt.Sprint(j.Pos); got != "{.gitlab-ci.yml 20 1}" {
		t.Errorf("job pos %s", got)
	}
	if !p.Job(".base").Hidden || p.Job("job").Hidden {
		t.Error("hidden flags wrong")
	}
	var files []string
	for _, f := range p.Files {
		files = append(files, f.Path)
	}
	if diff := cmp.Diff([]string{".gitlab-ci.yml", "ci/templates.yml"}, files); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}

	p = loadDir(t, "include")
	type inc struct {
		Kind                   IncludeKind
		Location, Project, Ref string
		Resolved, Conditional  bool
		Files                  []string
	}
	var got []inc
	for _, i := range p.Includes {
		got = append(got, inc{i.Kind, i.Location, i.Project, i.Ref, i.Resolved, i.Conditional, i.Files})
	}
	want := []inc{
		{IncludeLocal, "ci/a.yml", "", "", true, false, []string{"ci/a.yml"}},
		{IncludeLocal, "/ci/missing.yml", "", "", false, false, nil},
		{IncludeLocal, "ci/**/*.yml", "", "", true, true, []string{"ci/a.yml", "ci/sub/b.yml"}},
		{IncludeLocal, "ci/a.yml", "", "", true, false, []string{"ci/a.yml"}},
		{IncludeProject, "/x.yml", "group/p", "main", false, false, nil},
		{IncludeProject, "/y.yml", "group/p", "main", false, false, nil},
		{IncludeProject, "/z.yml", "group/q", "", false, false, nil},
		{IncludeRemote, "https://example.com/ci.yml", "", "", false, false, nil},
		{IncludeTemplate, "Jobs/SAST.gitlab-ci.yml", "", "", false, false, nil},
		{IncludeComponent, "$CI_SERVER_FQDN/group/comp/deploy@1.0.0", "", "", false, false, nil},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("includes (-want +got):\n%s", diff)
	}
	// The same file is read once.
	if n := len(p.Files); n != 3 {
		t.Errorf("%d files read, want 3", n)
	}
	if got := at(p.Global.Lookup("variables", "GLOBAL")); got != "main@.gitlab-ci.yml:19:11" {
		t.Errorf("global variable %s", got)
	}
	if got := at(p.Global.Lookup("variables", "FROM_A")); got != "a@ci/a.yml:3:11" {
		t.Errorf("included variable %s", got)
	}
	if p.Global.Get("include") != nil {
		t.Error("include: kept in Global")
	}
}

func TestLoadErrors(t *testing.T) {
	_, err := LoadProject(t.TempDir(), Options{})
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing config: %v, want fs.ErrNotExist", err)
	}
	_, err = LoadFile(filepath.Join(t.TempDir(), "nope.yml"), Options{})
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v, want fs.ErrNotExist", err)
	}
}

func TestLoadFileRoot(t *testing.T) {
	// A file under a project dir resolves local includes against the root.
	p, err := LoadFile(filepath.Join("testdata", "include", "ci", "sub", "b.yml"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if p.Files[0].Path != "ci/sub/b.yml" || len(p.Files) != 2 || p.Files[1].Path != "ci/a.yml" {
		t.Errorf("files %v", p.Files)
	}
}

func TestParse(t *testing.T) {
	src := []byte("spec:\n  inputs:\n    env:\n      options: [dev, prod]\n---\ndeploy:\n  environment: $[[ inputs.env ]]\n  script: [a, [b, [c]]]\n  needs: [build]\nbuild:\n  script: x\n")
	p := Parse("", "main.yml", src, Options{Inputs: map[string]string{"env": "prod"}})
	if len(p.Problems) != 0 {
		t.Errorf("problems %v", problems(p))
	}
	if got := at(lookup(p, "deploy", "environment")); got != "prod@main.yml:7:16" {
		t.Errorf("environment %s", got)
	}
	if diff := cmp.Diff([]string{"a", "b", "c"}, lookup(p, "deploy", "script").Strings()); diff != "" {
		t.Errorf("Strings (-want +got):\n%s", diff)
	}
	p = Parse("", "main.yml", src, Options{Inputs: map[string]string{"env": "qa"}})
	if diff := cmp.Diff([]string{"inputs main.yml:3:5"}, problems(p)); diff != "" {
		t.Errorf("option problem (-want +got):\n%s", diff)
	}
	p = Parse("", "main.yml", src, Options{})
	if diff := cmp.Diff([]string{"inputs main.yml:3:5"}, problems(p)); diff != "" {
		t.Errorf("required problem (-want +got):\n%s", diff)
	}
	p = Parse("", "main.yml", []byte("include: ci.yml\njob: {script: x}\n"), Options{})
	if diff := cmp.Diff([]string{"include main.yml:1:10"}, problems(p)); diff != "" {
		t.Errorf("no root (-want +got):\n%s", diff)
	}
}

func TestWalk(t *testing.T) {
	p := Parse("", "w.yml", []byte("job:\n  script: [a, b]\n  variables: {X: y}\n"), Options{})
	var got []string
	p.Job("job").Node.Walk(func(path []string, n *Node) bool {
		got = append(got, strings.Join(path, "/")+"="+n.String())
		return n.Get("variables") == nil || len(path) == 0
	})
	want := []string{`={script: ["a", "b"], variables: {X: "y"}}`, `script=["a", "b"]`, "script/[0]=a", "script/[1]=b", `variables={X: "y"}`, "variables/X=y"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("walk (-want +got):\n%s", diff)
	}
}

func TestResolvePlain(t *testing.T) {
	tests := map[string]string{
		"yes": "!!bool true", "NO": "!!bool false", "oN": "!!bool true", "y": "!!str y", "n": "!!str n",
		"Null": "!!null ", "~": "!!null ", "0755": "!!int 493", "-0755": "!!int -493", "0b11": "!!int 3",
		"0x_ff": "!!int 255", "09": "!!str 09", "1_000": "!!int 1000", "1,000": "!!int 1000",
		"-1:20": "!!int -2400", "1:20.5": "!!float 4830.0", "1.": "!!float 1.0", ".5": "!!float 0.5",
		"1e5": "!!str 1e5", "1.5e+3": "!!float 1500.0", "1.0e+20": "!!float 1.0e+20", ".inf": "!!float Infinity",
		"2024-01-01": "!!timestamp 2024-01-01", "abc": "!!str abc", "onion": "!!str onion", "+1": "!!int 1",
		"12345678901234567890123": "!!int 12345678901234567890123", "true_thing": "!!str true_thing",
	}
	for in, want := range tests {
		tag, v := resolvePlain(in)
		if got := tag + " " + v; got != want {
			t.Errorf("resolvePlain(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestGlobMatch(t *testing.T) {
	tests := []struct {
		pattern, name string
		want          bool
	}{
		{"ci/*.yml", "ci/a.yml", true},
		{"ci/*.yml", "ci/sub/a.yml", false},
		{"ci/**/*.yml", "ci/a.yml", true},
		{"ci/**/*.yml", "ci/x/y/a.yml", true},
		{"ci/**.yml", "ci/x/a.yml", true},
		{"**/*.yml", ".gitlab-ci.yml", true},
		{"ci/?.yml", "ci/a.yml", true},
		{"ci/?.yml", "ci/ab.yml", false},
		{"ci/*.yml", "ci/a.yaml", false},
	}
	for _, tt := range tests {
		if got := globMatch(tt.pattern, tt.name); got != tt.want {
			t.Errorf("globMatch(%q, %q) = %v", tt.pattern, tt.name, got)
		}
	}
}

// TestResolvePlainNoDigit: scalars without a digit take resolvePlain's
// fast path (issue 15) and read as Psych reads them.
func TestResolvePlainNoDigit(t *testing.T) {
	tests := map[string]string{
		".inf": "!!float Infinity", "+.INF": "!!float Infinity", "-.Inf": "!!float -Infinity", ".NaN": "!!float NaN",
		"-.nan": "!!str -.nan", ".infinity": "!!str .infinity", ".": "!!str .", "+.": "!!str +.", "-.": "!!str -.",
		"~": "!!null ", "~~": "!!str ~~", ".job": "!!str .job", "$VAR": "!!str $VAR", "${A}": "!!str ${A}",
		"-": "!!str -", "--flag": "!!str --flag", ":": "!!str :", "./x.sh": "!!str ./x.sh", "<<": "!!str <<",
		"*": "!!str *", "_yes": "!!str _yes", "@on": "!!str @on", "+x": "!!str +x", "-e": "!!str -e",
		".e+": "!!str .e+", "é": "!!str é", "/": "!!str /",
	}
	for in, want := range tests {
		tag, v := resolvePlain(in)
		if got := tag + " " + v; got != want {
			t.Errorf("resolvePlain(%q) = %s, want %s", in, got, want)
		}
	}
}
