// Package output writes lint findings in the formats keyless offers: text
// for people, versioned JSON, SARIF 2.1.0 for code scanning, and GitLab's
// Code Quality report. Each format is one file behind Formatter; New is the
// one place a format is chosen.
package output

import (
	"fmt"
	"io"
	"strings"

	"gitlab.com/keyless-ci/keyless/internal/lint"
)

// Report is what a formatter writes.
type Report struct {
	Tool    string // "keyless"
	Version string
	// Root is the project root the paths are relative to (for display only).
	Root string
	// Findings are already sorted, de-duplicated and fingerprinted by lint.Run.
	Findings []lint.Finding
	// Rules is every rule that ran (SARIF lists them).
	Rules []lint.Meta
	// Source returns a file's content for showing the source line (text
	// format); nil or a nil result: no source line.
	Source func(path string) []byte
}

// Formatter writes a Report in one format.
type Formatter interface {
	Format(w io.Writer, r *Report) error
}

// formats is every format, in the order Names lists them.
var formats = []struct {
	name string
	new  func(color bool) Formatter
}{
	{"text", func(color bool) Formatter { return &textFormatter{color: color} }},
	{"json", func(bool) Formatter { return jsonFormatter{} }},
	{"sarif", func(bool) Formatter { return sarifFormatter{} }},
	{"codequality", func(bool) Formatter { return codeQualityFormatter{} }},
}

// New returns the formatter for name: "text", "json", "sarif" or
// "codequality"; color applies to text only.
func New(name string, color bool) (Formatter, error) {
	for _, f := range formats {
		if f.name == name {
			return f.new(color), nil
		}
	}
	return nil, fmt.Errorf("output format %q: use one of %s", name, strings.Join(Names(), ", "))
}

// Names lists the format names.
func Names() []string {
	out := make([]string, len(formats))
	for i, f := range formats {
		out[i] = f.name
	}
	return out
}

// meta returns the rule's Meta, or one made from the finding when the
// rule is not listed, so every format can describe every finding.
func (r *Report) meta(f lint.Finding) (lint.Meta, bool) {
	for _, m := range r.Rules {
		if m.ID == f.Rule {
			return m, true
		}
	}
	return lint.Meta{ID: f.Rule, Title: f.Rule, Severity: f.Severity}, false
}

// severities lists the severities from the most severe, the order
// summaries use.
var severities = []lint.Severity{lint.Blocker, lint.Critical, lint.Major, lint.Minor, lint.Info}

// countBySeverity counts the findings of each severity.
func countBySeverity(fs []lint.Finding) map[lint.Severity]int {
	n := map[lint.Severity]int{}
	for _, f := range fs {
		n[f.Severity]++
	}
	return n
}

// toolName is the report's tool, "keyless" when unset.
func (r *Report) toolName() string {
	if r.Tool == "" {
		return "keyless"
	}
	return r.Tool
}
