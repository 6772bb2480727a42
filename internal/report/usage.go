package report

import (
	"slices"
	"strings"

	"gitlab.com/keyless-ci/keyless/internal/pipeline"
)

// jobViews returns the jobs GitLab would run of p, as the pipeline
// views them (pipeline.JobView, shared with internal/lint).
func jobViews(p *pipeline.Pipeline) []pipeline.JobView { return p.EveryJobView() }

// jobUse tells how job uses the variable key, "" when it does not: it
// passes it to its tools as a credential they read (env: the name it
// passes it as), expands it, or runs a tool that reads it from the
// environment (pipeline.EnvReaders, the table lint's stored rules read
// too).
func jobUse(job *pipeline.JobView, key string) (how, env string) {
	if m := job.MapsFrom(key); m != nil && pipeline.EnvOf(m.Env) != nil {
		return "sets " + m.Env + " from $" + key, m.Env
	}
	if job.Reads(key) {
		return "references $" + key, ""
	}
	if u := implicitUse(job, key); u != nil {
		return "runs " + u.Command.Name + " (reads " + strings.Join(u.Reader.Vars, ", ") + " from the environment)", ""
	}
	if key == "DOCKER_AUTH_CONFIG" && len(job.Images) > 0 {
		return "pulls its image or services (the runner reads DOCKER_AUTH_CONFIG)", ""
	}
	return "", ""
}

// implicitUse is the first command of the job that reads key from the
// environment, nil for none. A command for which the job's lines set key
// themselves (AWS_ACCESS_KEY_ID="$S3_KEY" aws ..., an export before it)
// reads that value, not the stored variable (issue 16).
func implicitUse(job *pipeline.JobView, key string) *pipeline.CredentialUse {
	for i := range job.CredentialUses {
		if u := &job.CredentialUses[i]; u.Reader.ReadsVar(key) && !slices.Contains(u.Command.Env, key) {
			return u
		}
	}
	return nil
}

// credentialTools are the tools the job runs that read a credential from
// the environment, each once, in the order first run.
func credentialTools(job *pipeline.JobView) []string {
	var out []string
	for _, u := range job.CredentialUses {
		if !slices.Contains(out, u.Command.Name) {
			out = append(out, u.Command.Name)
		}
	}
	return out
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
			if how, env := jobUse(j, c.Key); how != "" {
				u := Usage{Project: project, Job: j.Job.Name, Child: j.Child, File: j.Job.Pos.File, Line: j.Job.Pos.Line, How: how, Env: env}
				if !slices.Contains(out[c.ID], u) {
					out[c.ID] = append(out[c.ID], u)
				}
			}
		}
	}
	return out
}

// kindsByUse gives a credential that classify could only call "other"
// the kind the pipelines say it is: a variable that jobs pass to their
// tools as AWS_ACCESS_KEY_ID (Usage.Env) is an AWS access key, whatever
// its name (S3_UPLOAD_KEY), and the variable the same job passes as
// AWS_SECRET_ACCESS_KEY is its pair (issue 16).
func kindsByUse(creds []Credential) {
	type passed struct{ key, env string }
	byJob := map[string][]passed{} // project, child, job -> what it passes
	jobKey := func(u Usage) string { return u.Project + "\x00" + u.Child + "\x00" + u.Job }
	for _, c := range creds {
		for _, u := range c.Usage {
			if u.Env != "" {
				byJob[jobKey(u)] = append(byJob[jobKey(u)], passed{c.Key, u.Env})
			}
		}
	}
	for i := range creds {
		c := &creds[i]
		if c.Kind != KindOther && strings.Contains(c.Evidence, "pipeline: ") {
			continue // finish runs again on merge and resume
		}
		for _, u := range c.Usage {
			e := pipeline.EnvOf(u.Env)
			if e == nil || kindOfEnv[e.Name] == "" || c.Kind != KindOther && c.Kind != kindOfEnv[e.Name] {
				continue
			}
			ev := "pipeline: job " + u.Where() + " of " + u.Project + " passes it as " + u.Env
			var pairs []string
			for _, p := range byJob[jobKey(u)] {
				if p.key != c.Key && p.env != u.Env && pipeline.EnvOf(p.env) == e {
					pairs = append(pairs, p.key+" as "+p.env)
				}
			}
			if len(pairs) > 0 {
				ev += ", with " + strings.Join(pairs, " and ")
			}
			if c.Kind == KindOther {
				c.Kind = kindOfEnv[e.Name]
				if c.Confidence == "low" {
					c.Confidence = "medium"
				}
				c.Evidence = ev + "; " + c.Evidence
			} else {
				c.Evidence += "; " + ev // the pair
			}
			break
		}
	}
}

// kindOfEnv is the credential kind of each pipeline.CredentialEnv that a
// component replaces.
var kindOfEnv = map[string]string{"aws": KindAWS, "gcp": KindGCP, "azure": KindAzure, "vault": KindVault}
