package gcp

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/operators"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/ext"
	"cel.dev/cel-go/parser"

	"gitlab.com/keyless-ci/keyless/internal/lazyre"
	"gitlab.com/keyless-ci/keyless/internal/policy"
)

// Google's token exchange checks, in order: the provider is active, the
// token's iss is the provider's issuer and its aud an allowed audience,
// every attribute mapping evaluates (google.subject at most 127 bytes),
// and the attribute condition is true; impersonating a service account
// then needs a binding member that names the mapped identity:
// https://cloud.google.com/iam/docs/workload-identity-federation#mapping
// https://cloud.google.com/iam/docs/workload-identity-federation#conditions

// Google's limits on a provider (IAM v1 reference, WorkloadIdentityPoolProvider):
// a condition of 4,096 characters, a mapping expression of 2,048, 50
// custom attributes, 16 KB of mapped values in all. Within them, the cost
// limit stops an expression that would run long in a hostile file.
const (
	maxCondition   = 4096
	maxMappingExpr = 2048
	maxCustomAttrs = 50
	maxMappedBytes = 16 << 10
	costLimit      = 100_000
)

// celEnv declares what Google's expressions may read: assertion (the
// token's claims) in mappings; assertion, attribute and google (the
// mapped values) in the condition. Google's examples use extract() and
// the strings extension's split().
var celEnv = sync.OnceValues(func() (*cel.Env, error) {
	m := cel.MapType(cel.StringType, cel.DynType)
	return cel.NewEnv(
		cel.Variable("assertion", m),
		cel.Variable("attribute", m),
		cel.Variable("google", m),
		ext.Strings(),
		cel.ParserExpressionSizeLimit(maxCondition),
		// assertion.arn.extract('{account_arn}assumed-role/')
		cel.Function("extract", cel.MemberOverload("string_extract_string", []*cel.Type{cel.StringType, cel.StringType}, cel.StringType,
			cel.BinaryBinding(func(s, tmpl ref.Val) ref.Val {
				a, ok1 := s.(types.String)
				b, ok2 := tmpl.(types.String)
				if !ok1 || !ok2 {
					return types.NewErr("extract: want strings")
				}
				return types.String(extract(string(a), string(b)))
			}))),
	)
})

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

// eval compiles and runs one expression of at most limit characters.
func eval(env *cel.Env, src string, limit int, vars map[string]any) (v ref.Val, err error) {
	if len(src) > limit {
		return nil, fmt.Errorf("%d characters, over Google's %d", len(src), limit)
	}
	// cel-go is not known to panic, but a provider file is untrusted.
	defer func() {
		if r := recover(); r != nil {
			v, err = nil, fmt.Errorf("evaluation failed: %v", r)
		}
	}()
	a, iss := env.Compile(src)
	if iss != nil && iss.Err() != nil {
		return nil, compileError{iss.Err()}
	}
	prg, err := env.Program(a, cel.CostLimit(costLimit))
	if err != nil {
		return nil, err
	}
	out, _, err := prg.Eval(vars)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// compileError is an expression that does not parse or type-check.
type compileError struct{ err error }

func (e compileError) Error() string { return e.err.Error() }
func (e compileError) Unwrap() error { return e.err }

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
	// fix is the smallest change that makes the check hold.
	fix string
	// refusal is what Google's STS answers when this check fails.
	refusal string
}

const describeCmd = "gcloud iam workload-identity-pools providers describe PROVIDER --location global --workload-identity-pool POOL --format json"

func parseDoc(doc []byte) (providerDoc, error) {
	var d providerDoc
	if err := json.Unmarshal(doc, &d); err != nil {
		return d, fmt.Errorf("read provider: %w: give the output of %s (gcloud prints YAML without --format json)", err, describeCmd)
	}
	if d.OIDC.IssuerURI == "" {
		var other struct{ AWS, SAML, X509 json.RawMessage }
		_ = json.Unmarshal(doc, &other)
		if other.AWS != nil || other.SAML != nil || other.X509 != nil {
			return d, errors.New("read provider: not an OIDC provider: GitLab ID tokens need one created with gcloud iam workload-identity-pools providers create-oidc")
		}
		return d, fmt.Errorf("read provider: no oidc.issuerUri: give the output of %s", describeCmd)
	}
	custom := 0
	for k := range d.AttributeMapping {
		if strings.HasPrefix(k, "attribute.") {
			custom++
		}
	}
	if custom > maxCustomAttrs {
		return d, fmt.Errorf("read provider: %d custom attributes, over Google's %d: give the provider as Google stores it", custom, maxCustomAttrs)
	}
	return d, nil
}

// names returns the pool and provider ids of a provider's resource name,
// with placeholders when it has none.
func names(name string) (pool, prov string) {
	pool, prov = "POOL", "PROVIDER"
	parts := strings.Split(name, "/")
	for i := 0; i+1 < len(parts); i++ {
		switch parts[i] {
		case "workloadIdentityPools":
			pool = parts[i+1]
		case "providers":
			prov = parts[i+1]
		}
	}
	return pool, prov
}

func gcloudArgs(d providerDoc) string {
	pool, prov := names(d.Name)
	return prov + " --location global --workload-identity-pool " + pool
}

func (provider) Explain(doc []byte, claims policy.Claims) (*policy.Result, error) {
	d, err := parseDoc(doc)
	if err != nil {
		return nil, err
	}
	env, err := celEnv()
	if err != nil {
		return nil, fmt.Errorf("cel environment: %w", err)
	}
	assertion := make(map[string]any, len(claims))
	for k, v := range claims {
		assertion[k] = celValue(v)
	}
	checks := []check{stateCheck(d), issuerCheck(d, claims), audienceCheck(d, claims)}
	mcs, attribute, google := mappingChecks(env, d, claims, assertion)
	checks = append(checks, mcs...)
	vars := map[string]any{"assertion": assertion, "attribute": attribute, "google": google}
	checks = append(checks, conditionChecks(env, d, vars, claims)...)
	if len(d.Members) > 0 {
		checks = append(checks, memberCheck(d, attribute, google))
	}
	return result(d, checks), nil
}

func stateCheck(d providerDoc) check {
	c := check{Check: policy.Check{Where: "state", Test: "the provider is active and enabled"}}
	state := cmp.Or(d.State, "ACTIVE")
	c.Value = strconv.Quote(state)
	if d.Disabled {
		c.Value += ", disabled"
	}
	c.Held = !d.Disabled && state == "ACTIVE"
	switch {
	case c.Held:
	case state == "DELETED":
		c.Note = "a deleted provider refuses every token; Google keeps it 30 days for undeletion"
		c.fix = "undelete the provider: gcloud iam workload-identity-pools providers undelete " + gcloudArgs(d)
	case d.Disabled:
		c.Note = "a disabled provider refuses every token"
		c.fix = "enable the provider: gcloud iam workload-identity-pools providers update-oidc " + gcloudArgs(d) + " --no-disabled"
	default:
		c.Note = "only an ACTIVE provider exchanges tokens"
		c.fix = "make the provider ACTIVE (describe it again once its operation is done)"
	}
	return c
}

func issuerCheck(d providerDoc, claims policy.Claims) check {
	iss, ok := claims.String("iss")
	c := check{Check: policy.Check{Where: "oidc.issuerUri", Test: "iss is " + strconv.Quote(d.OIDC.IssuerURI), Claim: "iss", Value: claims.Display("iss")}}
	c.Held = ok && d.OIDC.IssuerURI == iss
	if c.Held {
		return c
	}
	// GitLab's Google Cloud guide has long told people to write the issuer
	// with a trailing slash ("The address must end in a trailing slash",
	// https://gitlab.com/gitlab-org/gitlab/-/merge_requests/89172), and
	// those providers accept GitLab's tokens, whose iss has none: Google
	// does not count the slash.
	if ok && strings.TrimSuffix(d.OIDC.IssuerURI, "/") == strings.TrimSuffix(iss, "/") {
		c.Held = true
		c.Note = "differs from iss only by a trailing slash, which Google does not count (GitLab's guide writes the issuer with one)"
		return c
	}
	c.refusal = "invalid_grant: The issuer in ID Token " + iss + " does not match the expected one in config"
	if !ok {
		c.fix = "give the claims of a GitLab ID token: these have no iss"
		return c
	}
	c.Note = near(d.OIDC.IssuerURI, iss)
	c.fix = fmt.Sprintf("set oidc.issuerUri to %q: gcloud iam workload-identity-pools providers update-oidc %s --issuer-uri %s", iss, gcloudArgs(d), iss)
	return c
}

func audienceCheck(d providerDoc, claims policy.Claims) check {
	auds, _ := claims.Strings("aud")
	c := check{Check: policy.Check{Where: "oidc.allowedAudiences", Claim: "aud", Value: claims.Display("aud")}}
	allowed := d.OIDC.AllowedAudiences
	var def []string
	if d.Name != "" {
		// With no allowedAudiences Google takes the provider's resource
		// name, with or without https::
		// https://cloud.google.com/iam/docs/reference/rest/v1/projects.locations.workloadIdentityPools.providers#oidc
		def = []string{"//" + iamHost + "/" + d.Name, defaultAudience(d.Name)}
	}
	switch {
	case len(allowed) > 0:
		c.Test = "aud is one of " + quoteAll(allowed)
	case d.Name == "":
		c.Test = "aud is the provider's resource name (no allowedAudiences)"
		c.Note = "the file has no name, so keyless cannot tell the provider's default audience"
		c.fix = "give the whole output of " + describeCmd
		c.refusal = "invalid_grant: The audience in ID Token does not match the expected audience"
		return c
	default:
		allowed = def
		c.Test = "aud is the provider's resource name (no allowedAudiences): " + quoteAll(allowed)
	}
	for _, t := range auds {
		if slices.Contains(allowed, t) {
			c.Held = true
		}
	}
	if c.Held {
		return c
	}
	got := first(auds)
	c.refusal = "invalid_grant: The audience in ID Token [" + got + "] does not match the expected audience"
	for _, a := range allowed {
		if n := near(a, got); n != "" {
			c.Note = n
		}
	}
	if len(d.OIDC.AllowedAudiences) > 0 && slices.Contains(def, got) {
		c.Note = joinNotes(c.Note, "once allowedAudiences is set, Google no longer accepts the provider's own name")
	}
	switch {
	case got == "":
		c.fix = fmt.Sprintf("set the jobs' id_tokens: aud to %q", allowed[len(allowed)-1])
	case len(d.OIDC.AllowedAudiences) == 0:
		c.fix = fmt.Sprintf("set the jobs' id_tokens: aud to %q, or add %q to oidc.allowedAudiences", allowed[1], got)
	default:
		c.fix = fmt.Sprintf("add %q to oidc.allowedAudiences, or set the jobs' id_tokens: aud to %q", got, allowed[0])
	}
	return c
}

// mappingChecks evaluates each mapping, google.subject first, and returns
// the mapped attribute and google values the condition reads.
func mappingChecks(env *cel.Env, d providerDoc, claims policy.Claims, assertion map[string]any) ([]check, map[string]any, map[string]any) {
	attribute, google := map[string]any{}, map[string]any{}
	var out []check
	if _, ok := d.AttributeMapping["google.subject"]; !ok {
		out = append(out, check{
			Check: policy.Check{Where: "attributeMapping", Test: "google.subject is mapped", Note: "Google requires a google.subject mapping for an OIDC provider"},
			fix:   "map google.subject=assertion.sub",
		})
	}
	total := 0
	for _, k := range mappingKeys(d.AttributeMapping) {
		src := d.AttributeMapping[k]
		c := check{Check: policy.Check{Where: "attributeMapping[" + strconv.Quote(k) + "]", Test: k + " = " + src}}
		if m := assertionRef().FindStringSubmatch(src); m != nil && m[0] == strings.TrimSpace(src) {
			c.Claim = m[1]
		}
		v, err := eval(env, src, maxMappingExpr, map[string]any{"assertion": assertion})
		if err != nil {
			c.Value = "error: " + err.Error()
			c.refusal = "invalid_request: the attribute mapping " + k + " fails to evaluate"
			if name := missingClaim(src, claims); name != "" {
				// Google documents no fallback for a mapping that reads
				// an absent claim; CEL's answer is an error.
				c.Note = fmt.Sprintf("the token has no %s claim, so the mapping is an error (CEL: no such key), which fails the exchange%s", name, claimNote(name))
				c.fix = fmt.Sprintf("map %s only from claims every job's token has, or guard it: %s=has(assertion.%s) ? assertion.%s : \"\"", k, k, name, name)
			} else {
				c.Note = "a mapping that fails to evaluate fails the exchange"
				c.fix = "correct the mapping " + k + " (test it with keyless explain)"
			}
			out = append(out, c)
			continue
		}
		c.Held = true
		c.Value = displayValue(v.Value())
		if s, ok := v.Value().(string); ok {
			total += len(s)
			if k == "google.subject" && len(s) > maxSubject {
				c.Held = false
				c.Note = fmt.Sprintf("google.subject is %d bytes; Google takes at most %d", len(s), maxSubject)
				if policy.ComponentsOf(s) != nil {
					c.Note += " (the project's custom sub claim components lengthen it)"
				}
				c.refusal = "invalid_request: The size of mapped attribute google.subject exceeds the 127 bytes limit"
				c.fix = `map google.subject to something shorter, e.g. assertion.project_id + ":" + assertion.ref_type + ":" + assertion.ref`
			}
		}
		if name, ok := strings.CutPrefix(k, "attribute."); ok {
			attribute[name] = v
		} else {
			google[strings.TrimPrefix(k, "google.")] = v
		}
		out = append(out, c)
	}
	if total > maxMappedBytes {
		out = append(out, check{
			Check:   policy.Check{Where: "attributeMapping", Test: fmt.Sprintf("the mapped values total at most %d bytes", maxMappedBytes), Value: strconv.Itoa(total) + " bytes"},
			fix:     "map fewer or shorter attributes",
			refusal: "invalid_request: the mapped attributes exceed Google's size limit",
		})
	}
	return out, attribute, google
}

// conditionRefusal is the STS error for a condition that is not true, as
// seen in terraform-google-modules/terraform-example-foundation#1362.
const conditionRefusal = "unauthorized_client: The given credential is rejected by the attribute condition."

// sharedIssuer is GitLab.com's issuer: every project's tokens carry it.
const sharedIssuer = "https://gitlab.com"

// conditionChecks evaluates the condition and, when it is not true, each
// conjunct of its top-level && chain, to say which one failed and why.
func conditionChecks(env *cel.Env, d providerDoc, vars map[string]any, claims policy.Claims) []check {
	src := d.AttributeCondition
	if strings.TrimSpace(src) == "" {
		c := check{Check: policy.Check{Where: "attributeCondition", Test: "(none)", Value: "(none)", Held: true}}
		if strings.TrimSuffix(d.OIDC.IssuerURI, "/") == sharedIssuer {
			// https://cloud.google.com/iam/docs/workload-identity-federation-with-deployment-pipelines#mappings-and-conditions
			c.Held = false
			c.Note = "Google requires an attribute condition for a provider of gitlab.com, whose issuer every GitLab.com project shares, and refuses to create or update one without it; without it any project's jobs could use the pool"
			c.fix = `set attributeCondition to pin your group by id, e.g. assertion.namespace_id == "GROUP_ID" (keyless policy gcp --from-token writes one)`
			c.refusal = "the provider is invalid without an attribute condition"
		}
		return []check{c}
	}
	whole := check{Check: policy.Check{Where: "attributeCondition", Test: src}}
	if len(src) > maxCondition {
		whole.Value = fmt.Sprintf("%d characters", len(src))
		whole.Note = "Google takes a condition of at most 4,096 characters"
		whole.fix = "shorten the condition to 4,096 characters or fewer"
		whole.refusal = conditionRefusal
		return []check{whole}
	}
	v, err := eval(env, src, maxCondition, vars)
	if err == nil {
		if b, ok := v.Value().(bool); ok && b {
			whole.Held, whole.Value = true, "true"
			return []check{whole}
		}
	}
	parts := conjuncts(env, src)
	out := make([]check, 0, len(parts))
	allHeld := true
	for i, p := range parts {
		c := check{Check: policy.Check{Where: "attributeCondition", Test: p}}
		if len(parts) > 1 {
			c.Where = fmt.Sprintf("attributeCondition && [%d]", i)
		}
		pv, perr := eval(env, p, maxCondition, vars)
		if perr == nil {
			b, ok := pv.Value().(bool)
			c.Held = ok && b
			c.Value = displayValue(pv.Value())
			if !ok {
				c.Note = "a condition must be a bool; Google admits only true"
			}
		} else {
			c.Value = "error: " + perr.Error()
		}
		if !c.Held {
			allHeld = false
			explainConjunct(&c, p, perr, claims, vars)
		}
		out = append(out, c)
	}
	if allHeld {
		// The parts hold but the whole does not: an error of the whole.
		whole.Value = displayValue(valueOf(v))
		if err != nil {
			whole.Value = "error: " + err.Error()
		}
		whole.fix = "correct the condition so that it evaluates to true for this job"
		whole.refusal = conditionRefusal
		out = append(out, whole)
	}
	return out
}

func valueOf(v ref.Val) any {
	if v == nil {
		return nil
	}
	return v.Value()
}

var (
	assertionRef = lazyre.New(`\bassertion\.([A-Za-z_][A-Za-z0-9_]*)`)
	anyRef       = lazyre.New(`\b(assertion|attribute|google)\.([A-Za-z_][A-Za-z0-9_]*)`)
	// assertion.project_id == 42, or == true: GitLab sends both as strings.
	literalCompare = lazyre.New(`(\bassertion\.([A-Za-z_][A-Za-z0-9_]*)\s*[=!]=\s*)(-?[0-9]+|true|false)\b`)
	stringLiteral  = lazyre.New(`"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)'`)
)

// explainConjunct says why conjunct p does not hold for this job: the
// claims it reads, and the smallest change that would admit the job.
func explainConjunct(c *check, p string, err error, claims policy.Claims, vars map[string]any) {
	c.refusal = conditionRefusal
	attribute, _ := vars["attribute"].(map[string]any)
	google, _ := vars["google"].(map[string]any)
	var reads []string
	seen := map[string]bool{}
	for _, m := range anyRef().FindAllStringSubmatch(p, -1) {
		if seen[m[0]] {
			continue
		}
		seen[m[0]] = true
		switch m[1] {
		case "assertion":
			if c.Claim == "" {
				c.Claim = m[2]
				c.Value = claims.Display(m[2])
			}
			reads = append(reads, m[2]+" "+claims.Display(m[2]))
		case "attribute":
			reads = append(reads, m[0]+" "+mappedDisplay(attribute, m[2]))
		case "google":
			reads = append(reads, m[0]+" "+mappedDisplay(google, m[2]))
		}
	}
	var ce compileError
	if errors.As(err, &ce) {
		c.Note = joinNotes(c.Note, "it does not compile, so it refuses every token")
		msg, _, _ := strings.Cut(ce.Error(), "\n")
		msg, _, _ = strings.Cut(msg, " expecting ") // ANTLR's token list
		c.fix = "correct the condition, which does not compile: " + strings.TrimPrefix(msg, "ERROR: <input>:")
		return
	}
	if err != nil {
		c.Note = joinNotes(c.Note, "it fails to evaluate ("+err.Error()+"), which refuses the token")
	}
	if len(reads) > 1 || c.Claim == "" && len(reads) > 0 {
		c.Note = joinNotes(c.Note, "this job has "+strings.Join(reads, ", "))
	}
	got, _ := claims.String(c.Claim)

	// The most specific explanation first.
	for _, m := range anyRef().FindAllStringSubmatch(p, -1) {
		if m[1] != "attribute" {
			continue
		}
		if _, ok := attribute[m[2]]; !ok {
			c.Note = joinNotes(c.Note, m[0]+" is not mapped, or its mapping failed")
			c.fix = fmt.Sprintf("map %s=assertion.%s, or test assertion.%s instead", m[0], m[2], m[2])
			return
		}
	}
	if name := missingClaim(p, claims); name != "" {
		c.Note = joinNotes(c.Note, "the token has no "+name+" claim"+claimNote(name))
		if claimNote(name) != "" {
			c.fix = fmt.Sprintf("give the job an environment (environment: in .gitlab-ci.yml), or drop the condition's %s", p)
		} else {
			c.fix = fmt.Sprintf("drop the condition's %s: this job's token has no %s claim", p, name)
		}
		return
	}
	if err != nil {
		if strings.Contains(err.Error(), "cost limit exceeded") {
			c.Note = joinNotes(c.Note, "keyless stops it at its cost limit; Google documents none, but a condition this costly is no check of a token")
			c.fix = fmt.Sprintf("simplify the condition's %s: compare claims directly", p)
		} else {
			c.fix = fmt.Sprintf("correct the condition's %s, which fails to evaluate: %v", p, err)
		}
		return
	}
	if m := literalCompare().FindStringSubmatch(p); m != nil {
		if s, ok := claims[m[2]].(string); ok {
			kind := "a number"
			if m[3] == "true" || m[3] == "false" {
				kind = "a bool"
			}
			c.Note = joinNotes(c.Note, fmt.Sprintf("GitLab sends %s as a string (%q), and in CEL a string never equals %s: the comparison is false, not an error", m[2], s, kind))
			c.fix = fmt.Sprintf("compare with a string: change the condition's %s to %s", p, strings.Replace(p, m[0], m[1]+strconv.Quote(m[3]), 1))
			return
		}
	}
	if c.Claim != "" {
		for _, lit := range stringLiteral().FindAllStringSubmatch(p, -1) {
			s := lit[1] + lit[2]
			if s != got && strings.EqualFold(s, got) {
				c.Note = joinNotes(c.Note, fmt.Sprintf("%q differs from the token's %s only in case: CEL compares strings exactly", s, c.Claim))
			}
		}
	}
	if sub, _ := claims.String("sub"); (c.Claim == "sub" || strings.Contains(p, "google.subject")) && policy.ComponentsOf(sub) != nil {
		c.Note = joinNotes(c.Note, "the project customises its sub claim (ci_id_token_sub_claim_components), so sub is not project_path:...:ref_type:...:ref:...")
	}
	switch {
	case c.Claim != "" && got != "":
		c.fix = fmt.Sprintf("change the condition's %s to accept %s %q", p, c.Claim, got)
	default:
		c.fix = fmt.Sprintf("change the condition's %s so that it holds for this job", p)
	}
}

func mappedDisplay(m map[string]any, name string) string {
	v, ok := m[name]
	if !ok {
		return "(not mapped)"
	}
	if rv, ok := v.(ref.Val); ok {
		return displayValue(rv.Value())
	}
	return displayValue(v)
}

// missingClaim names the first claim expr reads that the token lacks.
func missingClaim(expr string, claims policy.Claims) string {
	for _, m := range assertionRef().FindAllStringSubmatch(expr, -1) {
		if _, ok := claims[m[1]]; !ok && !strings.Contains(expr, "has(assertion."+m[1]+")") {
			return m[1]
		}
	}
	return ""
}

func claimNote(name string) string {
	switch name {
	case "environment", "environment_protected", "deployment_tier", "environment_action":
		return " (GitLab sets it only for jobs with an environment)"
	}
	return ""
}

// conjuncts returns the terms of src's top-level && chain, as written
// when a textual split agrees with CEL's parse, else as CEL prints them;
// src itself when it is not a conjunction or does not parse.
func conjuncts(env *cel.Env, src string) []string {
	parsed, iss := env.Parse(src)
	if iss != nil && iss.Err() != nil {
		return []string{src}
	}
	native := parsed.NativeRep()
	var terms []ast.Expr
	var flatten func(e ast.Expr)
	flatten = func(e ast.Expr) {
		if e.Kind() == ast.CallKind && e.AsCall().FunctionName() == operators.LogicalAnd {
			for _, a := range e.AsCall().Args() {
				flatten(a)
			}
			return
		}
		terms = append(terms, e)
	}
	flatten(native.Expr())
	if len(terms) <= 1 {
		return []string{src}
	}
	if parts := splitAnd(src); len(parts) == len(terms) {
		return parts
	}
	out := make([]string, 0, len(terms))
	for _, t := range terms {
		s, err := parser.Unparse(t, native.SourceInfo())
		if err != nil {
			return []string{src}
		}
		out = append(out, s)
	}
	return out
}

// splitAnd splits src at the && operators outside quotes and brackets,
// one pair of outer parentheses aside.
func splitAnd(src string) []string {
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
	if len(parts) == 1 && strings.HasPrefix(parts[0], "(") && strings.HasSuffix(parts[0], ")") {
		inner := parts[0][1 : len(parts[0])-1]
		if balanced(inner) {
			return splitAnd(inner)
		}
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

// memberCheck checks the binding's members: principalSet://.../* names
// the whole pool, principalSet://.../attribute.NAME/VALUE a mapped
// attribute, principalSet://.../group/G a google.groups value and
// principal://.../subject/S google.subject:
// https://cloud.google.com/iam/docs/principal-identifiers
func memberCheck(d providerDoc, attribute, google map[string]any) check {
	c := check{Check: policy.Check{Where: "members", Test: "a member names the job: " + strings.Join(d.Members, ", ")}}
	pool, _, _ := strings.Cut(d.Name, "/providers/")
	var why []string
	var unmapped, otherPool string
	for i, m := range d.Members {
		scheme, rest, ok := strings.Cut(m, "://"+iamHost+"/")
		if !ok || scheme != "principal" && scheme != "principalSet" {
			why = append(why, fmt.Sprintf("member %d is not a workload identity principal", i))
			continue
		}
		mpool, sel, _ := cutSelector(rest)
		if pool != "" && mpool != pool {
			otherPool = mpool
			w := fmt.Sprintf("member %d names pool %s, not this provider's %s", i, mpool, pool)
			if p := strings.Split(mpool, "/"); len(p) > 1 && strings.Trim(p[1], "0123456789") != "" {
				w += " (principals name the project by number, not id)"
			}
			why = append(why, w)
			continue
		}
		switch {
		case scheme == "principalSet" && sel == "*":
			c.Held = true
		case scheme == "principal" && strings.HasPrefix(sel, "subject/"):
			want := strings.TrimPrefix(sel, "subject/")
			if got := mappedString(google["subject"]); got == want {
				c.Held = true
			} else {
				why = append(why, fmt.Sprintf("member %d wants google.subject %q, the job's is %q", i, want, got))
			}
		case scheme == "principalSet" && strings.HasPrefix(sel, "group/"):
			want := strings.TrimPrefix(sel, "group/")
			if slices.Contains(mappedStrings(google["groups"]), want) {
				c.Held = true
			} else {
				why = append(why, fmt.Sprintf("member %d wants google.groups to hold %q", i, want))
			}
		case scheme == "principalSet" && strings.HasPrefix(sel, "attribute."):
			name, want, _ := strings.Cut(strings.TrimPrefix(sel, "attribute."), "/")
			got, ok := attribute[name]
			switch {
			case !ok:
				unmapped = name
				why = append(why, fmt.Sprintf("member %d reads attribute.%s, which the provider does not map", i, name))
			case slices.Contains(mappedStrings(got), want):
				c.Held = true
			default:
				why = append(why, fmt.Sprintf("member %d wants attribute.%s %q, the job's is %s", i, name, want, mappedDisplay(attribute, name)))
			}
		default:
			why = append(why, fmt.Sprintf("member %d: %q is no principal keyless knows", i, sel))
		}
	}
	if c.Held {
		return c
	}
	c.Note = strings.Join(why, "; ")
	c.refusal = "PERMISSION_DENIED: The caller does not have permission (iam.serviceAccounts.getAccessToken)"
	switch {
	case unmapped != "":
		c.fix = fmt.Sprintf("map attribute.%s=assertion.%s in the provider", unmapped, unmapped)
	case otherPool != "":
		c.fix = "name this provider's pool, " + pool + ", in the member"
	case attribute["project_id"] != nil:
		c.fix = fmt.Sprintf("add the member principalSet://%s/%s/attribute.project_id/%s", iamHost, pool, mappedString(attribute["project_id"]))
	case google["subject"] != nil:
		c.fix = fmt.Sprintf("add the member principal://%s/%s/subject/%s", iamHost, pool, mappedString(google["subject"]))
	default:
		c.fix = "map attribute.project_id=assertion.project_id and add a member principalSet://" + iamHost + "/" + pool + "/attribute.project_id/PROJECT_ID"
	}
	return c
}

// cutSelector splits projects/N/locations/global/workloadIdentityPools/P/SEL.
func cutSelector(rest string) (pool, sel string, ok bool) {
	parts := strings.SplitN(rest, "/", 7)
	if len(parts) < 7 {
		return rest, "", false
	}
	return strings.Join(parts[:6], "/"), parts[6], true
}

func mappedString(v any) string {
	if rv, ok := v.(ref.Val); ok {
		v = rv.Value()
	}
	if s, ok := v.(string); ok {
		return s
	}
	return fmt.Sprint(v)
}

// mappedStrings is a mapped value as the strings a principal set matches:
// one, or each of a list's.
func mappedStrings(v any) []string {
	if v == nil {
		return nil
	}
	if rv, ok := v.(ref.Val); ok {
		if l, ok := rv.(interface {
			Size() ref.Val
			Get(ref.Val) ref.Val
		}); ok && rv.Type() == types.ListType {
			n, _ := l.Size().Value().(int64)
			out := make([]string, 0, n)
			for i := int64(0); i < n; i++ {
				out = append(out, mappedString(l.Get(types.Int(i))))
			}
			return out
		}
	}
	return []string{mappedString(v)}
}

func result(d providerDoc, checks []check) *policy.Result {
	res := &policy.Result{Provider: "gcp", Admitted: true}
	var fixes, failed []string
	refusal := ""
	for _, c := range checks {
		res.Checks = append(res.Checks, c.Check)
		if c.Held {
			continue
		}
		res.Admitted = false
		failed = append(failed, c.Where)
		if c.fix != "" && !slices.Contains(fixes, c.fix) {
			fixes = append(fixes, c.fix)
		}
		if refusal == "" {
			refusal = c.refusal
		}
	}
	if res.Admitted {
		res.Verdict = "the provider accepts the token"
		if len(d.Members) > 0 {
			res.Verdict += ", and a member of the binding names the job"
		}
	} else {
		res.Verdict = "Google refuses the token: " + strings.Join(failed, ", ") + " failed"
		if refusal != "" {
			res.Verdict += "; the exchange answers " + refusal
		}
		res.Fix = strings.Join(fixes, "; and ")
	}
	res.Warnings = docWarnings(d)
	return res
}

// docWarnings are about the provider itself, whatever the token.
func docWarnings(d providerDoc) []policy.Warning {
	var w []policy.Warning
	cond := d.AttributeCondition
	switch {
	case strings.TrimSpace(cond) == "":
		w = append(w, policy.Warning{ID: "no-condition", Message: "the provider has no attribute condition: every project the issuer serves can use the pool. Pin your group or project by id, e.g. assertion.namespace_id == \"GROUP_ID\""})
	case !strings.Contains(cond, "assertion.project_id") && !strings.Contains(cond, "assertion.namespace_id") &&
		(strings.Contains(cond, "assertion.project_path") || strings.Contains(cond, "assertion.namespace_path") || strings.Contains(cond, "assertion.sub")):
		w = append(w, policy.Warning{ID: "path-not-id", Message: "the condition pins paths, not ids: after a rename or deletion another project or group can take the path. Test assertion.project_id or assertion.namespace_id (Google advises the numeric ids)"})
	}
	return w
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

// near says how two values that should be equal differ, when it is by
// something easy to miss.
func near(want, got string) string {
	switch {
	case want == got:
		return ""
	case strings.EqualFold(want, got):
		return "differs from the token's only in case"
	case strings.TrimSuffix(want, "/") == strings.TrimSuffix(got, "/"):
		return "differs from the token's only by a trailing slash"
	}
	return ""
}

func first(vs []string) string {
	if len(vs) == 0 {
		return ""
	}
	return vs[0]
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

func quoteAll(vs []string) string {
	q := make([]string, len(vs))
	for i, v := range vs {
		q[i] = strconv.Quote(v)
	}
	return "[" + strings.Join(q, ", ") + "]"
}
