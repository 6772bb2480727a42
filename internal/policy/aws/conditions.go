package aws

import (
	"fmt"
	"slices"
	"strings"

	"gitlab.com/keyless-ci/keyless/internal/policy"
)

// How IAM evaluates a Condition, as far as a role trust policy and
// AssumeRoleWithWebIdentity go:
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-logic-multiple-context-keys-or-values.html
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-single-vs-multi-valued-context-keys.html
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html

// oidcKeys are the claims IAM sets in the request context, as
// <provider>:<claim>, for a generic IAM OIDC provider; GitLab's tokens
// carry aud and sub of them. IAM's GitHub-only keys (repository, ref, ...)
// do not apply to GitLab:
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_iam-condition-keys.html#condition-keys-wif
var oidcKeys = map[string]bool{"aud": true, "sub": true, "amr": true, "azp": true, "email": true, "oaud": true}

// request is what IAM knows of one AssumeRoleWithWebIdentity call.
type request struct {
	claims policy.Claims
	iss    string
	// host is the token's issuer as IAM names its provider (gitlab.com).
	host string
	// vars: policy variables are substituted, as in Version 2012-10-17;
	// an older or absent Version takes ${...} literally.
	vars bool
}

func newRequest(claims policy.Claims, version string) request {
	iss, _ := claims.String("iss")
	return request{claims: claims, iss: iss, host: issuerHost(iss), vars: version == "2012-10-17"}
}

// contextValue is a condition key looked up in the request context.
type contextValue struct {
	// claim is the token claim behind the key, "" for a key IAM never sets
	// from this token.
	claim   string
	values  []string
	present bool
	// unset says why IAM never sets the key for this token.
	unset string
	// rename is the key IAM does set, when this one names the provider
	// wrongly (https://, a trailing slash, another host).
	rename string
	// global: an aws: or sts: key, which IAM may set from the request
	// rather than the token.
	global bool
}

func (r request) lookup(key string) contextValue {
	lk := strings.ToLower(key) // key names are case-insensitive
	if strings.HasPrefix(lk, "aws:") || strings.HasPrefix(lk, "sts:") {
		return contextValue{global: true, unset: fmt.Sprintf("%s is a global or STS key whose value keyless cannot know for this request: it is taken as absent", key)}
	}
	i := strings.LastIndex(lk, ":")
	if i < 0 {
		return contextValue{unset: fmt.Sprintf("%q is not a key IAM sets for a web identity: its keys are <provider>:<claim>, e.g. %s:sub", key, r.host)}
	}
	prefix, claim := lk[:i], lk[i+1:]
	host := strings.ToLower(r.host)
	if prefix != host {
		cv := contextValue{unset: fmt.Sprintf("the key names provider %q and the token comes from %q: IAM sets no such key", key[:i], r.host)}
		bare := strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(prefix, "https://"), "http://"), "/")
		switch {
		case bare == host && strings.Contains(prefix, "://"):
			cv.unset = fmt.Sprintf("condition keys name the provider without https://, so IAM never sets %s", key)
		case bare == host:
			cv.unset = fmt.Sprintf("the key's provider ends with a slash, so IAM never sets %s", key)
		}
		if oidcKeys[claim] && r.host != "" {
			cv.rename = r.host + ":" + claim
		}
		return cv
	}
	if !oidcKeys[claim] {
		note := fmt.Sprintf("IAM sets only aud, sub, amr, azp, email and oaud of an OIDC token as condition keys, so %s is never in the request", key)
		if _, ok := r.claims[claim]; ok {
			note += fmt.Sprintf(" although the token has %s = %s", claim, r.claims.Display(claim))
		}
		return contextValue{unset: note + "; pin it through the sub claim instead (ci_id_token_sub_claim_components)"}
	}
	vs, ok := r.claims.Strings(claim)
	return contextValue{claim: claim, values: vs, present: ok && len(vs) > 0}
}

// operator is a condition operator, e.g. ForAnyValue:StringLikeIfExists.
type operator struct {
	name string
	// set is "", ForAnyValue or ForAllValues.
	set      string
	base     string
	ifExists bool
	negated  bool
	fold     bool // IgnoreCase
	like     bool // * and ? are wildcards
	// other: an operator of another family (Numeric, Date, Bool, Arn,
	// IpAddress, Binary), which no token claim answers.
	other bool
}

var otherOperators = map[string]bool{
	"NumericEquals": false, "NumericNotEquals": true, "NumericLessThan": false, "NumericLessThanEquals": false,
	"NumericGreaterThan": false, "NumericGreaterThanEquals": false,
	"DateEquals": false, "DateNotEquals": true, "DateLessThan": false, "DateLessThanEquals": false,
	"DateGreaterThan": false, "DateGreaterThanEquals": false,
	"Bool": false, "BinaryEquals": false, "IpAddress": false, "NotIpAddress": true,
	"ArnEquals": false, "ArnLike": false, "ArnNotEquals": true, "ArnNotLike": true,
}

// parseOperator reads op; ok is false for an operator IAM does not have.
func parseOperator(op string) (o operator, ok bool) {
	o.name = op
	rest := op
	if set, base, found := strings.Cut(op, ":"); found {
		if set != "ForAnyValue" && set != "ForAllValues" {
			return o, false
		}
		o.set, rest = set, base
	}
	if rest == "Null" {
		o.base = rest
		return o, o.set == ""
	}
	rest, o.ifExists = strings.CutSuffix(rest, "IfExists")
	o.base = rest
	switch rest {
	case "StringEquals":
	case "StringNotEquals":
		o.negated = true
	case "StringEqualsIgnoreCase":
		o.fold = true
	case "StringNotEqualsIgnoreCase":
		o.fold, o.negated = true, true
	case "StringLike":
		o.like = true
	case "StringNotLike":
		o.like, o.negated = true, true
	default:
		neg, known := otherOperators[rest]
		o.other, o.negated = known, neg
		return o, known
	}
	return o, true
}

// eval evaluates o with the policy values want against cv. matched lists
// the policy values that matched a context value; notes explain what
// surprises.
func (o operator) eval(want []string, cv contextValue, r request) (held bool, matched, notes []string) {
	if o.base == "Null" {
		// "true" asks for the key to be absent, "false" for it to be
		// present; several values are ORed.
		for _, w := range want {
			if strings.EqualFold(w, "true") != cv.present {
				held = true
			}
		}
		return held, nil, nil
	}
	got, present := cv.values, cv.present
	if o.set == "ForAllValues" {
		// An empty string is a null data set to ForAllValues.
		got = nil
		for _, v := range cv.values {
			if v != "" {
				got = append(got, v)
			}
		}
		present = len(got) > 0
	}
	if o.other {
		if present {
			return false, nil, []string{fmt.Sprintf("%s compares numbers, dates, booleans, ARNs or addresses, not a token's string claims: keyless takes it as not matching", o.base)}
		}
		return o.negated || o.ifExists, nil, nil
	}
	pats := make([]pattern, 0, len(want))
	for _, w := range want {
		p, note := r.compile(w, o.like)
		if note != "" {
			notes = append(notes, note)
		}
		pats = append(pats, p) // nil when a variable is unresolved: never matches
	}
	anyMatch := func(v string) bool {
		hit := false
		for i, p := range pats {
			if p != nil && p.match([]rune(v), o.like, o.fold) {
				hit = true
				if !slices.Contains(matched, want[i]) {
					matched = append(matched, want[i])
				}
			}
		}
		return hit
	}
	// A value satisfies a negated operator when it matches none of the
	// policy values (NOR), a positive one when it matches any (OR).
	ok := func(v string) bool { return anyMatch(v) != o.negated }
	all := func() bool {
		res := true
		for _, v := range got {
			if !ok(v) {
				res = false
			}
		}
		return res
	}
	anyOK := func() bool {
		res := false
		for _, v := range got {
			if ok(v) {
				res = true
			}
		}
		return res
	}
	switch {
	case !present && o.ifExists:
		held = true
	case o.set == "ForAllValues":
		held = all()
	case o.set == "ForAnyValue":
		held = anyOK()
	case !present:
		// An absent key matches nothing: a positive operator fails, a
		// negated one holds.
		held = o.negated
	case o.negated:
		held = all()
	default:
		held = anyOK()
	}
	return held, matched, notes
}

// pchar is one character of a compiled policy value: wild for * and ?
// under StringLike.
type pchar struct {
	r    rune
	wild bool
}

type pattern []pchar

// compile turns a policy value into a pattern: * and ? wild under like,
// ${*} ${?} ${$} their literal characters, ${key} (or ${key, 'default'})
// the key's value. It returns nil, with a note, for a variable the request
// has no value for.
func (r request) compile(v string, like bool) (pattern, string) {
	rs := []rune(v)
	out := make(pattern, 0, len(rs))
	for i := 0; i < len(rs); i++ {
		c := rs[i]
		if r.vars && c == '$' && i+1 < len(rs) && rs[i+1] == '{' {
			if end := indexRune(rs, '}', i+2); end >= 0 {
				name := string(rs[i+2 : end])
				i = end
				if name == "*" || name == "?" || name == "$" {
					out = append(out, pchar{r: rune(name[0])})
					continue
				}
				val, ok := r.variable(name)
				if !ok {
					return nil, fmt.Sprintf("policy variable ${%s} has no value for this request, so the value %q matches nothing", name, v)
				}
				for _, x := range val {
					out = append(out, pchar{r: x})
				}
				continue
			}
		}
		out = append(out, pchar{r: c, wild: like && (c == '*' || c == '?')})
	}
	return out, ""
}

func indexRune(rs []rune, r rune, from int) int {
	for i := from; i < len(rs); i++ {
		if rs[i] == r {
			return i
		}
	}
	return -1
}

// variable resolves ${name}: a single-valued key of the request, or the
// default given as ${key, 'default'}.
func (r request) variable(name string) (string, bool) {
	key, def, hasDef := strings.Cut(name, ",")
	cv := r.lookup(strings.TrimSpace(key))
	if cv.present && len(cv.values) == 1 {
		return cv.values[0], true
	}
	if hasDef {
		def = strings.TrimSpace(def)
		if len(def) >= 2 && def[0] == '\'' && def[len(def)-1] == '\'' {
			return def[1 : len(def)-1], true
		}
	}
	return "", false
}

func (p pattern) match(s []rune, like, fold bool) bool {
	switch {
	case like:
		return p.glob(s)
	case fold:
		return strings.EqualFold(p.literal(), string(s))
	}
	return p.literal() == string(s)
}

func (p pattern) literal() string {
	var b strings.Builder
	for _, c := range p {
		b.WriteRune(c.r)
	}
	return b.String()
}

// glob matches IAM's StringLike: * any run of characters (slashes and
// colons too), ? exactly one; case-sensitive. Iterative, so a hostile
// pattern costs O(len(p)*len(s)) at most.
func (p pattern) glob(s []rune) bool {
	pi, si := 0, 0
	star, mark := -1, 0
	for si < len(s) {
		switch {
		case pi < len(p) && p[pi].wild && p[pi].r == '*':
			star, mark = pi, si
			pi++
		case pi < len(p) && (p[pi].wild && p[pi].r == '?' || !p[pi].wild && p[pi].r == s[si]):
			pi++
			si++
		case star >= 0:
			pi = star + 1
			mark++
			si = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi].wild && p[pi].r == '*' {
		pi++
	}
	return pi == len(p)
}

// glob matches s against an IAM wildcard pattern without policy
// variables: actions, and what a StringEquals value would have matched
// under StringLike.
func glob(p, s string) bool {
	pat, _ := request{}.compile(p, true)
	return pat.glob([]rune(s))
}

func hasWildcard(vs []string) bool {
	for _, v := range vs {
		if strings.ContainsAny(v, "*?") {
			return true
		}
	}
	return false
}

// evalCondition evaluates the values want of one key under one operator
// of a statement, and says why it failed and what would make it hold.
func evalCondition(where, op, key string, want []string, r request) check {
	c := check{Check: policy.Check{
		Where: fmt.Sprintf("%s.Condition.%s[%q]", where, op, key),
		Test:  fmt.Sprintf("%s %s %s", key, op, policy.QuoteList(want)),
	}}
	cv := r.lookup(key)
	if cv.claim != "" {
		c.Claim, c.Value = cv.claim, r.claims.Display(cv.claim)
	} else {
		c.Value = "(not in the request context)"
		c.AddNote(cv.unset)
	}
	o, known := parseOperator(op)
	if !known {
		c.AddNote(fmt.Sprintf("IAM has no condition operator %q and refuses the policy: use StringEquals, StringLike or one of their variants", op))
		c.fix = fmt.Sprintf("replace %s's operator %q with StringEquals or StringLike", where, op)
		c.why = fmt.Sprintf("%q is not a condition operator", op)
		return c
	}
	held, matched, notes := o.eval(want, cv, r)
	c.Held = held
	for _, n := range notes {
		c.AddNote(n)
	}
	absent := !cv.present || o.set == "ForAllValues" && allEmpty(cv.values)
	switch {
	case o.set != "" && cv.claim == "sub":
		c.AddNote("sub is a single-valued key: AWS advises against ForAnyValue and ForAllValues on it, and ForAllValues holds even for a token without it")
	case held && absent && o.set == "ForAllValues":
		c.AddNote(fmt.Sprintf("ForAllValues holds when the key is absent or empty, so this condition also admits a token without %s", key))
	case held && absent && o.ifExists:
		c.AddNote("the key is absent and the operator ends with IfExists, so the condition holds")
	case held && absent && o.negated && o.base != "Null":
		c.AddNote("a negated operator holds when the key is absent")
	}
	if held {
		return c
	}
	c.why = c.Test + " does not hold"
	if c.Claim != "" {
		c.why += " for " + c.Claim + " = " + c.Value
	}
	value := ""
	if len(cv.values) > 0 {
		value = cv.values[0]
	}
	switch {
	case cv.rename != "":
		c.fix = fmt.Sprintf("rename the condition key %q to %q in %s", key, cv.rename, where)
	case cv.global && !o.negated:
		c.fix = fmt.Sprintf("make sure the job's STS request meets the %s condition on %q in %s (keyless cannot see it), or remove the condition", op, key, where)
	case cv.unset != "" && !o.negated:
		c.fix = fmt.Sprintf("remove the %s condition on %q from %s: IAM never sets that key for a GitLab token", op, key, where)
	case o.base == "Null":
		c.fix = fmt.Sprintf("remove the Null condition on %q from %s", key, where)
	case o.other:
		c.fix = fmt.Sprintf("compare %q with a string operator (StringEquals or StringLike) in %s", key, where)
	case o.negated:
		c.AddNote(fmt.Sprintf("the claim matches %s, which %s excludes", policy.QuoteList(matched), op))
		if len(matched) == len(want) {
			c.fix = fmt.Sprintf("remove the %s condition on %q from %s, which excludes this job", op, key, where)
		} else {
			c.fix = fmt.Sprintf("remove %s from %s.Condition.%s[%q]", policy.QuoteList(matched), where, op, key)
		}
	case absent:
		c.AddNote(fmt.Sprintf("the token has no %s claim", cv.claim))
		c.fix = fmt.Sprintf("remove the %s condition on %q from %s: the token has no %s claim", op, key, where, cv.claim)
	case !o.like && hasWildcard(want) && anyGlob(want, cv.values):
		c.AddNote(fmt.Sprintf("%s takes * and ? literally; StringLike treats them as wildcards", o.base))
		c.fix = fmt.Sprintf("use StringLike instead of %s for %q in %s", o.base, key, where)
	default:
		for _, w := range want {
			for _, v := range cv.values {
				if n := nearMiss(w, v, o); n != "" {
					c.AddNote(n)
				}
			}
		}
		if cv.claim == "sub" {
			if n := subNote(want, value); n != "" {
				c.AddNote(n)
			}
		}
		if len(want) > 1 || o.like && hasWildcard(want) {
			c.fix = fmt.Sprintf("add %q to %s.Condition.%s[%q]", value, where, op, key)
		} else {
			c.fix = fmt.Sprintf("set %q in %s.Condition.%s to %q", key, where, op, value)
		}
	}
	return c
}

func allEmpty(vs []string) bool {
	for _, v := range vs {
		if v != "" {
			return false
		}
	}
	return true
}

// nearMiss explains a policy value that misses the claim by a detail.
func nearMiss(w, v string, o operator) string {
	switch {
	case w == v:
		return ""
	case !o.fold && strings.EqualFold(w, v):
		return fmt.Sprintf("%q differs from the claim only in case: %s compares case-sensitively", w, o.base)
	case o.like && !o.fold && glob(strings.ToLower(w), strings.ToLower(v)):
		return fmt.Sprintf("%q would match but for case: StringLike compares case-sensitively", w)
	case strings.TrimSuffix(w, "/") == strings.TrimSuffix(v, "/"):
		return fmt.Sprintf("%q differs from the claim by a trailing slash", w)
	case strings.TrimPrefix(w, "https://") == strings.TrimPrefix(v, "https://"):
		return fmt.Sprintf("%q differs from the claim by its https:// scheme", w)
	}
	return ""
}

// anyGlob reports whether a value would have matched under StringLike.
func anyGlob(want, got []string) bool {
	for _, w := range want {
		for _, g := range got {
			if glob(w, g) {
				return true
			}
		}
	}
	return false
}

// subNote explains a sub that does not match because the project
// customised its sub claim (ci_id_token_sub_claim_components).
func subNote(want []string, got string) string {
	gc := policy.ComponentsOf(got)
	if gc == nil {
		gc = policy.DefaultSubComponents
	}
	for _, w := range want {
		wc := policy.ComponentsOf(w)
		if wc == nil && strings.HasPrefix(w, "project_path:") && strings.Count(w, ":") == 5 {
			wc = policy.DefaultSubComponents
		}
		if wc != nil && strings.Join(wc, ",") != strings.Join(gc, ",") {
			return fmt.Sprintf("the token's sub is built from %s, the condition expects %s: the project's ci_id_token_sub_claim_components differ from what the policy was written for", strings.Join(gc, ","), strings.Join(wc, ","))
		}
	}
	return ""
}
