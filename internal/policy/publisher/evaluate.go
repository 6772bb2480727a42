package publisher

import (
	"fmt"
	"strings"

	"gitlab.com/keyless-ci/keyless/internal/exchange/crates"
	"gitlab.com/keyless-ci/keyless/internal/idtoken"
	"gitlab.com/keyless-ci/keyless/internal/policy"
)

// Registries Evaluate knows.
const (
	RegistryPyPI   = "pypi"
	RegistryNpm    = "npm"
	RegistryCrates = "crates"
)

// Evaluate compares the publisher s registers on registry (RegistryPyPI or RegistryNpm)
// with a job's claims, field by field, as the registry matches them:
// PyPI's GitLabPublisherMixin checks (namespace and project ignoring case,
// ci_config_ref_uri for gitlab.com at ref_path or sha, environment when
// the publisher has one); npm's fields as its documentation lists them;
// crates.io's as exchange/mod.rs matches them (namespace, project and
// environment ignoring case, the file extract_workflow_filepath reads from
// ci_config_ref_uri exactly, issuer https://gitlab.com).
func Evaluate(s Spec, registry string, c policy.Claims) *policy.Result {
	str := func(n string) string { v, _ := c.String(n); return v }
	cl := idtoken.Claims{ProjectPath: str("project_path"), CIConfigRefURI: str("ci_config_ref_uri"), Environment: str("environment")}
	job := cl.GitLabPublisher()
	i := strings.LastIndexByte(s.ProjectPath, '/')
	ns, proj := s.ProjectPath[:i], s.ProjectPath[i+1:]
	same := func(a, b string) bool {
		return a == b || ((registry == RegistryPyPI || registry == RegistryCrates) && strings.EqualFold(a, b))
	}
	ciName := "Top-level CI file path"
	switch registry {
	case RegistryPyPI:
		ciName = "Top-level pipeline file path"
	case RegistryCrates:
		ciName = "Workflow filepath"
		// crates.io reads the file from ci_config_ref_uri alone, whatever
		// project or host it names.
		job.CIFile = crates.WorkflowFilepath(cl.CIConfigRefURI)
	}
	res := &policy.Result{Provider: registry}
	add := func(where, test, claim string, held bool, note string) {
		res.Checks = append(res.Checks, policy.Check{Where: where, Test: test, Claim: claim, Value: c.Display(claim), Held: held, Note: note})
	}
	add("Namespace", fmt.Sprintf("%q (project_path before its last /)", ns), "project_path", job.Namespace != "" && same(job.Namespace, ns), "")
	add("Project name", fmt.Sprintf("%q (project_path after its last /)", proj), "project_path", same(job.Project, proj), "")
	ciNote := ""
	if job.CIFile == "" && cl.CIConfigRefURI != "" {
		ciNote = "the pipeline configuration is another project's or a URL, not a file of this project"
	}
	add(ciName, fmt.Sprintf("%q (the file of ci_config_ref_uri)", s.CIConfig), "ci_config_ref_uri", job.CIFile != "" && job.CIFile == s.CIConfig, ciNote)
	if s.Environment == "" {
		add("Environment name", "empty: any environment, or none", "environment", true, "")
	} else {
		add("Environment name", fmt.Sprintf("%q", s.Environment), "environment", same(job.Environment, s.Environment), "")
	}
	if registry == RegistryCrates {
		add("Issuer", "https://gitlab.com (crates.io supports GitLab.com's ID tokens only)", "iss", str("iss") == "https://gitlab.com", "")
	}
	if registry == RegistryPyPI {
		add("Issuer", "gitlab.com (ci_config_ref_uri's host: PyPI's GitLab publisher is for GitLab.com)", "ci_config_ref_uri",
			job.CIConfigHost == "gitlab.com", "")
		add("ref_path and sha", "both present (ci_config_ref_uri must end in @ref_path or @sha)", "sha",
			str("ref_path") != "" && str("sha") != "" && (cl.CIConfigRefURI == "" || strings.HasSuffix(cl.CIConfigRefURI, "@"+str("ref_path")) || strings.HasSuffix(cl.CIConfigRefURI, "@"+str("sha"))), "")
	}
	res.Admitted = true
	var failed []string
	for _, ch := range res.Checks {
		if !ch.Held {
			res.Admitted = false
			failed = append(failed, ch.Where)
		}
	}
	if res.Admitted {
		res.Verdict = "every field of the publisher matches the job"
		return res
	}
	res.Verdict = strings.Join(failed, ", ") + " do not match the job"
	if len(failed) == 1 {
		res.Verdict = failed[0] + " does not match the job"
	}
	if job.Namespace != "" && job.CIFile != "" {
		cmd := "keyless policy " + registry
		fix := fmt.Sprintf("register the publisher this job matches: %s --project %s --ci-config %s", cmd, shellWord(cl.ProjectPath), shellWord(job.CIFile))
		if s.Environment != "" && job.Environment != "" {
			fix += " --environment " + shellWord(job.Environment)
		}
		res.Fix = fix
	} else {
		res.Fix = "run the publishing job from the project's own top-level pipeline file"
	}
	return res
}
