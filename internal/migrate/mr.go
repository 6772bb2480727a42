package migrate

import (
	"fmt"
	"sort"
	"strings"

	"gitlab.com/keyless-ci/keyless/internal/lint"
	"gitlab.com/keyless-ci/keyless/internal/policy"
)

// Lint returns lint's findings on the configuration before and after the
// migration.
func (r *Result) Lint() (before, after []lint.Finding, err error) {
	if before, err = lint.Run(r.before, lint.Options{}); err != nil {
		return nil, nil, err
	}
	a := r.after
	if a == nil {
		a = r.before
	}
	after, err = lint.Run(a, lint.Options{})
	return before, after, err
}

// Trust is the cloud-side setup one include's identity needs, as keyless
// policy writes it.
type Trust struct {
	Include IncludePlan
	Docs    []policy.Document
}

// MergeRequest is what keyless migrate --open-mr proposes.
type MergeRequest struct {
	Project, Target string
	Trust           []Trust
}

// mrMarker heads the description: the merge request is keyless's, and
// rewritten on every run.
const mrMarker = "<!-- keyless migrate: rewritten on every run of keyless migrate --open-mr; edit the configuration, not this text -->"

// Description is the merge request's description: what changed, the
// trust to create first, lint before and after, and the retirement
// checklist of each stored credential. It names variables, jobs, files
// and lint rule ids, never a value, nor a finding's message (which may
// hold a hint of a secret written in the configuration).
func (r *Result) Description(mr MergeRequest, lintBefore, lintAfter []lint.Finding) string {
	var b strings.Builder
	p := r.Plan
	fmt.Fprintf(&b, "%s\n\n## Move CI/CD jobs off stored cloud credentials\n\n", mrMarker)
	jobs := map[string]bool{}
	for _, j := range p.Jobs {
		jobs[j.Job] = true
	}
	fmt.Fprintf(&b, "`keyless migrate` moves %d jobs to the keyless components: each exchanges the job's ID token for short-lived credentials, so no key needs to be stored. Files changed: %s.\n\n",
		len(jobs), codeList(p.Files))
	b.WriteString("| job | cloud | extends | credentials it no longer reads | lines and variables removed |\n| --- | --- | --- | --- | --- |\n")
	for _, j := range p.Jobs {
		var rm []string
		for _, x := range j.Removed {
			rm = append(rm, fmt.Sprintf("%s:%d %s", x.File, x.Line, x.What))
		}
		fmt.Fprintf(&b, "| `%s` | %s | `%s` | %s | %s |\n", j.Job, j.Cloud, j.Extends, codeList(j.Credentials), strings.Join(rm, "<br>"))
	}
	if len(p.Refused) > 0 {
		b.WriteString("\nLeft as they are, to migrate by hand:\n\n")
		for _, rf := range p.Refused {
			fmt.Fprintf(&b, "- `%s` (%s, %s): %s. %s\n", rf.Job, rf.Cloud, rf.Reason, rf.Message, rf.Manual)
		}
	}

	b.WriteString("\n## 1. Before merging: create the trust\n\n")
	fmt.Fprintf(&b, "The cloud must trust this project's ID tokens on `%s` (`keyless policy` for `%s`, branch `%s`). Create it with Terraform or with the cloud's CLI:\n", mr.Target, mr.Project, mr.Target)
	for _, t := range mr.Trust {
		fmt.Fprintf(&b, "\n### %s: `%s`\n\n", t.Include.Cloud, t.Include.As)
		for _, k := range sortedKeys(t.Include.Inputs) {
			fmt.Fprintf(&b, "- `%s`: `%s`\n", k, t.Include.Inputs[k])
		}
		for _, d := range t.Docs {
			fence := map[string]string{"terraform": "hcl", "json": "json", "shell": "sh", "gcloud": "sh"}[d.Format]
			fmt.Fprintf(&b, "\n<details><summary>%s (%s)</summary>\n\n```%s\n%s\n```\n\n</details>\n", d.Name, d.Format, fence, strings.TrimRight(d.Body, "\n"))
		}
	}

	b.WriteString("\n## keyless lint, before and after\n\n| rule | before | after |\n| --- | --- | --- |\n")
	count := func(fs []lint.Finding) map[string]int {
		out := map[string]int{}
		for _, f := range fs {
			out[f.Rule]++
		}
		return out
	}
	cb, ca := count(lintBefore), count(lintAfter)
	var rules []string
	for k := range cb {
		rules = append(rules, k)
	}
	for k := range ca {
		if _, ok := cb[k]; !ok {
			rules = append(rules, k)
		}
	}
	sort.Strings(rules)
	for _, k := range rules {
		fmt.Fprintf(&b, "| `%s` | %d | %d |\n", k, cb[k], ca[k])
	}
	if len(rules) == 0 {
		b.WriteString("| (none) | 0 | 0 |\n")
	}
	var left []string
	for _, f := range lintAfter {
		if strings.HasPrefix(f.Rule, "stored-") {
			left = append(left, fmt.Sprintf("`%s:%d` %s", f.Pos.File, f.Pos.Line, f.Rule))
		}
	}
	if len(left) > 0 {
		b.WriteString("\nStored credentials lint still reports once this is merged: " + strings.Join(left, ", ") + ".\n")
	}

	b.WriteString("\n## 2. After the pipelines pass: retire each stored credential\n\nKeep the order: a deactivated key comes back in a moment, a deleted one does not.\n")
	for _, inc := range p.Includes {
		if len(inc.Credentials) == 0 {
			continue
		}
		fmt.Fprintf(&b, "\n### %s (%s)\n\n", codeList(inc.Credentials), inc.Cloud)
		for _, step := range retireSteps[inc.Cloud] {
			fmt.Fprintf(&b, "- [ ] %s\n", strings.ReplaceAll(step, "VARIABLES", codeList(inc.Credentials)))
		}
	}
	return b.String()
}

// retireSteps are each cloud's checklist (README, "Moving a project off
// stored keys"; the components' "Migrate from …" sections).
var retireSteps = map[string][]string{
	"aws": {
		"deactivate the key: `aws iam update-access-key --user-name USER --access-key-id AKIA… --status Inactive`",
		"watch for use: `aws iam get-access-key-last-used --access-key-id AKIA…` (scheduled pipelines included)",
		"delete the CI/CD variables VARIABLES (Settings > CI/CD > Variables, of the project and its groups)",
		"delete the key: `aws iam delete-access-key --user-name USER --access-key-id AKIA…`",
	},
	"gcp": {
		"disable the key: `gcloud iam service-accounts keys disable KEY_ID --iam-account=SA_EMAIL`",
		"watch for use: the service account's key usage insights (Policy Intelligence), scheduled pipelines included",
		"delete the CI/CD variables VARIABLES (Settings > CI/CD > Variables, of the project and its groups)",
		"delete the key: `gcloud iam service-accounts keys delete KEY_ID --iam-account=SA_EMAIL`",
	},
	"azure": {
		"stop using the secret: it is no longer read once this is merged; keep it until the pipelines pass",
		"watch for use: Entra admin center > Sign-in logs > Service principal sign-ins",
		"delete the CI/CD variables VARIABLES (Settings > CI/CD > Variables, of the project and its groups)",
		"delete the secret: `az ad app credential list --id APP_ID`, then `az ad app credential delete --id APP_ID --key-id KEY_ID`",
	},
	"vault": {
		"find the stored token's accessor: `vault token lookup` with it, or `vault list auth/token/accessors`",
		"watch for use: Vault's audit log for that accessor",
		"delete the CI/CD variables VARIABLES (Settings > CI/CD > Variables, of the project and its groups)",
		"revoke it: `vault token revoke -accessor ACCESSOR` (for a password, remove the job's Vault user or its directory account's access)",
	},
}

func codeList(s []string) string {
	out := make([]string, len(s))
	for i, v := range s {
		out[i] = "`" + v + "`"
	}
	return strings.Join(out, ", ")
}
