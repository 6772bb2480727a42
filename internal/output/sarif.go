package output

import (
	"io"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"

	"gitlab.com/keyless-ci/keyless/internal/lint"
)

// sarifFormatter writes SARIF 2.1.0, the static-analysis format code
// scanning services read:
// https://docs.oasis-open.org/sarif/sarif/v2.1.0/sarif-v2.1.0.html
// with the properties GitHub reads described at
// https://docs.github.com/en/code-security/code-scanning/integrating-with-code-scanning/sarif-support-for-code-scanning
type sarifFormatter struct{}

const (
	sarifSchema  = "https://json.schemastore.org/sarif-2.1.0.json"
	sarifVersion = "2.1.0"
	toolURI      = "https://gitlab.com/keyless-ci/keyless"
	// fingerprintKey names keyless's fingerprint in partialFingerprints;
	// the version changes if the way fingerprints are made does (§3.27.17).
	fingerprintKey = "keyless/v1"
	srcRoot        = "%SRCROOT%"
)

type sarifLog struct {
	Schema  string     `json:"$schema"`
	Version string     `json:"version"`
	Runs    []sarifRun `json:"runs"`
}

type sarifRun struct {
	Tool sarifTool `json:"tool"`
	// ColumnKind: keyless counts columns in characters, as the YAML
	// parser does, not SARIF's default UTF-16 code units (§3.14.21).
	ColumnKind string        `json:"columnKind"`
	Results    []sarifResult `json:"results"`
}

type sarifTool struct {
	Driver sarifDriver `json:"driver"`
}

type sarifDriver struct {
	Name           string      `json:"name"`
	Version        string      `json:"version,omitempty"`
	InformationURI string      `json:"informationUri"`
	Rules          []sarifRule `json:"rules"`
}

type sarifRule struct {
	ID                   string              `json:"id"`
	Name                 string              `json:"name"`
	ShortDescription     sarifText           `json:"shortDescription"`
	FullDescription      *sarifText          `json:"fullDescription,omitempty"`
	HelpURI              string              `json:"helpUri"`
	DefaultConfiguration sarifConfiguration  `json:"defaultConfiguration"`
	Properties           sarifRuleProperties `json:"properties"`
}

type sarifText struct {
	Text string `json:"text"`
}

type sarifConfiguration struct {
	Level string `json:"level"`
}

type sarifRuleProperties struct {
	Tags             []string `json:"tags"`
	SecuritySeverity string   `json:"security-severity,omitempty"`
}

type sarifResult struct {
	RuleID              string            `json:"ruleId"`
	RuleIndex           int               `json:"ruleIndex"`
	Level               string            `json:"level"`
	Message             sarifText         `json:"message"`
	Locations           []sarifLocation   `json:"locations,omitempty"`
	PartialFingerprints map[string]string `json:"partialFingerprints,omitempty"`
}

type sarifLocation struct {
	PhysicalLocation sarifPhysicalLocation `json:"physicalLocation"`
}

type sarifPhysicalLocation struct {
	ArtifactLocation sarifArtifactLocation `json:"artifactLocation"`
	Region           *sarifRegion          `json:"region,omitempty"`
}

type sarifArtifactLocation struct {
	URI       string `json:"uri"`
	URIBaseID string `json:"uriBaseId"`
}

type sarifRegion struct {
	StartLine   int `json:"startLine"`
	StartColumn int `json:"startColumn,omitempty"`
}

func (sarifFormatter) Format(w io.Writer, r *Report) error {
	driver := sarifDriver{
		Name:           r.toolName(),
		Version:        r.Version,
		InformationURI: toolURI,
		Rules:          []sarifRule{},
	}
	index := map[string]int{}
	addRule := func(m lint.Meta) {
		if _, ok := index[m.ID]; ok {
			return
		}
		index[m.ID] = len(driver.Rules)
		driver.Rules = append(driver.Rules, sarifRuleOf(m))
	}
	for _, m := range r.Rules {
		addRule(m)
	}
	// A finding of a rule not listed still gets a rule to point at.
	for _, f := range r.Findings {
		m, _ := r.meta(f)
		addRule(m)
	}

	results := make([]sarifResult, 0, len(r.Findings))
	for _, f := range r.Findings {
		res := sarifResult{
			RuleID:    f.Rule,
			RuleIndex: index[f.Rule],
			Level:     sarifLevel(f.Severity),
			Message:   sarifText{Text: f.Message},
		}
		if f.Pos.File != "" {
			loc := sarifPhysicalLocation{ArtifactLocation: sarifArtifactLocation{URI: sarifURI(f.Pos.File), URIBaseID: srcRoot}}
			if f.Pos.Line > 0 {
				loc.Region = &sarifRegion{StartLine: f.Pos.Line}
				if f.Pos.Col > 0 {
					loc.Region.StartColumn = f.Pos.Col
				}
			}
			res.Locations = []sarifLocation{{PhysicalLocation: loc}}
		}
		if f.Fingerprint != "" {
			res.PartialFingerprints = map[string]string{fingerprintKey: f.Fingerprint}
		}
		results = append(results, res)
	}

	return writeJSON(w, sarifLog{
		Schema:  sarifSchema,
		Version: sarifVersion,
		Runs: []sarifRun{{
			Tool:       sarifTool{Driver: driver},
			ColumnKind: "unicodeCodePoints",
			Results:    results,
		}},
	})
}

func sarifRuleOf(m lint.Meta) sarifRule {
	title := m.Title
	if title == "" {
		title = m.ID
	}
	rule := sarifRule{
		ID:                   m.ID,
		Name:                 pascalCase(m.ID),
		ShortDescription:     sarifText{Text: title},
		HelpURI:              m.HelpURL(),
		DefaultConfiguration: sarifConfiguration{Level: sarifLevel(m.Severity)},
		Properties:           sarifRuleProperties{Tags: []string{}},
	}
	if m.Description != "" {
		rule.FullDescription = &sarifText{Text: m.Description}
	}
	// GitHub files results tagged "security" as security alerts, ranked by
	// security-severity; a YAML problem is not one.
	if m.Group != "syntax" {
		rule.Properties.Tags = append(rule.Properties.Tags, "security")
		rule.Properties.SecuritySeverity = securitySeverity(m.Severity)
	}
	if m.Group != "" {
		rule.Properties.Tags = append(rule.Properties.Tags, m.Group)
	}
	for _, cwe := range m.CWE {
		// GitHub's CWE tag form: "external/cwe/cwe-798".
		rule.Properties.Tags = append(rule.Properties.Tags, "external/cwe/"+strings.ToLower(cwe))
	}
	return rule
}

// sarifLevel maps a severity to a SARIF level (§3.27.10).
func sarifLevel(s lint.Severity) string {
	switch {
	case s >= lint.Critical:
		return "error"
	case s == lint.Major:
		return "warning"
	}
	return "note"
}

// securitySeverity is GitHub's 0.0-10.0 score, which it reads as: over
// 9.0 critical, 7.0-8.9 high, 4.0-6.9 medium, below low.
func securitySeverity(s lint.Severity) string {
	switch s {
	case lint.Blocker:
		return "10.0"
	case lint.Critical:
		return "9.5"
	case lint.Major:
		return "7.5"
	case lint.Minor:
		return "5.0"
	}
	return "2.0"
}

// pascalCase turns a kebab-case rule id into a SARIF rule name:
// "hardcoded-aws-key" -> "HardcodedAwsKey".
func pascalCase(id string) string {
	var b strings.Builder
	for part := range strings.FieldsFuncSeq(id, func(r rune) bool { return r == '-' || r == '_' || r == ' ' }) {
		r, n := utf8.DecodeRuneInString(part)
		b.WriteRune(unicode.ToUpper(r))
		b.WriteString(part[n:])
	}
	return b.String()
}

// sarifURI is a slash-separated relative path as a URI reference, with
// characters such as spaces escaped (§3.4.3).
func sarifURI(path string) string {
	return (&url.URL{Path: strings.TrimPrefix(path, "./")}).String()
}
