package lint

import (
	"fmt"
	"slices"
	"strings"
)

// registryAudience reports jobs that publish to PyPI, npmjs.com or crates.io with an
// ID token for the registry (tokenService: by its audience, name or use)
// whose aud the registry does not accept (issue 18).
var registryAudience = registryAudienceRule{rule{Meta{
	ID:    "registry-audience",
	Title: "ID token for a package registry with an audience it refuses",
	Description: "Trusted publishing takes an ID token whose aud is the registry's own audience, exactly: pypi for PyPI (testpypi for TestPyPI), which PyPI publishes at INDEX/_/oidc/audience, " +
		"npm:registry.npmjs.org for npmjs.com, and crates.io for crates.io. A job that publishes there with an ID token named for the registry (PYPI_ID_TOKEN, NPM_ID_TOKEN, the variable npm 11.5.1 and later read, CRATES_ID_TOKEN) " +
		"or with an audience near it (https://pypi.org, https://crates.io) has its exchange refused, and the publish fails or falls back to a stored token. keyless pypi, npm and crates refuse to send such a token.",
	Severity: Major,
	Group:    "oidc",
}}}

type registryAudienceRule struct{ rule }

func (r registryAudienceRule) Check(p *Pass) {
	var sites siteFindings
	for _, ji := range p.jobInfos() {
		if len(ji.tokens) == 0 {
			continue
		}
		for _, reg := range packageRegistries {
			if !publishesTo(ji, reg) {
				continue
			}
			var wrong *idToken
			for i, t := range ji.tokens {
				if tokenService(t, ji) != reg.name {
					continue
				}
				if slices.ContainsFunc(t.audiences(), func(a string) bool { return slices.Contains(reg.audiences, a) }) {
					wrong = nil
					break
				}
				if wrong == nil {
					wrong = &ji.tokens[i]
				}
			}
			if wrong == nil {
				continue
			}
			t := *wrong
			aud, name, registry := strings.Join(t.audiences(), ", "), t.name, reg.title
			accepts := reg.audiences[0]
			if len(reg.audiences) > 1 {
				accepts += " (or " + strings.Join(reg.audiences[1:], ", ") + ")"
			}
			pos := t.keyPos
			if t.node != nil {
				pos = t.node.Pos
			}
			sites.add(ji.job.Name, Finding{Pos: pos, Key: reg.name + "\x00" + name + "\x00" + aud},
				func(jobs string) string {
					return fmt.Sprintf("%s publishes to %s with the ID token %s, whose aud is %q: %s accepts only %s, and refuses the exchange of any other; set aud: %s",
						jobs, registry, name, aud, registry, accepts, reg.audiences[0])
				})
		}
	}
	sites.report(p)
}
