package aws

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"gitlab.com/keyless-ci/keyless/internal/policy"
)

// IAM's policy evaluation logic, as far as a role trust policy and
// AssumeRoleWithWebIdentity go:
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-single-vs-multi-valued-context-keys.html

// oidcKeys are the claims IAM passes to conditions as <provider>:<claim>
// for an OIDC provider:
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_iam-condition-keys.html#condition-keys-wif
var oidcKeys = map[string]bool{"aud": true, "sub": true, "azp": true, "amr": true, "oaud": true}

// maxStatements and maxValues bound the work a hostile document can ask
// for; IAM's own limit on a trust policy is 2,048 characters by default.
const (
	maxStatements = 100
	maxValues     = 1000
)

type rawStatement struct {
	Sid          string                                `json:"Sid"`
	Effect       string                                `json:"Effect"`
	Principal    json.RawMessage                       `json:"Principal"`
	NotPrincipal json.RawMessage                       `json:"NotPrincipal"`
	Action       json.RawMessage                       `json:"Action"`
	NotAction    json.RawMessage                       `json:"NotAction"`
	Condition    map[string]map[string]json.RawMessage `json:"Condition"`
}

// parse reads a trust policy: the document itself, or `aws iam get-role`'s
// output around it.
func parse(doc []byte) ([]rawStatement, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(doc, &top); err != nil || top == nil {
		return nil, errors.New("not a JSON object: give the role's trust policy (aws iam get-role --role-name ROLE --query Role.AssumeRolePolicyDocument)")
	}
	for _, wrap := range []string{"Role", "AssumeRolePolicyDocument"} {
		if inner, ok := top[wrap]; ok {
			if wrap == "Role" {
				return parse(inner)
			}
			// get-role may print the document URL-encoded as a string.
			var s string
			if json.Unmarshal(inner, &s) == nil {
				return parse([]byte(s))
			}
			return parse(inner)
		}
	}
	raw, ok := top["Statement"]
	if !ok {
		return nil, errors.New("no Statement: give the role's trust policy (aws iam get-role --role-name ROLE --query Role.AssumeRolePolicyDocument)")
	}
	raw = bytes.TrimSpace(raw)
	var stmts []rawStatement
	if len(raw) > 0 && raw[0] == '{' {
		var one rawStatement
		if err := json.Unmarshal(raw, &one); err != nil {
			return nil, fmt.Errorf("Statement: %v", err)
		}
		stmts = []rawStatement{one}
	} else if err := json.Unmarshal(raw, &stmts); err != nil {
		return nil, fmt.Errorf("Statement is neither an object nor a list of them: %v", err)
	}
	if len(stmts) == 0 {
		return nil, errors.New("Statement is empty: a role trust policy needs at least one statement")
	}
	if len(stmts) > maxStatements {
		return nil, fmt.Errorf("%d statements: more than %d is not a trust policy", len(stmts), maxStatements)
	}
	return stmts, nil
}

// values reads a policy element that is a string, a number, a boolean or a
// list of them.
func values(raw json.RawMessage) ([]string, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	one := func(x any) (string, error) {
		switch x := x.(type) {
		case string:
			return x, nil
		case json.Number:
			return x.String(), nil
		case bool:
			return strconv.FormatBool(x), nil
		}
		return "", fmt.Errorf("%s is not a string", strings.TrimSpace(string(raw)))
	}
	if list, ok := v.([]any); ok {
		if len(list) > maxValues {
			return nil, fmt.Errorf("%d values: too many", len(list))
		}
		out := make([]string, 0, len(list))
		for _, x := range list {
			s, err := one(x)
			if err != nil {
				return nil, err
			}
			out = append(out, s)
		}
		return out, nil
	}
	s, err := one(v)
	if err != nil {
		return nil, err
	}
	return []string{s}, nil
}

// check is a policy.Check with the change that would make it hold.
type check struct {
	policy.Check
	fix string
}

type stmtResult struct {
	index   int
	effect  string
	checks  []check
	matched bool
}

func (provider) Explain(doc []byte, claims policy.Claims) (*policy.Result, error) {
	stmts, err := parse(doc)
	if err != nil {
		return nil, err
	}
	iss, _ := claims.String("iss")
	host := strings.TrimPrefix(strings.TrimPrefix(iss, "https://"), "http://")
	res := &policy.Result{Provider: "aws"}
	var results []stmtResult
	for i, st := range stmts {
		r, err := evalStatement(i, st, claims, host)
		if err != nil {
			return nil, err
		}
		results = append(results, r)
		for _, c := range r.checks {
			res.Checks = append(res.Checks, c.Check)
		}
	}
	res.Warnings = documentWarnings(stmts, host)

	// An explicit Deny wins over any Allow; without a matching Allow the
	// request is denied implicitly.
	var allow *stmtResult
	for i := range results {
		r := &results[i]
		if r.matched && r.effect == "Deny" {
			res.Verdict = fmt.Sprintf("Statement[%d] denies it explicitly, and a Deny overrides every Allow", r.index)
			res.Fix = fmt.Sprintf("narrow Statement[%d]'s conditions so that they do not match this job, or remove the statement", r.index)
			return res, nil
		}
		if r.matched && r.effect == "Allow" && allow == nil {
			allow = r
		}
	}
	if allow != nil {
		res.Admitted = true
		res.Verdict = fmt.Sprintf("Statement[%d] allows %s for this token", allow.index, action)
		return res, nil
	}
	// The closest Allow: the one with the fewest failed checks.
	var best *stmtResult
	bestFailed := 0
	for i := range results {
		r := &results[i]
		if r.effect != "Allow" {
			continue
		}
		failed := 0
		for _, c := range r.checks {
			if !c.Held {
				failed++
			}
		}
		if best == nil || failed < bestFailed {
			best, bestFailed = r, failed
		}
	}
	if best == nil {
		res.Verdict = "no statement allows anything (IAM denies what no Allow statement allows)"
		res.Fix = fmt.Sprintf("add an Allow statement for %s (keyless policy aws writes one)", action)
		return res, nil
	}
	var fixes []string
	for _, c := range best.checks {
		if !c.Held && c.fix != "" {
			fixes = append(fixes, c.fix)
		}
	}
	res.Verdict = fmt.Sprintf("no statement allows it; in Statement[%d], the closest, %d of %d checks failed", best.index, bestFailed, len(best.checks))
	res.Fix = strings.Join(fixes, "; and ")
	return res, nil
}

func evalStatement(i int, st rawStatement, claims policy.Claims, host string) (stmtResult, error) {
	where := fmt.Sprintf("Statement[%d]", i)
	r := stmtResult{index: i, effect: st.Effect}
	if st.Effect != "Allow" && st.Effect != "Deny" {
		return r, fmt.Errorf("%s: Effect %q: use Allow or Deny (IAM compares it case-sensitively)", where, st.Effect)
	}
	iss, _ := claims.String("iss")

	// Principal: the OIDC provider of the token's issuer.
	pc := check{Check: policy.Check{Where: where + ".Principal.Federated", Claim: "iss", Value: claims.Display("iss")}}
	switch {
	case len(st.NotPrincipal) > 0:
		pc.Test = "NotPrincipal"
		pc.Note = "NotPrincipal has no place in a role trust policy; IAM documents it for Deny statements of resource policies only"
		pc.fix = fmt.Sprintf("replace %s's NotPrincipal with Principal.Federated", where)
	case strings.TrimSpace(string(st.Principal)) == `"*"`:
		pc.Test = `Principal "*"`
		pc.Held = true
		pc.Note = "any principal: only the conditions keep other identity providers' tokens out"
	default:
		var p map[string]json.RawMessage
		if err := json.Unmarshal(st.Principal, &p); err != nil {
			return r, fmt.Errorf("%s.Principal: neither \"*\" nor an object", where)
		}
		var fed []string
		for k, v := range p {
			if strings.EqualFold(k, "Federated") {
				var err error
				if fed, err = values(v); err != nil {
					return r, fmt.Errorf("%s.Principal.Federated: %v", where, err)
				}
			}
		}
		want := "oidc-provider/" + host
		pc.Test = fmt.Sprintf("Federated %s is the OIDC provider %s", strings.Join(fed, ", "), want)
		account := "ACCOUNT_ID"
		for _, f := range fed {
			resource, acct := arnResource(f)
			if acct != "" {
				account = acct
			}
			if resource == want {
				pc.Held = true
			}
		}
		if !pc.Held {
			pc.fix = fmt.Sprintf("set %s.Principal.Federated to arn:aws:iam::%s:oidc-provider/%s", where, account, host)
			pc.Note = principalNote(fed, host, iss)
		}
	}
	r.checks = append(r.checks, pc)

	// Action.
	ac := check{Check: policy.Check{Where: where + ".Action", Test: "includes " + action}}
	if len(st.NotAction) > 0 {
		acts, err := values(st.NotAction)
		if err != nil {
			return r, fmt.Errorf("%s.NotAction: %v", where, err)
		}
		ac.Where, ac.Test = where+".NotAction", "excludes "+action
		ac.Held = !anyAction(acts)
		ac.fix = fmt.Sprintf("remove %s from %s.NotAction", action, where)
	} else {
		acts, err := values(st.Action)
		if err != nil {
			return r, fmt.Errorf("%s.Action: %v", where, err)
		}
		ac.Value = strings.Join(acts, ", ")
		ac.Held = anyAction(acts)
		ac.fix = fmt.Sprintf("add %q to %s.Action (sts:AssumeRole is for AWS principals, not OIDC tokens)", action, where)
	}
	r.checks = append(r.checks, ac)

	// Conditions, in a stable order: operators, then keys.
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
				return r, fmt.Errorf("%s.Condition.%s[%q]: %v", where, op, key, err)
			}
			r.checks = append(r.checks, evalCondition(where, op, key, want, claims, host))
		}
	}
	r.matched = true
	for _, c := range r.checks {
		if !c.Held {
			r.matched = false
		}
	}
	return r, nil
}

// arnResource splits arn:aws:iam::123456789012:oidc-provider/gitlab.com
// into its resource and account.
func arnResource(arn string) (resource, account string) {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "iam" {
		return arn, ""
	}
	return parts[5], parts[4]
}

func principalNote(fed []string, host, iss string) string {
	for _, f := range fed {
		res, _ := arnResource(f)
		name := strings.TrimPrefix(res, "oidc-provider/")
		switch {
		case !strings.HasPrefix(res, "oidc-provider/"):
			return fmt.Sprintf("%s is not an OIDC provider ARN (arn:aws:iam::ACCOUNT:oidc-provider/HOST)", f)
		case strings.HasPrefix(name, "https://") || strings.HasPrefix(name, "http://"):
			return "the provider ARN names the host without https://"
		case strings.TrimSuffix(name, "/") == host:
			return "the provider ARN ends with a slash; the token's iss has none"
		case strings.EqualFold(name, host):
			return "the provider differs from the token's issuer only in case"
		}
	}
	return fmt.Sprintf("the token was issued by %s: the role must trust the OIDC provider for that issuer", iss)
}

// anyAction reports whether the action patterns (IAM matches actions
// case-insensitively, with * and ?) cover AssumeRoleWithWebIdentity.
func anyAction(acts []string) bool {
	for _, a := range acts {
		if glob(strings.ToLower(a), strings.ToLower(action)) {
			return true
		}
	}
	return false
}

// contextValues returns what IAM puts in the request context for key, and
// a note when the key is not one IAM sets from the token.
func contextValues(key string, claims policy.Claims, host string) ([]string, bool, string) {
	lk := strings.ToLower(key)
	i := strings.LastIndex(lk, ":")
	if i < 0 {
		return nil, false, fmt.Sprintf("%q is not a key IAM sets for a web identity (<provider>:sub, <provider>:aud)", key)
	}
	prefix, claim := lk[:i], lk[i+1:]
	if strings.HasPrefix(prefix, "aws:") || strings.HasPrefix(prefix, "sts:") || prefix == "aws" || prefix == "sts" {
		return nil, false, fmt.Sprintf("%s is a global or STS key; keyless does not know its value for this request, so it is taken as absent", key)
	}
	if prefix != strings.ToLower(host) {
		note := fmt.Sprintf("the key names provider %q, the token's issuer is %q: IAM sets no such key", prefix, host)
		switch {
		case strings.HasPrefix(prefix, "https://") || strings.HasPrefix(prefix, "http://"):
			note = fmt.Sprintf("condition keys name the provider without https://: %s:%s", host, claim)
		case strings.TrimSuffix(prefix, "/") == strings.ToLower(host):
			note = fmt.Sprintf("the key's provider ends with a slash: %s:%s", host, claim)
		}
		return nil, false, note
	}
	if !oidcKeys[claim] {
		return nil, false, fmt.Sprintf("IAM passes only aud, sub, azp, amr and oaud of an OIDC token to conditions; %s is never set (GitLab's other claims reach AWS only through the sub claim's components)", key)
	}
	vs, ok := claims.Strings(claim)
	return vs, ok && len(vs) > 0, ""
}

// evalCondition evaluates one condition key of one operator.
func evalCondition(where, op, key string, want []string, claims policy.Claims, host string) check {
	c := check{Check: policy.Check{Where: fmt.Sprintf("%s.Condition.%s[%q]", where, op, key), Test: fmt.Sprintf("%s %s %s", key, op, quoteAll(want))}}
	got, present, note := contextValues(key, claims, host)
	c.Note = note
	claimName := key[strings.LastIndex(key, ":")+1:]
	if present || note == "" {
		c.Claim = strings.ToLower(claimName)
		c.Value = claims.Display(c.Claim)
	} else {
		c.Value = "(not in the request context)"
	}

	base, set, ifExists := op, "", false
	if i := strings.Index(base, ":"); i >= 0 {
		set, base = base[:i], base[i+1:]
		if set != "ForAnyValue" && set != "ForAllValues" {
			c.Note = fmt.Sprintf("unknown set operator %q (ForAnyValue or ForAllValues): IAM refuses such a policy", set)
			return c
		}
	}
	if strings.HasSuffix(base, "IfExists") && base != "Null" {
		base, ifExists = strings.TrimSuffix(base, "IfExists"), true
	}
	match, negated, known := matcher(base)
	if base == "Null" {
		// Null: "true" asks for the key to be absent, "false" present.
		wantAbsent := len(want) > 0 && strings.EqualFold(want[0], "true")
		c.Held = wantAbsent != present
		if !c.Held {
			c.fix = fmt.Sprintf("remove the Null condition on %q from %s", key, where)
		}
		return c
	}
	if !known {
		c.Note = fmt.Sprintf("unknown condition operator %q: IAM refuses such a policy", op)
		c.fix = fmt.Sprintf("use a string operator (StringEquals, StringLike) for %q in %s", key, where)
		return c
	}
	anyMatch := func(v string) bool {
		for _, w := range want {
			if match(w, v) {
				return true
			}
		}
		return false
	}
	switch {
	case !present && ifExists:
		c.Held = true
		addNote(&c, "the key is absent and the operator ends with IfExists, so the condition holds")
	case set == "ForAllValues":
		// True when every value in the context matches; an absent or empty
		// key has no value to fail, so it is true.
		c.Held = true
		for _, v := range got {
			if anyMatch(v) == negated {
				c.Held = false
			}
		}
		if !present {
			addNote(&c, "ForAllValues holds for an absent key: this condition admits a token without the claim")
		}
	case set == "ForAnyValue":
		for _, v := range got {
			if anyMatch(v) != negated {
				c.Held = true
			}
		}
	case !present:
		// A negated operator holds when the key is absent.
		c.Held = negated
	case negated:
		c.Held = true
		for _, v := range got {
			if anyMatch(v) {
				c.Held = false
			}
		}
	default:
		for _, v := range got {
			if anyMatch(v) {
				c.Held = true
			}
		}
	}
	if c.Held {
		return c
	}
	// Why it failed, and the smallest change.
	value := ""
	if len(got) > 0 {
		value = got[0]
	}
	switch {
	case negated:
		c.fix = fmt.Sprintf("remove %q from %s's %s values for %q", value, where, op, key)
	case note != "" && present:
	case note != "":
		if strings.Contains(note, "without https://") || strings.Contains(note, "ends with a slash") {
			c.fix = fmt.Sprintf("rename the condition key %q to %q in %s", key, host+":"+claimName, where)
		} else {
			c.fix = fmt.Sprintf("remove the condition on %q from %s, or pin what you need through the sub claim", key, where)
		}
	case (base == "StringEquals" || base == "StringEqualsIgnoreCase") && hasWildcard(want) && anyGlob(want, got):
		addNote(&c, "StringEquals takes * and ? literally; StringLike treats them as wildcards")
		c.fix = fmt.Sprintf("use StringLike instead of %s for %q in %s", op, key, where)
	default:
		for _, w := range want {
			for _, v := range got {
				switch {
				case strings.EqualFold(w, v):
					addNote(&c, fmt.Sprintf("%q differs from the claim only in case: %s compares case-sensitively", w, base))
				case strings.TrimSuffix(w, "/") == v || w == strings.TrimSuffix(v, "/"):
					addNote(&c, fmt.Sprintf("%q differs from the claim by a trailing slash", w))
				}
			}
		}
		if c.Claim == "sub" {
			if n := subNote(want, value); n != "" {
				addNote(&c, n)
			}
		}
		c.fix = fmt.Sprintf("set %q in %s.Condition.%s to %q", key, where, op, value)
		if len(want) > 1 {
			c.fix = fmt.Sprintf("add %q to %q in %s.Condition.%s", value, key, where, op)
		}
	}
	return c
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

func addNote(c *check, n string) {
	if c.Note == "" {
		c.Note = n
	} else {
		c.Note += "; " + n
	}
}

// matcher returns the comparison of a string operator, whether it is
// negated, and whether the operator is known.
func matcher(base string) (func(want, got string) bool, bool, bool) {
	switch base {
	case "StringEquals":
		return func(w, g string) bool { return w == g }, false, true
	case "StringNotEquals":
		return func(w, g string) bool { return w == g }, true, true
	case "StringEqualsIgnoreCase":
		return strings.EqualFold, false, true
	case "StringNotEqualsIgnoreCase":
		return strings.EqualFold, true, true
	case "StringLike":
		return glob, false, true
	case "StringNotLike":
		return glob, true, true
	case "Null":
		return nil, false, true
	}
	return nil, false, false
}

func hasWildcard(vs []string) bool {
	for _, v := range vs {
		if strings.ContainsAny(v, "*?") {
			return true
		}
	}
	return false
}

// anyGlob reports whether a pattern would have matched as a glob.
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

// glob matches IAM's StringLike: * any run of characters (slashes and
// colons too), ? one character; case-sensitive. Iterative, so a hostile
// pattern costs O(len(p)*len(s)) at most.
func glob(p, s string) bool {
	pr, sr := []rune(p), []rune(s)
	pi, si := 0, 0
	star, mark := -1, 0
	for si < len(sr) {
		switch {
		case pi < len(pr) && (pr[pi] == '?' || pr[pi] == sr[si]):
			pi++
			si++
		case pi < len(pr) && pr[pi] == '*':
			star, mark = pi, si
			pi++
		case star >= 0:
			pi = star + 1
			mark++
			si = mark
		default:
			return false
		}
	}
	for pi < len(pr) && pr[pi] == '*' {
		pi++
	}
	return pi == len(pr)
}

func quoteAll(vs []string) string {
	q := make([]string, len(vs))
	for i, v := range vs {
		q[i] = strconv.Quote(v)
	}
	if len(q) == 1 {
		return q[0]
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// documentWarnings are about the trust policy itself, whatever the token.
func documentWarnings(stmts []rawStatement, host string) []policy.Warning {
	var w []policy.Warning
	for i, st := range stmts {
		if st.Effect != "Allow" {
			continue
		}
		hasSub := false
		for op, keys := range st.Condition {
			if op == "Null" {
				continue
			}
			for k, raw := range keys {
				if !strings.HasSuffix(strings.ToLower(k), ":sub") {
					continue
				}
				hasSub = true
				vs, _ := values(raw)
				for _, v := range vs {
					if v == "*" || strings.HasPrefix(v, "project_path:*") {
						w = append(w, policy.Warning{ID: "any-project", Message: fmt.Sprintf("Statement[%d] admits every project on the instance (%s %q)", i, op, v)})
					} else if strings.HasSuffix(strings.SplitN(strings.TrimPrefix(v, "project_path:"), ":", 2)[0], "/*") {
						w = append(w, policy.Warning{ID: "group-wildcard", Message: fmt.Sprintf("Statement[%d] admits every project under a group (%q), including ones created later", i, v)})
					}
				}
				if strings.HasPrefix(op, "StringLike") && !hasWildcard(vs) {
					w = append(w, policy.Warning{ID: "stringlike-without-wildcard", Message: fmt.Sprintf("Statement[%d] uses %s on %s without a wildcard: StringEquals says the same more plainly", i, op, k)})
				}
			}
		}
		if !hasSub {
			w = append(w, policy.Warning{ID: "no-sub-condition", Message: fmt.Sprintf("Statement[%d] has no condition on %s:sub: every project's jobs on %s can assume this role", i, host, host)})
		}
		if strings.TrimSpace(string(st.Principal)) == `"*"` {
			w = append(w, policy.Warning{ID: "any-principal", Message: fmt.Sprintf("Statement[%d] has Principal \"*\": name the OIDC provider in Principal.Federated", i)})
		}
	}
	return w
}
