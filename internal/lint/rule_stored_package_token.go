package lint

import (
	"fmt"
	"slices"
	"strings"

	"gitlab.com/keyless-ci/keyless/internal/pipeline"
)

// storedPackageToken reports jobs that publish to npmjs.com, PyPI or
// crates.io with a stored token, where trusted publishing needs none.
var storedPackageToken = storedPackageTokenRule{rule{Meta{
	ID:    "stored-package-token",
	Title: "Job publishes to npm, PyPI or crates.io with a stored token",
	Description: "The job publishes a package to npmjs.com, PyPI or crates.io with a token from a CI/CD variable (NPM_TOKEN, an .npmrc _authToken, TWINE_PASSWORD, CARGO_REGISTRY_TOKEN and the like). " +
		"These registries accept trusted publishing from GitLab CI/CD (crates.io in public beta): the job declares an ID token with the registry's audience and no publishing token is stored. " +
		"The keyless pypi, npm and crates components do the exchange (npm 11.5.1 or later also does it itself). Publishing to GitLab's own package registry (with CI_JOB_TOKEN) is not reported.",
	Severity: Minor,
	CWE:      []string{"CWE-798"},
	Group:    "stored",
}}}

type storedPackageTokenRule struct{ rule }

// registryKind is a registry with trusted publishing from GitLab CI/CD.
type registryKind struct {
	name    string
	publish []string // commands that publish
	tokens  []string // variables that hold its token
	host    string   // the public registry's host
	// names are what its clients call the public registry where they
	// take a registry's name (cargo's built-in crates-io:
	// https://doc.rust-lang.org/cargo/reference/registries.html).
	names []string
	// title names the public registry in messages.
	title string
	// audiences are the ID token audiences it accepts, exactly
	// (https://docs.npmjs.com/trusted-publishers;
	// https://docs.pypi.org/trusted-publishers/using-a-publisher/;
	// crates.io: its host, TRUSTPUB_AUDIENCE in rust-lang/crates.io
	// src/config/server.rs, https://crates.io/docs/trusted-publishing).
	audiences []string
	how       string
}

var packageRegistries = []registryKind{
	{
		name:      "npm",
		publish:   []string{"npm publish", "yarn publish", "yarn npm publish", "pnpm publish", "lerna publish", "semantic-release", "changeset publish"},
		tokens:    []string{"NPM_TOKEN", "NODE_AUTH_TOKEN", "NPM_AUTH_TOKEN", "YARN_NPM_AUTH_TOKEN"},
		host:      "npmjs.org",
		title:     "npmjs.com",
		audiences: []string{"npm:registry.npmjs.org"},
		how: "npmjs.com accepts trusted publishing from GitLab CI/CD: configure the package's trusted publisher (keyless policy npm prints it), add id_tokens: NPM_ID_TOKEN: aud: npm:registry.npmjs.org to the job and publish with npm 11.5.1 or later, which exchanges it itself; " +
			"for pnpm, yarn or an older npm, " + useComponent("npm") + "; then delete the token",
	},
	{
		name:      "pypi",
		publish:   []string{"twine upload", "poetry publish", "uv publish", "flit publish", "hatch publish", "pdm publish"},
		tokens:    []string{"TWINE_PASSWORD", "PYPI_TOKEN", "PYPI_API_TOKEN", "POETRY_PYPI_TOKEN_PYPI", "UV_PUBLISH_TOKEN", "FLIT_PASSWORD", "HATCH_INDEX_AUTH", "PDM_PUBLISH_PASSWORD"},
		host:      "pypi.org",
		title:     "PyPI",
		audiences: []string{"pypi", "testpypi"},
		how:       "PyPI accepts trusted publishing from GitLab CI/CD: add the project as a trusted publisher on PyPI (keyless policy pypi prints it), " + useComponent("pypi") + ", then delete the token",
	},
	{
		name:      "crates",
		publish:   []string{"cargo publish"},
		tokens:    []string{"CARGO_REGISTRY_TOKEN", "CRATES_IO_TOKEN", "CRATES_IO_API_TOKEN", "CRATES_TOKEN", "CARGO_TOKEN"},
		host:      "crates.io",
		names:     []string{"crates-io"},
		title:     "crates.io",
		audiences: []string{"crates.io"},
		how: "crates.io accepts trusted publishing from GitLab CI/CD (public beta): add a GitLab trusted publishing config to the crate's settings on crates.io (namespace, project, workflow filepath, environment), " +
			useComponent("crates") + ", then delete the token",
	},
}

func (r storedPackageTokenRule) Check(p *Pass) {
	var sites siteFindings
	for _, ji := range p.jobInfos() {
		for _, reg := range packageRegistries {
			if packageExchanged(ji, reg) || !publishesTo(ji, reg) {
				continue
			}
			var best *signal
			for _, s := range packageSignals(ji, reg) {
				if best == nil || s.conf > best.conf {
					s := s
					best = &s
				}
			}
			if best == nil {
				continue
			}
			what, how := best.what, reg.how
			sites.add(ji.job.Name, Finding{Pos: best.pos, Key: best.key, Confidence: best.conf, Replacement: reg.name},
				func(jobs string) string { return fmt.Sprintf("%s %s: %s", jobs, what, how) })
		}
	}
	sites.report(p)
}

// packageExchanged reports whether the job gets a token for reg by trusted
// publishing: an ID token for it, or the keyless component's hidden job
// (whose id_tokens an include not read offline does not show).
func packageExchanged(ji *jobInfo, reg registryKind) bool {
	return ji.tokenFor(reg.name) || ji.extendsAny(components[reg.name].hidden)
}

// publishesTo reports whether the job publishes to reg's public registry:
// it runs a publish command and names no other registry (GitLab's own
// package registry, a mirror).
func publishesTo(ji *jobInfo, reg registryKind) bool {
	if !ji.grams.mayHaveAny(reg.publish) {
		return false
	}
	var publishes bool
	for _, l := range ji.lines {
		for _, c := range reg.publish {
			if strings.Contains(l.Value, c) {
				publishes = true
			}
		}
		if elsewhere(l.Value, reg) {
			return false
		}
	}
	for _, v := range ji.vars {
		// CARGO_REGISTRY_TOKEN holds the token, not a registry.
		if slices.Contains(reg.tokens, v.Name) {
			continue
		}
		if strings.Contains(v.Name, "REGISTRY") || strings.Contains(v.Name, "REPOSITORY_URL") {
			if elsewhere("--registry "+v.Value.Value, reg) {
				return false
			}
		}
	}
	return publishes
}

// elsewhere reports whether a line targets a registry other than reg's
// public one: GitLab's package registry, or a --registry /
// --repository-url flag that names neither its host nor its names.
func elsewhere(line string, reg registryKind) bool {
	if strings.Contains(line, "CI_JOB_TOKEN") || strings.Contains(line, "CI_API_V4_URL") || strings.Contains(line, "/packages/npm") || strings.Contains(line, "/packages/pypi") {
		return true
	}
	for _, f := range []string{"--registry", "--repository-url", "--publish-url", "--index-url"} {
		if i := strings.Index(line, f); i >= 0 {
			rest := line[i+len(f):]
			if nl := strings.IndexAny(rest, "\n;&|"); nl >= 0 {
				rest = rest[:nl]
			}
			arg := strings.TrimSpace(strings.TrimLeft(rest, "= "))
			if arg == "" || strings.Contains(rest, reg.host) {
				continue
			}
			if first, _, _ := strings.Cut(arg, " "); slices.Contains(reg.names, strings.Trim(first, `"'`)) {
				continue
			}
			return true
		}
	}
	return false
}

// npmPyPITokens are what packageSignals looks for in lines.
var npmPyPITokens = []string{"_authToken", "__token__"}

// packageSignals are the stored-token signals of reg in the job.
func packageSignals(ji *jobInfo, reg registryKind) []signal {
	s := varSignals(ji, reg.tokens...)
	if !ji.grams.mayHaveAny(npmPyPITokens) {
		return s
	}
	for _, l := range ji.lines {
		if reg.name == "npm" && strings.Contains(l.Value, "_authToken") {
			if ref, ok := authTokenRef(l); ok {
				s = append(s, signal{pos: ji.at(l, "_authToken"), key: "authToken\x00" + ref, conf: High,
					what: fmt.Sprintf("writes the stored token $%s into .npmrc (_authToken)", ref)})
			}
		}
		if reg.name == "pypi" && strings.Contains(l.Value, "__token__") {
			if ref := storedRef(l.Value); ref != "" {
				s = append(s, signal{pos: ji.at(l, "__token__"), key: "token\x00" + ref, conf: High,
					what: fmt.Sprintf("uploads with the stored API token $%s", ref)})
			}
		}
	}
	return s
}

// authTokenRef returns the variable an _authToken= takes its value from.
func authTokenRef(l *pipeline.Node) (string, bool) {
	i := strings.Index(l.Value, "_authToken")
	rest := strings.TrimLeft(l.Value[i+len("_authToken"):], " =\"'")
	refs := varRefs(rest)
	if !strings.HasPrefix(rest, "$") || len(refs) == 0 || predefined(refs[0]) {
		return "", false
	}
	return refs[0], true
}
