package lint

import (
	"fmt"
	"net/url"
	"strings"

	"gitlab.com/keyless-ci/keyless/internal/pipeline"
)

// idTokenLeak reports ID tokens sent to a host that is not their
// audience. An ID token printed to the log or written to a file the job
// keeps is the secret-leak rules' (issue 15).
var idTokenLeak = idTokenLeakRule{rule{Meta{
	ID:    "id-token-leak",
	Title: "ID token sent to a host that is not its audience",
	Description: "An ID token is a bearer credential until it expires: whoever holds it can exchange it for the cloud role it is meant for. " +
		"The job sends it with curl or wget to a host that is not its audience's. " +
		"An ID token printed to the job log or written to a file the job keeps is reported by secret-leak-log, secret-leak-artifact and secret-leak-dotenv.",
	Severity: Major,
	CWE:      []string{"CWE-201"},
	Group:    "oidc",
}}}

type idTokenLeakRule struct{ rule }

func (r idTokenLeakRule) Check(p *Pass) {
	var sites siteFindings
	for _, ji := range p.jobInfos() {
		toks := map[string][]string{} // token variable -> its audiences
		for _, t := range ji.tokens {
			toks[t.name] = t.audiences()
		}
		if len(toks) == 0 {
			continue
		}
		for _, l := range ji.lines {
			for _, cmd := range commands(l.Value) {
				for tok, aud := range toks {
					if !refersTo(cmd, tok) {
						continue
					}
					if what := sentElsewhere(cmd, tok, aud); what != "" {
						add(&sites, ji, commandAt(p.Pipeline, l, cmd), tok, what)
					}
				}
			}
		}
	}
	sites.report(p)
}

func add(sites *siteFindings, ji *jobInfo, pos pipeline.Pos, tok, what string) {
	sites.add(ji.job.Name, Finding{Pos: pos, Key: tok + "\x00" + what},
		func(jobs string) string {
			return fmt.Sprintf("%s %s: that host, and anyone who reads what it logs, can exchange the token until it expires; send the token only to the service of its aud", jobs, what)
		})
}

// commands splits a script line into its shell lines.
func commands(s string) []string {
	if !strings.Contains(s, "\n") {
		return []string{s}
	}
	return strings.Split(s, "\n")
}

// sentElsewhere tells how cmd sends the token tok to a host that is not
// its audience, or "".
func sentElsewhere(cmd, tok string, aud []string) string {
	if !runs(cmd, "curl") && !runs(cmd, "wget") {
		return ""
	}
	host := urlHost(cmd)
	if host == "" {
		return ""
	}
	for _, a := range aud {
		if u, err := url.Parse(a); err == nil && u.Host != "" && !strings.Contains(u.Host, "$") && !strings.EqualFold(u.Hostname(), host) {
			return fmt.Sprintf("sends the ID token $%s to %s, which is not its audience %s", tok, host, a)
		}
	}
	return ""
}

// urlHost returns the host of the first literal http(s) URL in cmd.
func urlHost(cmd string) string {
	i := strings.Index(cmd, "://")
	if i < 0 {
		return ""
	}
	rest := cmd[i+3:]
	end := strings.IndexAny(rest, "/:\"' ?")
	if end >= 0 {
		rest = rest[:end]
	}
	if rest == "" || strings.ContainsAny(rest, "$%{") {
		return ""
	}
	return rest
}
