package lint

import (
	"strings"

	"gitlab.com/keyless-ci/keyless/internal/pipeline"
)

// problemRules report what the pipeline model could not read or resolve.
var problemRules = []Meta{
	{
		ID:          "syntax",
		Title:       "Configuration GitLab would refuse",
		Description: "The YAML does not parse, or a file is too large or too deeply nested to read safely. GitLab refuses such a pipeline; keyless checks the rest of it.",
		Severity:    Major,
		Group:       "syntax",
	},
	{
		ID:    "include",
		Title: "Include not read",
		Description: "An include: that keyless could not read: a local file that is missing, or a project:, remote:, template: or component: include, " +
			"which keyless reads only with --online. Secrets in files not read are not found.",
		Severity: Info,
		Group:    "syntax",
	},
	{
		ID:          "config",
		Title:       "extends, !reference or spec:inputs that does not resolve",
		Description: "A job extends a job that does not exist or extends in a cycle, a !reference points nowhere, or a required spec:inputs input has no value. GitLab refuses such a pipeline.",
		Severity:    Minor,
		Group:       "syntax",
	},
}

// problemRule maps a pipeline problem's kind to its rule.
func problemRule(kind string) string {
	switch kind {
	case "include", "unresolved":
		return "include"
	case "extends", "reference", "inputs":
		return "config"
	}
	return "syntax"
}

func problemFindings(p *pipeline.Pipeline) []Finding {
	// When an include was not read, or the configuration was cut short at
	// a limit, a job or key "not defined" may well be defined in what was
	// left out: the include or limit finding already says so, and those
	// are not reported one by one.
	partial := false
	for _, pr := range p.Problems {
		if pr.Kind == "include" || pr.Kind == "unresolved" || pr.Kind == "limit" {
			partial = true
		}
	}
	var out []Finding
	for _, pr := range p.Problems {
		if partial && (pr.Kind == "extends" || pr.Kind == "reference") && strings.Contains(pr.Message, "not defined") {
			continue
		}
		id := problemRule(pr.Kind)
		var sev Severity
		for _, m := range problemRules {
			if m.ID == id {
				sev = m.Severity
			}
		}
		out = append(out, Finding{Rule: id, Severity: sev, Confidence: High, Message: pr.Message, Pos: pr.Pos, Key: pr.Kind + "\x00" + pr.Message})
	}
	return out
}
