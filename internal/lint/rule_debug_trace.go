package lint

import (
	"strings"

	"gitlab.com/keyless-ci/keyless/internal/pipeline"
)

// debugTrace reports CI_DEBUG_TRACE or CI_DEBUG_SERVICES set to true in
// the configuration.
var debugTrace = debugTraceRule{rule{Meta{
	ID:    "debug-trace",
	Title: "Debug logging turned on in the configuration",
	Description: "CI_DEBUG_TRACE: \"true\" makes the runner print every command and every variable of the job, masked ones included, to the job log (major); CI_DEBUG_SERVICES: \"true\" copies the services' logs, and whatever secrets they print, into it (minor). " +
		"GitLab's documentation warns that debug logging can expose every variable, and anyone who can read the job log reads them. Turn it on for one run (Run pipeline or Retry with the variable) and keep it out of the file.",
	Severity: Major,
	CWE:      []string{"CWE-532"},
	Group:    "oidc",
}}}

type debugTraceRule struct{ rule }

func (r debugTraceRule) Check(p *Pass) {
	seen := map[pipeline.Pos]bool{}
	walk(p.Pipeline.Global, nil, func(path []string, n *pipeline.Node) {
		if n.Kind != pipeline.Scalar || len(path) < 2 || seen[n.Pos] {
			return
		}
		name, parent := path[len(path)-1], path[len(path)-2]
		if name == "value" && len(path) >= 3 {
			name, parent = path[len(path)-2], path[len(path)-3]
		}
		if name != "CI_DEBUG_TRACE" && name != "CI_DEBUG_SERVICES" || parent != "variables" || !strings.EqualFold(n.Value, "true") {
			return
		}
		seen[n.Pos] = true
		if name == "CI_DEBUG_SERVICES" {
			p.Report(Finding{Pos: n.Pos, Key: name, Severity: Minor, Confidence: Medium,
				Message: "CI_DEBUG_SERVICES: \"true\" copies the services' logs, with any secret they print, into the job log: remove it and set it only for the run you debug"})
			return
		}
		p.Report(Finding{Pos: n.Pos, Key: name,
			Message: "CI_DEBUG_TRACE: \"true\" prints every command and variable of the job, masked ones included, to the job log: remove it and set it only for the run you debug"})
	})
}
