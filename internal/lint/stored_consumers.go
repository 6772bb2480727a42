package lint

import (
	"fmt"
	"slices"
	"strings"

	"gitlab.com/keyless-ci/keyless/internal/pipeline"
)

// This file grades the implicit signs of the stored rules: a job runs a
// tool that reads a credential from its environment
// (pipeline.EnvReaders), and shows nothing else of where the credential
// comes from (issue 15). How sure a finding is depends on the evidence:
//
//   - a tool that works with one cloud only (aws, sls, cdk, vault) is a
//     sign by itself: low confidence;
//   - a tool that works with several (terraform, pulumi, packer) counts
//     only when the job's environment names the cloud's settings or
//     credentials (AWS_DEFAULT_REGION, ARM_SUBSCRIPTION_ID, VAULT_ADDR):
//     in the job's own variables, rules or lines, or in the global
//     variables when the job names no other cloud and has no ID token;
//   - a program (python deploy.py, go run) counts only when the job's own
//     words name them, and stays at low confidence: it may not call the
//     cloud at all;
//   - the credential variables referenced in the configuration (a job
//     that reads $AWS_SECRET_ACCESS_KEY, rules: if: $ARM_CLIENT_SECRET) or
//     declared empty there (a placeholder for the stored variable) raise
//     a tool's sign to medium: the project stores them;
//   - a GitLab-hosted runner (tag saas-…) raises low to medium: it has no
//     instance profile or workload identity of the project's;
//   - a runner tag that suggests one (aws-ec2, gke) lowers medium to low,
//     and the message says so.

// configFacts are what the implicit signals read of the whole
// configuration, computed once per Run.
type configFacts struct {
	// creds tells, for each credential env (pipeline.CredentialEnvs),
	// where the configuration references one of its credential variables
	// or declares it empty: a sign that the project stores it. Jobs with
	// an ID token are left out: what they read may be what their exchange
	// wrote.
	creds map[string]credRef
	// jobs are the names of the jobs the configuration defines, hidden
	// ones included.
	jobs map[string]bool
	// unread is true when an include: was not read (offline, or
	// refused): a job it defines is out of sight.
	unread bool
}

// credRef is a credential variable a job names, and how: "references" or
// "declares" (an empty placeholder for the stored variable).
type credRef struct{ name, job, how string }

func (p *Pass) configFacts() *configFacts {
	return p.Memo("configFacts", func() any {
		out := &configFacts{creds: map[string]credRef{}, jobs: map[string]bool{}}
		for _, j := range p.Pipeline.Jobs {
			out.jobs[j.Name] = true
		}
		for _, inc := range p.Pipeline.Includes {
			if inc.Trigger == nil && !inc.Resolved {
				out.unread = true
			}
		}
		for _, ji := range p.jobInfos() {
			if len(ji.tokens) > 0 {
				continue
			}
			for _, e := range pipeline.CredentialEnvs {
				if _, ok := out.creds[e.Name]; ok {
					continue
				}
				for _, c := range e.Credentials {
					if ji.view.Reads(c) {
						out.creds[e.Name] = credRef{c, ji.job.Name, "references $" + c}
						break
					}
					if declaredEmpty(ji, c) {
						out.creds[e.Name] = credRef{c, ji.job.Name, "declares " + c + " empty, a placeholder for the stored variable"}
						break
					}
				}
			}
		}
		return out
	}).(*configFacts)
}

// unseen reports whether the job may get an exchange the configuration
// does not show: it extends a job no file read defines while an include
// was not read (a component's hidden job renamed with as:), or it sets a
// keyless setting (KEYLESS_…). An extends of a job nothing defines with
// every include read is a config finding, not a hiding place.
func (cfg *configFacts) unseen(ji *jobInfo) bool {
	for _, e := range ji.extends {
		if cfg.unread && !cfg.jobs[e] {
			return true
		}
	}
	for _, v := range ji.vars {
		if strings.HasPrefix(v.Name, "KEYLESS_") {
			return true
		}
	}
	return false
}

// declaredEmpty reports whether the job declares name with an empty
// value: a placeholder for the stored variable.
func declaredEmpty(ji *jobInfo, name string) bool {
	v := ji.lookup(name)
	return v != nil && strings.TrimSpace(v.Value.Value) == ""
}

// identityTags are words of runner tags that suggest the runner has a
// cloud identity of its own, by env, and what it is called.
var identityTags = map[string]struct {
	words []string
	what  string
}{
	"aws":   {[]string{"aws", "ec2", "eks", "ecs", "fargate", "amazon"}, "an instance profile or pod role"},
	"gcp":   {[]string{"gcp", "gce", "gke", "google", "gcloud"}, "an attached service account or GKE workload identity"},
	"azure": {[]string{"azure", "aks", "msi"}, "a managed identity"},
}

// hostedTagPrefix marks GitLab-hosted runners (saas-linux-small-amd64 …,
// https://docs.gitlab.com/ci/runners/hosted_runners/linux/): they have
// no cloud identity of the project's.
const hostedTagPrefix = "saas-"

// runnerTags tells what the job's runner tags say of where env's
// credential comes from: hosted is a GitLab-hosted runner's tag, identity
// a tag that suggests the runner has a cloud identity (and what kind).
func runnerTags(ji *jobInfo, env string) (hosted, identity, what string) {
	id, ok := identityTags[env]
	for _, t := range ji.view.Tags {
		tag := strings.ToLower(t.Value)
		if strings.HasPrefix(tag, hostedTagPrefix) {
			return t.Value, "", ""
		}
		if !ok {
			continue
		}
		words := strings.FieldsFunc(tag, func(r rune) bool { return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9') })
		for _, w := range words {
			if slices.Contains(id.words, w) {
				return "", t.Value, id.what
			}
		}
	}
	return "", "", ""
}

// implicitSignals are the signals of the tools the job runs that read
// env's credential from the environment, graded as the comment at the
// top of this file says. Callers add them only when the job shows
// nothing else of the credential (no variable, no sign-in, no profile);
// none for a job that may get an exchange the configuration does not
// show (configFacts.unseen).
func implicitSignals(ji *jobInfo, env string, cfg *configFacts) []signal {
	if cfg.unseen(ji) {
		return nil
	}
	e := pipeline.Env(env)
	var out []signal
	for _, u := range ji.view.CredentialUses {
		r := u.Reader
		if r.Env != env || !r.Default && !r.Program {
			continue
		}
		tool := u.Command.Name
		named := ""
		switch {
		case r.Program:
			named = e.NamedByJob(ji.view)
		case pipeline.MultiEnv(tool):
			// The job's own words first; the global variables only for
			// a job that names no other cloud and exchanges no ID token
			// (they are set for some jobs, not necessarily this one).
			named = e.NamedByJob(ji.view)
			if named == "" && len(ji.tokens) == 0 && !namesOtherEnv(ji, env) {
				named = e.Named(ji.view)
			}
			if named == "" {
				continue
			}
		}
		conf := Low
		var notes []string
		if ref, ok := cfg.creds[env]; ok && !r.Program {
			conf = Medium
			who := fmt.Sprintf("job %q", ref.job)
			if ref.job == ji.job.Name {
				who = "it"
			}
			notes = append(notes, who+" "+ref.how)
		}
		switch hosted, tag, what := runnerTags(ji, env); {
		case hosted != "" && !r.Program:
			conf = max(conf, Medium)
			notes = append(notes, fmt.Sprintf("it runs on a GitLab-hosted runner (tag %s), which has no cloud identity of the project's", hosted))
		case tag != "":
			conf = min(conf, Low)
			notes = append(notes, fmt.Sprintf("lower confidence: runner tag %s suggests %s, which needs no stored credential", tag, what))
		}
		var what string
		if r.Program {
			what = fmt.Sprintf("runs %s with %s in its environment and no ID token exchange: if the program uses %s, it reads %s from stored CI/CD variables (low confidence: it may not call %s at all",
				tool, named, r.What, r.Keys, e.Title)
			if len(notes) > 0 {
				what += "; " + strings.Join(notes, "; ")
			}
			what += ")"
		} else {
			with := "with"
			if named != "" {
				with = "with " + named + " in its environment and"
			}
			what = fmt.Sprintf("runs %s %s no ID token exchange, so it probably reads %s from stored CI/CD variables", readerName(tool, r), with, r.Keys)
			if len(notes) > 0 {
				what += " (" + strings.Join(notes, "; ") + ")"
			}
		}
		key := "implicit\x00" + tool
		if env != tool {
			key += "\x00" + env
		}
		out = append(out, signal{pos: ji.at(u.Command.Line, u.Command.Name), key: key, conf: conf, what: what})
	}
	return out
}

// namesOtherEnv reports whether the job itself names a cloud other than
// env (pipeline.CredentialEnv.NamedByJob).
func namesOtherEnv(ji *jobInfo, env string) bool {
	for i := range pipeline.CredentialEnvs {
		if e := &pipeline.CredentialEnvs[i]; e.Name != env && e.NamedByJob(ji.view) != "" {
			return true
		}
	}
	return false
}

// readerName names the tool a job runs in a message: "the AWS CLI" for
// aws, "terraform (the Terraform AWS provider)".
func readerName(tool string, r *pipeline.EnvReader) string {
	if strings.HasSuffix(r.What, " CLI") && strings.Contains(strings.ToLower(r.What), tool) {
		return r.What
	}
	return tool + " (" + r.What + ")"
}
