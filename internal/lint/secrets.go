package lint

import (
	"bytes"
	"fmt"
	"sort"
	"strings"

	"gitlab.com/keyless-ci/keyless/internal/detect"
	"gitlab.com/keyless-ci/keyless/internal/exchange"
	"gitlab.com/keyless-ci/keyless/internal/pipeline"
)

// This file is the base of the "secret" rules (rule_hardcoded_*.go,
// rule_credentials_in_url.go): where a pipeline writes values, and the
// secrets detect finds in them. Each rule keeps the hits of its kinds.

// secretRule reports the secrets of some detect kinds written in the
// pipeline.
type secretRule struct {
	rule
	kinds []detect.Kind
	// replacement is the keyless component that replaces the secret.
	replacement string
	// fix is what to do instead, the end of the message.
	fix string
}

func (r secretRule) Check(p *Pass) {
	hits := p.Memo("secrets", func() any { return scanSecrets(p.Pipeline) }).([]secretHit)
	for _, h := range hits {
		if !r.owns(h.m.Kind) {
			continue
		}
		f := Finding{
			Confidence:  confidence(h.m.Confidence),
			Pos:         h.pos,
			Key:         h.where + "\x00" + h.m.Detector + "\x00" + h.sum,
			Replacement: r.replacement,
		}
		what := h.m.Description
		if h.m.Hint != "" {
			what += " " + h.m.Hint
		}
		pair := ""
		if h.paired {
			f.Severity = Blocker
			pair = pairNote(h.m.Detector)
		}
		if h.throwaway != "" {
			// A test container's database, user and password alike:
			// not a credential anyone can use elsewhere (issue 15).
			f.Severity, f.Confidence = Info, Low
			f.Message = fmt.Sprintf("%s written in %s: the password is the user name and the URL points at %s, the credentials of a throw-away test database, so this is not a critical finding; "+
				"if the database holds data that matters, give it a generated password from a masked CI/CD variable", what, h.where, h.throwaway)
			p.Report(f)
			continue
		}
		f.Message = fmt.Sprintf("%s written in %s%s: %s", what, h.where, pair, r.fix)
		p.Report(f)
	}
}

func (r secretRule) owns(k detect.Kind) bool {
	for _, o := range r.kinds {
		if o == k {
			return true
		}
	}
	// A kind no rule names is a generic secret.
	if r.meta.ID == "hardcoded-secret" {
		_, known := secretKinds[k]
		return !known
	}
	return false
}

// secretKinds are the kinds a specific rule reports.
var secretKinds = map[detect.Kind]bool{
	detect.KindAWSAccessKey: true, detect.KindGCPServiceKey: true, detect.KindAzureSecret: true,
	detect.KindGitLabToken: true, detect.KindVaultToken: true, detect.KindPrivateKey: true,
	detect.KindRegistryPassword: true, detect.KindURLCredentials: true, detect.KindPackageToken: true,
	detect.KindGeneric: true,
}

func pairNote(detector string) string {
	if detector == "aws-secret-access-key" {
		return " together with its access key id in the same job (a complete key pair)"
	}
	return " together with its secret access key in the same job (a complete key pair)"
}

func confidence(c detect.Confidence) Confidence {
	switch c {
	case detect.Low:
		return Low
	case detect.Medium:
		return Medium
	}
	return High
}

// secretHit is one secret written in the pipeline.
type secretHit struct {
	m      detect.Match
	pos    pipeline.Pos
	where  string // "variable AWS_SECRET_ACCESS_KEY", "script"
	sum    string // SumKey of the secret, for the finding's Key
	paired bool
	// throwaway names the service or loopback host of a URL whose
	// password is its user name (postgres://app:app@postgres/), "" for
	// none.
	throwaway string
	// decided is set once a job GitLab runs (or the global scope) has
	// the value: a hidden job's own services say nothing.
	decided bool
	secret  string // for tests that check messages do not hold it
}

// scanSecrets finds every secret written in p's values, once per place
// it is written, in the order the places are met. An AWS access key id
// and a secret access key met in the same job (its own values, the
// defaults it inherits, the global variables) are paired.
func scanSecrets(p *pipeline.Pipeline) []secretHit {
	s := &secretScan{p: p, seen: map[string]int{}, aliases: map[string]string{}}
	// Global scope: variables, default:, workflow:rules:variables and
	// include: entries. Their URLs may point at any job's services.
	for _, j := range p.Jobs {
		for h, a := range serviceAliases(j.Node) {
			s.aliases[h] = a
		}
	}
	for h, a := range serviceAliases(p.Global.Get("default")) {
		s.aliases[h] = a
	}
	global := s.scope()
	s.variables(global, p.Global.Get("variables"), "global variable")
	s.jobValues(global, p.Global.Get("default"), "default ")
	for _, r := range items(p.Global.Get("workflow").Get("rules")) {
		s.variables(global, r.Get("variables"), "workflow rules variable")
	}
	for _, inc := range p.Includes {
		// A trigger:include remote URL is scanned with its trigger job.
		if inc.Kind == pipeline.IncludeRemote && inc.Trigger == nil {
			s.value(global, inc.Location, fixed(inc.Pos), detect.Context{Key: "remote"}, place{what: "include remote URL"})
		}
		names := make([]string, 0, len(inc.Inputs))
		for k := range inc.Inputs {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			s.value(global, inc.Inputs[k], fixed(inc.Pos), detect.Context{Key: k}, place{"include input", k})
		}
	}
	s.pair(global, nil)
	for _, j := range p.Jobs {
		if j.Node == nil {
			continue
		}
		sc := s.scope()
		s.aliases, s.hidden = serviceAliases(j.Node), j.Hidden
		s.jobValues(sc, j.Node, "")
		s.pair(sc, global)
	}
	return s.hits
}

type secretScan struct {
	p    *pipeline.Pipeline
	hits []secretHit
	seen map[string]int // place and secret -> index in hits
	// aliases are the host names of the services of the scope scanned
	// (serviceAliases), and hidden is set for a hidden job's.
	aliases map[string]string
	hidden  bool
	// scans are detect.Scan's answers by value and context: jobs share
	// most values (default:, extends, anchors), each scanned once.
	scans map[scanKey][]detect.Match
	// vars is variables' list, reused: it was made for each variables:
	// map scanned, and read once (issue 15).
	vars []variable
}

type scanKey struct {
	v   string
	ctx detect.Context
}

// scan is detect.Scan, once per value and context.
func (s *secretScan) scan(v string, ctx detect.Context) []detect.Match {
	k := scanKey{v, ctx}
	ms, ok := s.scans[k]
	if !ok {
		ms = detect.Scan(v, ctx)
		if s.scans == nil {
			s.scans = map[scanKey][]detect.Match{}
		}
		s.scans[k] = ms
	}
	return ms
}

// throwaway names where a URL's credentials go when they are a test
// database's: the password is the user name and the host is a service of
// the scope or the job's own machine; "" otherwise.
func (s *secretScan) throwaway(m detect.Match) string {
	if m.Detector != "url-credentials" || !m.SameUser {
		return ""
	}
	if exchange.Loopback(m.Host) {
		return m.Host + " (the job's own machine)"
	}
	if a := s.aliases[strings.ToLower(m.Host)]; a != "" {
		return "the service " + a
	}
	return ""
}

// scope is the hits of one job (indexes into hits).
type scope struct{ idx []int }

func (s *secretScan) scope() *scope { return &scope{} }

// pair marks the AWS key ids and secret keys of sc (with the global
// scope's) as paired when both are present.
func (s *secretScan) pair(sc, global *scope) {
	var ids, keys []int
	collect := func(c *scope) {
		if c == nil {
			return
		}
		for _, i := range c.idx {
			switch s.hits[i].m.Detector {
			case "aws-access-key-id":
				ids = append(ids, i)
			case "aws-secret-access-key":
				keys = append(keys, i)
			}
		}
	}
	collect(sc)
	collect(global)
	if len(ids) == 0 || len(keys) == 0 {
		return
	}
	for _, i := range append(ids, keys...) {
		s.hits[i].paired = true
	}
}

// fixed places every match of a value at pos.
func fixed(pos pipeline.Pos) posAt { return posAt{pos: pos} }

// posAt tells where the byte at an offset of a value is written: in
// scalar n of p (Pipeline.At), or at pos when n is nil. A value, not a
// closure, as every scalar scanned made one.
type posAt struct {
	p   *pipeline.Pipeline
	n   *pipeline.Node
	pos pipeline.Pos
}

func (a posAt) at(off int) pipeline.Pos {
	if a.n == nil {
		return a.pos
	}
	return a.p.At(a.n, off)
}

// place names where a value is for a message: what, then name when it
// is set ("variable", "AWS_KEY"). Kept in two parts, joined only for a
// value with a secret in it.
type place struct{ what, name string }

func (p place) String() string {
	if p.name == "" {
		return p.what
	}
	return p.what + " " + p.name
}

// value scans one value; posAt tells where the byte at an offset of it
// is written.
func (s *secretScan) value(sc *scope, v string, posAt posAt, ctx detect.Context, where place) {
	if strings.TrimSpace(v) == "" {
		return
	}
	for _, m := range s.scan(v, ctx) {
		if m.Start < 0 || m.End > len(v) || m.Start > m.End {
			continue
		}
		pos := posAt.at(m.Start)
		sum := SumKey(v[m.Start:m.End])
		k := fmt.Sprintf("%s:%d:%d\x00%s\x00%s", pos.File, pos.Line, pos.Col, m.Detector, sum)
		i, ok := s.seen[k]
		if !ok {
			i = len(s.hits)
			s.seen[k] = i
			s.hits = append(s.hits, secretHit{m: m, pos: pos, where: where.String(), sum: sum, secret: v[m.Start:m.End]})
		}
		if h := &s.hits[i]; !s.hidden {
			// A test database's only if every job that has the URL
			// has the service.
			t := s.throwaway(m)
			if !h.decided || t == "" {
				h.throwaway = t
			}
			h.decided = true
		}
		sc.idx = append(sc.idx, i)
	}
}

func (s *secretScan) node(sc *scope, n *pipeline.Node, ctx detect.Context, where place) {
	if n == nil || n.Kind != pipeline.Scalar || n.Tag != "" && n.Tag != "!!str" && n.Tag != "!!int" && n.Tag != "!!float" {
		return
	}
	if strings.Contains(n.Raw, "$[[") {
		// An input's value: report it where the value is written (the
		// spec:inputs default or the include's inputs:), found by its text.
		pos := n.Pos
		for _, m := range s.scan(n.Value, ctx) {
			if at, ok := s.find(n.Value[m.Start:m.End], pos.File); ok {
				pos = at
				break
			}
		}
		s.value(sc, n.Value, fixed(pos), ctx, where)
		return
	}
	// A secret inside a block scalar is reported on its own line
	// (issue 15).
	s.value(sc, n.Value, posAt{p: s.p, n: n}, ctx, where)
}

// find returns where text is written, looking in file first. In a child
// pipeline it looks in every file read (the main pipeline's Files): an
// input may be passed in the parent's trigger:include.
func (s *secretScan) find(text, file string) (pipeline.Pos, bool) {
	top := s.p
	for top.Parent != nil {
		top = top.Parent
	}
	files := top.Files
	for pass := 0; pass < 2; pass++ {
		for _, f := range files {
			if (f.Path == file) != (pass == 0) {
				continue
			}
			i := bytes.Index(f.Src, []byte(text))
			if i < 0 {
				continue
			}
			line := 1 + bytes.Count(f.Src[:i], []byte("\n"))
			col := i - bytes.LastIndexByte(f.Src[:i], '\n')
			return pipeline.Pos{File: f.Path, Line: line, Col: col}, true
		}
	}
	return pipeline.Pos{}, false
}

func (s *secretScan) variables(sc *scope, n *pipeline.Node, context string) {
	s.vars = pipeline.AppendVariables(s.vars[:0], n, context)
	for _, v := range s.vars {
		s.node(sc, v.Value, detect.Context{Key: v.Name}, place{context, v.Name})
	}
}

// jobValues scans the values of a job (or of default:, prefix "default ").
func (s *secretScan) jobValues(sc *scope, job *pipeline.Node, prefix string) {
	if job == nil || job.Kind != pipeline.Map {
		return
	}
	s.variables(sc, job.Get("variables"), prefix+"variable")
	for _, r := range items(job.Get("rules")) {
		s.variables(sc, r.Get("variables"), prefix+"rules variable")
	}
	for _, k := range scriptKeys {
		for _, l := range job.Get(k).Scalars() {
			s.node(sc, l, detect.Context{Script: true}, place{what: prefix + k})
		}
	}
	for _, l := range job.Get("hooks").Get("pre_get_sources_script").Scalars() {
		s.node(sc, l, detect.Context{Script: true}, place{what: prefix + "hooks:pre_get_sources_script"})
	}
	s.image(sc, job.Get("image"), prefix+"image")
	for _, svc := range items(job.Get("services")) {
		s.service(sc, svc, prefix)
	}
	if env := job.Get("environment"); env != nil && env.Kind == pipeline.Map {
		s.node(sc, env.Get("url"), detect.Context{Key: "url"}, place{what: prefix + "environment:url"})
	}
	if inc := job.Get("trigger").Get("include"); inc != nil {
		walk(inc, nil, func(path []string, n *pipeline.Node) {
			if len(path) > 0 && path[len(path)-1] == "remote" {
				s.node(sc, n, detect.Context{Key: "remote"}, place{what: prefix + "trigger:include remote URL"})
			}
		})
	}
}

func (s *secretScan) image(sc *scope, n *pipeline.Node, where string) {
	if n != nil && n.Kind == pipeline.Map {
		for _, l := range n.Get("entrypoint").Scalars() {
			s.node(sc, l, detect.Context{Script: true}, place{what: where + " entrypoint"})
		}
		n = n.Get("name")
	}
	s.node(sc, n, detect.Context{Key: "image"}, place{what: where})
}

func (s *secretScan) service(sc *scope, svc *pipeline.Node, prefix string) {
	if svc == nil {
		return
	}
	if svc.Kind == pipeline.Scalar {
		s.node(sc, svc, detect.Context{Key: "image"}, place{what: prefix + "services image"})
		return
	}
	alias := svc.Get("alias").String()
	s.node(sc, svc.Get("name"), detect.Context{Key: "image"}, place{what: prefix + "services image"})
	for _, k := range []string{"entrypoint", "command"} {
		for _, l := range svc.Get(k).Scalars() {
			s.node(sc, l, detect.Context{Script: true, Alias: alias}, place{what: prefix + "services " + k})
		}
	}
	s.vars = pipeline.AppendVariables(s.vars[:0], svc.Get("variables"), "")
	for _, v := range s.vars {
		s.node(sc, v.Value, detect.Context{Key: v.Name, Alias: alias}, place{prefix + "services variable", v.Name})
	}
}
