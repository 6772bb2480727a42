package lint

import (
	"fmt"
	"path"
	"slices"
	"sort"
	"strings"

	"gitlab.com/keyless-ci/keyless/internal/detect"
	"gitlab.com/keyless-ci/keyless/internal/pipeline"
)

// This file is the base of the leak rules (rule_secret_leak_*.go and
// rule_xtrace_with_secrets.go, issue 15): which of a job's variables hold
// secrets, and where its shell sends them. It follows each shell session
// of a job in order, the variables the script sets and the files it
// writes, to the job log, to a file the job keeps (artifacts:, a dotenv
// report, cache:), or through tracing.

// secretKind is what kind of secret a value is, which decides whether
// GitLab can mask it in the job log (docs.gitlab.com/ci/variables/#mask-a-cicd-variable).
type secretKind uint8

const (
	notSecret secretKind = iota
	// idTokenSecret is an ID token (id_tokens:, CI_JOB_JWT*): GitLab
	// marks it masked (app/models/ci/build.rb, id_tokens_variables) and it
	// expires with the job.
	idTokenSecret
	// storedSecret is a CI/CD variable or a secrets: value: long-lived,
	// and masked in the log only if the variable is masked and its value
	// meets the masking requirements.
	storedSecret
	// runtimeSecret is made by the job (vault write, keyless env): no
	// variable names it, so GitLab never masks it.
	runtimeSecret
)

// held is a secret as it moves through a job's shell: the variable it
// came from and the steps it took ("URL", "echo", "deploy.env", "cat").
type held struct {
	name  string // the variable; a description when pseudo
	kind  secretKind
	steps []string
	// changed is set once the value is encoded (base64, xxd): masking,
	// which matches the exact value, misses it.
	changed bool
	// pseudo is a group of values named by a description ("keyless
	// env's credentials"), not a variable.
	pseudo bool
	// exported values are in the environment that env prints.
	exported bool
}

// then is h after one more step.
func (h held) then(step string, changed bool) held {
	h.steps = append(slices.Clip(h.steps), step)
	h.changed = h.changed || changed
	return h
}

// ref is how a message names the value: "$NAME", or its description.
func (h held) ref() string {
	if h.pseudo {
		return h.name
	}
	if h.kind == idTokenSecret {
		return "the ID token $" + h.name
	}
	return "$" + h.name
}

// sink is where a leaked value ends up.
type sink uint8

const (
	sinkLog      sink = iota + 1 // the job log
	sinkArtifact                 // artifacts:paths, untracked, reports other than dotenv
	sinkCache                    // cache:paths (reported by secret-leak-artifact)
	sinkDotenv                   // artifacts:reports:dotenv
)

// leak is one place where a job sends secrets to a sink.
type leak struct {
	sink    sink
	line    *pipeline.Node
	cmd     string // the command, to find its position in a block
	what    string // "echo", "env", "cat": the command that prints or writes
	secrets []held
	file    string // the file written (artifact, cache and dotenv sinks)
	keptBy  string // "artifacts:paths out/", "artifacts:reports:dotenv"
	reach   string // who reads the sink
	// dump is set when the command prints every variable (env, set).
	dump bool
}

// shellCmd is one simple command of a shell session, as tracing sees it.
type shellCmd struct {
	line  *pipeline.Node
	text  string
	words []string // split at blanks, quotes kept (for xtraceChange)
	// use says how the command handles a secret, "" for not at all:
	// what set -x would print it with.
	use  string
	conf Confidence
	// prints is set when the command itself prints a secret to the log
	// (a secret-leak-log finding): tracing adds nothing to it.
	prints bool
}

// jobLeaks is what the leak rules read of one job.
type jobLeaks struct {
	ji *jobInfo
	// sessions are the commands of before_script and script (one
	// shell), then of after_script (another): those that use a secret or
	// change shell tracing, all the xtrace rule reads.
	sessions [][]shellCmd
	leaks    []leak
	// static caches the kind of the variables the job sees before its
	// script sets any, while analyzeLeaks runs (readCache.static).
	static map[string]held
	read   readCache
}

// readCache holds each script entry read (shellSteps, pipelines,
// parseCommand) once per Run: the jobs that extend one template share its
// lines, and reading is most of the cost.
type readCache struct {
	entries map[string][]readStep
	names   map[string]bool         // detect.SecretName
	substs  map[string][][]*command // substitution
	// static is jobLeaks.static of the job being analysed: one map,
	// cleared for each job, rather than one a job (a twentieth of the
	// bytes a corpus run allocates).
	static map[string]held
}

func newReadCache() readCache {
	return readCache{entries: map[string][]readStep{}, names: map[string]bool{}, substs: map[string][][]*command{}, static: map[string]held{}}
}

// secretName is detect.SecretName(name), remembered.
func (r readCache) secretName(name string) bool {
	v, ok := r.names[name]
	if !ok {
		v = detect.SecretName(name)
		r.names[name] = v
	}
	return v
}

// readStep is one command line of an entry, its pipelines' stages read.
type readStep struct {
	st        shellStep
	pipelines [][]readStage
}

type readStage struct {
	text  string
	words []string
	// cmd is nil for a plainCommand: nothing in it to follow.
	cmd *command
	// tracing is set for a command that changes shell tracing or runs a
	// shell that traces (xtraceChange): the xtrace rule's.
	tracing bool
}

// readEntry reads a script entry, or returns it read.
func (r readCache) readEntry(v string) []readStep {
	if steps, ok := r.entries[v]; ok {
		return steps
	}
	var steps []readStep
	for _, st := range shellSteps(v) {
		rs := readStep{st: st}
		for _, pl := range pipelines(st.text) {
			stages := make([]readStage, 0, len(pl))
			for _, text := range pl {
				stage := readStage{text: text, words: strings.Fields(text)}
				change, traced, _ := xtraceChange(stage.words)
				stage.tracing = change != 0 || traced
				// A stage after a pipe may pass on what flows into it.
				if !plainCommand(text, stage.words) || len(pl) > 1 {
					c := parseCommand(text)
					c.words = stage.words
					stage.cmd = &c
				}
				stages = append(stages, stage)
			}
			rs.pipelines = append(rs.pipelines, stages)
		}
		steps = append(steps, rs)
	}
	r.entries[v] = steps
	return steps
}

// jobLeakInfos returns the leak analysis of every job, once per Run.
func (p *Pass) jobLeakInfos() []*jobLeaks {
	return p.Memo("leaks", func() any {
		infos := p.jobInfos()
		out := make([]*jobLeaks, 0, len(infos))
		read := newReadCache()
		for _, ji := range infos {
			out = append(out, analyzeLeaks(ji, read))
		}
		return out
	}).([]*jobLeaks)
}

// keylessCredentials are the variables keyless env exports with a
// credential in them (internal/exchange/*/output.go).
var keylessCredentials = []string{
	"AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "CLOUDSDK_AUTH_ACCESS_TOKEN",
	"GOOGLE_OAUTH_ACCESS_TOKEN", "AZURE_ACCESS_TOKEN", "VAULT_TOKEN",
	"TWINE_PASSWORD", "UV_PUBLISH_TOKEN", "NODE_AUTH_TOKEN", // keyless pypi, keyless npm
}

// keylessHeld is the credentials keyless env prints or exports.
func keylessHeld() held {
	return held{name: "keyless env's credentials", kind: runtimeSecret, pseudo: true, exported: true}
}

// analyzeLeaks follows a job's shells: before_script and script share
// one, after_script runs in another
// (https://docs.gitlab.com/ci/yaml/#after_script); files outlive both.
func analyzeLeaks(ji *jobInfo, read readCache) *jobLeaks {
	clear(read.static)
	jl := &jobLeaks{ji: ji, static: read.static, read: read}
	// staticSecret is asked only while the job is analysed.
	defer func() { jl.static = nil }()
	if !jl.maySecrets() {
		return jl
	}
	files := map[string]*fileState{}
	var order []string // files in the order first written
	for i, keys := range [][]string{{"before_script", "script"}, {"after_script"}} {
		sh := &shell{jl: jl, vars: map[string]*held{}, files: files, order: &order}
		if i == 0 {
			for _, name := range componentNames() {
				if ji.extendsAny(components[name].hidden) {
					// The component's before_script exports them.
					sh.setKeyless()
				}
			}
		}
		for _, k := range keys {
			for _, l := range ji.job.Node.Get(k).Scalars() {
				for _, st := range read.readEntry(l.Value) {
					sh.step(l, st)
				}
			}
		}
		jl.sessions = append(jl.sessions, sh.cmds)
	}
	// hooks:pre_get_sources_script runs in a shell of its own, before
	// the clone: what it prints reaches the log, what it writes does not
	// outlive the clone.
	hook := &shell{jl: jl, vars: map[string]*held{}, files: map[string]*fileState{}, order: new([]string)}
	for _, l := range ji.job.Node.Lookup("hooks", "pre_get_sources_script").Scalars() {
		for _, st := range read.readEntry(l.Value) {
			hook.step(l, st)
		}
	}
	// What the job keeps is what is there when it ends.
	for _, f := range order {
		fs := files[f]
		if fs.removed {
			continue
		}
		s, keptBy, reach := jl.kept(f)
		if s == 0 {
			continue
		}
		for _, w := range fs.writes {
			jl.leaks = append(jl.leaks, leak{sink: s, line: w.line, cmd: w.cmd, what: w.what, secrets: w.secrets, file: f, keptBy: keptBy, reach: reach, dump: w.dump})
		}
	}
	return jl
}

// maySecrets reports whether the job can hold a secret at all: an ID
// token, a secrets: entry, a keyless component, a variable it sees or
// expands that holds one, or a script line that makes one (a secret-named
// assignment, keyless, exported credentials). Without one there is
// nothing to follow, in most jobs.
func (jl *jobLeaks) maySecrets() bool {
	ji := jl.ji
	if len(ji.tokens) > 0 || len(ji.view.Secrets) > 0 || ji.extendsAny(".keyless-") {
		return true
	}
	for r := range ji.view.Refs.All() {
		if !jl.plainName(r) && jl.staticSecret(r, 0).kind != notSecret {
			return true
		}
	}
	for i := range ji.vars {
		if v := &ji.vars[i]; (jl.ji.lookup(v.Name) != v || !jl.plainVar(v)) && jl.staticSecret(v.Name, 0).kind != notSecret {
			return true
		}
	}
	for _, l := range ji.lines {
		v := l.Value
		if strings.Contains(v, "keyless") || strings.Contains(v, "export-credentials") || strings.Contains(v, "CI_JOB_JWT") {
			return true
		}
		for _, n := range assignedNames(v) {
			if jl.read.secretName(n) && !gitlabSets(n) {
				return true
			}
		}
	}
	return false
}

// plainName reports a name staticSecret finds no secret in without
// looking further: one GitLab or the shell sets, or a variable whose
// value is not empty and expands nothing, and no ID token, secrets: entry
// or deploy password. Most names a job sees are such; sparing them the
// cache of staticSecret is a tenth of the leak analysis.
func (jl *jobLeaks) plainName(name string) bool { return jl.plain(name, nil) }

// plainVar is plainName(v.Name) for v, the variable of that name the job
// sees, without looking it up again.
func (jl *jobLeaks) plainVar(v *variable) bool { return jl.plain(v.Name, v) }

// plain is plainName, v the variable name if known (nil: look it up).
func (jl *jobLeaks) plain(name string, v *variable) bool {
	switch name {
	case "CI_JOB_JWT", "CI_JOB_JWT_V1", "CI_JOB_JWT_V2", "CI_DEPLOY_PASSWORD":
		return false
	}
	if slices.ContainsFunc(jl.ji.tokens, func(t idToken) bool { return t.name == name }) ||
		slices.ContainsFunc(jl.ji.view.Secrets, func(s pipeline.Secret) bool { return s.Name == name }) {
		return false
	}
	if gitlabSets(name) || shellSet(name) {
		return true
	}
	if v == nil {
		if v = jl.ji.lookup(name); v == nil {
			return false
		}
	}
	return plainValue(v)
}

// plainValue reports a value that is not empty and expands nothing.
func plainValue(v *variable) bool {
	val := strings.TrimSpace(v.Value.Value)
	return val != "" && !strings.ContainsAny(val, "$%")
}

// assignedNames returns the NAME of each NAME= in s (an assignment, or an
// assignment a command prints: printf "AWS_SECRET_ACCESS_KEY=%s").
func assignedNames(s string) []string {
	var out []string
	for i := strings.IndexByte(s, '='); i >= 0; {
		j := i
		for j > 0 && isNameByte(s[j-1]) {
			j--
		}
		if j < i && (s[j] < '0' || s[j] > '9') {
			out = append(out, s[j:i])
		}
		k := strings.IndexByte(s[i+1:], '=')
		if k < 0 {
			break
		}
		i += k + 1
	}
	return out
}

// fileState is a file the job writes: the secrets in it and where they
// were written.
type fileState struct {
	content []held
	writes  []fileWrite
	removed bool
}

type fileWrite struct {
	line    *pipeline.Node
	cmd     string
	what    string
	secrets []held
	dump    bool
}

// shell is one shell session of a job.
type shell struct {
	jl *jobLeaks
	// vars are the variables the script set: nil for a value that is
	// not secret (which hides a stored one of the same name).
	vars  map[string]*held
	files map[string]*fileState
	order *[]string
	// cwd is the working directory relative to the project directory;
	// lost once the script changes to one keyless cannot follow.
	cwd     string
	cwdLost bool
	keyless bool // keyless env's credentials are exported
	cmds    []shellCmd
}

func (sh *shell) setKeyless() {
	sh.keyless = true
	for _, n := range keylessCredentials {
		h := held{name: n, kind: runtimeSecret, exported: true}
		sh.vars[n] = &h
	}
}

// secret returns the secret a variable holds at this point; false for
// none. A copy rather than a pointer: the rules ask this of every
// variable a command expands, and a pointer to a static secret was an
// allocation each time.
func (sh *shell) secret(name string) (held, bool) {
	if h, ok := sh.vars[name]; ok {
		if h == nil {
			return held{}, false
		}
		return *h, true
	}
	if h := sh.jl.staticSecret(name, 0); h.kind != notSecret {
		return h, true
	}
	return held{}, false
}

// staticSecret tells what secret a variable holds before the script sets
// it: an ID token of the job, a secrets: value, GitLab's deploy token, a
// variables: entry that takes a stored variable's value, or a variable
// the configuration does not set whose name says it holds a secret
// (detect.SecretName): a project, group or instance variable. A value
// written in the configuration is not stored: a secret is the secret
// rules' (hardcoded-*), anything else (a placeholder, a secret manager's
// reference) is no secret.
func (jl *jobLeaks) staticSecret(name string, depth int) held {
	if h, ok := jl.static[name]; ok {
		return h
	}
	h := held{name: name, exported: true}
	if depth > 4 {
		return h
	}
	ji := jl.ji
	switch {
	case slices.ContainsFunc(ji.tokens, func(t idToken) bool { return t.name == name }),
		name == "CI_JOB_JWT", name == "CI_JOB_JWT_V1", name == "CI_JOB_JWT_V2":
		h.kind = idTokenSecret
	case slices.ContainsFunc(ji.view.Secrets, func(s pipeline.Secret) bool { return s.Name == name }):
		// With file: true (the default) it holds the path of a file
		// with the secret: reading the file is the leak (readFile).
		if !jl.fileSecret(name) {
			h.kind = storedSecret
		}
	case name == "CI_DEPLOY_PASSWORD":
		// The gitlab-deploy-token's: it outlives the job, unlike
		// CI_JOB_TOKEN and CI_REGISTRY_PASSWORD.
		h.kind = storedSecret
	case gitlabSets(name) || shellSet(name):
	default:
		v := ji.lookup(name)
		if v == nil {
			if jl.read.secretName(name) {
				h.kind = storedSecret
			}
			break
		}
		val := strings.TrimSpace(v.Value.Value)
		if val == "" && jl.read.secretName(name) {
			// Given when the pipeline runs (a prefilled variable) or
			// by a project variable, which wins over the file's.
			h.kind = storedSecret
			break
		}
		for _, r := range varRefs(val) {
			if r == name && jl.read.secretName(name) {
				h.kind = storedSecret // NPM_TOKEN: $NPM_TOKEN passes it on
				break
			}
			if r == name || gitlabSets(r) {
				continue
			}
			if from := jl.staticSecret(r, depth+1); from.kind != notSecret {
				h = from.then(name, false)
				h.exported = true
				break
			}
			if jl.read.secretName(name) {
				h = held{name: r, kind: storedSecret, steps: []string{name}, exported: true}
				break
			}
		}
	}
	jl.static[name] = h
	return h
}

// fileSecret reports a secrets: entry whose variable holds a file's path
// (file: true, the default) rather than the secret.
func (jl *jobLeaks) fileSecret(name string) bool {
	for _, s := range jl.ji.view.Secrets {
		if s.Name == name {
			return s.File
		}
	}
	return false
}

// inScope returns every secret the job's environment holds at this point
// (all: the shell's unexported variables too), for commands that print
// them all (env, set).
func (sh *shell) inScope(all bool) []held {
	var out []held
	seen := map[string]bool{}
	add := func(h held) {
		if !seen[h.name] && (all || h.exported) {
			seen[h.name] = true
			out = append(out, held{name: h.name, kind: h.kind, pseudo: h.pseudo, changed: h.changed, exported: h.exported})
		}
	}
	if sh.keyless {
		add(keylessHeld())
		for _, n := range keylessCredentials {
			seen[n] = true
		}
	}
	var names []string
	for r := range sh.jl.ji.view.Refs.All() {
		names = append(names, r)
	}
	for _, t := range sh.jl.ji.tokens {
		names = append(names, t.name)
	}
	for _, v := range sh.jl.ji.vars {
		names = append(names, v.Name)
	}
	for _, s := range sh.jl.ji.view.Secrets {
		if !s.File {
			names = append(names, s.Name)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		if _, set := sh.vars[n]; set {
			continue
		}
		if h := sh.jl.staticSecret(n, 0); h.kind != notSecret {
			add(held{name: h.name, kind: h.kind, exported: true})
		}
	}
	var set []string
	for n, h := range sh.vars {
		if h != nil {
			set = append(set, n)
		}
	}
	sort.Strings(set)
	for _, n := range set {
		h := *sh.vars[n]
		add(held{name: h.name, kind: h.kind, pseudo: h.pseudo, changed: h.changed, exported: h.exported})
	}
	return out
}

// step runs one shell line (with its here-document).
func (sh *shell) step(l *pipeline.Node, rs readStep) {
	for _, pl := range rs.pipelines {
		sh.pipeline(l, pl, rs.st)
	}
}

// pipeline runs the stages of one pipeline, passing what each prints to
// the next.
func (sh *shell) pipeline(l *pipeline.Node, stages []readStage, st shellStep) {
	var flow []held
	dump := false
	src := "" // the command that printed what flows
	for i, rs := range stages {
		text, words := rs.text, rs.words
		if rs.cmd == nil {
			// Nothing to follow: what flowed into it stops here. Kept only
			// for the xtrace rule, which reads the commands that use a
			// secret and those that change tracing.
			if rs.tracing {
				sh.cmds = append(sh.cmds, shellCmd{line: l, text: text, words: words})
			}
			flow, src = nil, ""
			continue
		}
		c := rs.cmd
		cmd := shellCmd{line: l, text: text, words: words}
		out, what, isDump, passes := sh.command(l, c, &cmd, flow, st)
		dump = isDump || dump && passes
		if !passes || src == "" {
			src = what
		}
		flow = dedupeHeld(out)
		dest, target := c.stdout()
		switch {
		case dest == toFile:
			sh.write(l, text, src, target, flow, c.appends, dump)
			flow = nil
		case len(flow) == 0:
		case dest == toNull:
			flow = nil
		case dest == toLog || i == len(stages)-1:
			sh.jl.leaks = append(sh.jl.leaks, leak{sink: sinkLog, line: l, cmd: text, what: src, secrets: flow, dump: dump, reach: "job log"})
			cmd.prints = true
			flow = nil
		}
		if cmd.use != "" || rs.tracing {
			sh.cmds = append(sh.cmds, cmd)
		}
	}
}

// plainCommand reports a command that neither expands, redirects nor
// runs a command the leak rules follow (most of a job's: make, npm ci):
// it needs no reading beyond its words. Most commands of the corpus are
// such, and reading every one costs a third of a lint run.
func plainCommand(text string, words []string) bool {
	if strings.ContainsAny(text, "$%`<>") {
		return false
	}
	for _, w := range words {
		if leadWords[w] {
			continue
		}
		w = strings.ToLower(strings.Trim(w, `"'({`))
		if i := strings.LastIndexAny(w, `/\`); i >= 0 {
			w = w[i+1:]
		}
		return !followed[strings.TrimSuffix(w, ".exe")] && !strings.Contains(w, "=")
	}
	return true
}

// followed are the commands the leak rules read without an expansion or
// a redirection in them: they print every variable, move or print files,
// or change the directory.
var followed = map[string]bool{
	"env": true, "printenv": true, "set": true, "cat": true, "head": true, "tail": true, "less": true,
	"more": true, "type": true, "get-content": true, "gc": true, "bat": true, "nl": true, "base64": true, "export": true, "declare": true, "typeset": true,
	"get-childitem": true, "gci": true, "dir": true, "ls": true, "get-item": true, "cd": true, "pushd": true,
	"popd": true, "set-location": true, "rm": true, "remove-item": true, "shred": true, "cp": true, "mv": true,
	"install": true, "copy-item": true, "keyless": true, "tee": true, "sudo": true, "unset": true,
}

// captured returns what a command substitution's pipelines print: the
// secrets a variable set from it holds ($(echo "$S" | base64)). A
// command that makes a new value (vault write ... jwt=$ID_TOKEN) prints
// none of them.
func (sh *shell) captured(l *pipeline.Node, inner string) []held {
	var flow []held
	for _, stages := range sh.jl.read.substitution(inner) {
		var f []held
		for _, c := range stages {
			var cmd shellCmd
			f, _, _, _ = sh.command(l, c, &cmd, f, shellStep{})
			if dest, _ := c.stdout(); dest != toPipe {
				f = nil
			}
		}
		flow = append(flow, f...)
	}
	return dedupeHeld(flow)
}

// substitution returns the pipelines of a command substitution's
// commands, read (parseCommand) once per pipeline: every job that runs
// the line follows them.
func (r readCache) substitution(inner string) [][]*command {
	if pls, ok := r.substs[inner]; ok {
		return pls
	}
	var pls [][]*command
	for _, stages := range pipelines(inner) {
		cs := make([]*command, len(stages))
		for i, text := range stages {
			c := parseCommand(text)
			cs[i] = &c
		}
		pls = append(pls, cs)
	}
	r.substs[inner] = pls
	return pls
}

// substitutions returns the commands of the $( ) and ` ` of s, outside
// single quotes.
func substitutions(s string) []string {
	var out []string
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\\':
			i++
		case s[i] == '\'':
			if j := strings.IndexByte(s[i+1:], '\''); j >= 0 {
				i += j + 1
			}
		case s[i] == '$' && i+1 < len(s) && s[i+1] == '(':
			end := closing(s, i+1)
			if end < len(s) {
				out = append(out, s[i+2:end])
			}
			i = end
		case s[i] == '`':
			if j := strings.IndexByte(s[i+1:], '`'); j >= 0 {
				out = append(out, s[i+1:i+1+j])
				i += j + 1
			}
		}
	}
	return out
}

// Where a command's standard output goes.
const (
	toPipe = iota // the next stage, or the log for the last
	toFile
	toNull
	toLog // >&2, /dev/stderr
)

// command runs one simple command: it returns what it prints (out, named
// what), whether that is every variable (dump), and whether it passes its
// input on (passes: the input is part of out, changed or not).
func (sh *shell) command(l *pipeline.Node, c *command, cmd *shellCmd, in []held, st shellStep) (out []held, what string, dump, passes bool) {
	name := c.name
	lname := strings.ToLower(name)
	cmd.use, cmd.conf = sh.use(c)
	args := c.args
	switch {
	case name == "" && len(c.assigns) > 0:
		sh.assign(l, c)
		return nil, "", false, false
	case (name == "export" || name == "eval" || name == "source" || name == ".") && len(c.assigns) == 0 && (strings.Contains(c.raw, "$(") || strings.Contains(c.raw, "`") || sh.holdsKeyless(c.raw)):
		sh.evalExports(c.raw)
		return nil, "", false, false
	case name == "export" || name == "declare" || name == "typeset" || name == "local" || name == "readonly":
		if len(c.assigns) > 0 || hasNonOption(args) && name != "declare" && name != "typeset" {
			sh.assign(l, c)
			if name == "export" {
				for _, a := range args {
					if h, ok := sh.vars[a]; ok && h != nil {
						h.exported = true
					}
				}
			}
			return nil, "", false, false
		}
		if name == "export" || name == "declare" && (slices.Contains(args, "-x") || slices.Contains(args, "-p")) || name == "typeset" && slices.Contains(args, "-p") {
			if names := nonOptions(args); len(names) > 0 {
				return sh.named(names, name), name, false, false
			}
			return thenAll(sh.inScope(name != "export" && !slices.Contains(args, "-x")), name), name, true, false
		}
	case name == "unset":
		for _, a := range nonOptions(args) {
			sh.vars[a] = nil
		}
	case name == "env" && len(nonOptions(args)) == 0, name == "printenv" && len(nonOptions(args)) == 0:
		return thenAll(sh.inScope(false), name), name, true, false
	case name == "printenv":
		return sh.named(nonOptions(args), name), name, false, false
	case name == "set" && len(args) == 0:
		return thenAll(sh.inScope(true), name), name, true, false
	case (lname == "get-childitem" || lname == "gci" || lname == "dir" || lname == "ls" || lname == "get-item") && len(args) > 0 && strings.EqualFold(strings.TrimRight(args[0], `\/`), "env:"):
		return thenAll(sh.inScope(false), name), name, true, false
	case name == "cd" || name == "pushd" || lname == "set-location":
		sh.chdir(nonOptions(args))
	case name == "popd":
		sh.cwdLost = true
	case name == "rm" || lname == "remove-item" || name == "shred":
		for _, a := range nonOptions(args) {
			sh.remove(a)
		}
	case name == "cp" || name == "mv" || name == "install" || lname == "copy-item":
		sh.copy(l, c.raw, name, nonOptions(args))
	case name == "keyless" && len(args) > 0 && args[0] == "env":
		return []held{keylessHeld()}, "keyless env", false, false
	case printers[lname]:
		for _, r := range c.argRefsOf() {
			if h, ok := sh.secret(r); ok {
				out = append(out, h.then(name, false))
			}
		}
		return out, name, false, false
	case name == "grep" || name == "egrep" || name == "fgrep":
		if slices.Contains(args, "-q") || slices.Contains(args, "-c") || slices.Contains(args, "-l") {
			return nil, name, false, false
		}
		return grepFilter(in, args), name, false, true
	case name == "tee":
		src := in
		if st.body != "" && c.heredoc {
			src = sh.bodySecrets(st, name)
		}
		for _, f := range nonOptions(args) {
			sh.write(l, c.raw, name, f, src, slices.Contains(args, "-a"), false)
		}
		return src, name, false, true
	}
	if fileReaders[lname] {
		changed := encoders[lname]
		if c.heredoc && st.body != "" && name == "cat" {
			return sh.bodySecrets(st, name), name, false, false
		}
		if c.herestring != "" {
			for _, r := range expandedRefs(c.herestring, false, false) {
				if h, ok := sh.secret(r); ok {
					out = append(out, h.then(name, changed))
				}
			}
		}
		files := nonOptions(args)
		if stdinOnly[lname] {
			files = nil
		}
		for _, f := range files {
			out = append(out, sh.readFile(f, name, changed)...)
		}
		if len(files) == 0 {
			for _, h := range in {
				out = append(out, h.then(name, changed))
			}
			return out, name, false, true
		}
		return out, name, false, false
	}
	return nil, name, false, false
}

// printers are the commands that print their arguments.
var printers = map[string]bool{
	"echo": true, "printf": true, "print": true, "write-output": true, "write-host": true, "echo.exe": true,
}

// fileReaders print their file arguments, or their input without one;
// encoders among them change the value so that masking misses it. A
// command that prints a part or a digest of its input (cut, jq .field,
// sha256sum, openssl dgst) is not one: what it prints is not the secret.
var fileReaders = map[string]bool{
	"cat": true, "head": true, "tail": true, "less": true, "more": true, "type": true, "get-content": true,
	"gc": true, "bat": true, "nl": true, "base64": true, "base32": true, "xxd": true, "od": true,
	"hexdump": true, "gzip": true, "gunzip": true, "jq": true, "yq": true, "sed": true, "tr": true,
	"sort": true, "uniq": true, "rev": true, "fold": true, "dos2unix": true, "openssl": true, "awk": true,
}

var encoders = map[string]bool{
	"base64": true, "base32": true, "xxd": true, "od": true, "hexdump": true, "gzip": true, "rev": true,
}

// stdinOnly among them take a program or operands, not files, as
// arguments.
var stdinOnly = map[string]bool{"sed": true, "tr": true, "gzip": true, "gunzip": true}

// thenAll is hs after one more step.
func thenAll(hs []held, step string) []held {
	out := make([]held, len(hs))
	for i, h := range hs {
		out[i] = h.then(step, false)
	}
	return out
}

// grepFilter is what grep lets through: of the variables a dump prints,
// those whose name has the pattern's text (the whole value otherwise).
func grepFilter(in []held, args []string) []held {
	pat, invert, fold := "", false, false
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "-e" && i+1 < len(args):
			pat = args[i+1]
			i++
		case strings.HasPrefix(a, "-") && len(a) > 1:
			invert = invert || strings.ContainsRune(a[1:], 'v')
			fold = fold || strings.ContainsRune(a[1:], 'i')
		case pat == "":
			pat = a
		}
	}
	lit := strings.Trim(pat, "^$")
	if invert || lit == "" || strings.ContainsAny(lit, `.*[]()|\+?{}`) {
		return in
	}
	var out []held
	for _, h := range in {
		n := h.name
		if fold {
			n, lit = strings.ToUpper(n), strings.ToUpper(lit)
		}
		if h.pseudo || strings.Contains(n, strings.TrimSuffix(lit, "=")) {
			out = append(out, h)
		}
	}
	return out
}

// named is the secrets among the variables names (printenv NAME).
func (sh *shell) named(names []string, step string) []held {
	var out []held
	for _, n := range names {
		if h, ok := sh.secret(n); ok {
			out = append(out, h.then(step, false))
		}
	}
	return out
}

// use tells how a command handles a secret, for tracing: it runs keyless
// for credentials, sets a secret from a command's output, or expands
// one. GitLab's own variables are left out: it masks its tokens. conf is
// how sure it is that the trace shows the secret unmasked.
func (sh *shell) use(c *command) (string, Confidence) {
	if !strings.ContainsAny(c.raw, "$%`") && !strings.Contains(c.raw, "keyless") {
		return "", 0
	}
	if strings.Contains(c.raw, "keyless") {
		if sub := keylessRun(c.words); sub != "" {
			return "runs keyless " + sub + ", whose output holds credentials", High
		}
	}
	for _, a := range c.assigns {
		if (strings.Contains(a.value, "$(") || strings.Contains(a.value, "`")) && sh.jl.read.secretName(a.name) && !gitlabSets(a.name) && !shellSet(a.name) {
			return "sets $" + a.name + " from a command's output", High
		}
	}
	for _, r := range c.refsOf() {
		h, ok := sh.secret(r)
		if !ok {
			continue
		}
		switch {
		case h.kind == idTokenSecret && len(h.steps) == 0:
			return "expands the ID token $" + r, Low
		case slices.ContainsFunc(sh.jl.ji.view.Secrets, func(s pipeline.Secret) bool { return s.Name == r }):
			return "expands the secret $" + r, Medium
		default:
			return "expands $" + r, logConfidence(h)
		}
	}
	return "", 0
}

// keylessRun returns the keyless subcommand a command runs for
// credentials on its output (keyless env, "$(keyless env)", X=$(keyless
// aws), .keyless/bin/keyless env), "" for none: run with a command after
// --, it hands them to that command only.
func keylessRun(words []string) string {
	for i, w := range words {
		if j := strings.LastIndexAny(w, "(`="); j >= 0 {
			w = w[j+1:]
		}
		if path.Base(strings.Trim(w, `"'`)) != "keyless" || i+1 >= len(words) {
			continue
		}
		switch sub := strings.TrimRight(words[i+1], ")`\"'"); sub {
		case "env", "aws", "gcp", "azure", "vault", "sts":
			if !slices.Contains(words[i+1:], "--") {
				return sub
			}
		}
	}
	return ""
}

// assign records the variables a command sets.
func (sh *shell) assign(l *pipeline.Node, c *command) {
	export := c.name == "export" || c.name == "declare" && slices.Contains(c.args, "-x")
	for _, a := range c.assigns {
		var h *held
		subst := strings.Contains(a.value, "$(") || strings.Contains(a.value, "`")
		for _, r := range expandedRefs(a.value, false, false) {
			if s, ok := sh.secret(r); ok {
				v := s.then(a.name, false)
				h = &v
				break
			}
		}
		if h == nil && subst {
			var from []held
			for _, inner := range substitutions(a.value) {
				from = append(from, sh.captured(l, inner)...)
			}
			switch {
			case len(from) > 0:
				v := from[0].then(a.name, false)
				h = &v
			case strings.Contains(a.value, "keyless"):
				v := keylessHeld()
				v.steps = []string{a.name}
				h = &v
			case sh.jl.read.secretName(a.name) && !gitlabSets(a.name) && !shellSet(a.name):
				h = &held{name: a.name, kind: runtimeSecret}
			}
		}
		if h == nil && sh.jl.read.secretName(a.name) && !gitlabSets(a.name) {
			if refs := varRefs(a.value); len(refs) > 0 && strings.HasPrefix(strings.Trim(a.value, `"'`), "$") && !gitlabSets(refs[0]) && refs[0] != a.name {
				// A secret-named variable set from another: that one
				// holds the secret (AWS_SECRET_ACCESS_KEY=$AMI_KEY).
				h = &held{name: refs[0], kind: storedSecret, steps: []string{a.name}}
			}
		}
		if h != nil {
			prev, ok := sh.vars[a.name]
			h.exported = export || !ok && sh.jl.staticSecret(a.name, 0).exported || ok && prev != nil && prev.exported
			h.exported = h.exported || export
		}
		sh.vars[a.name] = h
	}
}

// evalExports follows eval "$(cmd)", export $(cmd) and source <(cmd):
// the variables cmd prints assignments of are set from its output, at
// run time. keyless env's are its credentials; aws configure
// export-credentials prints the AWS keys; others say the names in their
// output format.
func (sh *shell) evalExports(raw string) {
	if strings.Contains(raw, "keyless") || sh.holdsKeyless(raw) {
		sh.setKeyless()
		return
	}
	var names []string
	if strings.Contains(raw, "export-credentials") {
		names = append(names, "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
	}
	names = append(names, assignedNames(raw)...)
	for _, n := range names {
		if detect.SecretName(n) && !gitlabSets(n) {
			sh.vars[n] = &held{name: n, kind: runtimeSecret, exported: true}
		}
	}
}

// holdsKeyless reports whether a command expands a variable that holds
// keyless env's output (eval "$__keyless_env").
func (sh *shell) holdsKeyless(raw string) bool {
	for _, r := range varRefs(raw) {
		if h, ok := sh.vars[r]; ok && h != nil && h.pseudo && h.kind == runtimeSecret {
			return true
		}
	}
	return false
}

// bodySecrets are the secrets a here-document expands.
func (sh *shell) bodySecrets(st shellStep, step string) []held {
	if !st.bodyExpands {
		return nil
	}
	var out []held
	for _, r := range expandedRefs(st.body, false, true) {
		if h, ok := sh.secret(r); ok {
			out = append(out, h.then(step+" <<"+st.delim, false))
		}
	}
	return out
}

// readFile is what a command that reads the file f gets: the secrets the
// job wrote to it, or the secret of a secrets: file variable ($DB_PASSWORD
// with file: true).
func (sh *shell) readFile(f, step string, changed bool) []held {
	if name, ok := onlyRef(f); ok && sh.jl.fileSecret(name) {
		if _, set := sh.vars[name]; !set {
			return []held{{name: name, kind: storedSecret, steps: []string{step}, changed: changed}}
		}
	}
	key, _ := sh.norm(f)
	fs := sh.files[key]
	if fs == nil || fs.removed {
		return nil
	}
	var out []held
	for _, h := range fs.content {
		out = append(out, h.then(key, false).then(step, changed))
	}
	return out
}

// write records secrets written to the file f.
func (sh *shell) write(l *pipeline.Node, cmd, what, f string, secrets []held, appends, dump bool) {
	key, ok := sh.norm(f)
	if key == "" {
		return
	}
	fs := sh.files[key]
	if fs == nil || fs.removed {
		if fs == nil {
			*sh.order = append(*sh.order, key)
		}
		fs = &fileState{}
		sh.files[key] = fs
	} else if !appends {
		// Overwritten: what was written before is gone.
		fs.content, fs.writes = nil, nil
	}
	fs.content = dedupeHeld(append(fs.content, secrets...))
	if ok && len(secrets) > 0 {
		fs.writes = append(fs.writes, fileWrite{line: l, cmd: cmd, what: what, secrets: secrets, dump: dump})
	}
}

// copy follows cp, mv and install: the secrets of the source file are in
// the target.
func (sh *shell) copy(l *pipeline.Node, cmd, what string, args []string) {
	if len(args) < 2 {
		return
	}
	dst := args[len(args)-1]
	for _, src := range args[:len(args)-1] {
		secrets := sh.readFile(src, "", false)
		if len(secrets) == 0 {
			continue
		}
		for i := range secrets {
			secrets[i].steps = secrets[i].steps[:len(secrets[i].steps)-1]
			secrets[i] = secrets[i].then(what, false)
		}
		to := dst
		if strings.HasSuffix(dst, "/") || dst == "." {
			to = strings.TrimSuffix(dst, "/") + "/" + path.Base(src)
		}
		sh.write(l, cmd, what, to, secrets, false, false)
		if what == "mv" {
			sh.remove(src)
		}
	}
}

// remove marks a file, or every file below a directory, removed.
func (sh *shell) remove(f string) {
	key, _ := sh.norm(f)
	for k, fs := range sh.files {
		if k == key || strings.HasPrefix(k, strings.TrimSuffix(key, "/")+"/") || key == "." {
			fs.removed = true
		}
	}
}

// chdir follows cd: into the project directory, or a directory below it
// written out; anywhere else loses track.
func (sh *shell) chdir(args []string) {
	if len(args) == 0 {
		sh.cwdLost = true // $HOME
		return
	}
	d := sh.expand(args[0])
	if rest, ok := underProject(d); ok {
		sh.cwd, sh.cwdLost = rest, false
		return
	}
	if sh.cwdLost || strings.HasPrefix(d, "/") || strings.ContainsAny(d, "$~") || d == "-" {
		sh.cwdLost = true
		return
	}
	c := path.Clean(path.Join(sh.cwd, d))
	if c == ".." || strings.HasPrefix(c, "../") {
		sh.cwdLost = true
		return
	}
	sh.cwd = strings.TrimPrefix(c, ".")
}

// norm returns the key of the file f: its path relative to the project
// directory, and ok, when it is in the project directory (which
// artifacts: and cache: can keep); else f as written, and !ok.
func (sh *shell) norm(f string) (key string, ok bool) {
	f = strings.TrimSpace(f)
	if f == "" {
		return "", false
	}
	e := sh.expand(f)
	if rest, in := underProject(e); in {
		if rest == "" {
			return ".", true
		}
		return rest, true
	}
	if sh.cwdLost || strings.HasPrefix(e, "/") || strings.HasPrefix(e, "~") || strings.Contains(e, "$") || strings.Contains(e, "%") {
		return e, false
	}
	c := path.Clean(path.Join(sh.cwd, e))
	if c == ".." || strings.HasPrefix(c, "../") {
		return e, false
	}
	return c, true
}

// expand replaces the variables of a path that the configuration sets to
// a value written out (OUT_DIR: dist).
func (sh *shell) expand(s string) string {
	return expandVars(s, sh.jl.ji.vars)
}

// expandVars replaces $NAME and ${NAME} in s with the value vars give
// them, when it holds no variable itself; CI_PROJECT_DIR is left.
func expandVars(s string, vars []variable) string {
	if !strings.Contains(s, "$") {
		return s
	}
	for _, r := range varRefs(s) {
		v := lookup(vars, r)
		if v == nil || predefined(r) || strings.ContainsAny(v.Value.Value, "$%") {
			continue
		}
		s = strings.ReplaceAll(s, "${"+r+"}", v.Value.Value)
		s = strings.ReplaceAll(s, "$"+r, v.Value.Value)
	}
	return s
}

// underProject reports whether p starts at the project directory
// ($CI_PROJECT_DIR), and returns the rest.
func underProject(p string) (string, bool) {
	for _, pre := range []string{"$CI_PROJECT_DIR", "${CI_PROJECT_DIR}", "$env:CI_PROJECT_DIR", "%CI_PROJECT_DIR%"} {
		if p == pre {
			return "", true
		}
		if strings.HasPrefix(p, pre+"/") || strings.HasPrefix(p, pre+`\`) {
			return path.Clean(strings.ReplaceAll(p[len(pre)+1:], `\`, "/")), true
		}
	}
	return "", false
}

// kept tells whether the job keeps the file f when it ends, and how:
// as its dotenv report, another report, an artifact (artifacts:paths
// less artifacts:exclude, or artifacts:untracked), or in its cache
// (https://docs.gitlab.com/ci/yaml/#artifactspaths).
func (jl *jobLeaks) kept(f string) (s sink, keptBy, reach string) {
	a := jl.ji.view.Artifacts
	vars := jl.ji.vars
	who := "anyone who can download the job's artifacts, and every later job"
	switch a.Access {
	case "none":
		who = "every later job (artifacts:access: none)"
	case "developer", "maintainer":
		who = "project " + a.Access + "s who download the job's artifacts, and every later job"
	}
	for _, r := range a.Reports {
		if artifactPath(r.Path.Value, vars) != f {
			continue
		}
		if r.Type == "dotenv" {
			return sinkDotenv, "artifacts:reports:dotenv", "every later job and downstream pipeline, as a variable GitLab does not mask"
		}
		return sinkArtifact, "artifacts:reports:" + r.Type, who
	}
	excluded := false
	for _, e := range a.Exclude {
		if globMatch(artifactPath(e.Value, vars), f) {
			excluded = true
		}
	}
	if !excluded {
		for _, p := range a.Paths {
			if pat := artifactPath(p.Value, vars); keptByPath(pat, f) {
				return sinkArtifact, "artifacts:paths " + p.Value, who
			}
		}
		if a.Untracked {
			return sinkArtifact, "artifacts:untracked", who
		}
	}
	for _, p := range jl.ji.view.CachePaths {
		if pat := artifactPath(p.Value, vars); keptByPath(pat, f) {
			what := "cache:paths " + p.Value
			if p.Value == "." {
				what = "cache:untracked"
			}
			return sinkCache, what, "every later job that restores the cache"
		}
	}
	return 0, "", ""
}

// artifactPath is an artifacts: or cache: path relative to the project
// directory, its variables expanded.
func artifactPath(p string, vars []variable) string {
	p = expandVars(strings.TrimSpace(p), vars)
	if rest, ok := underProject(p); ok {
		p = rest
	}
	p = strings.TrimPrefix(p, "./")
	if p == "" {
		return "."
	}
	return strings.TrimSuffix(p, "/")
}

// keptByPath reports whether artifacts:paths pat keeps the file f: the
// pattern matches the file or a directory above it, which is kept whole.
func keptByPath(pat, f string) bool {
	if pat == "." || pat == "*" || pat == "**" {
		return true
	}
	// globMatch of pat and each directory above f, each split once.
	ps, segs := strings.Split(pat, "/"), strings.Split(f, "/")
	for i := len(segs); i > 0; i-- {
		if globSegs(ps, segs[:i]) {
			return true
		}
	}
	return false
}

// globMatch matches a path against a pattern with * and ? within a
// segment and ** across segments, as GitLab Runner's doublestar does.
func globMatch(pat, name string) bool {
	return globSegs(strings.Split(pat, "/"), strings.Split(name, "/"))
}

func globSegs(pat, name []string) bool {
	for len(pat) > 0 {
		if pat[0] == "**" {
			for i := 0; i <= len(name); i++ {
				if globSegs(pat[1:], name[i:]) {
					return true
				}
			}
			return false
		}
		if len(name) == 0 {
			return false
		}
		if ok, err := path.Match(pat[0], name[0]); err != nil || !ok {
			return false
		}
		pat, name = pat[1:], name[1:]
	}
	return len(name) == 0
}

// dedupeHeld drops repeats of a variable, keeping the first.
func dedupeHeld(hs []held) []held {
	if len(hs) < 2 {
		return hs
	}
	seen := map[string]bool{}
	out := hs[:0:0]
	for _, h := range hs {
		if !seen[h.name] {
			seen[h.name] = true
			out = append(out, h)
		}
	}
	return out
}

// logConfidence is how sure it is that the log shows h unmasked.
func logConfidence(h held) Confidence {
	switch {
	case h.changed || h.kind == runtimeSecret:
		return High
	case h.kind == idTokenSecret:
		return Low
	case unmaskable(h.name):
		return High
	}
	return Medium
}

// unmaskable reports a variable whose value GitLab cannot mask: a
// multi-line key or a JSON document, by its name (a masked value is a
// single line of 8 characters or more from a limited alphabet;
// docs.gitlab.com/ci/variables/#mask-a-cicd-variable).
func unmaskable(name string) bool {
	n := strings.ToUpper(name)
	for _, s := range []string{"PRIVATE_KEY", "SSH_KEY", "GPG_KEY", "PGP_KEY", "_JSON", "GOOGLE_CREDENTIALS", "GCP_CREDENTIALS", "SERVICE_ACCOUNT_KEY", "DOCKER_AUTH_CONFIG", "KUBECONFIG"} {
		if strings.Contains(n, s) {
			return true
		}
	}
	return false
}

// maskNote says why masking does not keep the values out of the log.
func maskNote(hs []held) string {
	c := Low
	var worst held
	for _, h := range hs {
		if lc := logConfidence(h); lc >= c {
			c, worst = lc, h
		}
	}
	switch {
	case worst.changed:
		return "GitLab masks only a variable's exact value, not a value encoded or rewritten from it"
	case worst.kind == runtimeSecret:
		return "GitLab cannot mask a value the job makes at run time"
	case worst.kind == idTokenSecret:
		return "GitLab masks ID tokens in the log, but a copy changed in any way shows, and anyone who gets one can exchange it until it expires"
	case unmaskable(worst.name):
		return "GitLab cannot mask a multi-line key or a JSON document (docs.gitlab.com/ci/variables/#mask-a-cicd-variable)"
	}
	return "GitLab masks it only if the variable is masked and its value meets the masking requirements (docs.gitlab.com/ci/variables/#mask-a-cicd-variable)"
}

// gitlabSets reports a variable GitLab sets for the job (CI_*, and the
// GITLAB_* that are not named for a secret: GitLab sets no GITLAB_TOKEN,
// a project does). Its tokens are masked and expire with the job, but
// for CI_DEPLOY_PASSWORD (see staticSecret).
func gitlabSets(name string) bool {
	return strings.HasPrefix(name, "CI_") || strings.HasPrefix(name, "GITLAB_") && !detect.SecretName(name)
}

// shellSet reports whether the shell itself sets name: $PWD is the
// working directory, not a password.
func shellSet(name string) bool {
	return name == "PWD" || name == "OLDPWD"
}

// componentNames are the keyless components' names, sorted.
func componentNames() []string {
	names := make([]string, 0, len(components))
	for n := range components {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// holdsSecrets tells why a job holds secrets, or "": it has an ID token
// or secrets:, extends a keyless component's hidden job, or has a
// command that handles a secret.
func (jl *jobLeaks) holdsSecrets() string {
	ji := jl.ji
	if len(ji.tokens) > 0 {
		return "the ID token $" + ji.tokens[0].name
	}
	if s := ji.view.Secrets; len(s) > 0 {
		return "the secret " + s[0].Name
	}
	for _, name := range componentNames() {
		if c := components[name]; ji.extendsAny(c.hidden) {
			return "it extends " + c.hidden
		}
	}
	for _, s := range jl.sessions {
		for _, c := range s {
			if c.use != "" {
				return "it " + c.use
			}
		}
	}
	return ""
}

// hasNonOption reports whether args has an argument that is not an
// option.
func hasNonOption(args []string) bool { return len(nonOptions(args)) > 0 }

// nonOptions are the arguments that are not options (-x, --flag), after
// -- all of them.
func nonOptions(args []string) []string {
	var out []string
	for i, a := range args {
		if a == "--" {
			return append(out, args[i+1:]...)
		}
		if strings.HasPrefix(a, "-") && len(a) > 1 {
			continue
		}
		out = append(out, a)
	}
	return out
}

// leakRule reports the leaks that end in its sinks, one finding per
// command and destination; a template that many jobs extend is reported
// once, where it is written.
type leakRule struct {
	rule
	sinks []sink
	// fix is what to do instead, by the kind of the secrets.
	fix func(lk leak) string
}

func (r leakRule) Check(p *Pass) {
	var sites siteFindings
	for _, jl := range p.jobLeakInfos() {
		for _, lk := range jl.leaks {
			if !slices.Contains(r.sinks, lk.sink) {
				continue
			}
			lk := lk
			f := Finding{Pos: commandAt(p.Pipeline, lk.line, lk.cmd), Key: lk.key(), Confidence: lk.confidence(), Severity: lk.severity()}
			sites.add(jl.ji.job.Name, f, func(jobs string) string { return lk.message(jobs, r.fix(lk)) })
		}
	}
	sites.report(p)
}

// key identifies the leak for its fingerprint: where it goes and the
// variables, not the line.
func (lk leak) key() string {
	var names []string
	for _, h := range lk.secrets {
		names = append(names, h.name)
	}
	return strings.Join([]string{string(rune('0' + lk.sink)), lk.what, strings.Join(names, ","), lk.file}, "\x00")
}

// severity: a long-lived secret in a file that others download is
// critical; an ID token or a credential made at run time expires. In the
// log, an ID token GitLab masks is minor.
func (lk leak) severity() Severity {
	if lk.sink == sinkLog {
		for _, h := range lk.secrets {
			if h.kind != idTokenSecret || h.changed {
				return Major
			}
		}
		return Minor
	}
	for _, h := range lk.secrets {
		if h.kind == storedSecret {
			return Critical
		}
	}
	return Major
}

// confidence: in the log, how sure it is that masking misses the value;
// in a cache, which no one downloads, medium.
func (lk leak) confidence() Confidence {
	switch lk.sink {
	case sinkLog:
		c := Low
		for _, h := range lk.secrets {
			c = max(c, logConfidence(h))
		}
		return c
	case sinkCache:
		return Medium
	}
	return High
}

// message says what the job does, the path the values take, why masking
// does not help, and fix.
func (lk leak) message(jobs, fix string) string {
	var b strings.Builder
	b.WriteString(jobs)
	switch {
	case lk.dump:
		b.WriteString(" prints every variable (" + lk.what + ") while it holds " + refList(lk.secrets))
	case lk.sink == sinkLog:
		b.WriteString(" prints " + refList(lk.secrets) + " to the job log")
	default:
		b.WriteString(" writes " + refList(lk.secrets) + " to " + lk.file)
		if lk.sink == sinkDotenv {
			b.WriteString(", its dotenv report")
		} else {
			b.WriteString(", which " + lk.keptBy + " keeps")
		}
	}
	b.WriteString(": ")
	b.WriteString(lk.paths())
	b.WriteString("; ")
	if lk.sink == sinkLog {
		b.WriteString(maskNote(lk.secrets))
	} else {
		b.WriteString("GitLab masks variables in job logs only, never in artifacts, caches or dotenv variables (docs.gitlab.com/ci/variables/#mask-a-cicd-variable)")
	}
	b.WriteString("; " + fix)
	return b.String()
}

// paths writes the way each value takes, grouped where they share it:
// "AWS_SECRET_ACCESS_KEY -> echo -> deploy.env -> artifacts:reports:dotenv -> every later job".
func (lk leak) paths() string {
	var order []string
	by := map[string][]string{}
	for _, h := range lk.secrets {
		way := strings.Join(h.steps, " -> ")
		if lk.sink != sinkLog {
			way = strings.TrimPrefix(way+" -> "+lk.file+" -> "+lk.keptBy, " -> ")
		}
		way = strings.TrimPrefix(way+" -> "+lk.reach, " -> ")
		if _, ok := by[way]; !ok {
			order = append(order, way)
		}
		by[way] = append(by[way], h.name)
	}
	var out []string
	for _, way := range order {
		names := by[way]
		if len(names) > 3 {
			names = append(names[:3:3], fmt.Sprintf("%d more", len(by[way])-3))
		}
		out = append(out, strings.Join(names, ", ")+" -> "+way)
	}
	return strings.Join(out, " and ")
}

// refList names the values in a message: "$A", "$A and the ID token $B",
// "$A, $B, $C and 2 more".
func refList(hs []held) string {
	var refs []string
	for i, h := range hs {
		if i == 3 {
			refs = append(refs, fmt.Sprintf("%d more", len(hs)-3))
			break
		}
		refs = append(refs, h.ref())
	}
	if len(refs) == 1 {
		return refs[0]
	}
	return strings.Join(refs[:len(refs)-1], ", ") + " and " + refs[len(refs)-1]
}

// onlyKind reports whether every value is of kind k.
func onlyKind(hs []held, k secretKind) bool {
	for _, h := range hs {
		if h.kind != k {
			return false
		}
	}
	return len(hs) > 0
}
