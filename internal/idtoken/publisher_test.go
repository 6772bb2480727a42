package idtoken

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestGitLabPublisher(t *testing.T) {
	t.Parallel()
	cases := []struct {
		c    Claims
		want Publisher
	}{
		{Claims{ProjectPath: "group/sub/proj", CIConfigRefURI: "gitlab.com/group/sub/proj//ci/release.yml@refs/tags/v1.0", Environment: "pypi"},
			Publisher{Namespace: "group/sub", Project: "proj", CIFile: "ci/release.yml", CIConfigRef: "refs/tags/v1.0", CIConfigHost: "gitlab.com", Environment: "pypi"}},
		// Project paths are case-insensitive on GitLab.
		{Claims{ProjectPath: "Org/Repo", CIConfigRefURI: "gitlab.com/org/repo//.gitlab-ci.yml@refs/heads/main"},
			Publisher{Namespace: "Org", Project: "Repo", CIFile: ".gitlab-ci.yml", CIConfigRef: "refs/heads/main", CIConfigHost: "gitlab.com"}},
		// The configuration of another project: no file of this one.
		{Claims{ProjectPath: "org/repo", CIConfigRefURI: "gitlab.com/org/ci-templates//pipeline.yml@refs/heads/main"},
			Publisher{Namespace: "org", Project: "repo"}},
		{Claims{ProjectPath: "org/repo"}, Publisher{Namespace: "org", Project: "repo"}},
	}
	for _, tc := range cases {
		if d := cmp.Diff(tc.want, tc.c.GitLabPublisher()); d != "" {
			t.Errorf("%+v (-want +got):\n%s", tc.c, d)
		}
	}
}
