package lint

import (
	"fmt"
	"sort"
	"strings"

	"gitlab.com/keyless-ci/keyless/internal/pipeline"
)

// sharedAudience reports one aud used by ID tokens meant for different
// services.
var sharedAudience = sharedAudienceRule{rule{Meta{
	ID:    "shared-audience",
	Title: "One audience for ID tokens meant for different services",
	Description: "ID tokens are meant for different services (told by the token's variable name, such as AWS_ID_TOKEN and VAULT_ID_TOKEN, or by the command that uses it) but carry the same aud. " +
		"Each service checks the audience to refuse tokens minted for another: with one audience, whoever receives one token (a Vault server, a logging proxy) can replay it to the other service. Give each service its own aud.",
	Severity: Major,
	Group:    "oidc",
}}}

type sharedAudienceRule struct{ rule }

var serviceNames = map[string]string{"aws": "AWS", "gcp": "Google Cloud", "azure": "Azure", "vault": "Vault", "npm": "npm", "pypi": "PyPI", "crates": "crates.io", "sigstore": "Sigstore"}

func (r sharedAudienceRule) Check(p *Pass) {
	type use struct {
		service, token, job string
		pos                 pipeline.Pos
	}
	byAud := map[string][]use{}
	var auds []string
	for _, j := range p.Pipeline.Jobs {
		if j.Node == nil {
			continue
		}
		ji := &jobInfo{job: j, lines: j.Lines()}
		for _, t := range idTokens(j.IDTokens()) {
			svc := usedFor(t, ji)
			if svc == "" {
				continue
			}
			for _, a := range t.aud {
				if a.Value == "" {
					continue
				}
				if _, ok := byAud[a.Value]; !ok {
					auds = append(auds, a.Value)
				}
				byAud[a.Value] = append(byAud[a.Value], use{svc, t.name, j.Name, a.Pos})
			}
		}
	}
	for _, aud := range auds {
		uses := byAud[aud]
		svcs := map[string]string{} // service -> a token meant for it
		for _, u := range uses {
			if _, ok := svcs[u.service]; !ok {
				svcs[u.service] = fmt.Sprintf("%s in job %q", u.token, u.job)
			}
		}
		if len(svcs) < 2 {
			continue
		}
		var names []string
		for s, tok := range svcs {
			names = append(names, serviceNames[s]+" ("+tok+")")
		}
		sort.Strings(names)
		seen := map[pipeline.Pos]bool{}
		for _, u := range uses {
			if seen[u.pos] {
				continue
			}
			seen[u.pos] = true
			p.Report(Finding{Pos: u.pos, Key: aud + "\x00" + u.token, Confidence: Medium,
				Message: fmt.Sprintf("aud %q is shared by ID tokens meant for %s: a service that receives one can replay it to the other; give each service its own aud", aud, strings.Join(names, " and "))})
		}
	}
}
