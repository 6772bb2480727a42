package migrate

import (
	"fmt"
	"strings"

	"gitlab.com/keyless-ci/keyless/internal/detect"
)

// Diff is the unified diff of the changes (diff -u, paths a/ and b/).
// A line in which the secret detectors find a value has it replaced by
// its hint: the diff is for reading, --write applies the change.
func (r *Result) Diff() string {
	var b strings.Builder
	for _, c := range r.Changes {
		b.WriteString(unified(c.Path, splitLines(string(c.Before)), splitLines(string(c.After))))
	}
	return b.String()
}

func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	lines := strings.SplitAfter(s, "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	return lines
}

// op is one line of an edit script: ' ' kept, '-' removed, '+' added.
type op struct {
	kind byte
	a, b int // line indexes in the old and new text
}

// diffLines is Myers' O(ND) difference of a and b, as an edit script.
func diffLines(a, b []string) []op {
	n, m := len(a), len(b)
	max := n + m
	v := make([]int, 2*max+2)
	var trace [][]int
	for d := 0; d <= max; d++ {
		vc := make([]int, len(v))
		copy(vc, v)
		trace = append(trace, vc)
		for k := -d; k <= d; k += 2 {
			var x int
			if k == -d || (k != d && v[max+k-1] < v[max+k+1]) {
				x = v[max+k+1]
			} else {
				x = v[max+k-1] + 1
			}
			y := x - k
			for x < n && y < m && a[x] == b[y] {
				x++
				y++
			}
			v[max+k] = x
			if x >= n && y >= m {
				return backtrack(trace, a, b, d, max)
			}
		}
	}
	return nil
}

func backtrack(trace [][]int, a, b []string, d, max int) []op {
	x, y := len(a), len(b)
	var out []op
	for ; d > 0; d-- {
		v := trace[d]
		k := x - y
		var pk int
		if k == -d || (k != d && v[max+k-1] < v[max+k+1]) {
			pk = k + 1
		} else {
			pk = k - 1
		}
		px := v[max+pk]
		py := px - pk
		for x > px && y > py {
			x--
			y--
			out = append(out, op{' ', x, y})
		}
		if x == px {
			y--
			out = append(out, op{'+', x, y})
		} else {
			x--
			out = append(out, op{'-', x, y})
		}
	}
	for x > 0 && y > 0 {
		x--
		y--
		out = append(out, op{' ', x, y})
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

// unified writes the hunks of the difference with three lines of
// context.
func unified(path string, a, b []string) string {
	ops := diffLines(a, b)
	const ctx = 3
	var out strings.Builder
	fmt.Fprintf(&out, "--- a/%s\n+++ b/%s\n", path, path)
	for i := 0; i < len(ops); {
		if ops[i].kind == ' ' {
			i++
			continue
		}
		start := max(i-ctx, 0)
		end := i
		for end < len(ops) {
			if ops[end].kind != ' ' {
				end++
				continue
			}
			j := end
			for j < len(ops) && ops[j].kind == ' ' {
				j++
			}
			if j == len(ops) || j-end > 2*ctx {
				end = min(end+ctx, len(ops))
				break
			}
			end = j
		}
		aStart, bStart, aN, bN := -1, -1, 0, 0
		var body strings.Builder
		for _, o := range ops[start:end] {
			line := ""
			switch o.kind {
			case ' ':
				line = a[o.a]
				aN++
				bN++
			case '-':
				line = a[o.a]
				aN++
			case '+':
				line = b[o.b]
				bN++
			}
			if aStart < 0 {
				aStart, bStart = o.a, o.b
			}
			body.WriteByte(o.kind)
			body.WriteString(redact(line))
			if !strings.HasSuffix(line, "\n") {
				body.WriteString("\n\\ No newline at end of file\n")
			}
		}
		fmt.Fprintf(&out, "@@ -%s +%s @@\n%s", hunkRange(aStart, aN), hunkRange(bStart, bN), body.String())
		i = end
	}
	return out.String()
}

func hunkRange(start, n int) string {
	if n == 0 {
		return fmt.Sprintf("%d,0", start)
	}
	if n == 1 {
		return fmt.Sprintf("%d", start+1)
	}
	return fmt.Sprintf("%d,%d", start+1, n)
}

// redact replaces what the secret detectors find in line by its hint.
func redact(line string) string {
	ms := detect.Scan(line, detect.Context{Script: true})
	for i := len(ms) - 1; i >= 0; i-- {
		mt := ms[i]
		if mt.Start >= 0 && mt.End <= len(line) && mt.Start < mt.End {
			line = line[:mt.Start] + "<redacted: " + mt.Hint + ">" + line[mt.End:]
		}
	}
	return line
}
