package lint

import (
	"fmt"
	"slices"
	"strings"
)

// registryAudience reports jobs that publish to PyPI or npmjs.com with an
// ID token for the registry whose aud the registry does not accept
// (issue 18).
var registryAudience = registryAudienceRule{rule{Meta{
	ID:    "registry-audience",
	Title: "ID token for a package registry with an audience it refuses",
	Description: "Trusted publishing takes an ID token whose aud is the registry's own audience, exactly: pypi for PyPI (testpypi for TestPyPI), which PyPI publishes at INDEX/_/oidc/audience, " +
		"and npm:registry.npmjs.org for npmjs.com. A job that publishes there with an ID token named for the registry (PYPI_ID_TOKEN, NPM_ID_TOKEN, the variable npm 11.5.1 and later read) " +
		"or with an audience near it (https://pypi.org) has its exchange refused, and the publish fails or falls back to a stored token. keyless pypi and keyless npm refuse to send such a token.",
	Severity: Major,
	Group:    "oidc",
}}}

type registryAudienceRule struct{ rule }

// registryAudiences are the audiences each registry of packageRegistries
// accepts: https://docs.pypi.org/trusted-publishers/using-a-publisher/
// (pypi, testpypi) and https://docs.npmjs.com/trusted-publishers
// (npm:registry.npmjs.org).
var registryAudiences = map[string][]string{
	"pypi": {"pypi", "testpypi"},
	"npm":  {"npm:registry.npmjs.org"},
}

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
			want := registryAudiences[reg.name]
			var wrong []idToken
			ok := false
			for _, t := range ji.tokens {
				if !forRegistry(t, reg) {
					continue
				}
				if slices.ContainsFunc(t.audiences(), func(a string) bool { return slices.Contains(want, a) }) {
					ok = true
					break
				}
				wrong = append(wrong, t)
			}
			if ok || len(wrong) == 0 {
				continue
			}
			t := wrong[0]
			aud, name, registry := strings.Join(t.audiences(), ", "), t.name, map[string]string{"pypi": "PyPI", "npm": "npmjs.com"}[reg.name]
			pos := t.keyPos
			if t.node != nil {
				pos = t.node.Pos
			}
			sites.add(ji.job.Name, Finding{Pos: pos, Key: reg.name + "\x00" + name + "\x00" + aud},
				func(jobs string) string {
					return fmt.Sprintf("%s publishes to %s with the ID token %s, whose aud is %q: %s accepts only %s, and refuses the exchange of any other; set aud: %s",
						jobs, registry, name, aud, registry, strings.Join(want, " (or ")+strings.Repeat(")", len(want)-1), want[0])
				})
		}
	}
	sites.report(p)
}

// forRegistry reports whether t is meant for reg: named for it
// (PYPI_ID_TOKEN, NPM_ID_TOKEN) or with an audience that names it.
func forRegistry(t idToken, reg registryKind) bool {
	if strings.Contains(strings.ToUpper(t.name), strings.ToUpper(reg.name)) {
		return true
	}
	for _, a := range t.audiences() {
		if strings.Contains(strings.ToLower(a), reg.name) {
			return true
		}
	}
	return false
}
