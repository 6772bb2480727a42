package output

import (
	"encoding/json"
	"io"

	"gitlab.com/keyless-ci/keyless/internal/lint"
)

// jsonFormatter writes keyless's own JSON report. Its shape is versioned:
// a change that breaks a reader bumps jsonVersion.
type jsonFormatter struct{}

const jsonVersion = 1

type jsonReport struct {
	Version  int           `json:"version"`
	Tool     jsonTool      `json:"tool"`
	Findings []jsonFinding `json:"findings"`
	Summary  jsonSummary   `json:"summary"`
}

type jsonTool struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

type jsonFinding struct {
	Rule        string `json:"rule"`
	Severity    string `json:"severity"`
	Confidence  string `json:"confidence"`
	Message     string `json:"message"`
	Path        string `json:"path"`
	Line        int    `json:"line"`
	Column      int    `json:"column"`
	Fingerprint string `json:"fingerprint"`
	Help        string `json:"help"`
	Replacement string `json:"replacement,omitempty"`
}

type jsonSummary struct {
	Total      int            `json:"total"`
	BySeverity jsonBySeverity `json:"by_severity"`
}

// jsonBySeverity lists every severity, most severe first, so readers
// need not treat a missing key as zero.
type jsonBySeverity struct {
	Blocker  int `json:"blocker"`
	Critical int `json:"critical"`
	Major    int `json:"major"`
	Minor    int `json:"minor"`
	Info     int `json:"info"`
}

func (jsonFormatter) Format(w io.Writer, r *Report) error {
	out := jsonReport{
		Version:  jsonVersion,
		Tool:     jsonTool{Name: r.toolName(), Version: r.Version},
		Findings: make([]jsonFinding, 0, len(r.Findings)),
	}
	for _, f := range r.Findings {
		m, _ := r.meta(f)
		out.Findings = append(out.Findings, jsonFinding{
			Rule:        f.Rule,
			Severity:    f.Severity.String(),
			Confidence:  f.Confidence.String(),
			Message:     f.Message,
			Path:        f.Pos.File,
			Line:        f.Pos.Line,
			Column:      f.Pos.Col,
			Fingerprint: f.Fingerprint,
			Help:        m.HelpURL(),
			Replacement: f.Replacement,
		})
	}
	n := countBySeverity(r.Findings)
	out.Summary = jsonSummary{
		Total: len(r.Findings),
		BySeverity: jsonBySeverity{
			Blocker:  n[lint.Blocker],
			Critical: n[lint.Critical],
			Major:    n[lint.Major],
			Minor:    n[lint.Minor],
			Info:     n[lint.Info],
		},
	}
	return writeJSON(w, out)
}

// writeJSON writes v with two-space indents and a final newline. HTML
// escaping is off: the reports are read by programs, not browsers, and
// "<" in a message should stay readable.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
