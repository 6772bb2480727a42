package lint

import (
	"slices"
	"sort"

	"gitlab.com/keyless-ci/keyless/internal/detect"
	"gitlab.com/keyless-ci/keyless/internal/pipeline"
)

// JobFacts is what lint reads of one job GitLab would run: the commands
// it runs and the credential variables it expands, as the rules see them
// (through pipeline.JobView). internal/report reads the same view for its
// usage, and a test over the corpus holds the two to the same answers
// (issue 14).
type JobFacts struct {
	Job string
	// Child is the child pipeline's configuration file the job runs in
	// (pipeline.JobView.Child); "" for the pipeline's own jobs.
	Child string
	// Tools are the commands the job runs, each once, in the order first
	// run ("aws" for /usr/bin/aws).
	Tools []string
	// Reads are the variables the job expands whose name says they hold
	// a credential (detect.SecretName), sorted.
	Reads []string
	// Implicit are the credential variables (pipeline.CredentialEnvs)
	// the job does not expand but a tool it runs reads from the
	// environment (pipeline.JobView.CredentialUses, what the stored rules
	// go by), as "tool:VARIABLE" for the first such tool, sorted.
	Implicit []string
}

// Facts returns the facts of each job GitLab would run, in definition
// order: p's, then those of each child pipeline (pipeline.Pipeline.All).
func Facts(p *pipeline.Pipeline) []JobFacts {
	var infos []*jobInfo
	for _, q := range p.All() {
		infos = append(infos, jobInfos(q)...)
	}
	out := make([]JobFacts, 0, len(infos))
	for _, ji := range infos {
		f := JobFacts{Job: ji.job.Name}
		if ji.pipe != p && len(ji.pipe.Files) > 0 {
			f.Child = ji.pipe.Files[0].Path
		}
		for _, c := range ji.view.Commands {
			if !slices.Contains(f.Tools, c.Name) {
				f.Tools = append(f.Tools, c.Name)
			}
		}
		for r := range ji.view.Refs.All() {
			if detect.SecretName(r) {
				f.Reads = append(f.Reads, r)
			}
		}
		sort.Strings(f.Reads)
		for _, e := range pipeline.CredentialEnvs {
			for _, c := range e.Credentials {
				if ji.view.Reads(c) {
					continue
				}
				for _, u := range ji.view.CredentialUses {
					if u.Reader.ReadsVar(c) {
						f.Implicit = append(f.Implicit, u.Command.Name+":"+c)
						break
					}
				}
			}
		}
		sort.Strings(f.Implicit)
		out = append(out, f)
	}
	return out
}
