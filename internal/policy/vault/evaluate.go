package vault

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"gitlab.com/keyless-ci/keyless/internal/policy"
)

// The JWT auth plugin's login checks, which this file follows:
// https://github.com/hashicorp/vault-plugin-auth-jwt/blob/main/path_login.go
// (role_type, audience, subject, user_claim, claim_mappings, groups_claim)
// and claims.go (getClaim, validateBoundClaims, matchFound, normalizeList);
// the parameters: https://developer.hashicorp.com/vault/api-docs/auth/jwt.
// The issuer is checked against the mount's config (bound_issuer), which a
// role does not hold; expiry and leeways depend on the time of login.

// roleFile is a role as `vault read -format=json auth/jwt/role/NAME`
// prints its data, or as `vault write` takes it.
type roleFile struct {
	RoleType             string          `json:"role_type"`
	BoundAudiences       json.RawMessage `json:"bound_audiences"`
	BoundSubject         string          `json:"bound_subject"`
	BoundClaims          json.RawMessage `json:"bound_claims"`
	BoundClaimsType      string          `json:"bound_claims_type"`
	UserClaim            string          `json:"user_claim"`
	UserClaimJSONPointer bool            `json:"user_claim_json_pointer"`
	ClaimMappings        json.RawMessage `json:"claim_mappings"`
	GroupsClaim          string          `json:"groups_claim"`
}

// maxBound bounds a hostile file's work.
const maxBound = 1000

func parseRole(doc []byte) (*roleFile, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(doc, &top); err != nil || top == nil {
		return nil, errors.New("not a JSON object: give the role as vault read -format=json auth/jwt/role/NAME prints it")
	}
	if data, ok := top["data"]; ok {
		doc = data
	}
	var r roleFile
	if err := json.Unmarshal(doc, &r); err != nil {
		return nil, fmt.Errorf("not a JWT auth role (%v): give the role as vault read -format=json auth/jwt/role/NAME prints it", err)
	}
	if r.RoleType == "" && r.UserClaim == "" && isNull(r.BoundClaims) && isNull(r.BoundAudiences) && r.BoundSubject == "" {
		return nil, errors.New("no role_type, user_claim, bound_audiences, bound_subject or bound_claims: give the role as vault read -format=json auth/jwt/role/NAME prints it")
	}
	return &r, nil
}

func isNull(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) == 0 || string(raw) == "null"
}

// decode reads JSON keeping numbers as json.Number, as Vault stores them.
func decode(raw json.RawMessage, v any) error {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	return d.Decode(v)
}

// stringsOf reads a string, a comma-separated string (as the CLI and API
// take bound_audiences) or a list of strings.
func stringsOf(raw json.RawMessage) ([]string, error) {
	if isNull(raw) {
		return nil, nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		var out []string
		for _, p := range strings.Split(s, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
		return out, nil
	}
	var list []string
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, fmt.Errorf("%s is neither a string nor a list of strings", clip(string(raw)))
	}
	if len(list) > maxBound {
		return nil, fmt.Errorf("%d values: too many", len(list))
	}
	return list, nil
}

// kind is a JSON value's type as Vault compares it: a bound claim matches
// only a claim of the same type (matchFound compares interface values).
type kind int

const (
	kString kind = iota
	kBool
	kNumber
	kOther // an object, null, or a number inside a token's list: never equal
)

type value struct {
	kind kind
	s    string
}

func (v value) String() string {
	switch v.kind {
	case kString:
		return strconv.Quote(v.s)
	case kBool, kNumber:
		return v.s
	}
	return "(not a string, bool or number)"
}

// scalar is one decoded JSON value. Numbers become Vault's json.Number
// form: integral ones without a fraction (getClaim's conversion).
func scalar(x any) value {
	switch t := x.(type) {
	case string:
		return value{kString, t}
	case bool:
		return value{kBool, strconv.FormatBool(t)}
	case json.Number:
		return value{kNumber, t.String()}
	case float64:
		if t == math.Trunc(t) && math.Abs(t) < 1<<53 {
			return value{kNumber, strconv.FormatInt(int64(t), 10)}
		}
		return value{kNumber, strconv.FormatFloat(t, 'f', -1, 64)}
	case int:
		return value{kNumber, strconv.Itoa(t)}
	case int64:
		return value{kNumber, strconv.FormatInt(t, 10)}
	}
	return value{kind: kOther}
}

// claimValues is Vault's normalizeList of a token's claim: a list's
// elements, or the value itself; ok is false for an object.
func claimValues(x any) (vals []value, ok bool) {
	switch t := x.(type) {
	case []any:
		for _, e := range t {
			v := scalar(e)
			// Vault decodes a token's numbers as float64, and a list's
			// stay so: they never equal a role's json.Number.
			if _, isNum := e.(json.Number); isNum {
				v = value{kind: kOther}
			}
			if _, isNum := e.(float64); isNum {
				v = value{kind: kOther}
			}
			vals = append(vals, v)
		}
		return vals, true
	case json.Number:
		// Vault decodes the token's number as float64, then writes it
		// back: 42.0 becomes 42.
		if f, err := t.Float64(); err == nil {
			return []value{scalar(f)}, true
		}
		return []value{scalar(t)}, true
	case string, bool, float64, int, int64:
		return []value{scalar(t)}, true
	}
	return nil, false
}

// boundValues is Vault's normalizeList of a role's bound claim value.
func boundValues(x any) ([]value, bool) {
	switch t := x.(type) {
	case []any:
		vals := make([]value, len(t))
		for i, e := range t {
			vals[i] = scalar(e)
		}
		return vals, true
	case string, bool, json.Number:
		return []value{scalar(t)}, true
	}
	return nil, false
}

// check is an evaluated condition and the change that would make it hold.
type check struct {
	policy.Check
	fix string
}

func (provider) Explain(doc []byte, claims policy.Claims) (*policy.Result, error) {
	r, err := parseRole(doc)
	if err != nil {
		return nil, err
	}
	auds, err := stringsOf(r.BoundAudiences)
	if err != nil {
		return nil, fmt.Errorf("bound_audiences: %v", err)
	}
	var checks []check

	// A CI job logs in with a JWT; "oidc" (the default when a role is
	// written without role_type) is for browser logins, and Vault refuses
	// a JWT login to it.
	rt := check{Check: policy.Check{Where: "role_type", Test: `role_type is "jwt"`, Value: strconv.Quote(r.RoleType)}}
	rt.Held = r.RoleType == "jwt"
	if !rt.Held {
		rt.Note = `an "oidc" role is for browser logins (vault login -method=oidc); Vault refuses a JWT login to it ("role with oidc role_type is not allowed")`
		if r.RoleType == "" {
			rt.Note = `no role_type: Vault makes the role "oidc", which is for browser logins and refuses a JWT login`
		}
		rt.fix = `set role_type to "jwt"`
	}
	checks = append(checks, rt)
	checks = append(checks, audienceCheck(auds, claims))

	if r.BoundSubject != "" {
		sub, _ := claims.String("sub")
		sc := check{Check: policy.Check{Where: "bound_subject", Test: "sub is " + strconv.Quote(r.BoundSubject), Claim: "sub", Value: claims.Display("sub")}}
		sc.Held = sub == r.BoundSubject
		if !sc.Held {
			sc.Note = closeness([]string{r.BoundSubject}, []string{sub})
			if strings.Contains(r.BoundSubject, "*") {
				sc.Check.AddNote("bound_subject takes * literally: match sub with bound_claims and bound_claims_type glob instead")
			}
			sc.fix = fmt.Sprintf("set bound_subject to %q", sub)
		}
		checks = append(checks, sc)
	}

	bc, err := boundClaimChecks(r, claims)
	if err != nil {
		return nil, err
	}
	checks = append(checks, bc...)
	checks = append(checks, userClaimCheck(r, claims))
	mc, err := mappingCheck(r, claims)
	if err != nil {
		return nil, err
	}
	checks = append(checks, mc...)
	if r.GroupsClaim != "" {
		checks = append(checks, groupsCheck(r, claims))
	}

	res := &policy.Result{Provider: "vault", Admitted: true}
	var fixes, failed []string
	for _, c := range checks {
		res.Checks = append(res.Checks, c.Check)
		if !c.Held {
			res.Admitted = false
			failed = append(failed, c.Where)
			fixes = append(fixes, c.fix)
		}
	}
	if res.Admitted {
		res.Verdict = "the role admits the token (if the mount's bound_issuer, which a role does not hold, is the token's iss)"
	} else {
		res.Verdict = "the role refuses the token: " + strings.Join(failed, ", ") + " failed"
		res.Fix = strings.Join(fixes, "; and ")
	}
	res.Warnings = roleWarnings(r)
	return res, nil
}

// audienceCheck: any of the token's audiences must be one of
// bound_audiences, exactly; a token with an aud and a role without
// bound_audiences is refused (validateAudience, strict).
func audienceCheck(auds []string, claims policy.Claims) check {
	tokAud, hasAud := claims.Strings("aud")
	hasAud = hasAud && len(tokAud) > 0
	ac := check{Check: policy.Check{Where: "bound_audiences", Claim: "aud", Value: claims.Display("aud")}}
	switch {
	case len(auds) == 0 && hasAud:
		ac.Test = "bound_audiences is set, since the token has an aud"
		ac.Note = `Vault 1.17 (and 1.16.3) refuse a token with an aud claim when the role binds no audience: "audience claim found in JWT but no audiences bound to the role" (https://developer.hashicorp.com/vault/docs/upgrading/upgrade-to-1.17.x#jwt-auth-login-requires-bound-audiences-on-the-role)`
		ac.fix = fmt.Sprintf("add bound_audiences [%q]", tokAud[0])
	case len(auds) == 0:
		ac.Test = "no bound_audiences, and the token has no aud"
		ac.Held = true
	default:
		ac.Test = "aud is one of " + policy.QuoteList(auds)
		ac.Held = intersects(auds, tokAud)
		if !ac.Held {
			ac.Note = closeness(auds, tokAud)
			if hasAud {
				ac.fix = fmt.Sprintf("add %q to bound_audiences, or set the jobs' id_tokens: aud to %q", tokAud[0], auds[0])
			} else {
				ac.fix = fmt.Sprintf("give the jobs' id_tokens: aud %q", auds[0])
			}
		}
	}
	return ac
}

// boundClaimChecks checks bound_claims as validateBoundClaims does: every
// key must be in the token; a key's values (one or a list) match when any
// of them matches the claim, or any element of a list claim. With
// bound_claims_type "glob" a value's * matches any run of characters
// (ryanuber/go-glob: nothing else is special, case-sensitive); otherwise
// values compare exactly, and by JSON type.
func boundClaimChecks(r *roleFile, claims policy.Claims) ([]check, error) {
	if isNull(r.BoundClaims) {
		return nil, nil
	}
	var bound map[string]any
	if err := decode(r.BoundClaims, &bound); err != nil || bound == nil {
		return nil, fmt.Errorf("bound_claims: not a JSON object: write {\"project_id\": \"42\", ...}")
	}
	if len(bound) > maxBound {
		return nil, fmt.Errorf("bound_claims: %d keys, more than %d", len(bound), maxBound)
	}
	isGlob := false
	switch r.BoundClaimsType {
	case "", "string":
	case "glob":
		isGlob = true
	default:
		return nil, fmt.Errorf("bound_claims_type %q: Vault takes string or glob", r.BoundClaimsType)
	}
	keys := make([]string, 0, len(bound))
	for k := range bound {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []check
	for _, k := range keys {
		out = append(out, boundClaimCheck(k, bound[k], isGlob, claims))
	}
	return out, nil
}

func boundClaimCheck(k string, bound any, isGlob bool, claims policy.Claims) check {
	op := "is"
	if isGlob {
		op = "matches"
	}
	want, wantOK := boundValues(bound)
	raw, present := claimValue(claims, k)
	c := check{Check: policy.Check{Where: "bound_claims." + k, Test: fmt.Sprintf("%s %s %s", k, op, valuesString(want)), Claim: k, Value: display(raw, present)}}
	got, gotOK := claimValues(raw)
	switch {
	case !wantOK:
		c.Test = k + " is bound to a value Vault cannot compare"
		c.Note = "a bound claim must be a string, boolean, number or a list of them: Vault refuses every login"
		c.fix = fmt.Sprintf("set bound_claims.%s to a string or a list of strings", k)
		return c
	case !present:
		c.Note = fmt.Sprintf("the token has no %s claim: Vault refuses the login (claim %q is missing)", k, k)
		if k == "environment" || strings.HasPrefix(k, "environment_") || k == "deployment_tier" {
			c.Check.AddNote("GitLab sets it only for jobs with an environment:")
		}
		c.fix = fmt.Sprintf("remove %s from bound_claims, or run the job where GitLab sets it", k)
		return c
	case !gotOK:
		c.Note = "the token's claim is an object: Vault refuses the login (received claim is not a string, bool, int or list)"
		c.fix = fmt.Sprintf("remove %s from bound_claims, or bind a JSON pointer to a string inside it (/%s/NAME)", k, k)
		return c
	}
	for _, w := range want {
		if isGlob && w.kind != kString {
			c.Note = fmt.Sprintf("bound_claims_type glob takes only strings, and %s is not one: Vault refuses the login", w)
			c.fix = fmt.Sprintf("write bound_claims.%s as the string %q", k, w.s)
			return c
		}
		for _, g := range got {
			if isGlob && g.kind == kString && glob(w.s, g.s) || !isGlob && g.kind != kOther && w == g {
				c.Held = true
				return c
			}
		}
	}
	first := firstComparable(got)
	switch {
	case !isGlob && typeOnly(want, got):
		w, g := typeMismatch(want, got)
		if w.kind == kString {
			c.Note = fmt.Sprintf("the token's %s is the JSON %s %s, and bound_claims.%s the string %q: Vault compares the types too", k, kindName(g.kind), g.s, k, w.s)
			c.fix = fmt.Sprintf("write bound_claims.%s as the %s %s, unquoted", k, kindName(g.kind), g.s)
		} else {
			c.Note = fmt.Sprintf("bound_claims.%s is the JSON %s %s, and GitLab writes %q as a string: Vault compares the types too", k, kindName(w.kind), w.s, g.s)
			c.fix = fmt.Sprintf("set bound_claims.%s to the string %q", k, w.s)
		}
	case !isGlob && anyWildcard(want) && globWould(want, got):
		c.Note = `bound_claims_type is "string", so * is literal`
		c.fix = `set bound_claims_type to "glob"`
	default:
		c.Note = closeness(strs(want), strs(got))
		if !isGlob && anyWildcard(want) {
			c.Check.AddNote(`bound_claims_type is "string", so * is literal`)
		}
		if len(want) > 1 || len(got) > 1 {
			c.fix = fmt.Sprintf("add %s to bound_claims.%s", first, k)
		} else {
			c.fix = fmt.Sprintf("set bound_claims.%s to %s", k, first)
		}
	}
	return c
}

// userClaimCheck: the user claim names the entity alias; login fails when
// the token lacks it or it is not a string (createIdentity).
func userClaimCheck(r *roleFile, claims policy.Claims) check {
	uc := check{Check: policy.Check{Where: "user_claim", Test: fmt.Sprintf("the token has the string claim %q", r.UserClaim)}}
	if r.UserClaim == "" {
		uc.Test = "user_claim is set"
		uc.Note = "Vault requires user_claim on every JWT role"
		uc.fix = `set user_claim to "project_id"`
		return uc
	}
	var v any
	var ok bool
	if r.UserClaimJSONPointer {
		v, ok = claimValue(claims, r.UserClaim)
	} else {
		v, ok = claims[r.UserClaim]
	}
	_, isString := v.(string)
	uc.Claim, uc.Value = r.UserClaim, display(v, ok)
	uc.Held = ok && isString
	if !uc.Held {
		uc.Note = fmt.Sprintf("claim %q not found in token", r.UserClaim)
		if ok {
			uc.Note = fmt.Sprintf("claim %q could not be converted to string", r.UserClaim)
		}
		if strings.HasPrefix(r.UserClaim, "/") && !r.UserClaimJSONPointer {
			uc.Check.AddNote("a JSON pointer user_claim needs user_claim_json_pointer=true")
		}
		uc.fix = fmt.Sprintf("set user_claim to a string claim every GitLab token has, such as \"project_id\" (not %q)", r.UserClaim)
	}
	return uc
}

// mappingCheck: a claim_mappings source the token holds must be a string,
// or the login fails (extractMetadata); absent ones are skipped.
func mappingCheck(r *roleFile, claims policy.Claims) ([]check, error) {
	if isNull(r.ClaimMappings) {
		return nil, nil
	}
	var m map[string]string
	if err := json.Unmarshal(r.ClaimMappings, &m); err != nil {
		return nil, fmt.Errorf("claim_mappings: not an object of strings: write {\"project_path\": \"project_path\", ...}")
	}
	var bad []string
	for src := range m {
		if v, ok := claimValue(claims, src); ok {
			if _, isString := v.(string); !isString {
				bad = append(bad, src)
			}
		}
	}
	if len(bad) == 0 {
		return nil, nil
	}
	sort.Strings(bad)
	c := check{Check: policy.Check{Where: "claim_mappings", Test: "every mapped claim the token has is a string", Claim: bad[0], Value: display(claims[bad[0]], true)}}
	c.Note = fmt.Sprintf("Vault refuses the login: error converting claim '%s' to string", bad[0])
	c.fix = "remove " + strings.Join(bad, ", ") + " from claim_mappings"
	return []check{c}, nil
}

// groupsCheck: groups_claim must name a list of strings in the token.
func groupsCheck(r *roleFile, claims policy.Claims) check {
	v, ok := claimValue(claims, r.GroupsClaim)
	c := check{Check: policy.Check{Where: "groups_claim", Test: fmt.Sprintf("the token has the list claim %q", r.GroupsClaim), Claim: r.GroupsClaim, Value: display(v, ok)}}
	_, isString := v.(string)
	if list, isList := v.([]any); isList {
		isString = true
		for _, e := range list {
			if _, s := e.(string); !s {
				isString = false
			}
		}
	}
	c.Held = ok && isString
	if !c.Held {
		c.Note = fmt.Sprintf("%q claim not found in token, or not a list of strings: Vault refuses the login", r.GroupsClaim)
		c.fix = "remove groups_claim, or name a claim every job's token has (GitLab's groups_direct is left out for users in more than 200 groups)"
	}
	return c
}

// claimValue looks a claim up by name, or by JSON pointer (/a/b, /a/0) as
// Vault does for keys that start with a slash.
func claimValue(claims policy.Claims, key string) (any, bool) {
	if !strings.HasPrefix(key, "/") {
		v, ok := claims[key]
		return v, ok && v != nil
	}
	var cur any = map[string]any(claims)
	for _, part := range strings.Split(key[1:], "/") {
		part = strings.ReplaceAll(strings.ReplaceAll(part, "~1", "/"), "~0", "~")
		switch t := cur.(type) {
		case map[string]any:
			v, ok := t[part]
			if !ok {
				return nil, false
			}
			cur = v
		case policy.Claims:
			v, ok := t[part]
			if !ok {
				return nil, false
			}
			cur = v
		case []any:
			i, err := strconv.Atoi(part)
			if err != nil || i < 0 || i >= len(t) {
				return nil, false
			}
			cur = t[i]
		default:
			return nil, false
		}
	}
	return cur, cur != nil
}

func display(v any, ok bool) string {
	if !ok {
		return "(absent)"
	}
	if vals, isList := claimValues(v); isList {
		if _, list := v.([]any); !list && len(vals) == 1 {
			return vals[0].String()
		}
		return valuesString(vals)
	}
	return "(an object)"
}

func valuesString(vs []value) string {
	q := make([]string, len(vs))
	for i, v := range vs {
		q[i] = v.String()
	}
	if len(q) == 1 {
		return q[0]
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// glob is ryanuber/go-glob's Glob, which the JWT plugin uses: * matches
// any run of characters, nothing else is special.
func glob(pattern, subj string) bool {
	if pattern == "" {
		return subj == pattern
	}
	if pattern == "*" {
		return true
	}
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return subj == pattern
	}
	leading, trailing := strings.HasPrefix(pattern, "*"), strings.HasSuffix(pattern, "*")
	end := len(parts) - 1
	for i := 0; i < end; i++ {
		idx := strings.Index(subj, parts[i])
		switch i {
		case 0:
			if !leading && idx != 0 {
				return false
			}
		default:
			if idx < 0 {
				return false
			}
		}
		subj = subj[idx+len(parts[i]):]
	}
	return trailing || strings.HasSuffix(subj, parts[end])
}

// typeOnly reports whether a bound value equals a claim but for its JSON
// type (true vs "true", 42 vs "42").
func typeOnly(want, got []value) bool {
	_, _, found := typeMismatchFound(want, got)
	return found
}

func typeMismatch(want, got []value) (value, value) {
	w, g, _ := typeMismatchFound(want, got)
	return w, g
}

func typeMismatchFound(want, got []value) (value, value, bool) {
	for _, w := range want {
		for _, g := range got {
			if w.kind != g.kind && w.kind != kOther && g.kind != kOther && w.s == g.s {
				return w, g, true
			}
		}
	}
	return value{}, value{}, false
}

func kindName(k kind) string {
	switch k {
	case kBool:
		return "boolean"
	case kNumber:
		return "number"
	}
	return "string"
}

// globWould reports whether bound_claims_type "glob" would admit got.
func globWould(want, got []value) bool {
	for _, w := range want {
		for _, g := range got {
			if w.kind == kString && g.kind == kString && glob(w.s, g.s) {
				return true
			}
		}
	}
	return false
}

func anyWildcard(vs []value) bool {
	for _, v := range vs {
		if v.kind == kString && strings.Contains(v.s, "*") {
			return true
		}
	}
	return false
}

func firstComparable(vs []value) string {
	for _, v := range vs {
		if v.kind != kOther {
			return v.String()
		}
	}
	return `""`
}

func strs(vs []value) []string {
	out := make([]string, 0, len(vs))
	for _, v := range vs {
		out = append(out, v.s)
	}
	return out
}

func intersects(a, b []string) bool {
	for _, x := range a {
		for _, y := range b {
			if x == y {
				return true
			}
		}
	}
	return false
}

// closeness says why near misses missed: case, a trailing slash.
func closeness(want, got []string) string {
	for _, w := range want {
		for _, g := range got {
			switch {
			case w == g:
			case strings.EqualFold(w, g):
				return fmt.Sprintf("%q differs from the token's %q only in case: Vault compares case-sensitively", w, g)
			case strings.TrimSuffix(w, "/") == strings.TrimSuffix(g, "/"):
				return fmt.Sprintf("%q differs from the token's %q by a trailing slash", w, g)
			case strings.TrimSpace(w) == g:
				return fmt.Sprintf("%q has leading or trailing whitespace", w)
			}
		}
	}
	return ""
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// roleWarnings are about the role itself, whatever the token.
func roleWarnings(r *roleFile) []policy.Warning {
	var w []policy.Warning
	var bound map[string]any
	_ = decode(r.BoundClaims, &bound)
	pinned := r.BoundSubject != ""
	for _, k := range []string{"project_id", "project_path", "namespace_id", "namespace_path", "sub", "/project_id", "/project_path"} {
		if _, ok := bound[k]; ok {
			pinned = true
		}
	}
	if !pinned {
		w = append(w, policy.Warning{ID: "no-project-bound", Message: "the role binds no project (project_id, project_path, namespace or sub): every project's jobs on the instance can log in"})
	}
	if r.BoundClaimsType == "glob" {
		for _, k := range []string{"project_path", "namespace_path"} {
			vals, _ := boundValues(bound[k])
			for _, v := range vals {
				switch {
				case v.kind != kString:
				case v.s == "*":
					w = append(w, policy.Warning{ID: "any-project", Message: fmt.Sprintf("bound_claims.%s is \"*\": every project on the instance can log in", k)})
				case strings.HasSuffix(v.s, "*") && !strings.HasSuffix(v.s, "/*"):
					w = append(w, policy.Warning{ID: "prefix-glob", Message: fmt.Sprintf("bound_claims.%s %q also matches paths that merely start the same (%s-evil/...): end the group with /*", k, v.s, strings.TrimSuffix(v.s, "*"))})
				}
			}
		}
	}
	if _, ok := bound["ref_protected"]; !ok && bound["ref"] == nil && bound["environment"] == nil {
		w = append(w, policy.Warning{ID: "any-ref", Message: "the role binds no ref, ref_protected or environment: a job on any branch, including one anyone with Developer access can push, can log in"})
	}
	if refs, _ := boundValues(bound["ref"]); anyWildcard(refs) && !protectedBound(bound) {
		w = append(w, policy.Warning{ID: "ref-wildcard", Message: fmt.Sprintf("bound_claims.ref %s matches branches anyone with Developer access can create: bind ref_protected to \"true\" as well", valuesString(refs))})
	}
	if r.UserClaim == "user_email" || r.UserClaim == "user_login" || r.UserClaim == "user_id" {
		w = append(w, policy.Warning{ID: "user-claim-person", Message: fmt.Sprintf("user_claim %q makes each person who runs a pipeline a Vault entity (and a billed client), and an alias by name can be re-used; project_id names the project the role admits", r.UserClaim)})
	}
	return w
}

// protectedBound reports whether bound_claims requires a protected ref.
func protectedBound(bound map[string]any) bool {
	vals, _ := boundValues(bound["ref_protected"])
	return len(vals) == 1 && vals[0] == value{kString, "true"}
}
