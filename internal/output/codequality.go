package output

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"strconv"
	"strings"

	"gitlab.com/keyless-ci/keyless/internal/lint"
)

// codeQualityFormatter writes GitLab's Code Quality report, the file an
// artifacts:reports:codequality job uploads: a JSON array of issues with
// description, check_name, fingerprint, severity, location.path and
// location.lines.begin, the fields GitLab requires
// (https://docs.gitlab.com/ci/testing/code_quality/#code-quality-report-format).
// type and categories make each issue a Code Climate issue too
// (https://github.com/codeclimate/platform/blob/master/spec/analyzers/SPEC.md#issues);
// GitLab ignores them.
type codeQualityFormatter struct{}

type cqIssue struct {
	Description string     `json:"description"`
	CheckName   string     `json:"check_name"`
	Fingerprint string     `json:"fingerprint"`
	Severity    string     `json:"severity"`
	Location    cqLocation `json:"location"`
	Type        string     `json:"type"`
	Categories  []string   `json:"categories"`
}

type cqLocation struct {
	Path  string  `json:"path"`
	Lines cqLines `json:"lines"`
}

type cqLines struct {
	Begin int `json:"begin"`
}

func (codeQualityFormatter) Format(w io.Writer, r *Report) error {
	issues := make([]cqIssue, 0, len(r.Findings))
	for _, f := range r.Findings {
		m, _ := r.meta(f)
		category := "Security"
		if m.Group == "syntax" {
			category = "Bug Risk"
		}
		issues = append(issues, cqIssue{
			Description: f.Message,
			CheckName:   f.Rule,
			Fingerprint: cqFingerprint(f),
			Severity:    cqSeverity(f.Severity),
			Location: cqLocation{
				Path: strings.TrimPrefix(f.Pos.File, "./"),
				// GitLab requires a line; a finding about a whole file is
				// shown on its first.
				Lines: cqLines{Begin: max(f.Pos.Line, 1)},
			},
			Type:       "issue",
			Categories: []string{category},
		})
	}
	return writeJSON(w, issues)
}

// cqSeverity is one of GitLab's five severity names; keyless's scale is
// GitLab's, so only an unset severity needs mapping.
func cqSeverity(s lint.Severity) string {
	if s < lint.Info || s > lint.Blocker {
		return lint.Info.String()
	}
	return s.String()
}

// cqFingerprint is the finding's fingerprint. GitLab requires one and
// lint.Run always sets it; a finding made elsewhere without one gets a
// digest of what it says and where.
func cqFingerprint(f lint.Finding) string {
	if f.Fingerprint != "" {
		return f.Fingerprint
	}
	sum := sha256.Sum256([]byte(strings.Join([]string{
		f.Rule, f.Pos.File, strconv.Itoa(f.Pos.Line), strconv.Itoa(f.Pos.Col), f.Message,
	}, "\x00")))
	return hex.EncodeToString(sum[:16])
}
