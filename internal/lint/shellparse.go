package lint

import (
	"path"
	"regexp"
	"strings"
)

// A small reader of POSIX shell (and the PowerShell that looks like it)
// for the leak rules: here-documents, pipelines, redirections, quoting
// and parameter expansions, enough to follow a value from a variable to
// where a command prints or writes it. It is not a parser: what it cannot
// read it leaves out, so that a rule reports less, never more.

// shellStep is one command line of a script entry, with its here-document.
type shellStep struct {
	text string // lines continued with \ joined
	body string // the here-document, "" for none
	// bodyExpands is set when the delimiter is unquoted, so that $VAR in
	// the body expands (<<EOF, not <<'EOF').
	bodyExpands bool
	delim       string
}

// shellSteps splits a script entry into its command lines, each with the
// here-document it opens.
func shellSteps(value string) []shellStep {
	lines := shellCommands(value)
	out := make([]shellStep, 0, len(lines))
	for i := 0; i < len(lines); i++ {
		st := shellStep{text: lines[i]}
		if delim, expands, ok := heredocDelim(lines[i]); ok {
			var body []string
			j := i + 1
			for ; j < len(lines) && strings.TrimSpace(lines[j]) != delim; j++ {
				body = append(body, lines[j])
			}
			// Without its delimiter, it is something else (1 << 2).
			if j < len(lines) {
				st.body, st.bodyExpands, st.delim = strings.Join(body, "\n"), expands, delim
				i = j
			}
		}
		out = append(out, st)
	}
	return out
}

// heredocDelim returns the delimiter of the here-document a line opens
// (<<EOF, <<-EOF, <<'EOF'), and whether its body expands variables.
func heredocDelim(line string) (delim string, expands, ok bool) {
	var quote byte
	for i := 0; i+1 < len(line); i++ {
		c := line[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '<' && line[i+1] == '<' && (i+2 >= len(line) || line[i+2] != '<') && (i == 0 || line[i-1] != '<'):
			rest := strings.TrimLeft(strings.TrimPrefix(line[i+2:], "-"), " \t")
			end := strings.IndexAny(rest, " \t;|&><)")
			if end < 0 {
				end = len(rest)
			}
			w := rest[:end]
			if w == "" {
				return "", false, false
			}
			unq := strings.Trim(strings.ReplaceAll(w, `\`, ""), `'"`)
			return unq, unq == w, delimRe.MatchString(unq)
		}
	}
	return "", false, false
}

var delimRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]*$`)

// pipelines splits a command line into its pipelines (at ;, &&, || and
// &), each into its stages (at |), outside quotes, command substitutions
// and ${ }.
func pipelines(line string) [][]string {
	var out [][]string
	var stages []string
	start := 0
	endStage := func(end, next int) {
		stages = append(stages, line[start:end])
		start = next
	}
	endPipeline := func(end, next int) {
		endStage(end, next)
		out = append(out, stages)
		stages = nil
	}
	var quote byte
	depth := 0 // $( ), ${ } and ` ` nesting
	backticks := 0
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == '\\':
			i++
		case quote == '\'':
			if c == '\'' {
				quote = 0
			}
		case c == '\'' && quote == 0 && depth == 0:
			quote = c
		case c == '"':
			if quote == '"' {
				quote = 0
			} else if quote == 0 && depth == 0 {
				quote = c
			}
		case c == '$' && i+1 < len(line) && (line[i+1] == '(' || line[i+1] == '{'):
			depth++
			i++
		case c == '`':
			if backticks%2 == 1 {
				depth--
			} else {
				depth++
			}
			backticks++
		case depth > 0 && (c == ')' || c == '}'):
			depth--
		case depth > 0 && c == '(':
			depth++
		case quote != 0 || depth > 0:
		case c == '|' && i+1 < len(line) && line[i+1] == '|', c == '&' && i+1 < len(line) && line[i+1] == '&':
			endPipeline(i, i+2)
			i++
		case c == '|':
			if i+1 < len(line) && line[i+1] == '&' { // |& pipes stderr too
				endStage(i, i+2)
				i++
			} else {
				endStage(i, i+1)
			}
		case c == ';' || c == '\n':
			endPipeline(i, i+1)
		case c == '&' && (i == 0 || line[i-1] != '>' && line[i-1] != '<') && (i+1 >= len(line) || line[i+1] != '>'):
			endPipeline(i, i+1)
		}
	}
	endPipeline(len(line), len(line))
	// Drop empty pipelines (a trailing ;).
	kept := out[:0]
	for _, p := range out {
		if len(p) > 1 || strings.TrimSpace(p[0]) != "" {
			kept = append(kept, p)
		}
	}
	return kept
}

// command is one simple command, read.
type command struct {
	raw     string
	words   []string // raw, split at blanks (for tracing, keyless)
	name    string   // base name of the command, "" for assignments alone
	args    []string // unquoted, without redirections
	rawArgs []string // as written
	assigns []assignment
	redirs  []redir
	// heredoc is set when the command reads a here-document (<<), and
	// herestring is the word of a here-string (<<<), as written.
	heredoc    bool
	herestring string
	appends    bool
	// refs are the variables raw expands, substitutions included, and
	// argRefs those its arguments expand, outside substitutions: read
	// on first use (refsOf, argRefsOf) and then by every job that runs
	// the command (readCache).
	refs, argRefs         []string
	refsRead, argRefsRead bool
}

// refsOf returns expandedRefs(c.raw, true, false), read once.
func (c *command) refsOf() []string {
	if !c.refsRead {
		c.refs, c.refsRead = expandedRefs(c.raw, true, false), true
	}
	return c.refs
}

// argRefsOf returns the variables the arguments expand as a printer
// prints them, read once.
func (c *command) argRefsOf() []string {
	if !c.argRefsRead {
		c.argRefs, c.argRefsRead = expandedRefs(strings.Join(c.rawArgs, " "), false, false), true
	}
	return c.argRefs
}

// assignment is NAME=value, its value as written.
type assignment struct{ name, value string }

// redir is one redirection: >file, 2>/dev/null, >>file, >&2.
type redir struct {
	fd, op, target string
}

// redirOps are the redirection operators, longest first.
var redirOps = []string{">>", ">|", ">&", ">", "<<<", "<<-", "<<", "<&", "<>", "<"}

// redirection reads the redirection a word starts with: its file
// descriptor (digits, & or none) and operator.
func redirection(w string) (fd, op string, ok bool) {
	i := 0
	if strings.HasPrefix(w, "&") {
		i = 1
	} else {
		for i < len(w) && w[i] >= '0' && w[i] <= '9' {
			i++
		}
	}
	if i == len(w) || w[i] != '>' && w[i] != '<' {
		return "", "", false
	}
	for _, o := range redirOps {
		if strings.HasPrefix(w[i:], o) {
			return w[:i], o, true
		}
	}
	return "", "", false
}

// declarers take NAME=value arguments.
var declarers = map[string]bool{"export": true, "declare": true, "typeset": true, "local": true, "readonly": true}

// leadWords run the command after them.
var leadWords = map[string]bool{
	"then": true, "do": true, "else": true, "elif": true, "if": true, "while": true, "until": true,
	"!": true, "{": true, "(": true, "time": true, "exec": true, "command": true, "builtin": true,
	"nohup": true, "sudo": true,
}

// parseCommand reads one pipeline stage.
func parseCommand(raw string) command {
	c := command{raw: raw}
	toks := shellTokens(raw)
	inName := true
	prefix := false // after sudo or env, whose options come before the command
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		if fd, op, ok := redirection(t.raw); ok && !t.quotedStart {
			r := redir{fd: fd, op: op}
			target := t.raw[len(fd)+len(op):]
			if target == "" && i+1 < len(toks) {
				i++
				target = toks[i].raw
			}
			switch r.op {
			case "<<", "<<-":
				c.heredoc = true
			case "<<<":
				c.herestring = target
			}
			r.target = unquote(target)
			c.redirs = append(c.redirs, r)
			continue
		}
		w := t.text
		if inName {
			if leadWords[w] || strings.HasPrefix(w, "-") && prefix {
				prefix = prefix || w == "sudo"
				continue
			}
			if eq := strings.IndexByte(t.raw, '='); eq > 0 && isName(t.raw[:eq]) {
				c.assigns = append(c.assigns, assignment{t.raw[:eq], t.raw[eq+1:]})
				continue
			}
			if path.Base(w) == "env" && envRunsCommand(toks[i+1:]) {
				prefix = true
				continue
			}
			w = strings.TrimLeft(w, "({")
			if w == "" {
				continue
			}
			c.name = strings.TrimSuffix(path.Base(strings.ReplaceAll(w, `\`, "/")), ".exe")
			inName = false
			continue
		}
		if declarers[c.name] {
			if eq := strings.IndexByte(t.raw, '='); eq > 0 && isName(t.raw[:eq]) {
				c.assigns = append(c.assigns, assignment{t.raw[:eq], t.raw[eq+1:]})
				continue
			}
		}
		c.args = append(c.args, w)
		c.rawArgs = append(c.rawArgs, t.raw)
	}
	for _, r := range c.redirs {
		if r.op == ">>" {
			c.appends = r.fd == "" || r.fd == "1" || r.fd == "&"
		}
	}
	return c
}

// envRunsCommand reports whether env, followed by toks, runs a command
// (env A=1 cmd, env -i cmd) rather than print the environment.
func envRunsCommand(toks []shellToken) bool {
	for _, t := range toks {
		if _, _, ok := redirection(t.raw); ok {
			return false
		}
		if strings.HasPrefix(t.text, "-") {
			continue
		}
		return true
	}
	return false
}

// stdout tells where the command's standard output goes: the last
// redirection of it wins.
func (c *command) stdout() (dest int, target string) {
	dest = toPipe
	for _, r := range c.redirs {
		if r.fd != "" && r.fd != "1" && r.fd != "&" {
			continue
		}
		switch r.op {
		case ">", ">>", ">|":
			switch r.target {
			case "/dev/null", "$null", "NUL", "nul":
				dest, target = toNull, ""
			case "/dev/stderr", "/dev/stdout", "/dev/tty", "/proc/self/fd/1", "/proc/self/fd/2":
				dest, target = toLog, ""
			default:
				dest, target = toFile, r.target
			}
		case ">&":
			if r.target == "1" || r.target == "2" {
				dest, target = toLog, ""
			}
		}
	}
	return dest, target
}

// shellToken is one word of a command: as written, and unquoted.
type shellToken struct {
	raw, text string
	// quotedStart is set when the word begins with a quote (so ">" in it
	// is no redirection).
	quotedStart bool
}

// shellTokens splits a command into words at unquoted blanks; quotes,
// command substitutions and ${ } stay inside their word.
func shellTokens(s string) []shellToken {
	var out []shellToken
	start := -1
	var quote byte
	depth := 0
	flush := func(end int) {
		if start >= 0 {
			r := s[start:end]
			t := shellToken{raw: r, text: r, quotedStart: r[0] == '\'' || r[0] == '"'}
			if strings.ContainsAny(r, "'\"\\") {
				t.text = unquote(r)
			}
			out = append(out, t)
		}
		start = -1
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if start < 0 && c != ' ' && c != '\t' {
			start = i
		}
		switch {
		case c == '\\' && i+1 < len(s) && quote != '\'':
			i++
		case quote != 0:
			if c == quote && depth == 0 {
				quote = 0
			}
		case depth == 0 && (c == '\'' || c == '"'):
			quote = c
		case depth == 0 && (c == ' ' || c == '\t'):
			flush(i)
		case c == '$' && i+1 < len(s) && (s[i+1] == '(' || s[i+1] == '{'):
			depth++
			i++
		case depth > 0 && (c == ')' || c == '}'):
			depth--
		case depth > 0 && c == '(':
			depth++
		}
	}
	flush(len(s))
	return out
}

// unquote removes the quotes of a word.
func unquote(w string) string {
	var b strings.Builder
	var quote byte
	for i := 0; i < len(w); i++ {
		c := w[i]
		switch {
		case c == '\\' && i+1 < len(w) && (quote == 0 || quote == '"' && strings.IndexByte("$`\"\\", w[i+1]) >= 0):
			// In double quotes a backslash escapes only $ ` " and \
			// (C:\tools stays).
			i++
			b.WriteByte(w[i])
		case quote != 0 && c == quote:
			quote = 0
		case quote == 0 && (c == '\'' || c == '"'):
			quote = c
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// expandedRefs returns the variables s expands to their whole value, as
// the shell reads it: not in single quotes, not behind a backslash, not
// ${X:+word}, ${#X}, ${X:0:4} or ${X%…} (which print something else or a
// part), and inside command substitutions only with subst. In a
// here-document body (heredoc) quotes are text.
func expandedRefs(s string, subst, heredoc bool) []string {
	var out []string
	dq := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\':
			i++
		case c == '\'' && !dq && !heredoc:
			if j := strings.IndexByte(s[i+1:], '\''); j >= 0 {
				i += j + 1
			} else {
				i = len(s)
			}
		case c == '"' && !heredoc:
			dq = !dq
		case c == '`' && !subst:
			if j := strings.IndexByte(s[i+1:], '`'); j >= 0 {
				i += j + 1
			} else {
				i = len(s)
			}
		case c == '$' && i+1 < len(s) && s[i+1] == '(':
			if !subst {
				i = closing(s, i+1)
			} else {
				i++
			}
		case c == '$':
			name, full, end := paramRef(s, i)
			if name != "" && full {
				out = append(out, name)
			}
			i = max(end-1, i)
		case c == '%':
			k := i + 1
			for k < len(s) && isNameByte(s[k]) {
				k++
			}
			if k > i+1 && k < len(s) && s[k] == '%' {
				out = append(out, s[i+1:k])
				i = k
			}
		}
	}
	return out
}

// closing returns the index of the parenthesis that closes the one at
// open, or the end of s.
func closing(s string, open int) int {
	depth := 0
	var quote byte
	for i := open; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '(':
			depth++
		case c == ')':
			depth--
			if depth == 0 {
				return i
			}
		}
	}
	return len(s)
}

// paramRef reads the expansion at s[i] == '$': the variable, whether it
// expands to its whole value, and where it ends.
func paramRef(s string, i int) (name string, full bool, end int) {
	j := i + 1
	if strings.HasPrefix(s[j:], "env:") {
		j += 4
	}
	if j < len(s) && s[j] == '{' {
		k := strings.IndexByte(s[j:], '}')
		if k < 0 {
			return "", false, len(s)
		}
		inner := s[j+1 : j+k]
		end = j + k + 1
		inner = strings.TrimPrefix(inner, "env:")
		n := 0
		for n < len(inner) && isNameByte(inner[n]) {
			n++
		}
		if n == 0 || inner[0] >= '0' && inner[0] <= '9' {
			return "", false, end // ${#X}, ${!X}, ${1}
		}
		rest := inner[n:]
		switch {
		case rest == "", strings.HasPrefix(rest, ":-"), strings.HasPrefix(rest, ":="), strings.HasPrefix(rest, ":?"),
			strings.HasPrefix(rest, "-"), strings.HasPrefix(rest, "="), strings.HasPrefix(rest, "?"):
			return inner[:n], true, end
		}
		return inner[:n], false, end
	}
	k := j
	for k < len(s) && isNameByte(s[k]) {
		k++
	}
	if k == j || s[j] >= '0' && s[j] <= '9' {
		return "", false, j
	}
	return s[j:k], true, k
}

// isName reports whether s is a shell variable name.
func isName(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isNameByte(s[i]) || i == 0 && s[i] >= '0' && s[i] <= '9' {
			return false
		}
	}
	return s != ""
}
