package lint

import "fmt"

// secretsWithoutToken reports secrets: entries that do not say which of
// the job's ID tokens authenticates them.
var secretsWithoutToken = secretsWithoutTokenRule{rule{Meta{
	ID:    "secrets-without-token",
	Title: "secrets: without token: in a job with several ID tokens",
	Description: "GitLab picks the ID token for a secrets: entry on its own only when the job has exactly one; with several, an entry without secrets:token: does not say which token authenticates it, " +
		"and the secret provider can get a token meant for another service. Name the token: token: $VAULT_ID_TOKEN.",
	Severity: Minor,
	Group:    "oidc",
}}}

type secretsWithoutTokenRule struct{ rule }

func (r secretsWithoutTokenRule) Check(p *Pass) {
	var sites siteFindings
	for _, ji := range p.jobInfos() {
		if len(ji.tokens) < 2 {
			continue
		}
		for _, s := range pairs(ji.job.Node.Get("secrets")) {
			if s.Value.Get("token") != nil {
				continue
			}
			name, n := s.Key, len(ji.tokens)
			sites.add(ji.job.Name, Finding{Pos: s.KeyPos, Key: name},
				func(jobs string) string {
					return fmt.Sprintf("secret %s of %s has no token: and the job has %d ID tokens: name the one for the secret provider (token: $%s)", name, jobs, n, ji.tokens[0].name)
				})
		}
	}
	sites.report(p)
}
