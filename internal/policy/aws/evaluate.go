package aws

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strings"

	"gitlab.com/keyless-ci/keyless/internal/policy"
)

// IAM's policy evaluation logic for a role trust policy and
// AssumeRoleWithWebIdentity: a statement applies when its principal,
// action and every condition match; an applicable Deny wins over any
// Allow; without an applicable Allow the request is denied implicitly.
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html

// maxStatements and maxValues bound the work a hostile document can ask
// for; IAM's own limit on a trust policy is 2,048 characters by default
// (4,096 at most).
const (
	maxStatements = 100
	maxValues     = 1000
)

// getRole is where a person finds the document Explain reads.
const getRole = "aws iam get-role --role-name ROLE --query Role.AssumeRolePolicyDocument > trust-policy.json"

type rawStatement struct {
	Sid          string                                `json:"Sid"`
	Effect       string                                `json:"Effect"`
	Principal    json.RawMessage                       `json:"Principal"`
	NotPrincipal json.RawMessage                       `json:"NotPrincipal"`
	Action       json.RawMessage                       `json:"Action"`
	NotAction    json.RawMessage                       `json:"NotAction"`
	Condition    map[string]map[string]json.RawMessage `json:"Condition"`
}

type document struct {
	version    string
	statements []rawStatement
}

// parse reads a role trust policy: the document itself, or aws iam
// get-role's output around it (the API's form URL-encodes it).
func parse(doc []byte) (document, error) {
	for depth := 0; ; depth++ {
		var top map[string]json.RawMessage
		if err := json.Unmarshal(doc, &top); err != nil || top == nil {
			reason := "null"
			if err != nil {
				reason = err.Error()
			}
			return document{}, fmt.Errorf("not a JSON object (%s): give the role's trust policy, e.g. %s", reason, getRole)
		}
		inner, wrapped := top["Role"]
		if !wrapped {
			inner, wrapped = top["AssumeRolePolicyDocument"]
		}
		if !wrapped || depth == 2 {
			return parseDocument(top)
		}
		var s string
		if json.Unmarshal(inner, &s) == nil {
			if u, err := url.PathUnescape(s); err == nil && strings.HasPrefix(strings.TrimSpace(s), "%7B") {
				s = u
			}
			inner = []byte(s)
		}
		doc = inner
	}
}

func parseDocument(top map[string]json.RawMessage) (document, error) {
	var d document
	if v, ok := top["Version"]; ok {
		if err := json.Unmarshal(v, &d.version); err != nil {
			return d, errors.New("the Version is not a string: use \"2012-10-17\"")
		}
	}
	raw, ok := top["Statement"]
	if !ok {
		return d, fmt.Errorf("no Statement: this is not a role trust policy; give the role's, e.g. %s", getRole)
	}
	raw = bytes.TrimSpace(raw)
	var list []json.RawMessage
	if len(raw) > 0 && raw[0] == '{' {
		list = []json.RawMessage{raw}
	} else if err := json.Unmarshal(raw, &list); err != nil {
		return d, errors.New("the Statement is neither an object nor a list of objects: a role trust policy has \"Statement\": [{\"Effect\": \"Allow\", ...}]")
	}
	if len(list) == 0 {
		return d, errors.New("the Statement list is empty: a role trust policy needs an Allow statement (keyless policy aws writes one)")
	}
	if len(list) > maxStatements {
		return d, fmt.Errorf("%d statements: more than %d is not a role trust policy", len(list), maxStatements)
	}
	for i, r := range list {
		var st rawStatement
		if err := json.Unmarshal(r, &st); err != nil {
			return d, fmt.Errorf("in Statement[%d]: %v: a statement is an object with Effect, Principal, Action and Condition", i, err)
		}
		if st.Effect != "Allow" && st.Effect != "Deny" {
			return d, fmt.Errorf("in Statement[%d]: Effect %q: use Allow or Deny, spelled so (IAM compares it case-sensitively)", i, st.Effect)
		}
		d.statements = append(d.statements, st)
	}
	return d, nil
}

// values reads a policy element that is a string, a number, a boolean or a
// list of them.
func values(raw json.RawMessage) ([]string, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	list, isList := v.([]any)
	if !isList {
		list = []any{v}
	}
	if len(list) > maxValues {
		return nil, fmt.Errorf("%d values: more than %d", len(list), maxValues)
	}
	out := make([]string, 0, len(list))
	for _, x := range list {
		s, ok := policy.Claims{"v": x}.String("v")
		if !ok {
			return nil, fmt.Errorf("%s is not a string or a list of strings", strings.TrimSpace(string(raw)))
		}
		out = append(out, s)
	}
	return out, nil
}

// check is a policy.Check with why it failed, for the verdict, and the
// change that would make it hold, for the fix.
type check struct {
	policy.Check
	why, fix string
}

type stmtResult struct {
	index   int
	effect  string
	checks  []check
	matched bool
}

func (r stmtResult) failed() []check {
	var out []check
	for _, c := range r.checks {
		if !c.Held {
			out = append(out, c)
		}
	}
	return out
}

func (provider) Explain(doc []byte, claims policy.Claims) (*policy.Result, error) {
	d, err := parse(doc)
	if err != nil {
		return nil, err
	}
	r := newRequest(claims, d.version)
	res := &policy.Result{Provider: "aws", Checks: []policy.Check{}}
	var results []stmtResult
	for i, st := range d.statements {
		sr, err := evalStatement(i, st, r)
		if err != nil {
			return nil, err
		}
		results = append(results, sr)
		for _, c := range sr.checks {
			res.Checks = append(res.Checks, c.Check)
		}
	}
	res.Warnings = documentWarnings(d, r)

	for _, sr := range results {
		if sr.matched && sr.effect == "Deny" {
			res.Verdict = fmt.Sprintf("Statement[%d] denies it explicitly, and an explicit Deny overrides every Allow", sr.index)
			res.Fix = denyFix(sr)
			return res, nil
		}
	}
	for _, sr := range results {
		if sr.matched && sr.effect == "Allow" {
			res.Admitted = true
			res.Verdict = fmt.Sprintf("Statement[%d] allows %s for this token", sr.index, action)
			return res, nil
		}
	}
	// The closest Allow is the one with the fewest failed checks: its
	// fixes are the smallest change.
	var best *stmtResult
	for i := range results {
		sr := &results[i]
		if sr.effect == "Allow" && (best == nil || len(sr.failed()) < len(best.failed())) {
			best = sr
		}
	}
	if best == nil {
		res.Verdict = "no statement allows it: the policy has only Deny statements, and IAM denies what no Allow allows"
		res.Fix = fmt.Sprintf("add an Allow statement for %s (keyless policy aws writes one)", action)
		return res, nil
	}
	failed := best.failed()
	res.Verdict = fmt.Sprintf("no statement allows it: in Statement[%d], %s", best.index, failed[0].why)
	switch n := len(failed) - 1; {
	case n == 1:
		res.Verdict += ", and one more check fails"
	case n > 1:
		res.Verdict += fmt.Sprintf(", and %d more checks fail", n)
	}
	var fixes []string
	for _, c := range failed {
		if c.fix != "" && !slices.Contains(fixes, c.fix) {
			fixes = append(fixes, c.fix)
		}
	}
	res.Fix = strings.Join(fixes, "; and ")
	return res, nil
}

// denyFix is the change that stops a matching Deny from matching.
func denyFix(sr stmtResult) string {
	var conds []string
	for _, c := range sr.checks {
		if strings.Contains(c.Where, ".Condition.") {
			conds = append(conds, c.Test)
		}
	}
	if len(conds) == 0 {
		return fmt.Sprintf("remove Statement[%d], or give it a condition that this job does not meet", sr.index)
	}
	return fmt.Sprintf("change Statement[%d]'s conditions so that they do not all hold for this job (%s), or remove the statement", sr.index, strings.Join(conds, "; "))
}

func evalStatement(i int, st rawStatement, r request) (stmtResult, error) {
	where := fmt.Sprintf("Statement[%d]", i)
	sr := stmtResult{index: i, effect: st.Effect}
	pc, err := evalPrincipal(where, st, r)
	if err != nil {
		return sr, err
	}
	sr.checks = append(sr.checks, pc)
	ac, err := evalAction(where, st)
	if err != nil {
		return sr, err
	}
	sr.checks = append(sr.checks, ac)

	// Conditions in a stable order: operators, then keys. Operators and
	// keys are ANDed, a key's values ORed.
	ops := make([]string, 0, len(st.Condition))
	for op := range st.Condition {
		ops = append(ops, op)
	}
	sort.Strings(ops)
	for _, op := range ops {
		keys := make([]string, 0, len(st.Condition[op]))
		for k := range st.Condition[op] {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, key := range keys {
			want, err := values(st.Condition[op][key])
			if err != nil {
				return sr, fmt.Errorf("in %s.Condition.%s[%q]: %v", where, op, key, err)
			}
			sr.checks = append(sr.checks, evalCondition(where, op, key, want, r))
		}
	}
	sr.matched = len(sr.failed()) == 0
	if st.Effect == "Deny" && !sr.matched {
		for i := range sr.checks {
			if !sr.checks[i].Held {
				sr.checks[i].AddNote("this is a Deny statement: since this check fails, the statement does not deny")
			}
		}
	}
	return sr, nil
}

// principals reads a Principal or NotPrincipal object: its Federated
// values, the names of its other kinds (AWS, Service, CanonicalUser) and
// their values.
func principals(raw json.RawMessage) (fed, others, otherValues []string, err error) {
	var p map[string]json.RawMessage
	if err := json.Unmarshal(raw, &p); err != nil || p == nil {
		return nil, nil, nil, errors.New(`neither "*" nor an object`)
	}
	kinds := make([]string, 0, len(p))
	for k := range p {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		vs, err := values(p[k])
		if err != nil {
			return nil, nil, nil, fmt.Errorf("%s: %v", k, err)
		}
		if strings.EqualFold(k, "Federated") {
			fed = append(fed, vs...)
		} else {
			others, otherValues = append(others, k), append(otherValues, vs...)
		}
	}
	return fed, others, otherValues, nil
}

// arnParts splits arn:aws:iam::123456789012:oidc-provider/gitlab.com into
// its partition, account and resource; ok is false for what is not an IAM
// ARN.
func arnParts(arn string) (partition, account, resource string, ok bool) {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "iam" {
		return "", "", arn, false
	}
	return parts[1], parts[4], parts[5], true
}

// providerOf is the host of an OIDC provider ARN, "" for another
// principal.
func providerOf(arn string) string {
	if _, _, res, ok := arnParts(arn); ok {
		if host, found := strings.CutPrefix(res, "oidc-provider/"); found {
			return host
		}
	}
	return ""
}

func evalPrincipal(where string, st rawStatement, r request) (check, error) {
	want := "oidc-provider/" + r.host
	c := check{Check: policy.Check{Where: where + ".Principal", Claim: "iss", Value: r.claims.Display("iss")}}
	if r.iss == "" {
		c.AddNote("the claims have no iss: give the token's whole decoded payload")
	}
	names := func(fed []string) bool {
		for _, f := range fed {
			if _, _, res, ok := arnParts(f); ok && res == want {
				return true
			}
		}
		return false
	}
	if len(st.NotPrincipal) > 0 {
		c.Where = where + ".NotPrincipal"
		fed, _, _, err := principals(st.NotPrincipal)
		if err != nil {
			return c, fmt.Errorf("in %s.NotPrincipal: %v", where, err)
		}
		c.Test = "NotPrincipal leaves out the OIDC provider " + r.host
		c.Held = !names(fed)
		c.AddNote("NotPrincipal applies the statement to every principal except those it lists; AWS advises against it in trust policies")
		if !c.Held {
			c.why = "its NotPrincipal lists the OIDC provider of the token's issuer"
			c.fix = fmt.Sprintf("replace %s's NotPrincipal with a Principal.Federated naming the OIDC provider %s", where, r.host)
		}
		return c, nil
	}
	if len(st.Principal) == 0 {
		return c, fmt.Errorf("in %s: no Principal: a role trust policy names who may assume the role; for GitLab, \"Principal\": {\"Federated\": \"arn:aws:iam::ACCOUNT_ID:oidc-provider/%s\"}", where, r.host)
	}
	var star string
	if json.Unmarshal(st.Principal, &star) == nil {
		if star != "*" {
			return c, fmt.Errorf("in %s: Principal %q: a principal is \"*\" or an object, e.g. {\"Federated\": \"arn:aws:iam::ACCOUNT_ID:oidc-provider/%s\"}", where, star, r.host)
		}
		c.Test = `Principal "*" (anyone)`
		c.Held = true
		if st.Effect == "Allow" {
			c.AddNote("any principal: only the conditions keep other identity providers' tokens out")
		}
		return c, nil
	}
	fed, others, otherValues, err := principals(st.Principal)
	if err != nil {
		return c, fmt.Errorf("in %s.Principal: %v", where, err)
	}
	c.Test = fmt.Sprintf("Principal (%s) includes the OIDC provider %s", strings.Join(others, ", "), r.host)
	if len(fed) > 0 {
		c.Where = where + ".Principal.Federated"
		c.Test = fmt.Sprintf("Federated %s is the OIDC provider %s", policy.QuoteList(fed), r.host)
	}
	c.Held = names(fed)
	if c.Held {
		return c, nil
	}
	partition, account := "aws", "ACCOUNT_ID"
	for _, f := range append(otherValues, fed...) {
		if p, a, _, ok := arnParts(f); ok && a != "" {
			partition, account = p, a
		}
	}
	c.fix = fmt.Sprintf("set %s.Principal.Federated to arn:%s:iam::%s:oidc-provider/%s", where, partition, account, r.host)
	c.why = fmt.Sprintf("the principal is not the OIDC provider of the token's issuer %s", r.host)
	if len(fed) == 0 {
		c.AddNote(fmt.Sprintf("%s principals are IAM users, roles, accounts or services; a web identity is admitted by Principal.Federated", strings.Join(others, " and ")))
		return c, nil
	}
	c.AddNote(principalNote(fed, r))
	return c, nil
}

func principalNote(fed []string, r request) string {
	for _, f := range fed {
		_, _, res, ok := arnParts(f)
		name, isOIDC := strings.CutPrefix(res, "oidc-provider/")
		bare := strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(name, "https://"), "http://"), "/")
		switch {
		case !ok || !isOIDC:
			return fmt.Sprintf("%s is not an IAM OIDC provider ARN (arn:aws:iam::ACCOUNT:oidc-provider/HOST)", f)
		case strings.Contains(name, "://"):
			return "the provider ARN names the host without https://"
		case bare == r.host:
			return "the provider ARN ends with a slash; the token's iss has none"
		case strings.EqualFold(name, r.host):
			return "the provider differs from the token's issuer only in case"
		}
	}
	return fmt.Sprintf("the token was issued by %s: the role must trust the OIDC provider for that issuer", r.iss)
}

func evalAction(where string, st rawStatement) (check, error) {
	c := check{Check: policy.Check{Where: where + ".Action", Test: "includes " + action}}
	// IAM matches actions case-insensitively, with * and ?.
	covers := func(acts []string) bool {
		for _, a := range acts {
			if glob(strings.ToLower(a), strings.ToLower(action)) {
				return true
			}
		}
		return false
	}
	if len(st.NotAction) > 0 {
		acts, err := values(st.NotAction)
		if err != nil {
			return c, fmt.Errorf("in %s.NotAction: %v", where, err)
		}
		c.Where, c.Test, c.Value = where+".NotAction", "leaves out "+action, strings.Join(acts, ", ")
		c.Held = !covers(acts)
		c.why = "its NotAction covers " + action
		c.fix = fmt.Sprintf("take %s out of %s.NotAction", action, where)
		return c, nil
	}
	acts, err := values(st.Action)
	if err != nil {
		return c, fmt.Errorf("in %s.Action: %v", where, err)
	}
	c.Value = strings.Join(acts, ", ")
	c.Held = covers(acts)
	if len(acts) == 0 {
		c.AddNote("the statement has no Action, which IAM refuses")
	}
	c.why = "its Action does not include " + action
	c.fix = fmt.Sprintf("add %q to %s.Action (sts:AssumeRole is for AWS principals, not OIDC tokens)", action, where)
	return c, nil
}

// documentWarnings are about the trust policy itself, whatever the token:
// too broad, or conditioned on keys IAM never sets.
func documentWarnings(d document, r request) []policy.Warning {
	var w []policy.Warning
	add := func(id, msg string) {
		for _, x := range w {
			if x.ID == id && x.Message == msg {
				return
			}
		}
		w = append(w, policy.Warning{ID: id, Message: msg})
	}
	for i, st := range d.statements {
		if st.Effect != "Allow" {
			continue
		}
		host, ok := statementHost(st, r)
		if !ok {
			continue // a statement for AWS principals is not about tokens
		}
		if strings.TrimSpace(string(st.Principal)) == `"*"` {
			add("any-principal", fmt.Sprintf("Statement[%d] has Principal \"*\": name the OIDC provider in Principal.Federated", i))
		}
		// pinned: a sub condition narrows who is admitted; blocked: a
		// condition no token meets, so the statement admits nobody and
		// breadth is not its problem.
		pinned, blocked := false, false
		ops := make([]string, 0, len(st.Condition))
		for op := range st.Condition {
			ops = append(ops, op)
		}
		sort.Strings(ops)
		for _, op := range ops {
			o, known := parseOperator(op)
			positive := known && !o.negated && !o.ifExists && o.set != "ForAllValues" && o.base != "Null"
			keys := make([]string, 0, len(st.Condition[op]))
			for k := range st.Condition[op] {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				vs, _ := values(st.Condition[op][k])
				lk := strings.ToLower(k)
				if strings.HasPrefix(lk, "aws:") || strings.HasPrefix(lk, "sts:") {
					continue
				}
				if !known {
					blocked = true
					continue
				}
				prefix, claim, _ := cutLast(lk, ":")
				switch {
				case prefix != strings.ToLower(host):
					add("condition-key-host", fmt.Sprintf("Statement[%d] conditions on %q, a key IAM never sets for provider %s: name keys after the provider, as in %s:%s", i, k, host, host, claim))
					blocked = blocked || positive
					continue
				case !oidcKeys[claim]:
					add("unsupported-key", fmt.Sprintf("Statement[%d] conditions on %q, which IAM never sets: AWS passes only aud, sub, amr, azp, email and oaud of an OIDC token to conditions; pin GitLab's other claims through sub (ci_id_token_sub_claim_components)", i, k))
					blocked = blocked || positive
					continue
				case claim != "sub" || o.base == "Null" || o.other || o.negated:
					continue // excluding some subjects pins none
				}
				pinned = true
				if o.set == "ForAllValues" {
					add("set-operator-on-sub", fmt.Sprintf("Statement[%d] uses %s on %s: sub is single-valued, and ForAllValues also holds for a token without it; use %s", i, op, k, strings.TrimPrefix(op, "ForAllValues:")))
				}
				if o.like && !hasWildcard(vs) {
					add("stringlike-without-wildcard", fmt.Sprintf("Statement[%d] uses %s on %s without a wildcard: harmless, but StringEquals says the same more plainly", i, op, k))
				}
				if !o.like {
					continue
				}
				for _, v := range vs {
					if id, msg := subBreadth(v); id != "" {
						add(id, fmt.Sprintf("Statement[%d] admits %s (%s %q)", i, msg, op, v))
					}
				}
			}
		}
		if !pinned && !blocked {
			msg := fmt.Sprintf("critical: Statement[%d] has no condition on %s:sub, so the jobs of every project on %s can assume this role: add \"StringEquals\": {\"%s:sub\": \"project_path:GROUP/PROJECT:ref_type:branch:ref:main\"}", i, host, host, host)
			if host == "gitlab.com" {
				// gitlab.com is one of the shared providers IAM requires a
				// sub condition for when a trust policy is saved.
				// https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_providers_oidc_secure-by-default.html
				msg += " (IAM now refuses to save such a policy for gitlab.com; roles saved before keep it)"
			}
			add("no-sub-condition", msg)
		}
	}
	return w
}

// statementHost is the provider whose keys a statement's conditions
// should name: its Federated OIDC provider, or the token's issuer when the
// principal is "*", or names that issuer but for a detail Explain already
// reports (https://, a trailing slash, case). ok is false for a statement
// that names no OIDC provider.
func statementHost(st rawStatement, r request) (host string, ok bool) {
	fed, _, _, err := principals(st.Principal)
	if err != nil {
		return r.host, true
	}
	for _, f := range fed {
		if h := providerOf(f); h != "" {
			host, ok = h, true
		}
	}
	bare := strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(host, "https://"), "http://"), "/")
	if ok && strings.EqualFold(bare, r.host) {
		host = r.host
	}
	return host, ok
}

// subBreadth says how many projects a StringLike sub pattern admits, when
// more than one: every project, every project under a group, or every
// project whose path merely starts alike.
func subBreadth(v string) (id, msg string) {
	rest, ok := strings.CutPrefix(v, "project_path:")
	if !ok {
		if strings.HasPrefix(v, "*") {
			return "any-project", "every project on the instance"
		}
		return "", ""
	}
	path, _, _ := strings.Cut(rest, ":")
	i := strings.IndexAny(path, "*?")
	switch {
	case i < 0:
		return "", ""
	case i == 0:
		return "any-project", "every project on the instance"
	case path[i-1] == '/':
		return "group-wildcard", fmt.Sprintf("every project under %s, including ones created later", path[:i-1])
	}
	return "path-prefix-wildcard", fmt.Sprintf("every project whose path starts with %q, such as %s-other/x, not one group's", path[:i], path[:i])
}

func cutLast(s, sep string) (before, after string, found bool) {
	if i := strings.LastIndex(s, sep); i >= 0 {
		return s[:i], s[i+len(sep):], true
	}
	return "", s, false
}
