package report

import (
	"slices"
	"strings"

	"gitlab.com/keyless-ci/keyless/internal/pipeline"
)

// jobViews returns the jobs GitLab would run of p, as the pipeline
// views them (pipeline.JobView, shared with internal/lint).
func jobViews(p *pipeline.Pipeline) []pipeline.JobView { return p.JobViews() }

// implicitUse is a tool that reads a credential from the environment
// without the job naming it.
type implicitUse struct {
	key   func(key string) bool
	cmds  []string
	reads string
}

var implicitUses = []implicitUse{
	{key: prefixed("AWS_"), cmds: []string{"aws", "terraform", "tofu", "sam", "cdk"}, reads: "AWS_* from the environment"},
	{key: prefixed("ARM_"), cmds: []string{"terraform", "tofu", "az"}, reads: "ARM_* from the environment"},
	{key: named("GOOGLE_APPLICATION_CREDENTIALS"), cmds: []string{"gcloud", "terraform", "tofu"}, reads: "GOOGLE_APPLICATION_CREDENTIALS"},
	{key: named("GOOGLE_CREDENTIALS"), cmds: []string{"terraform", "tofu"}, reads: "GOOGLE_CREDENTIALS"},
	{key: named("VAULT_TOKEN"), cmds: []string{"vault", "bao"}, reads: "VAULT_TOKEN"},
	{key: named("BAO_TOKEN"), cmds: []string{"bao"}, reads: "BAO_TOKEN"},
}

func prefixed(p string) func(string) bool {
	return func(k string) bool { return strings.HasPrefix(k, p) }
}

func named(n string) func(string) bool {
	return func(k string) bool { return k == n }
}

// jobUse tells how job uses the variable key, "" when it does not.
func jobUse(job *pipeline.JobView, key string) string {
	if job.Reads(key) {
		return "references $" + key
	}
	if c := implicitTool(job, key); c != "" {
		return "runs " + c + " (reads " + implicitReads(key) + ")"
	}
	if key == "DOCKER_AUTH_CONFIG" && len(job.Images) > 0 {
		return "pulls its image or services (the runner reads DOCKER_AUTH_CONFIG)"
	}
	return ""
}

// implicitTool returns the first tool the job runs that reads key from
// the environment, "" for none.
func implicitTool(job *pipeline.JobView, key string) string {
	for _, c := range credentialTools(job) {
		for _, u := range implicitUses {
			if u.key(key) && slices.Contains(u.cmds, c) {
				return c
			}
		}
	}
	return ""
}

// credentialTools are the tools the job runs that read a credential from
// the environment (implicitUses), each once, in the order first run.
func credentialTools(job *pipeline.JobView) []string {
	var out []string
	for _, c := range job.Commands {
		for _, u := range implicitUses {
			if slices.Contains(u.cmds, c.Name) && !slices.Contains(out, c.Name) {
				out = append(out, c.Name)
			}
		}
	}
	return out
}

// implicitReads is what a tool reads for key, as a Usage tells it.
func implicitReads(key string) string {
	for _, u := range implicitUses {
		if u.key(key) {
			return u.reads
		}
	}
	return ""
}

// envScopeMatches reports whether a variable of environment scope scope
// reaches a job deploying to env. "*" reaches every job; another scope
// only jobs with an environment it matches, * matching any run of
// characters as in GitLab
// (https://docs.gitlab.com/ci/environments/#limit-the-environment-scope-of-a-cicd-variable).
// An environment name with variables ("review/$CI_COMMIT_REF_SLUG") is
// known only at run time: it is taken to match when its literal start
// agrees with the scope's.
func envScopeMatches(scope, env string) bool {
	if scope == "" || scope == "*" {
		return true
	}
	if env == "" {
		return false
	}
	if i := strings.IndexByte(env, '$'); i >= 0 {
		lit := env[:i]
		sp := scope
		if k := strings.IndexByte(sp, '*'); k >= 0 {
			sp = sp[:k]
		}
		return strings.HasPrefix(lit, sp) || strings.HasPrefix(sp, lit)
	}
	return wildcardMatch(scope, env)
}

// wildcardMatch matches s against pattern, where * is any run of
// characters ("/" included).
func wildcardMatch(pattern, s string) bool {
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return pattern == s
	}
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	last := parts[len(parts)-1]
	for _, p := range parts[1 : len(parts)-1] {
		i := strings.Index(s, p)
		if i < 0 {
			return false
		}
		s = s[i+len(p):]
	}
	return len(s) >= len(last) && strings.HasSuffix(s, last)
}

// visibleTo reports whether a credential reaches the project's jobs: a
// project's own, its groups' (at any level above) and the instance's.
func visibleTo(c *Credential, project string) bool {
	switch c.Level {
	case levelInstance:
		return true
	case levelGroup:
		return strings.HasPrefix(project, c.Owner+"/")
	default:
		return c.Owner == project
	}
}

// projectUsage returns the uses of each credential by the jobs of
// project, by credential ID.
func projectUsage(project string, jobs []pipeline.JobView, creds []*Credential) map[string][]Usage {
	out := map[string][]Usage{}
	for _, c := range creds {
		if !visibleTo(c, project) {
			continue
		}
		for i := range jobs {
			j := &jobs[i]
			if !envScopeMatches(c.EnvironmentScope, j.Environment) {
				continue
			}
			if how := jobUse(j, c.Key); how != "" {
				out[c.ID] = append(out[c.ID], Usage{Project: project, Job: j.Job.Name, File: j.Job.Pos.File, Line: j.Job.Pos.Line, How: how})
			}
		}
	}
	return out
}
