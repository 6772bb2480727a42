package lint

import (
	"fmt"
	"path"
	"strings"

	"gitlab.com/keyless-ci/keyless/internal/pipeline"
)

// xtraceWithSecrets reports shell tracing turned on in a job while it
// handles secrets: the tracing member of the leak rules (issue 15), which
// share what counts as a secret (leaks.go). CI_DEBUG_TRACE is
// debug-trace's.
var xtraceWithSecrets = xtraceRule{rule{Meta{
	ID:    "xtrace-with-secrets",
	Title: "Shell tracing (set -x) in a job that handles secrets",
	Description: "set -x (set -o xtrace, set -ex and the like) makes the shell print every command it runs, with its arguments expanded, to the job log. " +
		"A line that evals keyless's exports, sets a credential variable from a command's output, or expands an ID token, a secrets: value, a stored credential variable or a variable made from one is printed with the secret in it, " +
		"and the log keeps what GitLab does not mask: it masks the values of masked CI/CD variables and of ID tokens, not the credentials a job gets at run time. " +
		"A line that prints the secret itself (echo $TOKEN) is secret-leak-log's. " +
		"bash -x (or sh -x) traces a script of its own in the same way; keyless cannot see that script, so in a job that holds secrets it is reported with low confidence. " +
		"Remove the tracing, or turn it off (set +x) before the lines that handle secrets and back on (set -x) after them.",
	Severity: Major,
	CWE:      []string{"CWE-532"},
	Group:    "leak",
}}}

type xtraceRule struct{ rule }

func (r xtraceRule) Check(p *Pass) {
	var sites siteFindings
	for _, jl := range p.jobLeakInfos() {
		for _, s := range jl.sessions {
			r.session(p, &sites, jl, s)
		}
	}
	sites.report(p)
}

// session follows tracing through one shell's commands, in order. The
// keyless components turn tracing off around keyless env and back on
// after it (set "-$saved"), which restores the state before the last
// set +x.
func (r xtraceRule) session(p *Pass, sites *siteFindings, jl *jobLeaks, cmds []shellCmd) {
	ji := jl.ji
	var on, saved *pipeline.Pos // where tracing was turned on, while it is on
	var onWhat, savedWhat string
	reported := map[pipeline.Pos]bool{}
	for _, c := range cmds {
		switch change, traced, what := xtraceChange(c.words); {
		case change == xtraceOn:
			if on == nil {
				pos := commandAt(p.Pipeline, c.line, c.text)
				on, onWhat = &pos, what
			}
		case change == xtraceOff:
			saved, savedWhat = on, onWhat
			on = nil
		case change == xtraceRestore:
			on, onWhat = saved, savedWhat
		case traced:
			if why := jl.holdsSecrets(); why != "" {
				pos := commandAt(p.Pipeline, c.line, c.text)
				sites.add(ji.job.Name, Finding{Pos: pos, Key: "traced\x00" + what, Confidence: Low}, func(jobs string) string {
					return fmt.Sprintf("%s runs a script with shell tracing (%s) and holds secrets (%s): tracing prints every command with its expanded arguments, including exported credentials, to the job log; "+
						"drop -x, or have the script turn tracing off (set +x) around the lines that handle secrets", jobs, what, why)
				})
			}
		default:
			// A command that prints a secret itself is secret-leak-log's:
			// removing it removes what tracing would print too.
			if on == nil || reported[*on] || c.prints || c.use == "" {
				continue
			}
			reported[*on] = true
			xtraceFinding(sites, ji, *on, onWhat, c.conf, c.use, commandAt(p.Pipeline, c.line, c.text))
		}
	}
}

// xtraceFinding reports tracing turned on at on (by what) and still on
// where the script uses a secret (use, at).
func xtraceFinding(sites *siteFindings, ji *jobInfo, on pipeline.Pos, what string, conf Confidence, use string, at pipeline.Pos) {
	fix := "remove " + what
	if what != "set -x" && what != "set -o xtrace" {
		fix = "drop x (or xtrace) from " + what
	}
	sites.add(ji.job.Name, Finding{Pos: on, Key: "set\x00" + what, Confidence: conf}, func(jobs string) string {
		return fmt.Sprintf("shell tracing turned on here (%s) in %s is still on when the script %s (%s:%d): tracing prints every command with its expanded arguments, including exported credentials, to the job log; "+
			"%s, or turn tracing off (set +x) around the lines that handle secrets", what, jobs, use, at.File, at.Line, fix)
	})
}

// What a command does to shell tracing.
const (
	xtraceOn      = 1  // set -x, set -ex, set -o xtrace
	xtraceOff     = -1 // set +x, set +o xtrace
	xtraceRestore = 2  // set "-$saved": back to what it was before set +x
)

// xtraceChange tells what a command does to shell tracing (0: nothing);
// traced when it runs a shell that traces its own script (bash -x,
// sh -xe). what is the command as the message shows it.
func xtraceChange(words []string) (change int, traced bool, what string) {
	for len(words) > 0 {
		switch words[0] {
		case "then", "do", "else", "{", "(", "!", "time", "exec":
			words = words[1:]
			continue
		}
		break
	}
	if len(words) < 2 {
		return 0, false, ""
	}
	switch cmd := path.Base(strings.ReplaceAll(words[0], `\`, "/")); cmd {
	case "set":
		for i := 1; i < len(words); i++ {
			w := strings.Trim(words[i], `"'`)
			if w == "--" || len(w) < 2 || (w[0] != '-' && w[0] != '+') {
				break
			}
			if strings.Contains(w, "$") {
				return xtraceRestore, false, "set " + w
			}
			sign := 1
			if w[0] == '+' {
				sign = -1
			}
			if strings.ContainsRune(w[1:], 'x') {
				return sign, false, "set " + w
			}
			if strings.ContainsRune(w[1:], 'o') && i+1 < len(words) {
				// -o takes an option name: set -o pipefail -o xtrace
				if i++; words[i] == "xtrace" {
					return sign, false, "set " + w + " xtrace"
				}
			}
		}
	case "bash", "sh", "dash", "ash", "ksh", "zsh", "bash.exe", "sh.exe":
		for i := 1; i < len(words); i++ {
			w := strings.Trim(words[i], `"'`)
			if len(w) < 2 || w[0] != '-' || w == "--" {
				break
			}
			if strings.ContainsRune(w[1:], 'x') && !strings.HasPrefix(w, "--") || strings.ContainsRune(w[1:], 'o') && i+1 < len(words) && words[i+1] == "xtrace" {
				return 0, true, strings.TrimSuffix(cmd, ".exe") + " " + w
			}
		}
	}
	return 0, false, ""
}
