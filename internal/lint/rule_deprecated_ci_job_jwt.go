package lint

import (
	"fmt"
	"regexp"
	"strings"

	"gitlab.com/keyless-ci/keyless/internal/pipeline"
)

// deprecatedCIJobJWT reports uses of the CI_JOB_JWT variables, removed in
// GitLab 17.0.
var deprecatedCIJobJWT = deprecatedCIJobJWTRule{rule{Meta{
	ID:    "deprecated-ci-job-jwt",
	Title: "CI_JOB_JWT is no longer set",
	Description: "CI_JOB_JWT, CI_JOB_JWT_V1 and CI_JOB_JWT_V2 were removed in GitLab 17.0: a job that reads them gets an empty value. " +
		"Their tokens also had one audience for every service. Declare the token the job needs with id_tokens: and an aud: naming the one service that accepts it.",
	Severity: Major,
	Group:    "oidc",
}}}

type deprecatedCIJobJWTRule struct{ rule }

var ciJobJWT = regexp.MustCompile(`\bCI_JOB_JWT(?:_V[12])?\b`)

func (r deprecatedCIJobJWTRule) Check(p *Pass) {
	seen := map[pipeline.Pos]bool{}
	walk(p.Pipeline.Global, nil, func(_ []string, n *pipeline.Node) {
		if n.Kind != pipeline.Scalar || !strings.Contains(n.Value, "CI_JOB_JWT") || seen[n.Pos] {
			return
		}
		name := ciJobJWT.FindString(n.Value)
		if name == "" {
			return
		}
		seen[n.Pos] = true
		p.Report(Finding{Pos: p.Pipeline.At(n, strings.Index(n.Value, name)), Key: name,
			Message: fmt.Sprintf("%s was removed in GitLab 17.0 and is empty: declare id_tokens: with an aud: for the service that reads the token, and use that variable", name)})
	})
}
