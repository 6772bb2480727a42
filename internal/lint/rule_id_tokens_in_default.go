package lint

import (
	"fmt"

	"gitlab.com/keyless-ci/keyless/internal/pipeline"
)

// idTokensInDefault reports ID tokens given to every job: in default:, or
// in a hidden job that every job extends.
var idTokensInDefault = idTokensInDefaultRule{rule{Meta{
	ID:    "id-tokens-in-default",
	Title: "Every job gets an ID token",
	Description: "id_tokens: in default: (or in a hidden job that every job of the pipeline extends, when there are at least five) mints a token for every job: tests, linters and third-party tools get a credential " +
		"their cloud role accepts. Declare id_tokens only in the jobs that exchange them, for example by extending the keyless component's hidden job in those jobs alone.",
	Severity: Major,
	Group:    "oidc",
}}}

type idTokensInDefaultRule struct{ rule }

// minEveryJob is the number of jobs from which a hidden job that all of
// them extend counts as a default.
const minEveryJob = 5

func (r idTokensInDefaultRule) Check(p *Pass) {
	g := p.Pipeline.Global
	if d := g.Get("default"); d != nil {
		for _, pr := range d.Pairs {
			if pr.Key == "id_tokens" {
				p.Report(Finding{Pos: pr.KeyPos, Key: "default",
					Message: "id_tokens in default: gives every job an ID token: declare it only in the jobs that exchange it"})
			}
		}
	}
	jobs := runnableJobs(p.Pipeline)
	if len(jobs) < minEveryJob {
		return
	}
	count := map[string]int{}
	for _, j := range jobs {
		seen := map[string]bool{}
		for _, e := range j.Extends {
			if !seen[e] {
				seen[e] = true
				count[e]++
			}
		}
	}
	for _, j := range p.Pipeline.Jobs {
		if !j.Hidden || count[j.Name] != len(jobs) {
			continue
		}
		// Where the hidden job writes id_tokens itself.
		def := g.Get(j.Name)
		if def == nil || def.Get("id_tokens") == nil {
			continue
		}
		var pos pipeline.Pos
		for _, pr := range def.Pairs {
			if pr.Key == "id_tokens" {
				pos = pr.KeyPos
			}
		}
		p.Report(Finding{Pos: pos, Key: "extends\x00" + j.Name,
			Message: fmt.Sprintf("id_tokens in %s, which all %d jobs extend, gives every job an ID token: declare it only in the jobs that exchange it", j.Name, len(jobs))})
	}
}
