package gitlabapi

import (
	"context"
	"errors"
	"fmt"

	gitlab "gitlab.com/gitlab-org/api/client-go"
)

// This file is the write side keyless migrate --open-mr needs (issue 17):
// a branch, a commit of the migrated files on it, and one merge request
// kept up to date. A separate interface, so that the read-only API of lint
// and report does not grow write calls.

// MergeRequester opens or updates keyless's merge request of a change.
type MergeRequester interface {
	// UpsertMergeRequest makes branch (from target when it does not
	// exist), commits files on it when they differ from what the branch
	// holds, and creates the open merge request from branch to target,
	// or updates the title and description of the one there is.
	UpsertMergeRequest(ctx context.Context, c MergeRequestChange) (MergeRequest, error)
}

var _ MergeRequester = (*Client)(nil)

// MergeRequestChange is one change to propose.
type MergeRequestChange struct {
	Project string
	// Branch is the source branch; Target the branch to merge into (""
	// the project's default branch).
	Branch, Target string
	Title          string
	Description    string
	CommitMessage  string
	// Files are the files' new content, by path in the repository; each
	// exists on Target (migrate changes files, it does not add them).
	Files []FileContent
}

// FileContent is a file's new content.
type FileContent struct {
	Path    string
	Content []byte
}

// MergeRequest is the merge request UpsertMergeRequest wrote.
type MergeRequest struct {
	IID    int64
	WebURL string
	Target string
	// BranchCreated, Committed and Created say what this call did: a
	// second run with the same change creates nothing and commits
	// nothing.
	BranchCreated bool
	Committed     bool
	Created       bool
}

const forbiddenWrite = "the token needs the api scope and its user at least the Developer role on the project (and push access to the branch)"

// UpsertMergeRequest implements MergeRequester.
// https://docs.gitlab.com/api/branches/, https://docs.gitlab.com/api/commits/#create-a-commit-with-multiple-files-and-actions,
// https://docs.gitlab.com/api/merge_requests/
func (c *Client) UpsertMergeRequest(ctx context.Context, ch MergeRequestChange) (MergeRequest, error) {
	out := MergeRequest{Target: ch.Target}
	if out.Target == "" {
		p, err := c.Project(ctx, ch.Project)
		if err != nil {
			return out, err
		}
		if p.DefaultBranch == "" {
			return out, fmt.Errorf("project %q has an empty repository: there is no branch to merge into", ch.Project)
		}
		out.Target = p.DefaultBranch
	}
	_, resp, err := c.gl.Branches.GetBranch(ch.Project, ch.Branch, gitlab.WithContext(ctx))
	switch {
	case err == nil:
	case errors.Is(c.fail(err, resp, "", ""), ErrNotFound):
		if _, resp, err := c.gl.Branches.CreateBranch(ch.Project, &gitlab.CreateBranchOptions{Branch: gitlab.Ptr(ch.Branch), Ref: gitlab.Ptr(out.Target)}, gitlab.WithContext(ctx)); err != nil {
			return out, c.fail(err, resp, fmt.Sprintf("creating branch %q of %q from %q", ch.Branch, ch.Project, out.Target), forbiddenWrite)
		}
		out.BranchCreated = true
	default:
		return out, c.fail(err, resp, fmt.Sprintf("reading branch %q of %q", ch.Branch, ch.Project), forbiddenWrite)
	}
	var actions []*gitlab.CommitActionOptions
	for _, f := range ch.Files {
		have, err := c.File(ctx, ch.Project, f.Path, ch.Branch)
		if err == nil && string(have) == string(f.Content) {
			continue
		}
		actions = append(actions, &gitlab.CommitActionOptions{Action: gitlab.Ptr(gitlab.FileUpdate), FilePath: gitlab.Ptr(f.Path), Content: gitlab.Ptr(string(f.Content))})
	}
	if len(actions) > 0 {
		_, resp, err := c.gl.Commits.CreateCommit(ch.Project, &gitlab.CreateCommitOptions{Branch: gitlab.Ptr(ch.Branch), CommitMessage: gitlab.Ptr(ch.CommitMessage), Actions: actions}, gitlab.WithContext(ctx))
		if err != nil {
			return out, c.fail(err, resp, fmt.Sprintf("committing to branch %q of %q", ch.Branch, ch.Project), forbiddenWrite)
		}
		out.Committed = true
	}
	mrs, resp, err := c.gl.MergeRequests.ListProjectMergeRequests(ch.Project, &gitlab.ListProjectMergeRequestsOptions{
		State: gitlab.Ptr("opened"), SourceBranch: gitlab.Ptr(ch.Branch), TargetBranch: gitlab.Ptr(out.Target),
	}, gitlab.WithContext(ctx))
	if err != nil {
		return out, c.fail(err, resp, fmt.Sprintf("searching the merge requests of %q", ch.Project), forbiddenWrite)
	}
	for _, mr := range mrs {
		if mr.SourceBranch != ch.Branch || mr.TargetBranch != out.Target || mr.State != "opened" {
			continue
		}
		upd, resp, err := c.gl.MergeRequests.UpdateMergeRequest(ch.Project, mr.IID, &gitlab.UpdateMergeRequestOptions{Title: gitlab.Ptr(ch.Title), Description: gitlab.Ptr(ch.Description)}, gitlab.WithContext(ctx))
		if err != nil {
			return out, c.fail(err, resp, fmt.Sprintf("updating merge request !%d of %q", mr.IID, ch.Project), forbiddenWrite)
		}
		out.IID, out.WebURL = upd.IID, upd.WebURL
		return out, nil
	}
	mr, resp, err := c.gl.MergeRequests.CreateMergeRequest(ch.Project, &gitlab.CreateMergeRequestOptions{
		Title: gitlab.Ptr(ch.Title), Description: gitlab.Ptr(ch.Description),
		SourceBranch: gitlab.Ptr(ch.Branch), TargetBranch: gitlab.Ptr(out.Target), RemoveSourceBranch: gitlab.Ptr(true),
	}, gitlab.WithContext(ctx))
	if err != nil {
		return out, c.fail(err, resp, fmt.Sprintf("creating a merge request in %q", ch.Project), forbiddenWrite)
	}
	out.IID, out.WebURL, out.Created = mr.IID, mr.WebURL, true
	return out, nil
}
