package azure

import (
	"errors"
	"fmt"
	"strings"
)

// The flexible federated identity credential expression language, version
// 1 (preview), as Microsoft documents it:
// https://learn.microsoft.com/en-us/entra/workload-id/workload-identities-flexible-federated-identity-credentials
//
//	expression = term { " and " term }
//	term       = "claims['" name "']" " " operator " " comparand
//	operator   = "matches" | "eq"
//	comparand  = "'" { character | "''" } "'"
//
// matches takes ? for one character and * for any run of characters; eq
// compares exactly. Which claims and operators Entra takes from which
// issuer is platforms (flexible.go). The docs say a single quote escapes
// within the language without showing how; we read '' inside a comparand
// as one quote, as OData (Microsoft Graph's syntax) does.

// maxExpression bounds a hostile document's work; the page documents no
// limit on the value.
const maxExpression = 4096

// term is one comparison of an expression.
type term struct {
	claim, op, value string
}

func (t term) String() string {
	return "claims['" + t.claim + "'] " + t.op + " " + quote(t.value)
}

// quote writes s as a comparand.
func quote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// parseExpression parses an expression into its terms, all of which must
// hold. It refuses what it does not understand, as Entra would.
func parseExpression(s string) ([]term, error) {
	if len(s) > maxExpression {
		return nil, fmt.Errorf("longer than %d characters", maxExpression)
	}
	if strings.ContainsAny(s, "‘’“”") {
		return nil, errors.New("it holds curly quotes (‘ ’), as copied from some documentation pages: use straight single quotes (')")
	}
	p := parser{s: strings.TrimSpace(s)}
	var terms []term
	for {
		t, err := p.term()
		if err != nil {
			return nil, err
		}
		terms = append(terms, t)
		if p.done() {
			return terms, nil
		}
		if !p.spaces() || !p.literal("and") || !p.spaces() {
			return nil, fmt.Errorf("expected \" and \" at %s: the language joins terms with and only (no or, not or parentheses)", p.rest())
		}
	}
}

type parser struct {
	s   string
	pos int
}

func (p *parser) done() bool { return p.pos >= len(p.s) }

func (p *parser) rest() string {
	r := p.s[p.pos:]
	if r == "" {
		return "the end"
	}
	if len(r) > 24 {
		r = r[:24] + "…"
	}
	return fmt.Sprintf("%q", r)
}

func (p *parser) literal(lit string) bool {
	if strings.HasPrefix(p.s[p.pos:], lit) {
		p.pos += len(lit)
		return true
	}
	return false
}

// spaces skips one or more blanks. The docs ask for a single space; Entra
// validated the documents we read, so we do not insist.
func (p *parser) spaces() bool {
	start := p.pos
	for p.pos < len(p.s) && (p.s[p.pos] == ' ' || p.s[p.pos] == '\t') {
		p.pos++
	}
	return p.pos > start
}

func (p *parser) term() (term, error) {
	var t term
	if !p.literal("claims['") {
		if p.literal(`claims["`) {
			return t, errors.New(`claim names take single quotes: claims['sub'], not claims["sub"]`)
		}
		return t, fmt.Errorf("expected claims['NAME'] at %s", p.rest())
	}
	end := strings.Index(p.s[p.pos:], "']")
	if end <= 0 {
		return t, errors.New("claims[' is not closed with ']: write claims['sub']")
	}
	t.claim = p.s[p.pos : p.pos+end]
	p.pos += end + 2
	if strings.ContainsAny(t.claim, "'[] ") {
		return t, fmt.Errorf("claim name %q: write claims['NAME']", t.claim)
	}
	if !p.spaces() {
		return t, fmt.Errorf("expected a space and an operator after claims['%s']", t.claim)
	}
	switch {
	case p.literal("matches"):
		t.op = "matches"
	case p.literal("eq"):
		t.op = "eq"
	default:
		return t, fmt.Errorf("unknown operator at %s: use matches (with * and ? wildcards) or eq", p.rest())
	}
	if !p.spaces() {
		return t, fmt.Errorf("expected a space and a quoted value after %s", t.op)
	}
	v, err := p.comparand()
	if err != nil {
		return t, err
	}
	t.value = v
	return t, nil
}

func (p *parser) comparand() (string, error) {
	if !p.literal("'") {
		return "", fmt.Errorf("expected a value in single quotes at %s", p.rest())
	}
	var b strings.Builder
	for p.pos < len(p.s) {
		c := p.s[p.pos]
		p.pos++
		if c != '\'' {
			b.WriteByte(c)
			continue
		}
		if p.pos < len(p.s) && p.s[p.pos] == '\'' {
			b.WriteByte('\'')
			p.pos++
			continue
		}
		return b.String(), nil
	}
	return "", errors.New("a quoted value is not closed with '")
}

// matches reports whether s matches pattern: ? is any one character, *
// any run of characters (none included), all else literal and
// case-sensitive. Two-pointer backtracking keeps it O(len(p)·len(s)).
func matches(pattern, s string) bool {
	p, str := []rune(pattern), []rune(s)
	pi, si := 0, 0
	star, mark := -1, 0
	for si < len(str) {
		switch {
		case pi < len(p) && (p[pi] == '?' || p[pi] == str[si]):
			pi++
			si++
		case pi < len(p) && p[pi] == '*':
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
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}

// adaptPattern returns the smallest change to pattern that matches s: when
// both are GitLab subs (name:value pairs with the same names), only the
// values that do not match are replaced, keeping the other wildcards;
// otherwise s itself.
func adaptPattern(pattern, s string) string {
	pp, sp := strings.Split(pattern, ":"), strings.Split(s, ":")
	if len(pp) != len(sp) || len(pp)%2 != 0 {
		return s
	}
	for i := 0; i < len(pp); i += 2 {
		if pp[i] != sp[i] {
			return s
		}
		if !matches(pp[i+1], sp[i+1]) {
			pp[i+1] = sp[i+1]
		}
	}
	out := strings.Join(pp, ":")
	if !matches(out, s) {
		return s
	}
	return out
}

// subDiff names the components in which two GitLab subs differ, e.g.
// `ref is "main" in the credential, "dev" in the token`; "" when they are
// not built from the same components.
func subDiff(want, got string, match func(w, g string) bool) string {
	wp, gp := strings.Split(want, ":"), strings.Split(got, ":")
	if len(wp) != len(gp) || len(wp)%2 != 0 {
		return ""
	}
	var diffs []string
	for i := 0; i < len(wp); i += 2 {
		if wp[i] != gp[i] {
			return ""
		}
		if !match(wp[i+1], gp[i+1]) {
			d := fmt.Sprintf("%s is %q in the credential, %q in the token", wp[i], wp[i+1], gp[i+1])
			if match(strings.ToLower(wp[i+1]), strings.ToLower(gp[i+1])) {
				d += " (only the case differs, and Entra compares case-sensitively)"
			}
			diffs = append(diffs, d)
		}
	}
	return strings.Join(diffs, "; ")
}
