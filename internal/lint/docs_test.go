package lint

import (
	"bufio"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"gitlab.com/keyless-ci/keyless/internal/pipeline"
)

// docSection is one rule's section of docs/checks.md.
type docSection struct {
	id            string
	input, output string
	hasInput      bool
	outFrom       int // the Output block's first content line (0-based), -1 when none
	outTo         int // its closing fence line
}

// readChecksDoc splits docs/checks.md into its "## rule-id" sections and
// takes the fenced block after **Input** and after **Output** in each.
func readChecksDoc(t *testing.T) []docSection {
	t.Helper()
	f, err := os.Open("../../docs/checks.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []docSection
	var cur *docSection
	var want string // "input" or "output": the next fence is it
	var fence *strings.Builder
	var into *string
	sc := bufio.NewScanner(f)
	for n := 0; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case fence != nil:
			if strings.HasPrefix(line, "```") {
				*into = fence.String()
				if into == &cur.output {
					cur.outTo = n
				}
				fence = nil
				continue
			}
			fence.WriteString(line + "\n")
		case strings.HasPrefix(line, "## "):
			out = append(out, docSection{id: strings.TrimSpace(line[3:]), outFrom: -1})
			cur = &out[len(out)-1]
			want = ""
		case cur != nil && strings.HasPrefix(line, "**Input**"):
			want = "input"
		case cur != nil && strings.HasPrefix(line, "**Output**"):
			want = "output"
		case cur != nil && want != "" && strings.HasPrefix(line, "```"):
			fence = &strings.Builder{}
			if want == "input" {
				into, cur.hasInput = &cur.input, true
			} else {
				into, cur.outFrom = &cur.output, n+1
			}
			want = ""
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestChecksDoc runs each section's input and compares the findings with
// its output; every rule has a section and every section is a rule.
func TestChecksDoc(t *testing.T) {
	secs := readChecksDoc(t)
	outputs := map[int]string{} // outFrom -> the findings now, for -update
	have := map[string]bool{}
	for _, s := range secs {
		have[s.id] = true
		if !Known(s.id) {
			t.Errorf("docs/checks.md section %q names no rule", s.id)
			continue
		}
		t.Run(s.id, func(t *testing.T) {
			if !s.hasInput {
				t.Fatal("section has no **Input** block")
			}
			p := pipeline.Parse(".", ".gitlab-ci.yml", []byte(s.input), pipeline.Options{})
			// Examples do not read remote includes; only the include
			// rule's own example reports them.
			skip := []string{"include"}
			if s.id == "include" {
				skip = nil
			}
			fs, err := Run(p, Options{SkipRules: skip})
			if err != nil {
				t.Fatal(err)
			}
			var got strings.Builder
			for _, f := range fs {
				got.WriteString(format(f) + "\n")
			}
			if *update && s.outFrom >= 0 {
				outputs[s.outFrom] = got.String()
				return
			}
			if d := cmp.Diff(s.output, got.String()); d != "" {
				t.Errorf("docs/checks.md#%s output differs (-doc +got):\n%s", s.id, d)
			}
			if !strings.Contains(got.String(), " "+s.id+": ") {
				t.Errorf("the example of %s does not produce a %s finding", s.id, s.id)
			}
		})
	}
	if *update {
		rewriteOutputs(t, secs, outputs)
	}
	for _, m := range Rules() {
		if !have[m.ID] {
			t.Errorf("rule %s has no section in docs/checks.md", m.ID)
		}
		if !strings.HasSuffix(m.HelpURL(), "checks.md#"+m.ID) {
			t.Errorf("rule %s: help URL %s", m.ID, m.HelpURL())
		}
	}
}

// rewriteOutputs replaces the Output blocks of docs/checks.md.
func rewriteOutputs(t *testing.T, secs []docSection, outputs map[int]string) {
	b, err := os.ReadFile("../../docs/checks.md")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	var out []string
	for i := 0; i < len(lines); i++ {
		out = append(out, lines[i])
		for _, s := range secs {
			if s.outFrom == i+1 {
				if got, ok := outputs[s.outFrom]; ok {
					out = append(out, strings.Split(strings.TrimSuffix(got, "\n"), "\n")...)
					i = s.outTo - 1
				}
			}
		}
	}
	if err := os.WriteFile("../../docs/checks.md", []byte(strings.Join(out, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestChecksDocTools: the table of tools in docs/checks.md names every
// tool of pipeline.EnvReaders and links its source, so that the page
// cannot drift from the one table the rules and the report read.
func TestChecksDocTools(t *testing.T) {
	b, err := os.ReadFile("../../docs/checks.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	for _, r := range pipeline.EnvReaders {
		for _, tool := range r.Tools {
			if !strings.Contains(doc, "`"+tool+"`") && !strings.Contains(doc, "`"+tool+" ") {
				t.Errorf("docs/checks.md does not name the tool %s (%s)", tool, r.What)
			}
		}
		if !strings.Contains(doc, "("+r.Source+")") {
			t.Errorf("docs/checks.md does not link %s, the source for %v (%s)", r.Source, r.Tools, r.What)
		}
	}
}
