package azure

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"gitlab.com/keyless-ci/keyless/internal/policy"
)

// Entra matches a token against an app's (or managed identity's)
// federated identity credentials: a credential admits the token when its
// issuer and one of its audiences equal the token's iss and aud exactly,
// and its subject equals sub exactly (case-sensitively), or its
// claimsMatchingExpression holds:
// https://learn.microsoft.com/en-us/entra/workload-id/workload-identity-federation
// https://learn.microsoft.com/en-us/entra/workload-id/workload-identities-flexible-federated-identity-credentials

// maxCredentials is Entra's limit per application or identity.
const maxCredentials = 20

// readCredentials reads one credential, a JSON list of them (az ad app
// federated-credential list), or Graph's {"value": [...]}.
func readCredentials(doc []byte) ([]credential, error) {
	doc = bytes.TrimSpace(doc)
	var list []credential
	switch {
	case len(doc) > 0 && doc[0] == '[':
		if err := json.Unmarshal(doc, &list); err != nil {
			return nil, fmt.Errorf("not a list of federated identity credentials: %v", err)
		}
	default:
		var top map[string]json.RawMessage
		if err := json.Unmarshal(doc, &top); err != nil || top == nil {
			return nil, errors.New("not JSON: give the credentials as az ad app federated-credential list --id APP_ID prints them")
		}
		if v, ok := top["value"]; ok {
			if err := json.Unmarshal(v, &list); err != nil {
				return nil, fmt.Errorf("value: %v", err)
			}
		} else {
			var c credential
			if err := json.Unmarshal(doc, &c); err != nil {
				return nil, fmt.Errorf("not a federated identity credential: %v", err)
			}
			list = []credential{c}
		}
	}
	if len(list) == 0 {
		return nil, errors.New("no federated identity credential: the app has none, so Entra refuses every token (keyless policy azure writes one)")
	}
	if len(list) > maxCredentials {
		return nil, fmt.Errorf("%d credentials: Entra allows at most %d per app or identity", len(list), maxCredentials)
	}
	for i, c := range list {
		switch {
		case c.Issuer == "":
			return nil, fmt.Errorf("credential %d (%s) has no issuer", i, c.Name)
		case c.Subject != "" && c.ClaimsMatchingExpression != nil:
			return nil, fmt.Errorf("credential %d (%s) has both subject and claimsMatchingExpression; Entra takes one or the other", i, c.Name)
		case c.Subject == "" && c.ClaimsMatchingExpression == nil:
			return nil, fmt.Errorf("credential %d (%s) has neither subject nor claimsMatchingExpression", i, c.Name)
		}
	}
	return list, nil
}

type check struct {
	policy.Check
	fix string
}

func (provider) Explain(doc []byte, claims policy.Claims) (*policy.Result, error) {
	creds, err := readCredentials(doc)
	if err != nil {
		return nil, err
	}
	res := &policy.Result{Provider: "azure"}
	iss, _ := claims.String("iss")
	auds, _ := claims.Strings("aud")
	sub, _ := claims.String("sub")
	bestFailed, bestFix, bestName := -1, "", ""
	for i, c := range creds {
		where := fmt.Sprintf("[%d] %s", i, c.Name)
		var checks []check
		ic := check{Check: policy.Check{Where: where + " issuer", Test: "issuer is " + strconv.Quote(c.Issuer), Claim: "iss", Value: claims.Display("iss")}}
		ic.Held = c.Issuer == iss
		if !ic.Held {
			ic.Note = near(c.Issuer, iss)
			ic.fix = fmt.Sprintf("set %q's issuer to %q", c.Name, iss)
		}
		checks = append(checks, ic)

		ac := check{Check: policy.Check{Where: where + " audiences", Test: "aud is one of " + quoteAll(c.Audiences), Claim: "aud", Value: claims.Display("aud")}}
		for _, a := range c.Audiences {
			for _, t := range auds {
				if a == t {
					ac.Held = true
				}
			}
		}
		if !ac.Held {
			for _, a := range c.Audiences {
				ac.Note = near(a, first(auds))
			}
			ac.fix = fmt.Sprintf("set %q's audiences to [%q], or the jobs' id_tokens: aud to %q", c.Name, first(auds), first(c.Audiences))
		}
		if len(c.Audiences) > 1 {
			addNote(&ac, "Entra accepts one audience per credential")
		}
		checks = append(checks, ac)

		if c.ClaimsMatchingExpression == nil {
			sc := check{Check: policy.Check{Where: where + " subject", Test: "subject is " + strconv.Quote(c.Subject), Claim: "sub", Value: claims.Display("sub")}}
			sc.Held = c.Subject == sub
			if !sc.Held {
				sc.Note = near(c.Subject, sub)
				if strings.Contains(c.Subject, "*") {
					addNote(&sc, "subject takes * literally; a wildcard needs claimsMatchingExpression (a flexible credential)")
				}
				if n := subShape(c.Subject, sub); n != "" {
					addNote(&sc, n)
				}
				sc.fix = fmt.Sprintf("set %q's subject to %q", c.Name, sub)
			}
			checks = append(checks, sc)
		} else {
			ec, err := evalExpression(where, c, claims)
			if err != nil {
				return nil, err
			}
			checks = append(checks, ec...)
		}
		failed := 0
		var fixes []string
		for _, ch := range checks {
			res.Checks = append(res.Checks, ch.Check)
			if !ch.Held {
				failed++
				fixes = append(fixes, ch.fix)
			}
		}
		if failed == 0 {
			res.Admitted = true
			res.Verdict = fmt.Sprintf("credential %q admits the token", c.Name)
			res.Fix = ""
			return res, nil
		}
		if bestFailed < 0 || failed < bestFailed {
			bestFailed, bestFix, bestName = failed, strings.Join(fixes, "; and "), c.Name
		}
	}
	res.Verdict = fmt.Sprintf("no federated identity credential matches the token (AADSTS70021); the closest, %q, fails %d check(s)", bestName, bestFailed)
	res.Fix = bestFix
	return res, nil
}

// evalExpression evaluates a flexible credential's claimsMatchingExpression:
// terms of the form claims['NAME'] OP 'VALUE', OP being matches (with *
// wildcards) or eq, joined with " and ".
func evalExpression(where string, c credential, claims policy.Claims) ([]check, error) {
	e := c.ClaimsMatchingExpression
	if e.LanguageVersion != 1 {
		return nil, fmt.Errorf("credential %s: claimsMatchingExpression languageVersion %d: Entra knows version 1", c.Name, e.LanguageVersion)
	}
	terms, err := parseExpression(e.Value)
	if err != nil {
		return nil, fmt.Errorf("credential %s: claimsMatchingExpression %q: %v", c.Name, e.Value, err)
	}
	var out []check
	for _, t := range terms {
		got, ok := claims.String(t.claim)
		ch := check{Check: policy.Check{Where: where + " claimsMatchingExpression", Test: fmt.Sprintf("claims['%s'] %s '%s'", t.claim, t.op, t.value), Claim: t.claim, Value: claims.Display(t.claim)}}
		switch t.op {
		case "eq":
			ch.Held = ok && got == t.value
		case "matches":
			ch.Held = ok && wildcard(t.value, got)
		}
		if !ch.Held {
			ch.Note = near(t.value, got)
			ch.fix = fmt.Sprintf("change %q's expression so that claims['%s'] %s accepts %q", c.Name, t.claim, t.op, got)
		}
		out = append(out, ch)
	}
	return out, nil
}

type term struct{ claim, op, value string }

// parseExpression parses the flexible credential language. It accepts
// nothing it does not understand: Entra would refuse it too.
func parseExpression(s string) ([]term, error) {
	if len(s) > 4096 {
		return nil, errors.New("longer than 4096 characters")
	}
	var terms []term
	rest := strings.TrimSpace(s)
	for {
		if !strings.HasPrefix(rest, "claims['") {
			return nil, fmt.Errorf("expected claims['NAME'] at %q", clip(rest))
		}
		rest = rest[len("claims['"):]
		end := strings.Index(rest, "']")
		if end <= 0 {
			return nil, errors.New("unterminated claims['NAME']")
		}
		t := term{claim: rest[:end]}
		rest = rest[end+2:]
		if !strings.HasPrefix(rest, " ") {
			return nil, errors.New("one space must separate the claim lookup and the operator")
		}
		rest = rest[1:]
		sp := strings.IndexByte(rest, ' ')
		if sp < 0 {
			return nil, errors.New("expected an operator and a quoted value")
		}
		t.op = rest[:sp]
		if t.op != "matches" && t.op != "eq" {
			return nil, fmt.Errorf("unknown operator %q (matches or eq)", t.op)
		}
		rest = rest[sp+1:]
		if !strings.HasPrefix(rest, "'") {
			return nil, errors.New("the value must be in single quotes")
		}
		end = strings.IndexByte(rest[1:], '\'')
		if end < 0 {
			return nil, errors.New("unterminated quoted value")
		}
		t.value = rest[1 : 1+end]
		rest = strings.TrimSpace(rest[end+2:])
		terms = append(terms, t)
		if rest == "" {
			return terms, nil
		}
		if !strings.HasPrefix(rest, "and ") {
			return nil, fmt.Errorf("expected and at %q", clip(rest))
		}
		rest = strings.TrimSpace(rest[len("and "):])
		if len(terms) > 20 {
			return nil, errors.New("too many terms")
		}
	}
}

func clip(s string) string {
	if len(s) > 20 {
		return s[:20] + "…"
	}
	return s
}

// wildcard matches * against any run of characters, case-sensitively.
func wildcard(pattern, s string) bool {
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

// near says why a near miss missed.
func near(want, got string) string {
	switch {
	case want == got:
		return ""
	case strings.EqualFold(want, got):
		return "differs from the token's only in case: Entra compares case-sensitively"
	case strings.TrimSuffix(want, "/") == strings.TrimSuffix(got, "/"):
		return "differs from the token's by a trailing slash"
	case strings.TrimSpace(want) != want:
		return "has leading or trailing spaces"
	}
	return ""
}

// subShape explains a subject written for GitLab's default sub when the
// project customised it, and the other way round.
func subShape(want, got string) string {
	wc, gc := policy.ComponentsOf(want), policy.ComponentsOf(got)
	if strings.HasPrefix(want, "project_path:") && strings.Join(wc, ",") != strings.Join(gc, ",") {
		return "the token's sub has other components than the subject (ci_id_token_sub_claim_components)"
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
	return "[" + strings.Join(q, ", ") + "]"
}
