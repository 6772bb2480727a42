//go:build !keyless_slim

package cli

import (
	"cmp"
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"gitlab.com/keyless-ci/keyless/internal/gitlabapi"
	"gitlab.com/keyless-ci/keyless/internal/migrate"
	"gitlab.com/keyless-ci/keyless/internal/option"
	"gitlab.com/keyless-ci/keyless/internal/policy"
	"gitlab.com/keyless-ci/keyless/internal/secret"
)

// mrOptions are --open-mr's.
type mrOptions struct {
	GitLabURL string
	Token     secret.Token
	Project   string
	Branch    string
	Target    string
}

func readMROptions(c *cli.Context, env Env) (*mrOptions, error) {
	o := &mrOptions{
		GitLabURL: strings.TrimSuffix(cmp.Or(c.String("gitlab-url"), "https://gitlab.com"), "/"),
		Project:   strings.Trim(c.String("project"), "/"),
		Branch:    c.String("branch"),
		Target:    c.String("target"),
	}
	if o.Project == "" {
		return nil, usagef("--open-mr needs --project PATH: the GitLab project to open the merge request in")
	}
	if o.Branch == "" || strings.ContainsAny(o.Branch, " ~^:?*[\\") || o.Branch == o.Target {
		return nil, usagef("--branch %q: name a new branch for the change, other than --target", o.Branch)
	}
	name := c.String("token-env")
	tok := env.Getenv(name)
	if tok == "" {
		return nil, usagef("--open-mr pushes a branch and opens a merge request: set %s to a token with the api scope (or name another variable with --token-env)", name)
	}
	o.Token = secret.New(tok)
	return o, nil
}

// mrAPI is what openMR asks of GitLab.
type mrAPI interface {
	gitlabapi.MergeRequester
	Project(ctx context.Context, project string) (gitlabapi.Project, error)
	File(ctx context.Context, project, path, ref string) ([]byte, error)
}

// openMR proposes the migration as a merge request of the GitLab project:
// the files it changes must be on the target branch as they are here, so
// that the merge request changes only what migrate changed.
func openMR(ctx context.Context, env Env, o migrateOptions, r *migrate.Result) error {
	mo := o.MR
	if len(r.Changes) == 0 {
		fmt.Fprintln(env.Stderr, "migrate: nothing to change, no merge request opened")
		return nil
	}
	client, err := httpClient(env, "", 30*time.Second)
	if err != nil {
		return err
	}
	api, err := gitlabapi.New(gitlabapi.Options{BaseURL: mo.GitLabURL, Token: mo.Token, HTTPClient: client, UserAgent: "keyless/" + Version})
	if err != nil {
		return usagef("--gitlab-url: %v", err)
	}
	var a mrAPI = api
	target := mo.Target
	if target == "" {
		p, err := a.Project(ctx, mo.Project)
		if err != nil {
			return fmt.Errorf("migrate --open-mr: %w", err)
		}
		target = p.DefaultBranch
	}
	var files []gitlabapi.FileContent
	for _, ch := range r.Changes {
		have, err := a.File(ctx, mo.Project, ch.Path, target)
		if err != nil {
			return fmt.Errorf("migrate --open-mr: %w", err)
		}
		if string(have) != string(ch.Before) {
			return fmt.Errorf("migrate --open-mr: %s on %s of %s is not the file migrated here: update the checkout (git pull) and run keyless migrate --open-mr again", ch.Path, target, mo.Project)
		}
		files = append(files, gitlabapi.FileContent{Path: ch.Path, Content: ch.After})
	}
	before, after, err := r.Lint()
	if err != nil {
		return fmt.Errorf("migrate --open-mr: %w", err)
	}
	desc := r.Description(migrate.MergeRequest{Project: mo.Project, Target: target, Trust: trustFor(mo, target, r.Plan)}, before, after)
	jobs := map[string]bool{}
	for _, j := range r.Plan.Jobs {
		jobs[j.Job] = true
	}
	mr, err := a.UpsertMergeRequest(ctx, gitlabapi.MergeRequestChange{
		Project: mo.Project, Branch: mo.Branch, Target: target,
		Title:         "Move CI/CD jobs off stored cloud credentials (keyless migrate)",
		Description:   desc,
		CommitMessage: fmt.Sprintf("ci: move %d jobs off stored cloud credentials\n\nkeyless migrate: the jobs extend the keyless components, which exchange the job's ID token for short-lived credentials.", len(jobs)),
		Files:         files,
	})
	if err != nil {
		return fmt.Errorf("migrate --open-mr: %w", err)
	}
	what := "updated"
	if mr.Created {
		what = "opened"
	}
	fmt.Fprintf(env.Stderr, "migrate: merge request !%d %s: %s\n", mr.IID, what, mr.WebURL)
	return nil
}

// trustFor generates, for each include, the trust keyless policy writes
// for the project's target branch: as Terraform and as the cloud's own
// document or CLI.
func trustFor(mo *mrOptions, target string, p migrate.Plan) []migrate.Trust {
	var out []migrate.Trust
	for _, inc := range p.Includes {
		prov := policyByName(inc.Cloud)
		if prov == nil {
			continue
		}
		spec := policy.Spec{Issuer: mo.GitLabURL, ProjectPath: mo.Project, Ref: target, RefType: "branch", Audience: inc.Inputs["aud"]}
		t := migrate.Trust{Include: inc}
		formats := []string{"terraform"}
		for _, f := range prov.Formats() {
			if f != "terraform" {
				formats = append(formats, f)
				break
			}
		}
		for _, f := range formats {
			docs, _, err := prov.Generate(spec, f)
			if err != nil {
				t.Docs = append(t.Docs, policy.Document{Name: "keyless policy " + inc.Cloud, Format: "text", Body: "not generated: " + option.Text(err)})
				continue
			}
			t.Docs = append(t.Docs, docs...)
		}
		out = append(out, t)
	}
	return out
}
