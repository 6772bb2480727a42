package output

import (
	"strings"
	"testing"

	"gitlab.com/keyless-ci/keyless/internal/lint"
	"gitlab.com/keyless-ci/keyless/internal/pipeline"
)

// caretAt returns the shown character the caret points at: pad mirrors
// the shown line character for character (tabs for tabs), so the caret
// sits under the character at pad's length.
func caretAt(line, pad string) (rune, bool) {
	r := []rune(line)
	n := len([]rune(pad))
	if n >= len(r) {
		return 0, false
	}
	return r[n], true
}

func TestSnippet(t *testing.T) {
	long := "  script: echo " + strings.Repeat("x", 150) + " $TOKEN " + strings.Repeat("y", 150)
	tests := []struct {
		name    string
		src     string // nil content when "<nil>"
		line    int
		col     int
		secret  bool
		want    string // the shown line; "" for none
		caretOn rune   // 0: no caret expected
	}{
		{name: "plain", src: "a: 1\n  key: value\n", line: 2, col: 8, want: "  key: value", caretOn: 'v'},
		{name: "tabs kept", src: "\tkey:\tvalue", line: 1, col: 7, want: "\tkey:\tvalue", caretOn: 'v'},
		{name: "crlf", src: "a: 1\r\nb: 2\r\n", line: 2, col: 4, want: "b: 2", caretOn: '2'},
		{name: "multibyte", src: "  ключ: значение", line: 1, col: 9, want: "  ключ: значение", caretOn: 'з'},
		{name: "no column", src: "key: value", line: 1, col: 0, want: "key: value"},
		{name: "column at end of line", src: "key:", line: 1, col: 5, want: "key:"},
		{name: "line past end", src: "key: value", line: 3, col: 1},
		{name: "nil source", src: "<nil>", line: 1, col: 1},
		{name: "long line, column in the middle", src: long, line: 1, col: 167, caretOn: '$'},
		{name: "long line, column near start", src: long, line: 1, col: 3, caretOn: 's'},
		{name: "long line, column near end", src: long, line: 1, col: len(long) - 1, caretOn: 'y'},
		{name: "secret", src: "  KEY: hunter2hunter2", line: 1, col: 8, secret: true, want: "  KEY: …", caretOn: '…'},
		{name: "secret at column 1", src: "hunter2hunter2", line: 1, col: 1, secret: true},
		{name: "secret, column unknown", src: "KEY: hunter2hunter2", line: 1, col: 0, secret: true},
		{name: "control characters", src: "a: \x1b[2Jb\x07", line: 1, col: 1, want: "a: \uFFFD[2Jb\uFFFD", caretOn: 'a'},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &Report{
				Rules: []lint.Meta{{ID: "hardcoded-secret", Group: "secret"}, {ID: "other", Group: "oidc"}},
				Source: func(string) []byte {
					if tt.src == "<nil>" {
						return nil
					}
					return []byte(tt.src)
				},
			}
			f := lint.Finding{Rule: "other", Pos: pipeline.Pos{File: "f.yml", Line: tt.line, Col: tt.col}}
			if tt.secret {
				f.Rule = "hardcoded-secret"
			}
			r.Findings = []lint.Finding{f}
			line, pad, ok := newSourceLines(r).snippet(f)
			if !ok {
				if tt.want != "" || tt.caretOn != 0 {
					t.Fatalf("no snippet, want %q", tt.want)
				}
				return
			}
			if tt.want == "" && tt.caretOn == 0 {
				t.Fatalf("snippet %q, want none", line)
			}
			if tt.want != "" && line != tt.want {
				t.Errorf("line %q, want %q", line, tt.want)
			}
			if n := len([]rune(line)); n > maxLine+2 {
				t.Errorf("line of %d characters, want at most %d and two \"…\"", n, maxLine)
			}
			if strings.Contains(tt.src, "hunter2") && strings.Contains(line, "hunt") {
				t.Errorf("line %q shows the secret", line)
			}
			if tt.caretOn == 0 {
				if pad != "" && tt.col == 0 {
					t.Errorf("caret padding %q for a finding without a column", pad)
				}
				return
			}
			if got, ok := caretAt(line, pad); !ok || got != tt.caretOn {
				t.Errorf("caret under %q in %q (pad %q), want %q", got, line, pad, tt.caretOn)
			}
		})
	}
}

// TestSecretHidesLine checks that a finding sharing a line with a secret
// does not show the secret, and that a message's detect hint ("(N chars)")
// hides the line even when the rule's group is not known.
func TestSecretHidesLine(t *testing.T) {
	src := []byte(`A: {S: hunter2hunter2, B: "*"}`)
	r := &Report{
		Rules:  []lint.Meta{{ID: "hardcoded-secret", Group: "secret"}, {ID: "aud", Group: "oidc"}},
		Source: func(string) []byte { return src },
		Findings: []lint.Finding{
			{Rule: "hardcoded-secret", Severity: lint.Critical, Message: "secret", Pos: pipeline.Pos{File: "f.yml", Line: 1, Col: 8}},
			{Rule: "aud", Severity: lint.Minor, Message: "aud", Pos: pipeline.Pos{File: "f.yml", Line: 1, Col: 27}},
		},
	}
	out := formatString(t, "text", false, r)
	if strings.Contains(out, "hunt") || !strings.Contains(out, "1 | A: {S: …\n") {
		t.Errorf("a line with a secret is shown unmasked:\n%s", out)
	}

	r.Rules = nil
	r.Findings = []lint.Finding{{Rule: "unlisted", Severity: lint.Major, Message: "token hunt… (14 chars) written", Pos: pipeline.Pos{File: "f.yml", Line: 1, Col: 8}}}
	out = formatString(t, "text", false, r)
	if strings.Contains(out, "hunter2") || !strings.Contains(out, "1 | A: {S: …\n") {
		t.Errorf("a finding with a detect hint shows its line unmasked:\n%s", out)
	}
}

func TestTextColor(t *testing.T) {
	out := formatString(t, "text", true, fixtureReport())
	for _, want := range []string{
		"\x1b[1m.gitlab-ci.yml:2:22:\x1b[0m",      // bold location
		"[\x1b[31mhardcoded-aws-key\x1b[0m]",      // critical: red
		"[\x1b[31mstored-docker-auth\x1b[0m]",     // blocker: red
		"[\x1b[33mstored-aws-credentials\x1b[0m]", // major: yellow
		"[\x1b[36mid-token-aud-wildcard\x1b[0m]",  // minor: cyan
		"[\x1b[36minclude\x1b[0m]",                // info: cyan
		"\x1b[32m^\x1b[0m",                        // green caret
	} {
		if !strings.Contains(out, want) {
			t.Errorf("colored text lacks %q:\n%s", want, out)
		}
	}
}

func TestSummary(t *testing.T) {
	tests := []struct {
		sevs []lint.Severity
		want string
	}{
		{nil, "no findings"},
		{[]lint.Severity{lint.Major}, "1 finding (1 major)"},
		{[]lint.Severity{lint.Info, lint.Critical, lint.Info, lint.Blocker}, "4 findings (1 blocker, 1 critical, 2 info)"},
	}
	for _, tt := range tests {
		var fs []lint.Finding
		for _, s := range tt.sevs {
			fs = append(fs, lint.Finding{Severity: s})
		}
		if got := summary(fs); got != tt.want {
			t.Errorf("summary(%v) = %q, want %q", tt.sevs, got, tt.want)
		}
	}
}

// A finding that is not about a secret (a syntax error, say) on a line
// that holds one: the line is scanned and cut before the secret.
func TestLineOfAnotherRuleIsScannedForSecrets(t *testing.T) {
	// Synthetic test data shaped as a GitLab token and an AWS secret key.
	for _, line := range []string{
		`  - curl -H "PRIVATE-TOKEN: glpat-Zq8Vn2Lr7Tz4Kp1Xw9Hc" "$API" {`,
		`  AWS_SECRET_ACCESS_KEY: q8Vn2Lr7Tz4Kp1Xw9Hc6Bf3Jm5Sd0Gy8Ua2Ne7Rk }`,
	} {
		src := []byte(line)
		r := &Report{
			Rules:    []lint.Meta{{ID: "syntax", Group: "syntax"}},
			Source:   func(string) []byte { return src },
			Findings: []lint.Finding{{Rule: "syntax", Severity: lint.Major, Message: "did not find expected key", Pos: pipeline.Pos{File: "f.yml", Line: 1, Col: len(line)}}},
		}
		out := formatString(t, "text", false, r)
		if strings.Contains(out, "Zq8Vn2") || strings.Contains(out, "q8Vn2L") || !strings.Contains(out, "…") {
			t.Errorf("the secret on the line of a syntax finding is shown:\n%s", out)
		}
	}
}
