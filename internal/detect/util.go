package detect

import "strings"

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isUpper(c byte) bool { return c >= 'A' && c <= 'Z' }
func isLower(c byte) bool { return c >= 'a' && c <= 'z' }
func isAlnum(c byte) bool { return isDigit(c) || isUpper(c) || isLower(c) }

// isUpperAlnum is the alphabet of an AWS access key id.
func isUpperAlnum(c byte) bool { return isDigit(c) || isUpper(c) }

// isB64 is the standard base64 alphabet without padding.
func isB64(c byte) bool { return isAlnum(c) || c == '+' || c == '/' }

// isB64URL is the URL-safe base64 alphabet without padding.
func isB64URL(c byte) bool { return isAlnum(c) || c == '_' || c == '-' }

// isTokenChar is the alphabet of GitLab tokens, routable ones included.
func isTokenChar(c byte) bool { return isB64URL(c) || c == '.' }

func isHex(c byte) bool {
	return isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// runEnd returns the end of the run of bytes in class starting at i.
func runEnd(s string, i int, class func(byte) bool) int {
	for i < len(s) && class(s[i]) {
		i++
	}
	return i
}

// runStart returns the start of the run of bytes in class ending at i.
func runStart(s string, i int, class func(byte) bool) int {
	for i > 0 && class(s[i-1]) {
		i--
	}
	return i
}

// leftBounded reports whether s[i] starts a word: nothing alphanumeric
// right before it.
func leftBounded(s string, i int) bool { return i == 0 || !isAlnum(s[i-1]) }

// all reports whether every byte of s is in class.
func all(s string, class func(byte) bool) bool {
	for i := 0; i < len(s); i++ {
		if !class(s[i]) {
			return false
		}
	}
	return true
}

// classes counts the character classes (lower, upper, digit, other) in s.
func classes(s string) int {
	var l, u, d, o int
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case isLower(c):
			l = 1
		case isUpper(c):
			u = 1
		case isDigit(c):
			d = 1
		default:
			o = 1
		}
	}
	return l + u + d + o
}

// hasFold reports whether s contains sub, ASCII case-insensitively, without
// allocating. sub must be lower case.
func hasFold(s, sub string) bool { return indexFold(s, sub) >= 0 }

// indexFold is strings.Index, ASCII case-insensitive; sub must be lower case.
func indexFold(s, sub string) int {
	n := len(sub)
	if n == 0 {
		return 0
	}
	first := sub[0]
	for i := 0; i+n <= len(s); i++ {
		c := s[i]
		if c|0x20 != first && c != first {
			continue
		}
		ok := true
		for j := 1; j < n; j++ {
			c := s[i+j]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != sub[j] {
				ok = false
				break
			}
		}
		if ok {
			return i
		}
	}
	return -1
}

// reference reports whether v is, or contains, a variable reference or a
// command substitution rather than a literal: $VAR, ${VAR}, $(cmd), `cmd`,
// %24VAR (URL-encoded $), %VAR% (cmd.exe), $[[ inputs.x ]], {{ tmpl }}.
func reference(v string) bool {
	if strings.ContainsAny(v, "$`") {
		return true
	}
	if hasFold(v, "%24") || strings.Contains(v, "{{") {
		return true
	}
	if len(v) > 2 && v[0] == '%' && v[len(v)-1] == '%' {
		return true
	}
	return false
}

// literalSecret reports whether a value found at a password position (after
// -p, in a URL's userinfo) is a literal worth reporting.
func literalSecret(v string) bool {
	return v != "" && v != "-" && !reference(v) && !isPlaceholder(v)
}

// shArg is one shell word: its unquoted text and the byte span of that text
// in the line (inside the quotes when the whole word is quoted).
type shArg struct {
	val        string
	start, end int
}

// shellWords splits the command that starts at from into words, stopping at
// the end of the command (newline, ;, |, &). It is a small approximation of
// POSIX word splitting that is enough to find an option's argument.
func shellWords(s string, from, max int) []shArg {
	var out []shArg
	i := from
	for len(out) < max {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t' || (s[i] == '\\' && i+1 < len(s) && s[i+1] == '\n')) {
			if s[i] == '\\' {
				i++
			}
			i++
		}
		if i >= len(s) {
			break
		}
		switch s[i] {
		case '\n', '\r', ';', '|', '&', ')':
			return out
		}
		start := i
		var b strings.Builder
		simpleQuoted := false
		for i < len(s) {
			c := s[i]
			if c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == ';' || c == '|' || c == '&' {
				break
			}
			if c == '\'' || c == '"' {
				j := strings.IndexByte(s[i+1:], c)
				if j < 0 {
					b.WriteString(s[i+1:])
					i = len(s)
					break
				}
				if i == start && (i+1+j+1 == len(s) || strings.IndexByte(" \t\n\r;|&", s[i+1+j+1]) >= 0) {
					simpleQuoted = true
				}
				b.WriteString(s[i+1 : i+1+j])
				i += j + 2
				continue
			}
			if c == '\\' && i+1 < len(s) {
				b.WriteByte(s[i+1])
				i += 2
				continue
			}
			b.WriteByte(c)
			i++
		}
		a := shArg{val: b.String(), start: start, end: i}
		if simpleQuoted {
			a.start, a.end = start+1, i-1
		}
		out = append(out, a)
	}
	return out
}

// maxCommandLookback bounds how far commandStart looks back, so that a
// value repeating "docker login" stays linear.
const maxCommandLookback = 512

// commandStart returns the start of the shell command containing i: just
// after the previous newline, ;, | or &, at most maxCommandLookback bytes
// back.
func commandStart(s string, i int) int {
	floor := i - maxCommandLookback
	if floor < 0 {
		floor = 0
	}
	for i > floor {
		switch s[i-1] {
		case '\n', ';', '|', '&':
			return i
		}
		i--
	}
	return floor
}

// optionValue finds the argument of an option among the words of s:
// "-p X", "--password X", "--password=X". names lists the spellings, e.g.
// "-p", "--password".
func optionValue(s string, words []shArg, names ...string) (shArg, bool) {
	for k, w := range words {
		for _, n := range names {
			if w.val == n && k+1 < len(words) {
				return words[k+1], true
			}
			if !strings.HasPrefix(n, "--") || !strings.HasPrefix(w.val, n+"=") {
				continue
			}
			a := shArg{val: w.val[len(n)+1:], start: w.start, end: w.end}
			if raw := s[w.start:w.end]; strings.HasPrefix(raw, n+"=") {
				a.start += len(n) + 1
				if r := s[a.start:a.end]; len(r) >= 2 && (r[0] == '"' || r[0] == '\'') && r[len(r)-1] == r[0] {
					a.start++
					a.end--
				}
			}
			return a, true
		}
	}
	return shArg{}, false
}
