package gcp

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"

	"gitlab.com/keyless-ci/keyless/internal/policy"
)

// Google's token exchange checks, in order: the provider is active, the
// token's iss is the provider's issuer and its aud an allowed audience,
// every attribute mapping evaluates (google.subject at most 127 bytes),
// and the attribute condition is true:
// https://cloud.google.com/iam/docs/workload-identity-federation-with-deployment-pipelines
// https://cloud.google.com/iam/docs/workload-identity-federation#mapping
// https://cloud.google.com/iam/docs/workload-identity-federation#conditions

// Bounds on a hostile provider file: Google's own limits are 8,192
// characters for a condition and 2,048 per mapping; the cost limit stops
// a pathological expression.
const (
	maxExpr    = 8192
	costLimit  = 100_000
	maxMapping = 50
)

func newEnv() (*cel.Env, error) {
	m := cel.MapType(cel.StringType, cel.DynType)
	return cel.NewEnv(
		cel.Variable("assertion", m),
		cel.Variable("attribute", m),
		cel.Variable("google", m),
		// extract, Google's addition for mappings:
		// assertion.sub.extract('project_path:{path}:ref_type')
		cel.Function("extract", cel.MemberOverload("string_extract_string", []*cel.Type{cel.StringType, cel.StringType}, cel.StringType,
			cel.BinaryBinding(func(s, tmpl ref.Val) ref.Val {
				return types.String(extract(string(s.(types.String)), string(tmpl.(types.String))))
			}))),
	)
}

// extract returns the part of s that template's {placeholder} stands
// for, "" when the text around it is not in s.
func extract(s, template string) string {
	open, close := strings.Index(template, "{"), strings.Index(template, "}")
	if open < 0 || close < open {
		return ""
	}
	prefix, suffix := template[:open], template[close+1:]
	i := strings.Index(s, prefix)
	if i < 0 {
		return ""
	}
	rest := s[i+len(prefix):]
	if suffix == "" {
		return rest
	}
	j := strings.Index(rest, suffix)
	if j < 0 {
		return ""
	}
	return rest[:j]
}

// eval compiles and runs one expression.
func eval(env *cel.Env, src string, vars map[string]any) (any, error) {
	if len(src) > maxExpr {
		return nil, fmt.Errorf("%d characters: longer than Google accepts", len(src))
	}
	ast, iss := env.Compile(src)
	if iss != nil && iss.Err() != nil {
		return nil, iss.Err()
	}
	prg, err := env.Program(ast, cel.CostLimit(costLimit))
	if err != nil {
		return nil, err
	}
	out, _, err := prg.Eval(vars)
	if err != nil {
		return nil, err
	}
	return out.Value(), nil
}

// celValue turns decoded JSON into what CEL takes: numbers as int64 or
// float64, everything else as it is.
func celValue(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	case []any:
		out := make([]any, len(x))
		for i := range x {
			out[i] = celValue(x[i])
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = celValue(e)
		}
		return out
	}
	return v
}

type check struct {
	policy.Check
	fix string
}

func (provider) Explain(doc []byte, claims policy.Claims) (*policy.Result, error) {
	var d providerDoc
	if err := json.Unmarshal(doc, &d); err != nil {
		return nil, fmt.Errorf("not a workload identity pool provider (JSON): %v; give gcloud iam workload-identity-pools providers describe PROVIDER --location global --workload-identity-pool POOL --format json", err)
	}
	if d.OIDC.IssuerURI == "" && len(d.AttributeMapping) == 0 {
		return nil, errors.New("no oidc.issuerUri and no attributeMapping: give gcloud iam workload-identity-pools providers describe PROVIDER --location global --workload-identity-pool POOL --format json")
	}
	if len(d.AttributeMapping) > maxMapping {
		return nil, fmt.Errorf("%d attribute mappings: Google allows %d", len(d.AttributeMapping), maxMapping)
	}
	env, err := newEnv()
	if err != nil {
		return nil, err
	}
	assertion := map[string]any{}
	for k, v := range claims {
		assertion[k] = celValue(v)
	}
	var checks []check

	st := check{Check: policy.Check{Where: "state", Test: "the provider is active", Value: strconv.Quote(firstNonEmpty(d.State, "ACTIVE"))}}
	st.Held = !d.Disabled && (d.State == "" || d.State == "ACTIVE")
	if !st.Held {
		st.Note = "a disabled or deleted provider refuses every token"
		st.fix = "enable the provider (gcloud iam workload-identity-pools providers update-oidc ... --no-disabled, or undelete)"
	}
	checks = append(checks, st)

	iss, _ := claims.String("iss")
	ic := check{Check: policy.Check{Where: "oidc.issuerUri", Test: "issuerUri is " + strconv.Quote(d.OIDC.IssuerURI), Claim: "iss", Value: claims.Display("iss")}}
	ic.Held = d.OIDC.IssuerURI == iss
	if !ic.Held {
		ic.Note = near(d.OIDC.IssuerURI, iss)
		ic.fix = fmt.Sprintf("set oidc.issuerUri to %q", iss)
	}
	checks = append(checks, ic)

	auds, _ := claims.Strings("aud")
	allowed := d.OIDC.AllowedAudiences
	ac := check{Check: policy.Check{Where: "oidc.allowedAudiences", Claim: "aud", Value: claims.Display("aud")}}
	if len(allowed) == 0 {
		// By default Google accepts the provider's full resource name, with
		// or without https:.
		allowed = []string{"//iam.googleapis.com/" + d.Name, "https://iam.googleapis.com/" + d.Name}
		ac.Test = "aud is the provider's name (no allowedAudiences): " + quoteAll(allowed)
	} else {
		ac.Test = "aud is one of " + quoteAll(allowed)
	}
	for _, a := range allowed {
		for _, t := range auds {
			if a == t {
				ac.Held = true
			}
		}
	}
	if !ac.Held {
		for _, a := range allowed {
			if n := near(a, first(auds)); n != "" {
				ac.Note = n
			}
		}
		ac.fix = fmt.Sprintf("add %q to oidc.allowedAudiences, or set the jobs' id_tokens: aud to %q", first(auds), allowed[0])
	}
	checks = append(checks, ac)

	// The mappings, google.subject first.
	keys := make([]string, 0, len(d.AttributeMapping))
	for k := range d.AttributeMapping {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if (keys[i] == "google.subject") != (keys[j] == "google.subject") {
			return keys[i] == "google.subject"
		}
		return keys[i] < keys[j]
	})
	attribute, google := map[string]any{}, map[string]any{}
	if _, ok := d.AttributeMapping["google.subject"]; !ok {
		checks = append(checks, check{Check: policy.Check{Where: "attributeMapping", Test: "google.subject is mapped", Note: "Google requires a google.subject mapping"}, fix: "map google.subject to assertion.sub"})
	}
	for _, k := range keys {
		src := d.AttributeMapping[k]
		mc := check{Check: policy.Check{Where: "attributeMapping[" + strconv.Quote(k) + "]", Test: k + " = " + src}}
		v, err := eval(env, src, map[string]any{"assertion": assertion})
		switch {
		case err != nil:
			mc.Value = "error: " + err.Error()
			mc.Note = "a mapping that fails to evaluate fails the exchange"
			if strings.Contains(err.Error(), "no such key") {
				mc.Note += "; the token lacks a claim it reads (GitLab sets environment and deployment_tier only for jobs with an environment)"
			}
			mc.fix = fmt.Sprintf("map %s only from claims every job's token has, or guard it: has(assertion.X) ? assertion.X : \"\"", k)
		default:
			mc.Held = true
			mc.Value = displayValue(v)
			if k == "google.subject" {
				s, _ := v.(string)
				if len(s) > maxSubject {
					mc.Held = false
					mc.Note = fmt.Sprintf("google.subject is %d bytes; Google accepts at most %d", len(s), maxSubject)
					mc.fix = "map google.subject to something shorter, e.g. assertion.project_id + \":\" + assertion.ref"
				}
			}
			name := strings.TrimPrefix(strings.TrimPrefix(k, "attribute."), "google.")
			if strings.HasPrefix(k, "attribute.") {
				attribute[name] = v
			} else {
				google[name] = v
			}
		}
		checks = append(checks, mc)
	}

	if d.AttributeCondition == "" {
		cc := check{Check: policy.Check{Where: "attributeCondition", Test: "(none)", Held: true}}
		if iss == "https://gitlab.com" {
			cc.Held = false
			cc.Note = "Google requires an attribute condition for a provider of a shared issuer such as gitlab.com: without one, any gitlab.com project could use the pool"
			cc.fix = `set attributeCondition, e.g. assertion.namespace_id == "NAMESPACE_ID" (keyless policy gcp writes one)`
		}
		checks = append(checks, cc)
	} else {
		checks = append(checks, conditionChecks(env, d.AttributeCondition, map[string]any{"assertion": assertion, "attribute": attribute, "google": google}, claims)...)
	}

	if len(d.Members) > 0 {
		checks = append(checks, memberCheck(d.Members, attribute, google))
	}

	res := &policy.Result{Provider: "gcp", Admitted: true}
	var fixes, failed []string
	for _, c := range checks {
		res.Checks = append(res.Checks, c.Check)
		if !c.Held {
			res.Admitted = false
			failed = append(failed, c.Where)
			if c.fix != "" {
				fixes = append(fixes, c.fix)
			}
		}
	}
	if res.Admitted {
		res.Verdict = "the provider accepts the token"
		if len(d.Members) > 0 {
			res.Verdict += " and a member of the binding names it"
		}
	} else {
		res.Verdict = "Google refuses the token: " + strings.Join(failed, ", ") + " failed"
		res.Fix = strings.Join(fixes, "; and ")
	}
	if d.AttributeCondition == "" {
		res.Warnings = append(res.Warnings, policy.Warning{ID: "no-condition", Message: "the provider has no attribute condition: every project the issuer serves can use the pool"})
	}
	return res, nil
}

// conditionChecks evaluates the condition and, when it is not true, each
// conjunct of its top-level && chain, to say which one failed.
func conditionChecks(env *cel.Env, src string, vars map[string]any, claims policy.Claims) []check {
	c := check{Check: policy.Check{Where: "attributeCondition", Test: src}}
	v, err := eval(env, src, vars)
	if err == nil {
		b, ok := v.(bool)
		if ok && b {
			c.Held = true
			c.Value = "true"
			return []check{c}
		}
		c.Value = displayValue(v)
		if !ok {
			c.Note = "the condition must be a bool"
		}
	} else {
		c.Value = "error: " + err.Error()
		c.Note = "a condition that fails to evaluate refuses the token"
	}
	parts := conjuncts(src)
	if len(parts) <= 1 {
		c.Note = joinNotes(c.Note, numberNote(src, claims))
		c.fix = "change the condition so that it holds for this job's claims"
		return []check{c}
	}
	out := []check{}
	for i, p := range parts {
		pc := check{Check: policy.Check{Where: fmt.Sprintf("attributeCondition && [%d]", i), Test: p}}
		pv, perr := eval(env, p, vars)
		switch {
		case perr != nil:
			pc.Value = "error: " + perr.Error()
			pc.Note = joinNotes("it fails to evaluate", missingNote(perr))
		default:
			b, _ := pv.(bool)
			pc.Held = b
			pc.Value = displayValue(pv)
		}
		if !pc.Held {
			pc.Claim, pc.Value = claimOf(p, claims, pc.Value)
			pc.Note = joinNotes(pc.Note, numberNote(p, claims))
			pc.fix = fmt.Sprintf("change %s so that it accepts this job", p)
			if pc.Claim != "" {
				got, _ := claims.String(pc.Claim)
				pc.fix = fmt.Sprintf("change %s to accept %s %q", p, pc.Claim, got)
			}
		}
		out = append(out, pc)
	}
	return out
}

var assertionRef = regexp.MustCompile(`assertion\.([A-Za-z_][A-Za-z0-9_]*)`)

// claimOf names the claim a conjunct reads, and its value.
func claimOf(expr string, claims policy.Claims, value string) (string, string) {
	m := assertionRef.FindStringSubmatch(expr)
	if m == nil {
		return "", value
	}
	return m[1], claims.Display(m[1])
}

var numberCompare = regexp.MustCompile(`assertion\.([A-Za-z_][A-Za-z0-9_]*)\s*[=!]=\s*[0-9]+\b`)

// numberNote explains assertion.project_id == 42: GitLab sends ids as
// strings, and a string never equals a number in CEL.
func numberNote(expr string, claims policy.Claims) string {
	m := numberCompare.FindStringSubmatch(expr)
	if m == nil {
		return ""
	}
	if _, ok := claims[m[1]].(string); ok {
		return fmt.Sprintf("GitLab sends %s as a string: compare it with a quoted value (%q), not a number", m[1], "...")
	}
	return ""
}

func missingNote(err error) string {
	if strings.Contains(err.Error(), "no such key") {
		return "the token lacks a claim it reads"
	}
	return ""
}

func joinNotes(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + "; " + b
}

// conjuncts splits src at its top-level && operators (outside quotes,
// parentheses, brackets and braces).
func conjuncts(src string) []string {
	var parts []string
	depth, start := 0, 0
	var quote byte
	for i := 0; i < len(src); i++ {
		c := src[i]
		switch {
		case quote != 0:
			if c == '\\' {
				i++
			} else if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '(' || c == '[' || c == '{':
			depth++
		case c == ')' || c == ']' || c == '}':
			depth--
		case c == '&' && depth == 0 && i+1 < len(src) && src[i+1] == '&':
			parts = append(parts, strings.TrimSpace(src[start:i]))
			start = i + 2
			i++
		}
	}
	parts = append(parts, strings.TrimSpace(src[start:]))
	// A condition wrapped in one pair of parentheses: look inside.
	if len(parts) == 1 && strings.HasPrefix(parts[0], "(") && strings.HasSuffix(parts[0], ")") && balanced(parts[0][1:len(parts[0])-1]) {
		return conjuncts(parts[0][1 : len(parts[0])-1])
	}
	return parts
}

func balanced(s string) bool {
	depth := 0
	for _, c := range s {
		switch c {
		case '(':
			depth++
		case ')':
			depth--
			if depth < 0 {
				return false
			}
		}
	}
	return depth == 0
}

// memberCheck checks the binding's members: principalSet://.../* admits
// the pool, principalSet://.../attribute.NAME/VALUE a mapped attribute,
// principal://.../subject/VALUE google.subject.
func memberCheck(members []string, attribute, google map[string]any) check {
	c := check{Check: policy.Check{Where: "members", Test: "a member names the token's identity: " + strings.Join(members, ", ")}}
	var unmapped []string
	for _, m := range members {
		switch {
		case strings.HasSuffix(m, "/*") && strings.HasPrefix(m, "principalSet://"):
			c.Held = true
		case strings.Contains(m, "/subject/"):
			if google["subject"] == m[strings.Index(m, "/subject/")+len("/subject/"):] {
				c.Held = true
			}
		case strings.Contains(m, "/attribute."):
			rest := m[strings.Index(m, "/attribute.")+len("/attribute."):]
			name, value, _ := strings.Cut(rest, "/")
			got, ok := attribute[name]
			if !ok {
				unmapped = append(unmapped, name)
				continue
			}
			if fmt.Sprint(got) == value {
				c.Held = true
			}
		}
	}
	if !c.Held {
		if len(unmapped) > 0 {
			c.Note = "the members read attribute." + strings.Join(unmapped, ", attribute.") + ", which the provider does not map"
			c.fix = "map attribute." + unmapped[0] + " in the provider"
		} else {
			c.fix = "add a member for this job (keyless policy gcp --from-token writes one)"
		}
	}
	return c
}

func displayValue(v any) string {
	switch x := v.(type) {
	case string:
		return strconv.Quote(x)
	case nil:
		return "null"
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

func near(want, got string) string {
	switch {
	case want == got:
		return ""
	case strings.EqualFold(want, got):
		return "differs from the token's only in case"
	case strings.TrimSuffix(want, "/") == strings.TrimSuffix(got, "/"):
		return "differs from the token's by a trailing slash"
	}
	return ""
}

func first(vs []string) string {
	if len(vs) == 0 {
		return ""
	}
	return vs[0]
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

func quoteAll(vs []string) string {
	q := make([]string, len(vs))
	for i, v := range vs {
		q[i] = strconv.Quote(v)
	}
	return "[" + strings.Join(q, ", ") + "]"
}
