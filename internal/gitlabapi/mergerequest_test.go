package gitlabapi_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"gitlab.com/keyless-ci/keyless/internal/gitlabapi"
	"gitlab.com/keyless-ci/keyless/internal/gitlabapi/gitlabtest"
)

// TestUpsertMergeRequest: the first call makes the branch, commits and
// opens the merge request; the same change again commits nothing and
// updates that merge request; a new change is one more commit on the
// branch, still in the one merge request.
func TestUpsertMergeRequest(t *testing.T) {
	s := gitlabtest.New(t)
	s.AddProject("g/app")
	s.AddFile("g/app", "main", ".gitlab-ci.yml", "before\n")
	c, _ := newClient(t, s)
	ch := gitlabapi.MergeRequestChange{Project: "g/app", Branch: "keyless/migrate", Title: "Move off stored keys",
		Description: "first", CommitMessage: "ci: keyless migrate",
		Files: []gitlabapi.FileContent{{Path: ".gitlab-ci.yml", Content: []byte("after\n")}}}

	mr, err := c.UpsertMergeRequest(t.Context(), ch)
	if err != nil {
		t.Fatal(err)
	}
	if !mr.BranchCreated || !mr.Committed || !mr.Created || mr.Target != "main" || mr.IID != 1 || !strings.Contains(mr.WebURL, "/g/app/-/merge_requests/1") {
		t.Errorf("first call: %+v", mr)
	}
	if got, _ := s.FileAt("g/app", "keyless/migrate", ".gitlab-ci.yml"); got != "after\n" {
		t.Errorf("branch holds %q", got)
	}
	if got, _ := s.FileAt("g/app", "main", ".gitlab-ci.yml"); got != "before\n" {
		t.Errorf("main changed: %q", got)
	}

	ch.Description = "second"
	mr, err = c.UpsertMergeRequest(t.Context(), ch)
	if err != nil {
		t.Fatal(err)
	}
	if mr.BranchCreated || mr.Committed || mr.Created || mr.IID != 1 {
		t.Errorf("same change again: %+v", mr)
	}
	ch.Files[0].Content = []byte("after, again\n")
	if mr, err = c.UpsertMergeRequest(t.Context(), ch); err != nil || !mr.Committed || mr.Created {
		t.Errorf("a new change: %+v, %v", mr, err)
	}
	want := []gitlabtest.MergeRequest{{IID: 1, Title: "Move off stored keys", Description: "second", SourceBranch: "keyless/migrate", TargetBranch: "main", State: "opened"}}
	if d := cmp.Diff(want, s.MergeRequests("g/app")); d != "" {
		t.Errorf("merge requests (-want +got):\n%s", d)
	}
	if n := len(s.Commits("g/app")); n != 2 {
		t.Errorf("%d commits, want 2", n)
	}
}

func TestUpsertMergeRequestForbidden(t *testing.T) {
	s := gitlabtest.New(t)
	s.AddProject("g/app")
	s.AddFile("g/app", "main", ".gitlab-ci.yml", "before\n")
	s.Forbid("projects/g/app/repository/branches")
	c, _ := newClient(t, s)
	_, err := c.UpsertMergeRequest(t.Context(), gitlabapi.MergeRequestChange{Project: "g/app", Branch: "keyless/migrate", Title: "t", CommitMessage: "m",
		Files: []gitlabapi.FileContent{{Path: ".gitlab-ci.yml", Content: []byte("x")}}})
	if !errors.Is(err, gitlabapi.ErrForbidden) || !strings.Contains(err.Error(), "api scope") || strings.Contains(err.Error(), s.Token) {
		t.Errorf("err = %v, want forbidden naming the api scope, without the token", err)
	}
}
