package azure

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"gitlab.com/keyless-ci/keyless/internal/policy"
)

// Entra admits a token when any one of the app's (or managed identity's)
// federated identity credentials matches it: the credential's issuer
// equals iss, its audience equals aud, and its subject equals sub, all
// exactly and case-sensitively, or its claimsMatchingExpression holds:
// https://learn.microsoft.com/en-us/entra/workload-id/workload-identity-federation-considerations
// https://learn.microsoft.com/en-us/entra/workload-id/workload-identities-flexible-federated-identity-credentials

// maxCredentials is Entra's limit per application or identity.
const maxCredentials = 20

// readCredentials reads the credentials as `az ad app federated-credential
// show` (one object) or `list` (a JSON array), Microsoft Graph
// ({"value": [...]}) or Azure Resource Manager ({"properties": {...}})
// print them.
func readCredentials(doc []byte) ([]credential, error) {
	doc = bytes.TrimSpace(doc)
	var raws []json.RawMessage
	switch {
	case len(doc) > 0 && doc[0] == '[':
		if err := json.Unmarshal(doc, &raws); err != nil {
			return nil, fmt.Errorf("not a JSON list of federated identity credentials (%v): give them as az ad app federated-credential list --id APP_ID prints them", err)
		}
	default:
		var top map[string]json.RawMessage
		if err := json.Unmarshal(doc, &top); err != nil || top == nil {
			return nil, errors.New("not a JSON object or list: give the credentials as az ad app federated-credential list --id APP_ID prints them (or Microsoft Graph's federatedIdentityCredentials response)")
		}
		if v, ok := top["value"]; ok {
			if err := json.Unmarshal(v, &raws); err != nil {
				return nil, fmt.Errorf("value: not a list of federated identity credentials (%v)", err)
			}
		} else {
			raws = []json.RawMessage{doc}
		}
	}
	if len(raws) == 0 {
		return nil, errors.New("no federated identity credential: an app without one refuses every token; create one with keyless policy azure")
	}
	list := make([]credential, 0, len(raws))
	for i, raw := range raws {
		c, err := readCredential(raw)
		if err != nil {
			return nil, fmt.Errorf("credential %d: %w", i, err)
		}
		list = append(list, c)
	}
	return list, nil
}

// readCredential reads one credential, flattening Resource Manager's
// properties.
func readCredential(raw json.RawMessage) (credential, error) {
	var c credential
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil || fields == nil {
		return c, errors.New("not a JSON object")
	}
	if props, ok := fields["properties"]; ok {
		var inner map[string]json.RawMessage
		if err := json.Unmarshal(props, &inner); err != nil || inner == nil {
			return c, errors.New("properties: not a JSON object")
		}
		for k, v := range inner {
			fields[k] = v
		}
	}
	str := func(k string) (string, error) {
		var s *string
		if v, ok := fields[k]; ok {
			if err := json.Unmarshal(v, &s); err != nil {
				return "", fmt.Errorf("%s: not a string", k)
			}
		}
		if s == nil {
			return "", nil
		}
		return *s, nil
	}
	var err error
	if c.Name, err = str("name"); err != nil {
		return c, err
	}
	if c.Issuer, err = str("issuer"); err != nil {
		return c, err
	}
	if c.Subject, err = str("subject"); err != nil {
		return c, err
	}
	if v, ok := fields["audiences"]; ok {
		if err := json.Unmarshal(v, &c.Audiences); err != nil {
			return c, errors.New("audiences: not a list of strings")
		}
	}
	if v, ok := fields["claimsMatchingExpression"]; ok && string(bytes.TrimSpace(v)) != "null" {
		var e expression
		if err := json.Unmarshal(v, &e); err != nil {
			return c, errors.New(`claimsMatchingExpression: not an object: write {"value": "claims['sub'] matches '...'", "languageVersion": 1}`)
		}
		c.ClaimsMatchingExpression = &e
	}
	switch {
	case c.Issuer == "":
		return c, fmt.Errorf("%q has no issuer: Entra requires one (the GitLab instance's URL, e.g. https://gitlab.com)", c.Name)
	case c.Subject != "" && c.ClaimsMatchingExpression != nil:
		return c, fmt.Errorf("%q has both subject and claimsMatchingExpression, which Entra takes one at a time: drop one", c.Name)
	case c.Subject == "" && c.ClaimsMatchingExpression == nil:
		return c, fmt.Errorf("%q has neither subject nor claimsMatchingExpression: Entra needs one of them to match sub", c.Name)
	}
	return c, nil
}

// check is an evaluated condition and the change that would make it hold.
type check struct {
	policy.Check
	fix string
}

// evaluated is one credential's checks.
type evaluated struct {
	c      credential
	label  string
	checks []check
	failed []string
	// refused says why Entra does not accept the credential at all (see
	// platforms); "" when it does.
	refused string
}

func (provider) Explain(doc []byte, claims policy.Claims) (*policy.Result, error) {
	creds, err := readCredentials(doc)
	if err != nil {
		return nil, err
	}
	res := &policy.Result{Provider: "azure"}
	var admitted, best *evaluated
	for i, c := range creds {
		ev, err := evaluate(i, c, claims)
		if err != nil {
			return nil, err
		}
		for _, ch := range ev.checks {
			res.Checks = append(res.Checks, ch.Check)
		}
		res.Warnings = append(res.Warnings, credentialWarnings(ev.label, c)...)
		switch {
		case len(ev.failed) == 0 && admitted == nil:
			admitted = ev
		case len(ev.failed) > 0 && (best == nil || len(ev.failed) < len(best.failed)):
			best = ev
		}
	}
	if len(creds) > maxCredentials {
		res.Warnings = append(res.Warnings, policy.Warning{ID: "too-many-credentials", Message: fmt.Sprintf("%d credentials: Entra allows at most %d per app or managed identity", len(creds), maxCredentials)})
	}
	if admitted != nil {
		res.Admitted = true
		res.Verdict = fmt.Sprintf("credential %q admits the token: issuer, audience and %s match", admitted.c.Name, matchedBy(admitted.c))
		return res, nil
	}
	res.Verdict = fmt.Sprintf("no federated identity credential matches the token, so Entra answers AADSTS70021 (no matching federated identity record); the closest, %q, fails on %s", best.c.Name, strings.Join(best.failed, ", "))
	if best.refused != "" {
		res.Verdict = fmt.Sprintf("no federated identity credential matches the token; the closest, %q, never can: %s, and Microsoft Graph refuses to create such a credential", best.c.Name, best.refused)
	}
	var fixes []string
	for _, ch := range best.checks {
		if !ch.Held && ch.fix != "" {
			fixes = append(fixes, ch.fix)
		}
	}
	res.Fix = strings.Join(fixes, "; and ")
	if len(creds) > 1 {
		res.Fix += fmt.Sprintf(" (credential %q)", best.c.Name)
	}
	return res, nil
}

func matchedBy(c credential) string {
	if c.ClaimsMatchingExpression != nil {
		return "claimsMatchingExpression"
	}
	return "subject"
}

func evaluate(i int, c credential, claims policy.Claims) (*evaluated, error) {
	ev := &evaluated{c: c, label: c.Name}
	if ev.label == "" {
		ev.label = fmt.Sprintf("[%d]", i)
	}
	iss, _ := claims.String("iss")
	auds, _ := claims.Strings("aud")
	sub, _ := claims.String("sub")

	ic := check{Check: policy.Check{Where: ev.label + ".issuer", Test: "issuer equals iss: " + strconv.Quote(c.Issuer), Claim: "iss", Value: claims.Display("iss")}}
	ic.Held = c.Issuer == iss
	if !ic.Held {
		ic.Note = issuerNote(c.Issuer, iss)
		ic.fix = fmt.Sprintf("set \"issuer\" to %q", iss)
	}
	ev.add(ic)

	ac := check{Check: policy.Check{Where: ev.label + ".audiences", Test: "audiences holds aud: " + quoteAll(c.Audiences), Claim: "aud", Value: claims.Display("aud")}}
	for _, a := range c.Audiences {
		ac.Held = ac.Held || slices.Contains(auds, a)
	}
	if !ac.Held {
		for _, a := range c.Audiences {
			if ac.Note == "" {
				ac.Note = near(a, first(auds))
			}
		}
		if first(c.Audiences) == DefaultAudience && len(auds) > 0 {
			ac.fix = fmt.Sprintf("set the jobs' id_tokens: aud to %q, as the credential expects", DefaultAudience)
		} else {
			ac.fix = fmt.Sprintf("set \"audiences\" to [%q]", first(auds))
		}
	}
	if len(c.Audiences) != 1 {
		ac.Check.AddNote("Entra requires exactly one audience per credential")
	}
	ev.add(ac)

	if c.ClaimsMatchingExpression == nil {
		sc := check{Check: policy.Check{Where: ev.label + ".subject", Test: "subject equals sub: " + strconv.Quote(c.Subject), Claim: "sub", Value: claims.Display("sub")}}
		sc.Held = c.Subject == sub
		if !sc.Held {
			sc.Note = subjectNote(c.Subject, sub)
			sc.fix = fmt.Sprintf("set \"subject\" to %q", sub)
			if strings.ContainsAny(c.Subject, "*?") {
				sc.fix = fmt.Sprintf(`replace "subject" with "claimsMatchingExpression": {"value": %q, "languageVersion": 1} (a flexible credential)`, "claims['sub'] matches "+quote(adaptPattern(c.Subject, sub)))
			}
		}
		ev.add(sc)
		return ev, nil
	}
	e := c.ClaimsMatchingExpression
	if e.LanguageVersion != 1 {
		return nil, fmt.Errorf("%q: claimsMatchingExpression languageVersion %d: Entra knows only version 1; set \"languageVersion\": 1", c.Name, e.LanguageVersion)
	}
	terms, err := parseExpression(e.Value)
	if err != nil {
		return nil, fmt.Errorf("%q: claimsMatchingExpression %q: %w", c.Name, e.Value, err)
	}
	p := flexiblePlatform(c.Issuer)
	if p == nil {
		ev.refuse(check{
			Check: policy.Check{Where: ev.label + ".claimsMatchingExpression", Test: "Entra takes a flexible credential from issuer " + strconv.Quote(c.Issuer), Claim: "iss", Value: claims.Display("iss"), Note: noFlexible(c.Issuer)},
			fix:   fmt.Sprintf(`replace "claimsMatchingExpression" with "subject": %q (an exact subject, one credential per ref)`, sub),
		}, noFlexible(c.Issuer))
	}
	for j, t := range terms {
		where := fmt.Sprintf("%s.claimsMatchingExpression[%d]", ev.label, j)
		if p != nil && !p.supports(t) {
			ev.refuse(unsupportedTerm(where, t, p, c.Issuer, claims), p.unsupported(t, c.Issuer))
			continue
		}
		ev.add(evalTerm(where, t, claims))
	}
	if p == nil {
		return ev, nil
	}
	if claim, why := p.missing(terms); claim != "" {
		add := term{claim: claim, op: "eq", value: strings.ToUpper(claim)}
		if v, ok := claims.String(claim); ok {
			add.value = v
		}
		ev.refuse(check{
			Check: policy.Check{Where: ev.label + ".claimsMatchingExpression", Test: fmt.Sprintf("a %s expression matches claims['%s'] (Entra requires it)", p.name, claim), Claim: claim, Value: claims.Display(claim), Note: why},
			fix:   fmt.Sprintf(`append " and %s" to "claimsMatchingExpression.value"`, add),
		}, why)
	}
	return ev, nil
}

// refuse adds a check that fails whatever the token, because Entra does
// not accept the credential: why.
func (ev *evaluated) refuse(c check, why string) {
	c.Held = false
	ev.add(c)
	if ev.refused == "" {
		ev.refused = why
	}
}

// unsupportedTerm is the failed check of a term Entra does not take for
// the issuer, with the fix that drops it or uses an operator it takes.
func unsupportedTerm(where string, t term, p *platform, iss string, claims policy.Claims) check {
	ch := check{Check: policy.Check{Where: where, Test: t.String(), Claim: t.claim, Value: claims.Display(t.claim), Note: p.unsupported(t, iss)}}
	ch.fix = fmt.Sprintf(`remove %s from "claimsMatchingExpression.value"`, t)
	for _, c := range p.claims {
		if c.claim == t.claim {
			fixed := term{claim: t.claim, op: c.ops[0], value: t.value}
			if v, ok := claims.String(t.claim); ok {
				fixed.value = v
			}
			ch.fix = fmt.Sprintf(`in "claimsMatchingExpression.value", replace %s with %s`, t, fixed)
		}
	}
	if p.name == "GitLab" && t.claim != "project_path" && slices.Contains(policy.SubComponentNames, t.claim) {
		ch.Check.AddNote(fmt.Sprintf("GitLab's sub can carry %s: match it in claims['sub'] (add it to the project's ci_id_token_sub_claim_components)", t.claim))
	}
	return ch
}

func (ev *evaluated) add(c check) {
	ev.checks = append(ev.checks, c)
	if !c.Held {
		ev.failed = append(ev.failed, strings.TrimPrefix(c.Where, ev.label+"."))
	}
}

// evalTerm evaluates one term of an expression; a claim the token lacks,
// or holds as a list, fails it.
func evalTerm(where string, t term, claims policy.Claims) check {
	got, ok := claims.String(t.claim)
	ch := check{Check: policy.Check{Where: where, Test: t.String(), Claim: t.claim, Value: claims.Display(t.claim)}}
	switch t.op {
	case "eq":
		ch.Held = ok && got == t.value
	case "matches":
		ch.Held = ok && matches(t.value, got)
	}
	if ch.Held {
		return ch
	}
	if !ok {
		ch.Check.AddNote(fmt.Sprintf("the token has no string claim %q", t.claim))
		ch.fix = fmt.Sprintf("remove %s from \"claimsMatchingExpression.value\"", t)
		return ch
	}
	match := func(w, g string) bool { return w == g }
	if t.op == "matches" {
		match = matches
	}
	if n := near(t.value, got); n != "" {
		ch.Check.AddNote(n)
	} else if t.claim == "sub" {
		ch.Check.AddNote(subDiff(t.value, got, match))
	}
	if t.op == "eq" && strings.ContainsAny(t.value, "*?") {
		ch.Check.AddNote("eq takes * and ? literally: use matches for a wildcard")
	}
	fixed := t
	fixed.value = got
	if t.op == "matches" {
		fixed.value = adaptPattern(t.value, got)
	}
	ch.fix = fmt.Sprintf("in \"claimsMatchingExpression.value\", replace %s with %s", t, fixed)
	return ch
}

// credentialWarnings are about a credential itself, whatever the token.
func credentialWarnings(label string, c credential) []policy.Warning {
	var w []policy.Warning
	if c.ClaimsMatchingExpression == nil {
		return w
	}
	if p := flexiblePlatform(c.Issuer); p != nil && p.name != "GitLab" {
		return w
	}
	terms, _ := parseExpression(c.ClaimsMatchingExpression.Value)
	for _, t := range terms {
		if t.claim != "sub" || t.op != "matches" || !strings.HasPrefix(t.value, "project_path:") {
			continue
		}
		if path, _, _ := strings.Cut(strings.TrimPrefix(t.value, "project_path:"), ":"); strings.ContainsAny(path, "*?") {
			w = append(w, policy.Warning{ID: "group-wildcard", Message: fmt.Sprintf("%s admits every project whose path matches %q, including ones created later: name each project", label, path)})
		}
	}
	return w
}

// issuerNote says why an issuer that looks right is not.
func issuerNote(want, got string) string {
	switch {
	case strings.TrimSpace(want) != want:
		return "the credential's issuer has leading or trailing whitespace, which Entra refuses"
	case strings.TrimSuffix(want, "/") == strings.TrimSuffix(got, "/"):
		return "differs from iss by a trailing slash: GitLab's iss has none, and Entra compares exactly"
	case strings.Replace(want, "http://", "https://", 1) == got:
		return "http instead of https: GitLab's iss is https"
	case strings.EqualFold(want, got):
		return "differs from iss only in case: Entra compares case-sensitively"
	}
	return ""
}

// subjectNote says why a subject that looks right is not.
func subjectNote(want, got string) string {
	var notes []string
	switch {
	case strings.EqualFold(want, got):
		notes = append(notes, "differs from sub only in case: Entra compares case-sensitively (AADSTS7002138); GitLab writes the path as the project's URL spells it")
	case strings.TrimSpace(want) != want:
		notes = append(notes, "the subject has leading or trailing whitespace")
	}
	if strings.ContainsAny(want, "*?") {
		notes = append(notes, "subject takes * and ? literally; a wildcard needs claimsMatchingExpression (a flexible credential)")
	}
	wc, gc := policy.ComponentsOf(want), policy.ComponentsOf(got)
	switch {
	case strings.HasPrefix(got, "project_id:") && !strings.HasPrefix(want, "project_id:"):
		notes = append(notes, "the token's sub leads with project_id (the project's ci_id_token_sub_claim_components): write the subject the same way")
	case strings.HasPrefix(want, "project_path:") && strings.HasPrefix(got, "project_path:") && strings.Join(wc, ",") != strings.Join(gc, ","):
		notes = append(notes, fmt.Sprintf("the token's sub is built from other components than the subject (the project's ci_id_token_sub_claim_components: %s)", componentList(got)))
	case len(notes) == 0:
		if d := subDiff(want, got, func(w, g string) bool { return w == g }); d != "" {
			notes = append(notes, d)
		}
	}
	return strings.Join(notes, "; ")
}

// componentList names a sub's components, e.g. "project_path, ref, ref_protected".
func componentList(sub string) string {
	parts := strings.Split(sub, ":")
	var names []string
	for i := 0; i < len(parts); i += 2 {
		names = append(names, parts[i])
	}
	return strings.Join(names, ", ")
}

// near says why a near miss missed: case, a trailing slash, whitespace.
func near(want, got string) string {
	switch {
	case want == got:
		return ""
	case strings.EqualFold(want, got):
		return "differs from the token's only in case: Entra compares case-sensitively"
	case strings.TrimSuffix(want, "/") == strings.TrimSuffix(got, "/"):
		return "differs from the token's by a trailing slash"
	case strings.TrimSpace(want) == got:
		return "has leading or trailing whitespace"
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
	return "[" + strings.Join(q, ", ") + "]"
}
