package output

import (
	"unicode/utf8"

	"bytes"
	"fmt"
	"gitlab.com/keyless-ci/keyless/internal/detect"
	"io"
	"strconv"
	"strings"
	"unicode"

	"gitlab.com/keyless-ci/keyless/internal/lazyre"
	"gitlab.com/keyless-ci/keyless/internal/lint"
)

// textFormatter writes one block per finding, like actionlint and gcc:
//
//	path:line:col: message [rule-id]
//	12 |   KEY: value
//	   |        ^
//
// then a summary line.
type textFormatter struct{ color bool }

// maxLine is the longest source line shown whole, in characters; a longer
// one is cut around the column.
const maxLine = 200

const (
	ansiReset  = "\x1b[0m"
	ansiBold   = "\x1b[1m"
	ansiRed    = "\x1b[31m"
	ansiGreen  = "\x1b[32m"
	ansiYellow = "\x1b[33m"
	ansiCyan   = "\x1b[36m"
)

func (t *textFormatter) Format(w io.Writer, r *Report) error {
	var b bytes.Buffer
	src := newSourceLines(r)
	for _, f := range r.Findings {
		t.header(&b, f)
		if line, caret, ok := src.snippet(f); ok {
			gutter := strconv.Itoa(f.Pos.Line)
			fmt.Fprintf(&b, "%s | %s\n", gutter, line)
			if caret != "" {
				fmt.Fprintf(&b, "%s | %s%s\n", strings.Repeat(" ", len(gutter)), caret, t.paint(ansiGreen, "^"))
			}
		}
	}
	if len(r.Findings) > 0 {
		b.WriteByte('\n')
	}
	b.WriteString(summary(r.Findings))
	b.WriteByte('\n')
	_, err := w.Write(b.Bytes())
	return err
}

func (t *textFormatter) header(b *bytes.Buffer, f lint.Finding) {
	if loc := location(f); loc != "" {
		b.WriteString(t.paint(ansiBold, loc+":"))
		b.WriteByte(' ')
	}
	b.WriteString(printable(f.Message))
	b.WriteString(" [")
	b.WriteString(t.paint(severityColor(f.Severity), printable(f.Rule)))
	b.WriteString("]\n")
}

// location is "path:line:col", leaving out what is unknown.
func location(f lint.Finding) string {
	p := f.Pos
	if p.File == "" {
		return ""
	}
	s := printable(p.File)
	if p.Line > 0 {
		s += ":" + strconv.Itoa(p.Line)
		if p.Col > 0 {
			s += ":" + strconv.Itoa(p.Col)
		}
	}
	return s
}

func (t *textFormatter) paint(code, s string) string {
	if !t.color || code == "" {
		return s
	}
	return code + s + ansiReset
}

func severityColor(s lint.Severity) string {
	switch {
	case s >= lint.Critical:
		return ansiRed
	case s == lint.Major:
		return ansiYellow
	case s == lint.Minor || s == lint.Info:
		return ansiCyan
	}
	return ""
}

// summary is "N findings (x critical, y major, ...)" or "no findings".
func summary(fs []lint.Finding) string {
	if len(fs) == 0 {
		return "no findings"
	}
	n := countBySeverity(fs)
	var parts []string
	for _, s := range severities {
		if n[s] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n[s], s))
		}
	}
	noun := "findings"
	if len(fs) == 1 {
		noun = "finding"
	}
	s := fmt.Sprintf("%d %s", len(fs), noun)
	if len(parts) > 0 {
		s += " (" + strings.Join(parts, ", ") + ")"
	}
	return s
}

// lineKey is one line of one file.
type lineKey struct {
	file string
	line int
}

// sourceLines gives the source line of a finding, with every secret on
// the line hidden.
type sourceLines struct {
	source func(string) []byte
	files  map[string][]string
	// cut is, for each line holding a secret finding, how many characters
	// of it may be shown: those before the leftmost secret's column. A
	// line with two findings, one a secret, is cut for both.
	cut map[lineKey]int
}

func newSourceLines(r *Report) *sourceLines {
	s := &sourceLines{source: r.Source, files: map[string][]string{}, cut: map[lineKey]int{}}
	for _, f := range r.Findings {
		if !secretFinding(r, f) {
			continue
		}
		k := lineKey{f.Pos.File, f.Pos.Line}
		c := max(f.Pos.Col-1, 0) // column unknown: show none of the line
		if old, ok := s.cut[k]; !ok || c < old {
			s.cut[k] = c
		}
	}
	return s
}

// secretFinding reports whether f is about a secret written at its
// position, whose source line must not be shown whole: its rule is in the
// "secret" group, or its message carries a detect hint ("… (40 chars)").
func secretFinding(r *Report, f lint.Finding) bool {
	m, _ := r.meta(f)
	return m.Group == "secret" || strings.Contains(f.Message, "chars)")
}

// snippet returns the finding's source line as shown and the padding that
// puts a caret under its column ("" for no caret); ok is false when there
// is no line to show.
func (s *sourceLines) snippet(f lint.Finding) (line, pad string, ok bool) {
	if s.source == nil || f.Pos.File == "" || f.Pos.Line <= 0 {
		return "", "", false
	}
	lines, seen := s.files[f.Pos.File]
	if !seen {
		if src := s.source(f.Pos.File); src != nil {
			lines = strings.Split(string(src), "\n")
		}
		s.files[f.Pos.File] = lines
	}
	if f.Pos.Line > len(lines) {
		return "", "", false
	}
	raw := strings.TrimSuffix(lines[f.Pos.Line-1], "\r")
	text := []rune(raw)
	cut, masked := s.cut[lineKey{f.Pos.File, f.Pos.Line}]
	// Any line shown is scanned too: a finding of another rule (a syntax
	// error, say) may sit on a line that holds a secret no rule saw.
	if c, ok := secretAt(raw); ok && (!masked || c < cut) {
		cut, masked = c, true
	}
	if masked {
		if cut == 0 {
			return "", "", false // nothing safe to show
		}
		text = text[:min(cut, len(text))]
	}
	col := f.Pos.Col - 1 // 0-based; -1 when unknown

	// Window: at most maxLine characters, around the column.
	start, end := 0, len(text)
	if len(text) > maxLine {
		if col > maxLine/2 {
			start = col - maxLine/2
		}
		start = min(start, len(text)-maxLine)
		end = start + maxLine
	}
	var b, p strings.Builder
	if start > 0 {
		b.WriteString("…")
		p.WriteByte(' ')
	}
	for i, c := range text[start:end] {
		if c == '\t' {
			b.WriteRune('\t')
		} else {
			b.WriteRune(printableRune(c))
		}
		if start+i < col {
			if c == '\t' {
				p.WriteByte('\t')
			} else {
				p.WriteByte(' ')
			}
		}
	}
	if end < len(text) || masked {
		b.WriteString("…")
	}
	if col < 0 {
		return b.String(), "", true
	}
	// A column past the shown text (a hidden value, the end of the line)
	// leaves the caret right after it, under the "…" of a hidden value.
	return b.String(), p.String(), true
}

// keyLine is a "KEY: value" line, whose key tells detectors what the
// value is.
var keyLine = lazyre.New(`^\s*-?\s*["']?([A-Za-z_][A-Za-z0-9_.-]*)["']?\s*:\s+["']?([^\s"',}\]]+)`)

// secretAt returns the character index of the first secret in line.
func secretAt(line string) (int, bool) {
	first := -1
	for _, m := range detect.Scan(line, detect.Context{Script: true}) {
		if first < 0 || m.Start < first {
			first = m.Start
		}
	}
	if m := keyLine().FindStringSubmatchIndex(line); m != nil {
		for _, d := range detect.Scan(line[m[4]:m[5]], detect.Context{Key: line[m[2]:m[3]]}) {
			if first < 0 || m[4]+d.Start < first {
				first = m[4] + d.Start
			}
		}
	}
	if first < 0 {
		return 0, false
	}
	return utf8.RuneCountInString(line[:first]), true
}

// printable replaces control characters, so that nothing from a finding
// or a file can move the cursor or change colours.
func printable(s string) string {
	return strings.Map(printableRune, s)
}

func printableRune(c rune) rune {
	if unicode.IsControl(c) || c == '\u2028' || c == '\u2029' {
		return '\uFFFD'
	}
	return c
}
