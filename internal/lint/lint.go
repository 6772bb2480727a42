// Package lint checks a resolved pipeline (internal/pipeline) for long-lived
// secrets written into it, stored long-lived credentials its jobs use, and
// OIDC mistakes. Each rule is one file with one registry entry (rules.go);
// Run applies them, inline suppressions, and fingerprints.
package lint

import (
	"fmt"
	"strings"

	"gitlab.com/keyless-ci/keyless/internal/pipeline"
)

// Severity follows GitLab Code Quality's scale.
type Severity uint8

const (
	Info Severity = iota + 1
	Minor
	Major
	Critical
	Blocker
)

var severityNames = []string{"", "info", "minor", "major", "critical", "blocker"}

func (s Severity) String() string {
	if int(s) < len(severityNames) && s > 0 {
		return severityNames[s]
	}
	return fmt.Sprintf("severity(%d)", s)
}

// ParseSeverity reads a severity name.
func ParseSeverity(s string) (Severity, error) {
	for i, n := range severityNames {
		if i > 0 && strings.EqualFold(s, n) {
			return Severity(i), nil
		}
	}
	return 0, fmt.Errorf("severity %q: use one of info, minor, major, critical, blocker", s)
}

// Confidence is how sure a rule is that a finding is real.
type Confidence uint8

const (
	Low Confidence = iota + 1
	Medium
	High
)

func (c Confidence) String() string {
	switch c {
	case Low:
		return "low"
	case Medium:
		return "medium"
	case High:
		return "high"
	}
	return fmt.Sprintf("confidence(%d)", c)
}

// Meta describes a rule.
type Meta struct {
	// ID is the stable kebab-case rule id, e.g. "hardcoded-aws-key".
	ID string
	// Title is one line, e.g. "AWS access key written in the pipeline".
	Title string
	// Description is a paragraph: why it matters, what to do instead.
	Description string
	Severity    Severity
	// CWE ids that apply, e.g. "CWE-798".
	CWE []string
	// Group is "secret" (written in YAML), "stored" (stored credential
	// used by a job), "oidc" (ID token mistakes) or "syntax".
	Group string
}

// HelpURL is the rule's section in docs/checks.md.
func (m Meta) HelpURL() string {
	return "https://gitlab.com/keyless-ci/keyless/-/blob/main/docs/checks.md#" + m.ID
}

// Finding is one problem found.
type Finding struct {
	Rule       string
	Severity   Severity
	Confidence Confidence
	// Message says what is wrong and what to do instead; it never holds
	// a secret value (at most a detect.Match Hint).
	Message string
	Pos     pipeline.Pos
	// Key identifies the finding's own content for its fingerprint: not
	// its line, so moving code keeps it, and not printed. Rules set it
	// from what the finding is about (the job and variable names, a hash
	// of the secret value); Run hashes it.
	Key string
	// Fingerprint is set by Run: stable across line moves, unique per
	// occurrence.
	Fingerprint string
	// Replacement names the keyless component that replaces a stored
	// credential ("aws"), when there is one.
	Replacement string
}

// Pass is what a rule gets: the pipeline and a way to report.
type Pass struct {
	Pipeline *pipeline.Pipeline
	report   func(Finding)
	// memo holds what several rules compute from the same pipeline (the
	// secrets written in it), computed once per Run.
	memo map[string]any
}

// Memo returns the value of key, computing it with f the first time in a
// Run: rules that share a scan of the pipeline do it once.
func (p *Pass) Memo(key string, f func() any) any {
	if p.memo == nil {
		p.memo = map[string]any{}
	}
	v, ok := p.memo[key]
	if !ok {
		v = f()
		p.memo[key] = v
	}
	return v
}

// Report records a finding of the rule.
func (p *Pass) Report(f Finding) { p.report(f) }

// Rule is one check.
type Rule interface {
	Meta() Meta
	Check(p *Pass)
}
