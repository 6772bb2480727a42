package lint

import (
	"bytes"
	"strings"

	"gitlab.com/keyless-ci/keyless/internal/pipeline"
)

// suppressDirective starts an inline suppression: a YAML comment
// "# keyless:ignore[rule-id] reason" (several ids comma-separated) on the
// finding's line or alone on the line above it.
const suppressDirective = "keyless:ignore["

// suppress drops the findings an inline comment silences.
func suppress(p *pipeline.Pipeline, fs []Finding) []Finding {
	src := map[string][]byte{}
	for _, f := range p.Files {
		src[f.Path] = f.Src
	}
	lines := map[string][][]byte{}
	out := fs[:0]
	for _, f := range fs {
		b, ok := src[f.Pos.File]
		if !ok || f.Pos.Line <= 0 || !bytes.Contains(b, []byte(suppressDirective)) {
			out = append(out, f)
			continue
		}
		l, ok := lines[f.Pos.File]
		if !ok {
			l = bytes.Split(b, []byte("\n"))
			lines[f.Pos.File] = l
		}
		if silenced(l, f.Pos.Line, f.Rule) {
			continue
		}
		out = append(out, f)
	}
	return out
}

// silenced reports whether line n (1-based) or the comment line above it
// carries a directive for rule.
func silenced(lines [][]byte, n int, rule string) bool {
	if n <= len(lines) && directiveFor(string(lines[n-1]), rule, false) {
		return true
	}
	return n >= 2 && n-1 <= len(lines) && directiveFor(string(lines[n-2]), rule, true)
}

// directiveFor reports whether line has a suppression comment for rule;
// with alone, the comment must be the whole line.
func directiveFor(line, rule string, alone bool) bool {
	i := strings.Index(line, suppressDirective)
	if i < 0 {
		return false
	}
	hash := strings.LastIndex(line[:i], "#")
	if hash < 0 || strings.TrimSpace(line[hash+1:i]) != "" {
		return false
	}
	if alone && strings.TrimSpace(line[:hash]) != "" {
		return false
	}
	rest := line[i+len(suppressDirective):]
	end := strings.IndexByte(rest, ']')
	if end < 0 {
		return false
	}
	for _, id := range strings.Split(rest[:end], ",") {
		if strings.TrimSpace(id) == rule {
			return true
		}
	}
	return false
}
