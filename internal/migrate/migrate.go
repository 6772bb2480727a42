// Package migrate moves the jobs of a GitLab CI/CD configuration that use
// stored cloud credentials (lint's stored-* findings) to the keyless
// components (issue 17): it adds the component include, makes each job
// extend the component's hidden job, and removes the lines and variables
// the stored credential needed. It edits the files' text at the positions
// the resolved pipeline gives, so that everything else stays byte for
// byte; what it cannot rewrite safely it refuses, with the reason and the
// step to take by hand.
package migrate

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"gitlab.com/keyless-ci/keyless/internal/lazyre"
	"gitlab.com/keyless-ci/keyless/internal/lint"
	"gitlab.com/keyless-ci/keyless/internal/pipeline"
)

// DefaultComponent is the path the components are included from, before
// "/aws@VERSION".
const DefaultComponent = "$CI_SERVER_FQDN/keyless-ci/keyless"

// DefaultVersion is the component version included: the major version,
// as lint's advice names it.
const DefaultVersion = "1"

// Options configure a migration.
type Options struct {
	// CIConfig is the project's configuration file ("" .gitlab-ci.yml).
	CIConfig string
	// Inputs are spec:inputs of the main file; Fetcher reads remote
	// includes (nil leaves them unread).
	Inputs  map[string]string
	Fetcher pipeline.Fetcher
	// Identities say which identity replaces which credential.
	Identities Identities
	// Component and Version make the include's component reference.
	Component string
	Version   string
	// Implicit also migrates jobs lint reports with low confidence: a
	// tool that reads the credential from the environment with none in
	// sight (it may come from the runner's own identity).
	Implicit bool
	// Stored are the stored credentials keyless report found each job
	// using, by Use(job, cloud): a job the report shows reading a stored
	// variable is migrated even where lint alone is not sure, and the
	// variables name its identity (--from-report).
	Stored map[string][]string
}

// Use is the key of Options.Stored.
func Use(job, cloud string) string { return job + "\x00" + cloud }

// Result is a migration: its plan and the files' new text.
type Result struct {
	Plan    Plan
	Changes []Change
	// before and after are the configuration read and as migrated, for
	// Lint.
	before, after *pipeline.Pipeline
}

// Change is one file's text before and after.
type Change struct {
	// Path is relative to the project root, slash-separated; Disk is
	// where the file is.
	Path   string
	Disk   string
	Before []byte
	After  []byte
}

// Migrate plans the migration of the project directory or file at path.
// It reads; Write applies the result.
func Migrate(path string, o Options) (*Result, error) {
	if o.Component == "" {
		o.Component = DefaultComponent
	}
	if o.Version == "" {
		o.Version = DefaultVersion
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	po := pipeline.Options{CIConfig: o.CIConfig, Inputs: o.Inputs, Fetcher: o.Fetcher}
	var p *pipeline.Pipeline
	if fi.IsDir() {
		p, err = pipeline.LoadProject(path, po)
	} else {
		p, err = pipeline.LoadFile(path, po)
	}
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	m := newMigrator(p, o)
	m.plan.Project = path
	if err := m.run(); err != nil {
		return nil, err
	}
	m.plan.sort()
	return &Result{Plan: m.plan, Changes: m.changes, before: m.p, after: m.after}, nil
}

// Write writes the changed files in place, keeping their modes.
func (r *Result) Write() error {
	for _, c := range r.Changes {
		fi, err := os.Stat(c.Disk)
		if err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		if err := os.WriteFile(c.Disk, c.After, fi.Mode().Perm()); err != nil {
			return fmt.Errorf("migrate: writing %s: %w", c.Path, err)
		}
	}
	return nil
}

type migrator struct {
	o     Options
	p     *pipeline.Pipeline
	srcs  map[string]*source
	local map[string]bool
	jobs  map[string]*pipeline.Job
	views map[string]*pipeline.JobView
	// users are the jobs whose lines or variables include the node
	// written at a position; needsUsers those whose needs: it is.
	users      map[pipeline.Pos][]string
	needsUsers map[pipeline.Pos][]string
	plan       Plan
	changes    []Change
	after      *pipeline.Pipeline
}

func newMigrator(p *pipeline.Pipeline, o Options) *migrator {
	m := &migrator{o: o, p: p, srcs: map[string]*source{}, local: map[string]bool{},
		jobs: map[string]*pipeline.Job{}, views: map[string]*pipeline.JobView{},
		users: map[pipeline.Pos][]string{}, needsUsers: map[pipeline.Pos][]string{}}
	for _, f := range p.LocalFiles() {
		m.local[f] = true
	}
	for _, f := range p.Files {
		if !m.local[f.Path] {
			continue
		}
		if s, err := parseSource(f.Path, f.Src); err == nil {
			m.srcs[f.Path] = s
		}
	}
	for _, j := range p.Jobs {
		m.jobs[j.Name] = j
	}
	views := p.JobViews()
	for i := range views {
		v := &views[i]
		m.views[v.Job.Name] = v
		for _, l := range v.Lines {
			m.users[l.Pos] = appendOnce(m.users[l.Pos], v.Job.Name)
		}
		for _, vr := range v.Variables {
			m.users[vr.KeyPos] = appendOnce(m.users[vr.KeyPos], v.Job.Name)
		}
		if n := v.Job.Node.Get("needs"); n != nil {
			m.needsUsers[n.Pos] = appendOnce(m.needsUsers[n.Pos], v.Job.Name)
		}
	}
	return m
}

func appendOnce(s []string, v string) []string {
	if slices.Contains(s, v) {
		return s
	}
	return append(s, v)
}

// use is one job's use of one cloud that migrate means to replace.
type use struct {
	job, rule string
	c         *cloud
	id        Identity
	refs      []string
	removals  []removal
	// dropped are the template keys (before_script, after_script) that
	// go as a whole, written at drops.
	dropped []string
	drops   []pipeline.Pos
	lay     jobLayout
	refused *Refusal
}

// removal is a line or variables: entry to remove, by where its node is
// written.
type removal struct {
	pos  pipeline.Pos
	line bool // a script line (else a variables: entry)
	what string
	// with is the line that takes the removed one's place, "" none.
	with string
}

func (m *migrator) run() error {
	var uses []*use
	for _, su := range lint.StoredUses(m.p) {
		c := clouds[su.Replacement]
		if c == nil {
			continue
		}
		uses = append(uses, m.classify(su, c))
	}
	// A job whose migration would edit what another job keeps using is
	// refused, and that may refuse others in turn.
	for changed := true; changed; {
		changed = false
		ok := map[[2]string]string{}
		for _, u := range uses {
			if u.refused == nil {
				ok[[2]string{u.job, u.c.name}] = u.id.key()
			}
		}
		for _, u := range uses {
			if u.refused != nil {
				continue
			}
			if r := m.sharedWith(u, ok); r != nil {
				u.refused = r
				changed = true
			}
		}
	}
	if err := m.edit(uses); err != nil {
		return err
	}
	return m.check()
}

// check reads the configuration as migrated: a job migrate moved must
// use no stored credential of that cloud any more (else the edits are
// wrong, and nothing is written); a child pipeline's job that still uses
// one is refused, with the command that migrates the child.
func (m *migrator) check() error {
	after := m.p
	if len(m.changes) > 0 {
		var err error
		after, err = pipeline.LoadFS(pipeline.Options{CIConfig: m.p.Files[0].Path, Inputs: m.o.Inputs, Fetcher: m.o.Fetcher,
			FS: newOverlay(m.p.Root, m.changes)})
		if err != nil {
			return fmt.Errorf("migrate: reading the migrated configuration: %w", err)
		}
	}
	m.after = after
	moved := map[[2]string]bool{}
	for _, j := range m.plan.Jobs {
		moved[[2]string{j.Job, j.Cloud}] = true
	}
	for _, u := range lint.StoredUses(after) {
		if moved[[2]string{u.Job, u.Replacement}] {
			return fmt.Errorf("migrate: job %q still uses a stored %s credential once migrated (%s): nothing was written; please report this with the configuration", u.Job, u.Replacement, u.Signals[0].What)
		}
	}
	seen := map[string]bool{}
	for _, c := range after.All()[1:] {
		file := ""
		if len(c.Files) > 0 {
			file = c.Files[0].Path
		}
		for _, u := range lint.StoredUses(c) {
			cl := clouds[u.Replacement]
			if cl == nil || seen[file+"\x00"+u.Job+"\x00"+cl.name] {
				continue
			}
			seen[file+"\x00"+u.Job+"\x00"+cl.name] = true
			m.plan.Refused = append(m.plan.Refused, Refusal{Job: u.Job, Rule: u.Rule, Cloud: cl.name, Reason: ReasonChild,
				Message: "the job is in the child pipeline " + file + " and still uses a stored credential there",
				Manual:  "run keyless migrate on the child pipeline's file: keyless migrate " + file, File: file})
		}
	}
	return nil
}

// sharedWith refuses u when a removal is written where a job that is not
// migrated alike reads it too.
func (m *migrator) sharedWith(u *use, ok map[[2]string]string) *Refusal {
	for _, r := range u.removals {
		for _, other := range m.users[r.pos] {
			if k, found := ok[[2]string{other, u.c.name}]; !found || k != u.id.key() {
				return m.refuse(u, ReasonShared, r.pos,
					fmt.Sprintf("%s at %s:%d is written where job %q reads it too, and that job keeps its stored credential or gets another identity", r.what, r.pos.File, r.pos.Line, other),
					fmt.Sprintf("give job %q its own copy of what it needs (or migrate it with the same identity), then run keyless migrate again", other))
			}
		}
	}
	if u.lay.needs != nil {
		for _, other := range m.needsUsers[u.lay.needsPos] {
			if k, found := ok[[2]string{other, u.c.name}]; !found || k != u.id.key() {
				return m.refuse(u, ReasonShared, u.lay.needsPos,
					fmt.Sprintf("the job's needs: is written where job %q reads it too, and keyless:install would be added to it", other),
					"give the job needs: of its own with keyless:install in it, or pass --install path, then run keyless migrate again")
			}
		}
	}
	return nil
}

func (m *migrator) refuse(u *use, reason string, pos pipeline.Pos, msg, manual string) *Refusal {
	return &Refusal{Job: u.job, Rule: u.rule, Cloud: u.c.name, Reason: reason, Message: msg, Manual: manual, File: pos.File, Line: pos.Line}
}

// mentions reports whether s names name as a whole word: not as part of
// a longer name (PROD_KEY in PROD_KEY_ID).
func mentions(s, name string) bool {
	if name == "" {
		return false
	}
	for i := 0; ; {
		j := strings.Index(s[i:], name)
		if j < 0 {
			return false
		}
		start, end := i+j, i+j+len(name)
		if (start == 0 || !isNameByte(s[start-1])) && (end == len(s) || !isNameByte(s[end])) {
			return true
		}
		i = start + 1
	}
}

func isNameByte(b byte) bool {
	return b == '_' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9'
}

// scriptKeys are the keys whose lines migrate removes.
var scriptKeys = map[string]bool{"before_script": true, "script": true, "after_script": true}

// classify finds what a job's use of cloud c needs: the lines and
// variables to remove, the stored variables they read, the identity; or
// why it is refused.
func (m *migrator) classify(su lint.StoredUse, c *cloud) *use {
	u := &use{job: su.Job, rule: su.Rule, c: c}
	v := m.views[su.Job]
	j := m.jobs[su.Job]
	if v == nil || j == nil {
		u.refused = m.refuse(u, ReasonLayout, pipeline.Pos{}, "the job is not in the resolved pipeline", "migrate it by hand")
		return u
	}
	jobPos := j.Pos
	implicit, low := true, true
	for _, s := range su.Signals {
		if !s.Implicit {
			implicit = false
		}
		if s.Confidence > lint.Low {
			low = false
		}
	}
	stored := m.o.Stored[Use(su.Job, c.name)]
	if implicit && low && !m.o.Implicit && len(stored) == 0 {
		u.refused = m.refuse(u, ReasonLowConf, su.Signals[0].Pos,
			"the job runs a tool that reads "+c.name+" credentials from the environment, with none in sight: they may come from the runner's own identity, not from stored variables",
			"if the credentials are CI/CD variables, run keyless migrate --implicit; otherwise leave the job as it is")
		return u
	}
	if !m.local[jobPos.File] || m.srcs[jobPos.File] == nil {
		u.refused = m.refuse(u, ReasonNotLocal, jobPos,
			"the job is defined in "+jobPos.File+", which is not a file of this project migrate can edit",
			"override the job in this project's configuration, or migrate the file it comes from")
		return u
	}
	// Variables that map a stored credential into the job.
	for _, vr := range v.Variables {
		if !slices.Contains(c.envs, vr.Name) {
			continue
		}
		val := strings.TrimSpace(vr.Value.Value)
		if val == "" {
			continue
		}
		refs := pipeline.VarRefs(val)
		if len(refs) != 1 || !onlyRef(val) {
			u.refused = m.refuse(u, ReasonDynamic, vr.KeyPos,
				"variables: "+vr.Name+" is set to something other than one stored variable",
				"set the job's credentials by hand; a key written in the configuration is a hardcoded-* finding: rotate it")
			return u
		}
		u.refs = append(u.refs, refs[0])
		u.removals = append(u.removals, removal{pos: vr.KeyPos, what: "variables: " + vr.Name})
	}
	// Script lines that sign in or set the credential.
	keyFiles := map[string]bool{}
	removed := map[*pipeline.Node]bool{}
	for _, l := range v.Lines {
		text := strings.TrimSpace(l.Value)
		if strings.Contains(text, "\n") {
			continue // judged below, with the lines kept
		}
		var refs []string
		ok := false
		if names, rs, isAssign := assignments(text); isAssign {
			all := true
			for _, n := range names {
				all = all && slices.Contains(c.envs, n)
			}
			ok, refs = all, rs
		}
		with := ""
		if !ok {
			refs, ok = c.login(text, keyFiles)
			if ok && c.replace != nil {
				with = c.replace(text)
			}
		}
		if !ok {
			continue
		}
		what := "script line " + describe(text)
		if e := m.entryAt(l.Pos); m.local[l.Pos.File] {
			if e == nil || e.parent == nil || e.parent.node.Kind != yaml.SequenceNode || e.parent.key == "command" || e.parent.key == "entrypoint" {
				continue // a container's command, or not found: judged below
			}
			what = e.parent.key + " line " + describe(text)
		}
		// A line of a file that is not the project's is refused below.
		removed[l] = true
		u.refs = append(u.refs, refs...)
		u.removals = append(u.removals, removal{pos: l.Pos, line: true, what: what, with: with})
	}
	if c.name == "crates" {
		if u.refused = m.cratesCheck(u, v, removed); u.refused != nil {
			return u
		}
	}
	// Any other line that still names the credential builds or passes it
	// on in a way migrate cannot follow.
	var names []string
	for _, n := range c.envs {
		if !slices.Contains(c.kept, n) {
			names = append(names, n)
		}
	}
	names = append(names, u.refs...)
	for f := range keyFiles {
		names = append(names, f)
	}
	if c.name == "aws" {
		names = append(names, "aws_access_key_id", "aws_secret_access_key")
	}
	for _, l := range v.Lines {
		if removed[l] {
			continue
		}
		for _, n := range names {
			if mentions(l.Value, n) {
				pos := m.p.At(l, max(strings.Index(l.Value, n), 0))
				u.refused = m.refuse(u, ReasonDynamic, pos,
					"a script line reads "+n+" in a way migrate does not rewrite (it writes the credential somewhere, builds it, or passes it on)",
					"replace that line by hand: the component exports the short-lived credentials into the job's shell (see components/"+c.name+"/README.md), then run keyless migrate again")
				return u
			}
		}
	}
	u.refs = dedupe(append(u.refs, stored...))
	if len(u.refs) == 0 {
		u.refs = []string{c.envs[0]}
	}
	id, ok := m.o.Identities.lookup(c.name, u.refs)
	if c.name == "npm" {
		if id, u.refused = m.npmIdentity(u, v, id, ok); u.refused != nil {
			return u
		}
		ok = true
	}
	if !ok {
		id, ok = m.derive(c, v)
	}
	if !ok && len(c.required) == 0 {
		// Nothing to name (pypi: the trusted publisher is the project).
		id, ok = Identity{Cloud: c.name, Inputs: map[string]string{}}, true
	}
	if !ok {
		u.refused = m.refuse(u, ReasonNoIdentity, su.Signals[0].Pos,
			"no identity is given for the stored credential $"+u.refs[0],
			"pass "+identityFlags[c.name]+", or map "+u.refs[0]+" in a --map file")
		return u
	}
	id, err := id.Complete()
	if err != nil {
		u.refused = m.refuse(u, ReasonNoIdentity, su.Signals[0].Pos, "the identity for $"+u.refs[0]+": "+err.Error(),
			"pass "+identityFlags[c.name]+", or complete "+u.refs[0]+"'s entry in the --map file")
		return u
	}
	u.id = id
	// Every removal must be written in a file of the project, as a whole
	// line migrate can take out.
	counts := map[*entry]int{}
	seqFile := map[*entry]string{}
	for _, r := range u.removals {
		e := m.removalAt(r)
		if !m.local[r.pos.File] || e == nil {
			u.refused = m.refuse(u, ReasonNotLocal, r.pos, r.what+" is written in "+r.pos.File+", not a file of this project migrate can edit",
				"remove it where it is written, then run keyless migrate again")
			return u
		}
		var ok bool
		if r.line {
			_, _, ok = m.srcs[r.pos.File].seqItemLines(e)
			// A line written anew in its place keeps the list.
			if ok && r.with == "" {
				counts[e.parent]++
				seqFile[e.parent] = r.pos.File
			}
		} else {
			_, _, ok = m.srcs[r.pos.File].pairLines(e)
		}
		if !ok {
			u.refused = m.refuse(u, ReasonLayout, r.pos, r.what+" shares its line with other YAML (flow style)",
				"write it on a line of its own (block style), then run keyless migrate again")
			return u
		}
	}
	// A sequence all of whose lines go: a script cannot be empty; a
	// template's before_script or after_script goes as a whole, so that
	// the component's take its place.
	for seq, n := range counts {
		if n < len(seq.node.Content) {
			continue
		}
		if seq.key == "script" {
			u.refused = m.refuse(u, ReasonEmptyScript, pipeline.Pos{File: seqFile[seq], Line: seq.node.Line},
				"the job's script is only the credential setup, and GitLab needs a script",
				"give the job the command that uses the credentials, then run keyless migrate again")
			return u
		}
		if !scriptKeys[seq.key] {
			u.refused = m.refuse(u, ReasonLayout, pipeline.Pos{File: seqFile[seq], Line: seq.node.Line},
				"every line of the list written under "+seq.top+" goes, and the list would be empty where the job uses it",
				"remove the list and its uses by hand, then run keyless migrate again")
			return u
		}
		if seq.top != j.Name {
			u.dropped = append(u.dropped, seq.key)
			u.drops = append(u.drops, pipeline.Pos{File: seqFile[seq], Line: seq.keyNode.Line, Col: seq.keyNode.Column})
		}
	}
	if r := m.layout(u, j); r != nil {
		u.refused = r
	}
	return u
}

// identityFlags name the flags that give each cloud's identity, for
// messages.
var identityFlags = map[string]string{
	"aws":   "--aws-role-arn",
	"gcp":   "--gcp-provider (and --gcp-service-account)",
	"azure": "--azure-client-id and --azure-tenant-id",
	"vault": "--vault-addr and --vault-role",
	"npm":   "--npm-package",
}

// derive takes an identity the job itself names, where no flag or
// mapping gives one: Azure's client and tenant ids from the az login it
// replaces, when both are there (ids, not secrets).
func (m *migrator) derive(c *cloud, v *pipeline.JobView) (Identity, bool) {
	if c.name != "azure" {
		return Identity{}, false
	}
	def := m.o.Identities.Default["azure"]
	for _, l := range v.Lines {
		f := strings.Fields(l.Value)
		if len(f) < 2 || f[0] != "az" || f[1] != "login" {
			continue
		}
		in := map[string]string{}
		for k, val := range def.Inputs {
			in[k] = val
		}
		for i := 0; i+1 < len(f); i++ {
			switch f[i] {
			case "-u", "--username":
				in["client_id"] = strings.Trim(f[i+1], `"'`)
			case "-t", "--tenant":
				in["tenant_id"] = strings.Trim(f[i+1], `"'`)
			}
		}
		if in["client_id"] != "" && in["tenant_id"] != "" {
			return Identity{Cloud: "azure", Inputs: in}, true
		}
	}
	return Identity{}, false
}

var onlyRefRe = lazyre.New(`^` + refRe + `$`)

// onlyRef reports whether v is one variable reference and nothing else.
func onlyRef(v string) bool { return onlyRefRe().MatchString(v) }

// describe names a removed line by its command, not its arguments (which
// hold the stored variables' names, never values, but stay out of the
// plan anyway: the diff shows them).
func describe(line string) string {
	f := strings.Fields(line)
	switch {
	case len(f) == 0:
		return ""
	case f[0] == "export" || strings.Contains(f[0], "="):
		return "(assignment)"
	case strings.Contains(line, "_authToken"):
		return "(" + f[0] + " npmrc _authToken)"
	case strings.Contains(line, "cargo login"):
		return "(cargo login)"
	case len(f) >= 2 && f[0] == "cargo" && f[1] == "publish":
		return "(cargo publish --token)"
	case len(f) >= 3:
		return "(" + strings.Join(f[:3], " ") + ")"
	}
	return "(" + f[0] + ")"
}

func dedupe(s []string) []string {
	var out []string
	for _, v := range s {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// entryAt is the value written at pos, in a local file; keyAt the key.
func (m *migrator) entryAt(pos pipeline.Pos) *entry {
	s := m.srcs[pos.File]
	if s == nil {
		return nil
	}
	return s.lookup(pos.Line, pos.Col)
}

func (m *migrator) keyAt(pos pipeline.Pos) *entry {
	s := m.srcs[pos.File]
	if s == nil {
		return nil
	}
	return s.lookupKey(pos.Line, pos.Col)
}

// removalAt is the node a removal takes out.
func (m *migrator) removalAt(r removal) *entry {
	if r.line {
		return m.entryAt(r.pos)
	}
	return m.keyAt(r.pos)
}

// sortedKeys lists a map's keys in order.
func sortedKeys[V any](mp map[string]V) []string {
	out := make([]string, 0, len(mp))
	for k := range mp {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// diskPath is where a project file is.
func (m *migrator) diskPath(path string) string {
	return filepath.Join(m.p.Root, filepath.FromSlash(path))
}
