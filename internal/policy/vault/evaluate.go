package vault

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

// The JWT auth plugin's login checks, in the order it makes them:
// https://github.com/hashicorp/vault-plugin-auth-jwt (path_login.go,
// claims.go) and https://developer.hashicorp.com/vault/api-docs/auth/jwt.
// The issuer is checked against the mount's config (bound_issuer), which
// a role file does not hold.

type roleFile struct {
	RoleType             string          `json:"role_type"`
	BoundAudiences       json.RawMessage `json:"bound_audiences"`
	BoundSubject         string          `json:"bound_subject"`
	BoundClaims          json.RawMessage `json:"bound_claims"`
	BoundClaimsType      string          `json:"bound_claims_type"`
	UserClaim            string          `json:"user_claim"`
	UserClaimJSONPointer bool            `json:"user_claim_json_pointer"`
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
		return nil, fmt.Errorf("not a JWT auth role: %v", err)
	}
	if r.RoleType == "" && r.UserClaim == "" && len(r.BoundClaims) == 0 && len(r.BoundAudiences) == 0 {
		return nil, errors.New("no role_type, user_claim, bound_audiences or bound_claims: give the role as vault read -format=json auth/jwt/role/NAME prints it")
	}
	return &r, nil
}

// stringsOf reads a string, a comma-separated string (as the CLI takes
// bound_audiences) or a list of strings.
func stringsOf(raw json.RawMessage, splitComma bool) ([]string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if !splitComma {
			return []string{s}, nil
		}
		var out []string
		for _, p := range strings.Split(s, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
		return out, nil
	}
	var list []any
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, fmt.Errorf("%s is neither a string nor a list", raw)
	}
	if len(list) > maxBound {
		return nil, fmt.Errorf("%d values: too many", len(list))
	}
	out := make([]string, 0, len(list))
	for _, x := range list {
		v, ok := policy.Claims{"x": x}.String("x")
		if !ok {
			return nil, fmt.Errorf("%s holds a value that is not a string", raw)
		}
		out = append(out, v)
	}
	return out, nil
}

type check struct {
	policy.Check
	fix string
}

func (provider) Explain(doc []byte, claims policy.Claims) (*policy.Result, error) {
	r, err := parseRole(doc)
	if err != nil {
		return nil, err
	}
	var checks []check

	// role_type: a CI job logs in with a JWT; "oidc" (the default!) is for
	// browser logins and refuses a JWT login.
	rt := check{Check: policy.Check{Where: "role_type", Test: `role_type is "jwt"`, Value: strconv.Quote(r.RoleType)}}
	rt.Held = r.RoleType == "jwt"
	if !rt.Held {
		rt.Note = "an oidc role (Vault's default role_type) is for browser logins; Vault refuses a JWT login to it"
		rt.fix = `set role_type to "jwt"`
	}
	checks = append(checks, rt)

	auds, err := stringsOf(r.BoundAudiences, true)
	if err != nil {
		return nil, fmt.Errorf("bound_audiences: %v", err)
	}
	tokAud, hasAud := claims.Strings("aud")
	ac := check{Check: policy.Check{Where: "bound_audiences", Claim: "aud", Value: claims.Display("aud")}}
	switch {
	case len(auds) == 0 && hasAud:
		ac.Test = "bound_audiences is set (the token has an aud)"
		ac.Note = "Vault 1.17 and later refuse a token with an aud claim when the role binds no audience"
		ac.fix = fmt.Sprintf("set bound_audiences to %q", first(tokAud))
	case len(auds) == 0:
		ac.Test = "no bound_audiences"
		ac.Held = true
	default:
		ac.Test = "aud is one of " + quoteAll(auds)
		ac.Held = intersects(auds, tokAud)
		if !ac.Held {
			ac.Note = closeness(auds, tokAud)
			ac.fix = fmt.Sprintf("add %q to bound_audiences, or set the jobs' id_tokens: aud to %q", first(tokAud), auds[0])
		}
	}
	checks = append(checks, ac)

	if r.BoundSubject != "" {
		sub, _ := claims.String("sub")
		sc := check{Check: policy.Check{Where: "bound_subject", Test: "sub is " + strconv.Quote(r.BoundSubject), Claim: "sub", Value: claims.Display("sub")}}
		sc.Held = sub == r.BoundSubject
		if !sc.Held {
			sc.Note = closeness([]string{r.BoundSubject}, []string{sub})
			sc.fix = fmt.Sprintf("set bound_subject to %q", sub)
		}
		checks = append(checks, sc)
	}

	bc, err := boundClaimChecks(r, claims)
	if err != nil {
		return nil, err
	}
	checks = append(checks, bc...)

	uc := check{Check: policy.Check{Where: "user_claim", Test: fmt.Sprintf("the token has claim %q", r.UserClaim)}}
	switch {
	case r.UserClaim == "":
		uc.Test = "user_claim is set"
		uc.Note = "Vault requires user_claim on every JWT role"
		uc.fix = `set user_claim to "project_id"`
	default:
		v, ok := claimValue(claims, r.UserClaim, r.UserClaimJSONPointer)
		_, isString := v.(string)
		uc.Claim, uc.Value = r.UserClaim, display(v, ok)
		uc.Held = ok && isString
		if !uc.Held {
			uc.Note = "login fails when the user claim is missing or not a string: it names the entity alias"
			uc.fix = fmt.Sprintf("set user_claim to a claim every GitLab token has, such as \"project_id\" (not %q)", r.UserClaim)
		}
	}
	checks = append(checks, uc)

	res := &policy.Result{Provider: "vault", Admitted: true}
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
		res.Verdict = "the role admits the token (the mount's bound_issuer, not in this file, must be the token's iss)"
	} else {
		res.Verdict = "the role refuses the token: " + strings.Join(failed, ", ") + " failed"
		res.Fix = strings.Join(fixes, "; and ")
	}
	res.Warnings = roleWarnings(r)
	return res, nil
}

// boundClaimChecks checks bound_claims: every key must match; a key's
// values (a string or a list) match when any of them matches the claim,
// or any element of a list claim. With bound_claims_type "glob" a value's
// * matches any run of characters (ryanuber/go-glob: no ?, case-sensitive).
func boundClaimChecks(r *roleFile, claims policy.Claims) ([]check, error) {
	raw := bytes.TrimSpace(r.BoundClaims)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var bound map[string]json.RawMessage
	if err := json.Unmarshal(raw, &bound); err != nil {
		return nil, fmt.Errorf("bound_claims: not an object: %v", err)
	}
	if len(bound) > maxBound {
		return nil, fmt.Errorf("bound_claims: %d keys: too many", len(bound))
	}
	isGlob := false
	switch r.BoundClaimsType {
	case "", "string":
	case "glob":
		isGlob = true
	default:
		return nil, fmt.Errorf("bound_claims_type %q: Vault accepts string or glob", r.BoundClaimsType)
	}
	keys := make([]string, 0, len(bound))
	for k := range bound {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []check
	for _, k := range keys {
		want, err := stringsOf(bound[k], false)
		if err != nil {
			return nil, fmt.Errorf("bound_claims.%s: %v", k, err)
		}
		v, ok := claimValue(claims, k, strings.HasPrefix(k, "/"))
		got := actualStrings(v)
		op := "is"
		if isGlob {
			op = "matches"
		}
		c := check{Check: policy.Check{Where: "bound_claims." + k, Test: fmt.Sprintf("%s %s %s", k, op, quoteAll(want)), Claim: k, Value: display(v, ok)}}
		for _, w := range want {
			for _, g := range got {
				if w == g || isGlob && glob(w, g) {
					c.Held = true
				}
			}
		}
		if !c.Held {
			switch {
			case !ok:
				c.Note = "the token has no such claim: Vault refuses the login"
				c.fix = fmt.Sprintf("remove %s from bound_claims (GitLab sets it only for some jobs)", k)
			case !isGlob && anyWildcard(want):
				c.Note = `bound_claims_type is "string", so * is literal`
				c.fix = `set bound_claims_type to "glob"`
			default:
				c.Note = closeness(want, got)
				c.fix = fmt.Sprintf("set bound_claims.%s to %q", k, first(got))
				if len(want) > 1 {
					c.fix = fmt.Sprintf("add %q to bound_claims.%s", first(got), k)
				}
			}
		}
		out = append(out, c)
	}
	return out, nil
}

// claimValue looks a claim up by name, or by JSON pointer (/a/b) as Vault
// does for keys that start with a slash.
func claimValue(claims policy.Claims, key string, pointer bool) (any, bool) {
	if !pointer {
		v, ok := claims[key]
		return v, ok
	}
	var cur any = map[string]any(claims)
	for _, part := range strings.Split(strings.TrimPrefix(key, "/"), "/") {
		part = strings.ReplaceAll(strings.ReplaceAll(part, "~1", "/"), "~0", "~")
		m, ok := cur.(map[string]any)
		if !ok {
			if c, isClaims := cur.(policy.Claims); isClaims {
				m = c
			} else {
				return nil, false
			}
		}
		if cur, ok = m[part]; !ok {
			return nil, false
		}
	}
	return cur, true
}

func actualStrings(v any) []string {
	if list, ok := v.([]any); ok {
		var out []string
		for _, x := range list {
			if s, ok := (policy.Claims{"x": x}).String("x"); ok {
				out = append(out, s)
			}
		}
		return out
	}
	if s, ok := (policy.Claims{"x": v}).String("x"); ok {
		return []string{s}
	}
	return nil
}

func display(v any, ok bool) string {
	if !ok {
		return "(absent)"
	}
	return policy.Claims{"x": v}.Display("x")
}

// glob is ryanuber/go-glob's match, which the JWT plugin uses: * matches
// any run of characters, nothing else is special.
func glob(pattern, s string) bool {
	if pattern == "*" {
		return true
	}
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return pattern == s
	}
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	for _, p := range parts[1 : len(parts)-1] {
		i := strings.Index(s, p)
		if i < 0 {
			return false
		}
		s = s[i+len(p):]
	}
	return strings.HasSuffix(s, parts[len(parts)-1])
}

func anyWildcard(vs []string) bool {
	for _, v := range vs {
		if strings.Contains(v, "*") {
			return true
		}
	}
	return false
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
			case strings.EqualFold(w, g):
				return fmt.Sprintf("%q differs from the claim only in case: Vault compares case-sensitively", w)
			case strings.TrimSuffix(w, "/") == strings.TrimSuffix(g, "/"):
				return fmt.Sprintf("%q differs from the claim by a trailing slash", w)
			}
		}
	}
	return ""
}

func first(vs []string) string {
	if len(vs) == 0 {
		return ""
	}
	return vs[0]
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

// roleWarnings are about the role itself.
func roleWarnings(r *roleFile) []policy.Warning {
	var w []policy.Warning
	var bound map[string]json.RawMessage
	_ = json.Unmarshal(r.BoundClaims, &bound)
	pinned := r.BoundSubject != ""
	for _, k := range []string{"project_id", "project_path", "namespace_id", "namespace_path", "sub"} {
		if _, ok := bound[k]; ok {
			pinned = true
		}
	}
	if !pinned {
		w = append(w, policy.Warning{ID: "no-project-bound", Message: "the role binds no project (project_id, project_path, namespace or sub): every project's jobs on the instance can log in"})
	}
	if v, ok := bound["project_path"]; ok && r.BoundClaimsType == "glob" {
		vs, _ := stringsOf(v, false)
		for _, p := range vs {
			if p == "*" {
				w = append(w, policy.Warning{ID: "any-project", Message: `bound_claims.project_path is "*": every project on the instance can log in`})
			}
		}
	}
	return w
}
