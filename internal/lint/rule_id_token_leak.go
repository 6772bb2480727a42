package lint

import (
	"fmt"
	"net/url"
	"strings"

	"gitlab.com/keyless-ci/keyless/internal/pipeline"
)

// idTokenLeak reports ID tokens printed to the job log, written to
// artifacts, or sent to a host that is not their audience.
var idTokenLeak = idTokenLeakRule{rule{Meta{
	ID:    "id-token-leak",
	Title: "ID token printed, saved as an artifact or sent elsewhere",
	Description: "An ID token is a bearer credential until it expires: whoever holds it can exchange it for the cloud role it is meant for. " +
		"The job prints it (echo, printf, cat of a file holding it) to the log that everyone with access to the job can read, writes it to a file in the project directory that artifacts: or cache: keep, " +
		"or sends it with curl or wget to a host that is not its audience.",
	Severity: Major,
	CWE:      []string{"CWE-532"},
	Group:    "oidc",
}}}

type idTokenLeakRule struct{ rule }

func (r idTokenLeakRule) Check(p *Pass) {
	var sites siteFindings
	for _, ji := range p.jobInfos() {
		toks := map[string][]string{} // token variable -> its audiences
		for _, t := range ji.tokens {
			toks[t.name] = t.audiences()
		}
		for _, l := range ji.lines {
			if strings.Contains(l.Value, "CI_JOB_JWT") {
				for _, n := range []string{"CI_JOB_JWT", "CI_JOB_JWT_V1", "CI_JOB_JWT_V2"} {
					if refersTo(l.Value, n) {
						toks[n] = nil
					}
				}
			}
		}
		if len(toks) == 0 {
			continue
		}
		saved := savedPaths(ji.job.Node)
		files := map[string]string{} // file written with a token -> the token
		for _, l := range ji.lines {
			for _, cmd := range commands(l.Value) {
				for tok, aud := range toks {
					if !refersTo(cmd, tok) {
						continue
					}
					if what := leak(cmd, tok, aud, saved, files); what != "" {
						add(&sites, ji, commandAt(p.Pipeline, l, cmd), tok, what)
					}
				}
				if f := catFile(cmd); f != "" {
					if tok, ok := files[f]; ok {
						add(&sites, ji, commandAt(p.Pipeline, l, cmd), tok, "prints the file "+f+" holding the ID token $"+tok+" to the job log")
					}
				}
			}
		}
	}
	sites.report(p)
}

func add(sites *siteFindings, ji *jobInfo, pos pipeline.Pos, tok, what string) {
	sites.add(ji.job.Name, Finding{Pos: pos, Key: tok + "\x00" + what},
		func(jobs string) string {
			return fmt.Sprintf("%s %s: anyone who reads it can exchange the token until it expires; pass the token only to the service of its aud", jobs, what)
		})
}

// commands splits a script line into its shell lines.
func commands(s string) []string {
	if !strings.Contains(s, "\n") {
		return []string{s}
	}
	return strings.Split(s, "\n")
}

// leak tells how cmd leaks the token tok, or "".
func leak(cmd, tok string, aud, saved []string, files map[string]string) string {
	redirect := strings.IndexByte(cmd, '>')
	if redirect >= 0 {
		target := strings.Trim(strings.TrimLeft(cmd[redirect:], "> "), "\"'")
		if f := strings.Fields(target); len(f) > 0 {
			target = f[0]
		}
		files[target] = tok
		if inSaved(target, saved) {
			return "writes the ID token $" + tok + " to " + target + ", which the job keeps as an artifact or cache"
		}
		return ""
	}
	if (runs(cmd, "echo") || runs(cmd, "printf") || runs(cmd, "Write-Output") || runs(cmd, "Write-Host")) && !strings.Contains(cmd, "|") && !strings.Contains(cmd, "$(") {
		return "prints the ID token $" + tok + " to the job log"
	}
	if runs(cmd, "curl") || runs(cmd, "wget") {
		if host := urlHost(cmd); host != "" {
			for _, a := range aud {
				if u, err := url.Parse(a); err == nil && u.Host != "" && !strings.Contains(u.Host, "$") && !strings.EqualFold(u.Hostname(), host) {
					return fmt.Sprintf("sends the ID token $%s to %s, which is not its audience %s", tok, host, a)
				}
			}
		}
	}
	return ""
}

// urlHost returns the host of the first literal http(s) URL in cmd.
func urlHost(cmd string) string {
	i := strings.Index(cmd, "://")
	if i < 0 {
		return ""
	}
	rest := cmd[i+3:]
	end := strings.IndexAny(rest, "/:\"' ?")
	if end >= 0 {
		rest = rest[:end]
	}
	if rest == "" || strings.ContainsAny(rest, "$%{") {
		return ""
	}
	return rest
}

// catFile returns the file a cat prints to the log, or "".
func catFile(cmd string) string {
	if !runs(cmd, "cat ") || strings.ContainsAny(cmd, "|>") {
		return ""
	}
	f := strings.Fields(cmd[strings.Index(cmd, "cat ")+4:])
	if len(f) == 0 {
		return ""
	}
	return strings.Trim(f[0], "\"'")
}

// savedPaths are the paths the job keeps after it ends: artifacts:paths
// ("." for artifacts:untracked) and cache:paths.
func savedPaths(job *pipeline.Node) []string {
	var out []string
	art := job.Get("artifacts")
	for _, n := range art.Get("paths").Scalars() {
		out = append(out, n.Value)
	}
	if art.Get("untracked").String() == "true" {
		out = append(out, ".")
	}
	cache := job.Get("cache")
	caches := []*pipeline.Node{cache}
	if cache != nil && cache.Kind == pipeline.Seq {
		caches = cache.Items
	}
	for _, c := range caches {
		for _, n := range c.Get("paths").Scalars() {
			out = append(out, n.Value)
		}
		if c.Get("untracked").String() == "true" {
			out = append(out, ".")
		}
	}
	return out
}

// inSaved reports whether a file written by the job is in the project
// directory under one of the saved paths.
func inSaved(target string, saved []string) bool {
	t := strings.TrimPrefix(strings.TrimPrefix(target, "${CI_PROJECT_DIR}/"), "$CI_PROJECT_DIR/")
	t = strings.TrimPrefix(t, "./")
	if t == "" || strings.HasPrefix(t, "/") || strings.HasPrefix(t, "$") || strings.HasPrefix(t, "~") {
		return false
	}
	for _, s := range saved {
		s = strings.TrimPrefix(strings.TrimSuffix(s, "/"), "./")
		if i := strings.IndexAny(s, "*?["); i >= 0 {
			s = strings.TrimSuffix(s[:i], "/")
		}
		if s == "" || s == "." || t == s || strings.HasPrefix(t, s+"/") {
			return true
		}
	}
	return false
}
