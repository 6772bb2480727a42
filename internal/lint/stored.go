package lint

import (
	"fmt"
	"strings"

	"gitlab.com/keyless-ci/keyless/internal/pipeline"
)

// This file is the base of the "stored" rules (rule_stored_*.go): what a
// resolved job runs and reads, and which ID token exchanges it makes.

// jobInfo is what the stored and oidc rules read of one resolved job:
// the pipeline's view of it (pipeline.JobView, shared with the report).
type jobInfo struct {
	view *pipeline.JobView
	job  *pipeline.Job
	// extends is the job's extends chain, and what it names as written
	// (a hidden job of an include not read offline is not in the chain).
	extends []string
	vars    []variable
	lines   []*pipeline.Node
	tokens  []idToken
}

// jobInfos returns the jobs GitLab would run, resolved.
func jobInfos(p *pipeline.Pipeline) []*jobInfo {
	views := p.JobViews()
	out := make([]*jobInfo, 0, len(views))
	for i := range views {
		v := &views[i]
		out = append(out, &jobInfo{
			view:    v,
			job:     v.Job,
			extends: v.Extends,
			vars:    fromPipeline(v.Variables, ""),
			lines:   v.Lines,
			tokens:  idTokens(v.IDTokens),
		})
	}
	return out
}

// extendsAny reports whether the job extends a job whose name contains
// one of subs.
func (ji *jobInfo) extendsAny(subs ...string) bool {
	for _, e := range ji.extends {
		for _, s := range subs {
			if strings.Contains(e, s) {
				return true
			}
		}
	}
	return false
}

// lineWith returns the first script line containing any of subs.
func (ji *jobInfo) lineWith(subs ...string) *pipeline.Node {
	for _, l := range ji.lines {
		for _, s := range subs {
			if strings.Contains(l.Value, s) {
				return l
			}
		}
	}
	return nil
}

// varSet reports whether the job sets any of names as a variable.
func (ji *jobInfo) varSet(names ...string) bool {
	for _, n := range names {
		if lookup(ji.vars, n) != nil {
			return true
		}
	}
	return false
}

// tokenFor reports whether the job has an ID token meant for service, or
// one whose use keyless cannot tell (which may be for it).
func (ji *jobInfo) tokenFor(service string) bool {
	for _, t := range ji.tokens {
		if s := tokenService(t, ji); s == service || s == "" {
			return true
		}
	}
	return false
}

// services an ID token can be meant for, by audience, variable name and
// the command that uses it.
var tokenServices = []struct {
	service string
	aud     []string // substrings of the audience
	name    []string // substrings of the token's variable name
	use     []string // substrings of a script line that uses the token
}{
	{"aws", []string{"amazonaws.com", "sts."}, []string{"AWS"}, []string{"assume-role-with-web-identity", "web_identity_token", "AWS_WEB_IDENTITY_TOKEN_FILE"}},
	{"gcp", []string{"iam.googleapis.com", "googleapis"}, []string{"GCP", "GOOGLE", "GCLOUD"}, []string{"create-cred-config", "sts.googleapis.com", "external_account"}},
	{"azure", []string{"AzureADTokenExchange", "azure"}, []string{"AZURE", "ARM_"}, []string{"--federated-token", "ARM_OIDC_TOKEN", "AZURE_FEDERATED_TOKEN"}},
	{"vault", []string{"vault", "openbao"}, []string{"VAULT", "BAO"}, []string{"auth/jwt/login", "method=jwt", "auth/gitlab"}},
	{"npm", []string{"npm:registry.npmjs.org"}, []string{"NPM"}, nil},
	{"pypi", []string{"pypi"}, []string{"PYPI"}, nil},
	{"sigstore", []string{"sigstore"}, []string{"SIGSTORE", "COSIGN"}, nil},
}

// tokenService tells what an ID token is meant for: its audience first,
// then its variable name, then the command that uses it; "" when none
// tells.
func tokenService(t idToken, ji *jobInfo) string {
	if s := audService(t); s != "" {
		return s
	}
	return usedFor(t, ji)
}

// audService tells what a token is for by its audience.
func audService(t idToken) string {
	aud := strings.ToLower(strings.Join(t.audiences(), " "))
	for _, s := range tokenServices {
		for _, a := range s.aud {
			if strings.Contains(aud, strings.ToLower(a)) {
				return s.service
			}
		}
	}
	return ""
}

// usedFor tells what a token is for by its name or the command that
// uses it, not its audience.
func usedFor(t idToken, ji *jobInfo) string {
	name := strings.ToUpper(t.name)
	for _, s := range tokenServices {
		for _, n := range s.name {
			if strings.Contains(name, n) {
				return s.service
			}
		}
	}
	if ji == nil {
		return ""
	}
	for _, l := range ji.lines {
		if !refersTo(l.Value, t.name) {
			continue
		}
		for _, s := range tokenServices {
			for _, u := range s.use {
				if strings.Contains(l.Value, u) {
					return s.service
				}
			}
		}
	}
	for _, sec := range pairs(ji.job.Node.Get("secrets")) {
		if refersTo(sec.Value.Get("token").String(), t.name) && sec.Value.Get("vault") != nil {
			return "vault"
		}
	}
	return ""
}

// signal is one sign that a job uses a stored credential.
type signal struct {
	pos  pipeline.Pos
	key  string // the finding's Key
	conf Confidence
	what string // "reads AWS_SECRET_ACCESS_KEY from the stored variable $X"
}

// storedRule reports jobs that use a stored credential where the ID token
// could replace it.
type storedRule struct {
	rule
	replacement string
	// exchanged reports whether the job already exchanges an ID token
	// for this kind of credential.
	exchanged func(ji *jobInfo) bool
	signals   func(ji *jobInfo) []signal
	fix       string
}

func (r storedRule) Check(p *Pass) {
	var sites siteFindings
	for _, ji := range p.jobInfos() {
		if r.exchanged(ji) {
			continue
		}
		var best *signal
		for _, s := range r.signals(ji) {
			if best == nil || s.conf > best.conf {
				s := s
				best = &s
			}
		}
		if best == nil {
			continue
		}
		what := best.what
		f := Finding{Pos: best.pos, Key: best.key, Confidence: best.conf, Replacement: r.replacement}
		sites.add(ji.job.Name, f, func(jobs string) string {
			return fmt.Sprintf("%s %s: %s", jobs, what, r.fix)
		})
	}
	sites.report(p)
}

// varSignals are the signals of the variables names: set from a stored
// variable in variables:, read or assigned in a script line.
func varSignals(ji *jobInfo, names ...string) []signal {
	var out []signal
	for _, n := range names {
		v := lookup(ji.vars, n)
		if v == nil {
			continue
		}
		if ref := storedRef(v.value.Value); ref != "" {
			out = append(out, signal{pos: v.value.Pos, key: "var\x00" + n + "\x00" + ref, conf: High,
				what: fmt.Sprintf("sets %s from the stored variable $%s", n, ref)})
		}
	}
	for _, l := range ji.lines {
		for _, n := range names {
			if !strings.Contains(l.Value, n) {
				continue
			}
			if ref, ok := assignFrom(l.Value, n); ok {
				out = append(out, signal{pos: l.Pos, key: "assign\x00" + n + "\x00" + ref, conf: High,
					what: fmt.Sprintf("sets %s from the stored variable $%s", n, ref)})
			} else if refersTo(l.Value, n) && lookup(ji.vars, n) == nil {
				out = append(out, signal{pos: l.Pos, key: "read\x00" + n, conf: Medium,
					what: fmt.Sprintf("reads %s, a stored CI/CD variable", n)})
			}
		}
	}
	return out
}

// storedRef returns the variable a value takes its content from, when it
// is a CI/CD variable and not one GitLab sets.
func storedRef(v string) string {
	for _, r := range varRefs(v) {
		if !predefined(r) {
			return r
		}
	}
	return ""
}

// assignFrom reports whether line assigns name from a variable
// (NAME=$X, NAME="${X}", $env:NAME = $env:X), and returns the variable.
func assignFrom(line, name string) (string, bool) {
	for i := strings.Index(line, name); i >= 0; {
		end := i + len(name)
		if (i == 0 || !isNameByte(line[i-1])) && end < len(line) {
			rest := strings.TrimLeft(line[end:], " ")
			if strings.HasPrefix(rest, "=") {
				rest = strings.TrimLeft(rest[1:], " \"'")
				if strings.HasPrefix(rest, "$") {
					refs := varRefs(rest)
					// NAME=$NAME passes the variable on (docker run -e): a read.
					if len(refs) > 0 && refs[0] != name && !strings.HasPrefix(rest, "$(") && !predefined(refs[0]) {
						return refs[0], true
					}
				}
			}
		}
		j := strings.Index(line[end:], name)
		if j < 0 {
			break
		}
		i = end + j
	}
	return "", false
}

// commandSignal is a signal for the first line containing any of subs.
func commandSignal(ji *jobInfo, conf Confidence, key, what string, subs ...string) []signal {
	if l := ji.lineWith(subs...); l != nil {
		return []signal{{pos: l.Pos, key: key, conf: conf, what: what}}
	}
	return nil
}

// runs reports whether line runs the command cmd (at its start or after
// a shell separator).
func runs(line, cmd string) bool {
	for i := strings.Index(line, cmd); i >= 0; {
		before := strings.TrimRight(line[:i], " \t")
		if before == "" || strings.HasSuffix(before, "&&") || strings.HasSuffix(before, "||") ||
			strings.HasSuffix(before, ";") || strings.HasSuffix(before, "|") || strings.HasSuffix(before, "$(") ||
			strings.HasSuffix(before, "\n") || strings.HasSuffix(before, "`") || strings.HasSuffix(before, "then") ||
			strings.HasSuffix(before, "do") || strings.HasSuffix(before, "else") {
			return true
		}
		j := strings.Index(line[i+len(cmd):], cmd)
		if j < 0 {
			break
		}
		i += len(cmd) + j
	}
	return false
}

// jobInfos returns what several rules read of each job, computed once per
// Run. Rules must not change it.
func (p *Pass) jobInfos() []*jobInfo {
	return p.Memo("jobInfos", func() any { return jobInfos(p.Pipeline) }).([]*jobInfo)
}
