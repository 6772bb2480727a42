package lint

import (
	"fmt"
	"regexp"
	"strings"

	"gitlab.com/keyless-ci/keyless/internal/pipeline"
)

// idTokensUnprotected reports jobs with ID tokens and no environment that
// can run on merge requests or unprotected branches.
var idTokensUnprotected = idTokensUnprotectedRule{rule{Meta{
	ID:    "id-tokens-unprotected",
	Title: "ID token job runs on unprotected refs without an environment",
	Description: "The job gets an ID token, has no environment:, and its rules (or only:, or their absence) let it run for merge requests or on any branch. " +
		"Without an environment the cloud's trust policy can pin only the project and the ref; a developer who can push a branch or open a merge request then mints a token the role accepts unless the policy pins protected refs. " +
		"Restrict the job to protected refs ($CI_COMMIT_REF_PROTECTED == \"true\", the default branch, tags), or give it an environment (a protected one for deployments) and pin environment in the trust policy.",
	Severity: Minor,
	Group:    "oidc",
}}}

type idTokensUnprotectedRule struct{ rule }

var (
	protectedIf    = regexp.MustCompile(`CI_COMMIT_REF_PROTECTED\s*==\s*["']?true`)
	unprotectedIf  = regexp.MustCompile(`CI_COMMIT_REF_PROTECTED\s*(!=\s*["']?true|==\s*["']?false)`)
	defaultBranch  = regexp.MustCompile(`(CI_COMMIT_BRANCH|CI_COMMIT_REF_NAME)\}?\s*==\s*["']?(\$\{?CI_DEFAULT_BRANCH|main["']|master["'])|CI_DEFAULT_BRANCH\}?\s*==\s*["']?\$\{?(CI_COMMIT_BRANCH|CI_COMMIT_REF_NAME)`)
	tagIf          = regexp.MustCompile(`CI_COMMIT_TAG\b`)
	notTagIf       = regexp.MustCompile(`CI_COMMIT_TAG\}?\s*==\s*(null|""|'')|!\s*\$\{?CI_COMMIT_TAG`)
	mergeRequestIf = regexp.MustCompile(`merge_request_event|CI_MERGE_REQUEST_`)
)

func (r idTokensUnprotectedRule) Check(p *Pass) {
	wfOpen, wfMR := rulesAdmit(p.Pipeline.Global.Get("workflow").Get("rules"))
	if !wfOpen {
		return
	}
	for _, ji := range p.jobInfos() {
		n := ji.job.Node
		if !exchangeable(ji) || n.Get("environment") != nil {
			continue
		}
		var open, mr bool
		switch {
		case n.Get("rules") != nil:
			open, mr = rulesAdmit(n.Get("rules"))
		case n.Get("only") != nil:
			open, mr = onlyAdmits(n.Get("only"))
		default:
			open, mr = true, wfMR
		}
		if !open {
			continue
		}
		conf, where := Low, "on unprotected branches"
		if mr {
			conf, where = Medium, "for merge requests"
		}
		p.Report(Finding{Pos: ji.job.Pos, Key: ji.job.Name, Confidence: conf,
			Message: fmt.Sprintf("job %q gets an ID token and can run %s without an environment: restrict it to protected refs (rules: - if: $CI_COMMIT_REF_PROTECTED == \"true\") or give it an environment and pin environment in the trust policy", ji.job.Name, where)})
	}
}

// rulesAdmit evaluates rules: conservatively: open is true when a rule
// that runs the job does not restrict it to protected refs; mr when one
// admits merge request pipelines. No rules: admit everything.
func rulesAdmit(rules *pipeline.Node) (open, mr bool) {
	if rules == nil || rules.Kind != pipeline.Seq {
		return true, false
	}
	for _, r := range rules.Items {
		cond := r.Get("if").String()
		if r.Get("when").String() == "never" {
			if unprotectedIf.MatchString(cond) {
				return open, mr
			}
			continue
		}
		for _, d := range strings.Split(cond, "||") {
			if !restricted(d) {
				open = true
			}
			if mergeRequestIf.MatchString(d) && !protectedIf.MatchString(d) {
				mr, open = true, true
			}
		}
	}
	return open, mr
}

// restricted reports whether an if: condition admits only protected
// refs: protected, the default branch or tags.
func restricted(cond string) bool {
	if strings.TrimSpace(cond) == "" {
		return false
	}
	if protectedIf.MatchString(cond) {
		return true
	}
	if mergeRequestIf.MatchString(cond) {
		return false
	}
	return defaultBranch.MatchString(cond) || tagIf.MatchString(cond) && !notTagIf.MatchString(cond)
}

// onlyAdmits reads only: (a list of refs, or refs: in the long form).
func onlyAdmits(only *pipeline.Node) (open, mr bool) {
	refs := only
	if only.Kind == pipeline.Map {
		refs = only.Get("refs")
		if refs == nil {
			return true, false
		}
	}
	for _, r := range refs.Scalars() {
		switch v := r.Value; {
		case v == "merge_requests":
			open, mr = true, true
		case v == "main" || v == "master" || v == "tags" || strings.HasPrefix(v, "/^v"):
		default:
			open = true
		}
	}
	return open, mr
}

// exchangeable reports whether the job has an ID token that is exchanged
// for access. Sigstore tokens are not: Fulcio writes the token's identity,
// ref included, into the signing certificate, and the verifier pins it.
func exchangeable(ji *jobInfo) bool {
	for _, t := range ji.tokens {
		if tokenService(t, ji) != "sigstore" {
			return true
		}
	}
	return false
}
