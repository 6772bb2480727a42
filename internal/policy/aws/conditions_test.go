package aws

import (
	"strings"
	"testing"

	"gitlab.com/keyless-ci/keyless/internal/policy"
)

// IAM's operator semantics, one key at a time: values are ORed (NORed when
// negated), an absent key fails a positive operator and satisfies a
// negated one, IfExists holds on an absent key, ForAnyValue needs one
// context value to satisfy the operator and ForAllValues every one (and
// holds on none). Null "true" asks for the key to be absent.
func TestOperators(t *testing.T) {
	one := contextValue{claim: "sub", values: []string{"project_path:acme/web:ref_type:branch:ref:main"}, present: true}
	two := contextValue{claim: "aud", values: []string{"sts.amazonaws.com", "https://vault.example.com"}, present: true}
	empty := contextValue{claim: "amr", values: []string{""}, present: true}
	absent := contextValue{claim: "amr"}
	const sub = "project_path:acme/web:ref_type:branch:ref:main"
	for _, tc := range []struct {
		op   string
		want []string
		cv   contextValue
		held bool
	}{
		{"StringEquals", []string{sub}, one, true},
		{"StringEquals", []string{"x", sub}, one, true},
		{"StringEquals", []string{strings.ToUpper(sub)}, one, false},
		{"StringEquals", []string{"project_path:acme/*"}, one, false},
		{"StringEquals", []string{sub}, absent, false},
		{"StringNotEquals", []string{sub}, one, false},
		{"StringNotEquals", []string{"x", "y"}, one, true},
		{"StringNotEquals", []string{"x", sub}, one, false},
		{"StringNotEquals", []string{sub}, absent, true},
		{"StringEqualsIgnoreCase", []string{strings.ToUpper(sub)}, one, true},
		{"StringNotEqualsIgnoreCase", []string{strings.ToUpper(sub)}, one, false},
		{"StringLike", []string{"project_path:acme/*"}, one, true},
		{"StringLike", []string{"project_path:acme/we?:*"}, one, true},
		{"StringLike", []string{"project_path:ACME/*"}, one, false},
		{"StringLike", []string{"*"}, absent, false},
		{"StringNotLike", []string{"*:ref:dev", "*:ref:main"}, one, false},
		{"StringNotLike", []string{"*:ref:dev"}, one, true},
		{"StringNotLike", []string{"*"}, absent, true},
		{"StringEqualsIfExists", []string{"mfa"}, absent, true},
		{"StringEqualsIfExists", []string{"x"}, one, false},
		{"StringNotLikeIfExists", []string{"*"}, one, false},
		{"StringEquals", []string{"https://vault.example.com"}, two, true},
		{"ForAnyValue:StringEquals", []string{"sts.amazonaws.com"}, two, true},
		{"ForAnyValue:StringEquals", []string{"x"}, two, false},
		{"ForAnyValue:StringEquals", []string{"x"}, absent, false},
		{"ForAnyValue:StringNotEquals", []string{"sts.amazonaws.com"}, two, true},
		{"ForAllValues:StringEquals", []string{"sts.amazonaws.com"}, two, false},
		{"ForAllValues:StringEquals", []string{"sts.amazonaws.com", "https://vault.example.com"}, two, true},
		{"ForAllValues:StringLike", []string{"*.com"}, two, true},
		{"ForAllValues:StringEquals", []string{"x"}, absent, true},
		{"ForAllValues:StringEquals", []string{"x"}, empty, true},
		{"ForAllValues:StringNotEquals", []string{"sts.amazonaws.com"}, two, false},
		{"ForAllValues:StringNotEquals", []string{"x"}, two, true},
		{"ForAnyValue:StringEqualsIfExists", []string{"x"}, absent, true},
		{"Null", []string{"true"}, absent, true},
		{"Null", []string{"true"}, one, false},
		{"Null", []string{"false"}, one, true},
		{"Null", []string{"false", "true"}, absent, true},
		{"NumericLessThan", []string{"1"}, absent, false},
		{"NumericNotEquals", []string{"1"}, absent, true},
		{"BoolIfExists", []string{"true"}, absent, true},
		{"ArnLike", []string{"*"}, one, false},
	} {
		o, ok := parseOperator(tc.op)
		if !ok {
			t.Errorf("%s: not an operator", tc.op)
			continue
		}
		got, _, _ := o.eval(tc.want, tc.cv, request{})
		if got != tc.held {
			t.Errorf("%s %q against %q (present %v) = %v, want %v", tc.op, tc.want, tc.cv.values, tc.cv.present, got, tc.held)
		}
	}
	for _, op := range []string{"StringMatches", "stringequals", "ForSomeValues:StringEquals", "ForAnyValue:Null", "NullIfExists", ""} {
		if _, ok := parseOperator(op); ok {
			t.Errorf("%q: an operator", op)
		}
	}
}

func TestGlob(t *testing.T) {
	for _, tc := range []struct {
		p, s string
		want bool
	}{
		{"*", "", true}, {"a*c", "abc", true}, {"a*c", "ab", false}, {"a?c", "abc", true}, {"a?c", "ac", false},
		{"project_path:acme/*:ref_type:branch:ref:*", "project_path:acme/x/y:ref_type:branch:ref:main", true},
		{"project_path:acme/*", "project_path:acme-evil/web", false},
		{"ABC", "abc", false}, {"*a*a*a*a*a*b", strings.Repeat("a", 200), false},
		{"é?", "éü", true}, {"**", "x", true},
	} {
		if got := glob(tc.p, tc.s); got != tc.want {
			t.Errorf("glob(%q, %q) = %v", tc.p, tc.s, got)
		}
	}
}

// Policy variables, in Version 2012-10-17 only: ${*} ${?} ${$} are
// literal characters, ${key} a single-valued key's value, ${key, 'x'} its
// default.
func TestVariables(t *testing.T) {
	claims := policy.Claims{"iss": "https://gitlab.com", "aud": "sts.amazonaws.com", "sub": "a*b"}
	for _, tc := range []struct {
		version, op, value string
		held               bool
	}{
		{"2012-10-17", "StringLike", "a${*}b", true},
		{"2012-10-17", "StringLike", "a${*}", false},
		{"2012-10-17", "StringEquals", "a${*}b", true},
		{"2008-10-17", "StringEquals", "a${*}b", false},
		{"", "StringLike", "a${*}b", false},
		{"2012-10-17", "StringLike", "${gitlab.com:sub}", true},
		{"2012-10-17", "StringEquals", "${gitlab.com:amr, 'a*b'}", true},
		{"2012-10-17", "StringEquals", "${gitlab.com:amr}", false},
		{"2012-10-17", "StringNotEquals", "${gitlab.com:amr}", true},
	} {
		r := newRequest(claims, tc.version)
		c := evalCondition("Statement[0]", tc.op, "gitlab.com:sub", []string{tc.value}, r)
		if c.Held != tc.held {
			t.Errorf("Version %q: %s %q: held %v, want %v (%s)", tc.version, tc.op, tc.value, c.Held, tc.held, c.Note)
		}
	}
}

// Condition keys name the provider without scheme or trailing slash, in
// any case; only the OIDC keys IAM documents are set.
func TestLookup(t *testing.T) {
	r := newRequest(policy.Claims{"iss": "https://gitlab.example.com/gitlab", "sub": "s", "aud": []any{"a", "b"}, "ref": "main"}, "2012-10-17")
	for _, tc := range []struct {
		key, claim, rename string
		present            bool
	}{
		{"gitlab.example.com/gitlab:sub", "sub", "", true},
		{"GitLab.Example.com/GitLab:AUD", "aud", "", true},
		{"gitlab.example.com/gitlab:amr", "amr", "", false},
		{"gitlab.example.com/gitlab:ref", "", "", false},
		{"https://gitlab.example.com/gitlab:sub", "", "gitlab.example.com/gitlab:sub", false},
		{"gitlab.example.com/gitlab/:aud", "", "gitlab.example.com/gitlab:aud", false},
		{"gitlab.example.com:sub", "", "gitlab.example.com/gitlab:sub", false},
		{"aws:SourceIp", "", "", false},
		{"sub", "", "", false},
	} {
		cv := r.lookup(tc.key)
		if cv.claim != tc.claim || cv.rename != tc.rename || cv.present != tc.present {
			t.Errorf("lookup(%q) = claim %q rename %q present %v, want %q %q %v", tc.key, cv.claim, cv.rename, cv.present, tc.claim, tc.rename, tc.present)
		}
		if cv.claim == "" && cv.unset == "" {
			t.Errorf("lookup(%q): no reason the key is never set", tc.key)
		}
	}
}
