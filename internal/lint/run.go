package lint

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"

	"gitlab.com/keyless-ci/keyless/internal/pipeline"
)

// Options select the rules that run.
type Options struct {
	// Rules, when set, are the only rules that run (ids).
	Rules []string
	// SkipRules are rules that do not run.
	SkipRules []string
}

// Rules lists every rule: the registry's, then the built-in rules that
// report the pipeline's problems.
func Rules() []Meta {
	var out []Meta
	for _, r := range registry {
		out = append(out, r.Meta())
	}
	return append(out, problemRules...)
}

// Known reports whether id names a rule.
func Known(id string) bool {
	for _, m := range Rules() {
		if m.ID == id {
			return true
		}
	}
	return false
}

// CheckRuleIDs returns an error naming the ids that are not rules.
func CheckRuleIDs(ids []string) error {
	var bad []string
	for _, id := range ids {
		if !Known(id) {
			bad = append(bad, strconv.Quote(id))
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("unknown rule %s: keyless lint --list-rules shows the rule ids", strings.Join(bad, ", "))
	}
	return nil
}

// Run checks p, and each child pipeline below it (pipeline.Pipeline.All),
// with the selected rules and returns the findings: inline suppressions
// applied, fingerprinted, sorted by path, line, column and rule, without
// duplicates. A child pipeline is checked as the pipeline it is (its own
// jobs, default: and workflow:, with the variables its trigger jobs pass
// down), its findings at the lines of its files (issue 15).
func Run(p *pipeline.Pipeline, o Options) ([]Finding, error) {
	return run(p, o, "")
}

// run is Run with prefix (a project's directory, slash-separated; "" for
// none) prepended to the finding paths before the fingerprints are
// computed, so that two projects' findings have different ones (issue 14).
func run(p *pipeline.Pipeline, o Options, prefix string) ([]Finding, error) {
	if err := CheckRuleIDs(append(append([]string(nil), o.Rules...), o.SkipRules...)); err != nil {
		return nil, err
	}
	on := func(id string) bool {
		for _, s := range o.SkipRules {
			if s == id {
				return false
			}
		}
		if len(o.Rules) == 0 {
			return true
		}
		for _, r := range o.Rules {
			if r == id {
				return true
			}
		}
		return false
	}
	all := checkAll(p.All(), on)
	all = suppress(p, all)
	sortFindings(all)
	all = dedupe(all)
	for i := range all {
		all[i].Pos.File = prefixPath(prefix, all[i].Pos.File)
	}
	fingerprint(all)
	return all, nil
}

// check runs the rules on selects over one pipeline and adds the findings
// of its problems.
// checkAll checks a pipeline and its child pipelines, each on its own
// goroutine, at most GOMAXPROCS at once: a parent with large children (a
// monorepo's) is otherwise the one project a run waits for. Findings keep
// the order of pipelines.
func checkAll(ps []*pipeline.Pipeline, on func(id string) bool) []Finding {
	if len(ps) == 1 {
		return check(ps[0], on)
	}
	found := make([][]Finding, len(ps))
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for i, q := range ps {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			found[i] = check(q, on)
		}()
	}
	wg.Wait()
	var all []Finding
	for _, f := range found {
		all = append(all, f...)
	}
	return all
}

func check(p *pipeline.Pipeline, on func(id string) bool) []Finding {
	var all []Finding
	memo := map[string]any{}
	for _, r := range registry {
		m := r.Meta()
		if !on(m.ID) {
			continue
		}
		pass := &Pass{Pipeline: p, memo: memo, report: func(f Finding) {
			if f.Rule == "" {
				f.Rule = m.ID
			}
			if f.Severity == 0 {
				f.Severity = m.Severity
			}
			if f.Confidence == 0 {
				f.Confidence = High
			}
			all = append(all, f)
		}}
		r.Check(pass)
	}
	for _, f := range problemFindings(p) {
		if on(f.Rule) {
			all = append(all, f)
		}
	}
	return all
}

// prefixPath is path below the directory prefix; path itself when prefix
// is "".
func prefixPath(prefix, path string) string {
	if prefix == "" {
		return path
	}
	return prefix + "/" + path
}

func sortFindings(fs []Finding) {
	sort.SliceStable(fs, func(i, j int) bool {
		a, b := fs[i], fs[j]
		if a.Pos.File != b.Pos.File {
			return a.Pos.File < b.Pos.File
		}
		if a.Pos.Line != b.Pos.Line {
			return a.Pos.Line < b.Pos.Line
		}
		if a.Pos.Col != b.Pos.Col {
			return a.Pos.Col < b.Pos.Col
		}
		if a.Rule != b.Rule {
			return a.Rule < b.Rule
		}
		return a.Message < b.Message
	})
}

// dedupe drops a finding that repeats the one before it: the same rule at
// the same place about the same content (a value written once and
// inherited by several jobs is reported once, where it is written).
func dedupe(fs []Finding) []Finding {
	out := fs[:0]
	for i, f := range fs {
		if i > 0 {
			prev := out[len(out)-1]
			if prev.Rule == f.Rule && prev.Pos == f.Pos && prev.Key == f.Key {
				continue
			}
		}
		out = append(out, f)
	}
	return out
}

// fingerprint sets each finding's fingerprint from its rule, file and
// Key: not its line, so moving code keeps a baseline valid, and a new
// secret on an old line is new. Findings alike in all three are numbered
// in order, so each occurrence has its own.
func fingerprint(fs []Finding) {
	seen := map[string]int{}
	for i := range fs {
		f := &fs[i]
		key := f.Key
		if key == "" {
			key = f.Message
		}
		base := f.Rule + "\x00" + f.Pos.File + "\x00" + key
		n := seen[base]
		seen[base] = n + 1
		sum := sha256.Sum256([]byte(base + "\x00" + strconv.Itoa(n)))
		f.Fingerprint = hex.EncodeToString(sum[:16])
	}
}

// SumKey is a helper for rules: a short digest of a value for Finding.Key,
// so that the key identifies a secret without holding it.
func SumKey(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:12])
}
