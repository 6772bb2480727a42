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
	// pipe is the pipeline the job is in, for positions inside its
	// values (at).
	pipe *pipeline.Pipeline
	// extends is the job's extends chain, and what it names as written
	// (a hidden job of an include not read offline is not in the chain).
	extends []string
	vars    []variable
	names   *varNames // of vars; nil: none
	lines   []*pipeline.Node
	// grams filters the lines: a string it says is not in them is not;
	// lineGrams filters each line, when asked (lineMayHaveAny).
	grams     *grams
	lineGrams lineGrams
	tokens    []idToken
}

// jobInfos returns the jobs GitLab would run, resolved.
func jobInfos(p *pipeline.Pipeline) []*jobInfo {
	views := p.JobViews()
	out := make([]*jobInfo, 0, len(views))
	lg, jg := lineGrams{}, jobGrams{}
	// Jobs with no variables of their own share one list
	// (pipeline.JobView.Variables): its names are filtered once.
	type list struct {
		first *pipeline.Variable
		n     int
	}
	sets := map[list]*varNames{}
	// Most lists start with the global variables (copied, for a job
	// with variables of its own): their names are filtered once too.
	globals := pipeline.Variables(p.Global.Get("variables"), "global")
	var globalNames *varNames
	for i := range views {
		v := &views[i]
		var names *varNames
		if len(v.Variables) > 0 {
			k := list{&v.Variables[0], len(v.Variables)}
			if names = sets[k]; names == nil {
				if len(globals) > 0 && hasPrefix(v.Variables, globals) {
					if globalNames == nil {
						globalNames = newVarNames(globals)
					}
					names = globalNames.with(v.Variables, len(globals))
				} else {
					names = newVarNames(v.Variables)
				}
				sets[k] = names
			}
		}
		out = append(out, &jobInfo{
			view:      v,
			job:       v.Job,
			pipe:      p,
			extends:   v.Extends,
			vars:      v.Variables,
			names:     names,
			lines:     v.Lines,
			grams:     jg.of(v.Lines),
			lineGrams: lg,
			tokens:    idTokens(v.IDTokens),
		})
	}
	return out
}

// hasPrefix reports whether vars starts with the variables of prefix
// (the same entries: names and value nodes).
func hasPrefix(vars, prefix []variable) bool {
	if len(vars) < len(prefix) {
		return false
	}
	for i := range prefix {
		if vars[i].Value != prefix[i].Value || vars[i].Name != prefix[i].Name {
			return false
		}
	}
	return true
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
	l, _ := ji.lineAt(subs...)
	return l
}

// lineAt returns the first script line containing any of subs, and where
// the first of them is written in it.
func (ji *jobInfo) lineAt(subs ...string) (*pipeline.Node, pipeline.Pos) {
	if !ji.grams.mayHaveAny(subs) {
		return nil, pipeline.Pos{}
	}
	for _, l := range ji.lines {
		for _, s := range subs {
			if strings.Contains(l.Value, s) {
				return l, ji.pipe.At(l, wordIndex(l.Value, s))
			}
		}
	}
	return nil, pipeline.Pos{}
}

// at is where sub is first written in the value l, as a word if it is
// one there (l's own position when sub is not in it): on l's first line
// l's position, inside a block scalar its own line and column
// (pipeline.Pipeline.At, issue 15).
func (ji *jobInfo) at(l *pipeline.Node, sub string) pipeline.Pos {
	return ji.pipe.At(l, max(wordIndex(l.Value, sub), 0))
}

// wordIndex is the offset of the first sub in s that no name character
// continues on either side (AWS_ACCESS_KEY_ID, not the end of
// PROD_AWS_ACCESS_KEY_ID), else of the first sub, else -1.
func wordIndex(s, sub string) int {
	first := strings.Index(s, sub)
	for i := first; i >= 0 && sub != ""; {
		end := i + len(sub)
		if (i == 0 || !isNameByte(s[i-1]) || !isNameByte(sub[0])) && (end == len(s) || !isNameByte(s[end]) || !isNameByte(sub[len(sub)-1])) {
			return i
		}
		j := strings.Index(s[i+1:], sub)
		if j < 0 {
			break
		}
		i += 1 + j
	}
	return first
}

// lookup returns the value the job sees for a variable, or nil.
func (ji *jobInfo) lookup(name string) *variable {
	if ji.names == nil || !ji.names.set.mayHave(name) {
		return nil
	}
	return lookup(ji.vars, name)
}

// setsAny reports whether the job may set any of names: false means it
// sets none of them.
func (ji *jobInfo) setsAny(names []string) bool {
	if ji.names == nil {
		return false
	}
	for _, n := range names {
		if ji.names.set.mayHave(n) {
			return true
		}
	}
	return false
}

// varSet reports whether the job sets any of names as a variable.
func (ji *jobInfo) varSet(names ...string) bool {
	for _, n := range names {
		if ji.lookup(n) != nil {
			return true
		}
	}
	return false
}

// varGiven reports whether the job sets any of names to a value that is
// not empty: an empty one (a placeholder declared for a stored variable
// of the same name) takes nothing from the stored one, which GitLab gives
// precedence (https://docs.gitlab.com/ci/variables/#cicd-variable-precedence).
func (ji *jobInfo) varGiven(names ...string) bool {
	for _, n := range names {
		if v := ji.lookup(n); v != nil && strings.TrimSpace(v.Value.Value) != "" {
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
	{"crates", []string{"crates.io"}, []string{"CRATES", "CARGO"}, nil},
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
		if !ji.grams.mayHave(t.name) {
			break
		}
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
	// signals are the signs that the job uses the stored credential;
	// creds tells where the configuration names credential variables.
	signals func(ji *jobInfo, cfg *configFacts) []signal
	fix     string
}

func (r storedRule) Check(p *Pass) {
	var sites siteFindings
	cfg := p.configFacts()
	for _, ji := range p.jobInfos() {
		if r.exchanged(ji) {
			continue
		}
		best := strongest(r.signals(ji, cfg))
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

// strongest is the signal of highest confidence, the first of equals; nil
// for none.
func strongest(signals []signal) *signal {
	var best *signal
	for i := range signals {
		if best == nil || signals[i].conf > best.conf {
			best = &signals[i]
		}
	}
	return best
}

// varSignals are the signals of the variables names: set from a stored
// variable in variables:, read or assigned in a script line.
func varSignals(ji *jobInfo, names ...string) []signal {
	var out []signal
	for _, n := range names {
		v := ji.lookup(n)
		if v == nil {
			continue
		}
		if ref := storedRef(v.Value.Value); ref != "" {
			out = append(out, signal{pos: v.Value.Pos, key: "var\x00" + n + "\x00" + ref, conf: High,
				what: fmt.Sprintf("sets %s from the stored variable $%s", n, ref)})
		}
	}
	if !ji.grams.mayHaveAny(names) {
		return out
	}
	for _, l := range ji.lines {
		for _, n := range names {
			if !strings.Contains(l.Value, n) {
				continue
			}
			if ref, ok := assignFrom(l.Value, n); ok {
				out = append(out, signal{pos: ji.at(l, n), key: "assign\x00" + n + "\x00" + ref, conf: High,
					what: fmt.Sprintf("sets %s from the stored variable $%s", n, ref)})
			} else if refersTo(l.Value, n) && ji.lookup(n) == nil {
				out = append(out, signal{pos: ji.at(l, n), key: "read\x00" + n, conf: Medium,
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
	if l, pos := ji.lineAt(subs...); l != nil {
		return []signal{{pos: pos, key: key, conf: conf, what: what}}
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
