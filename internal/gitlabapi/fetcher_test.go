package gitlabapi_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"gitlab.com/keyless-ci/keyless/internal/gitlabapi"
	"gitlab.com/keyless-ci/keyless/internal/gitlabapi/gitlabtest"
	"gitlab.com/keyless-ci/keyless/internal/pipeline"
)

func TestFetcher(t *testing.T) {
	s := gitlabtest.New(t)
	s.AddProject("g/shared").DefaultBranch = "trunk"
	s.AddFile("g/shared", "trunk", "ci/base.yml", "base: trunk\n")
	s.AddFile("g/shared", "v2", "ci/base.yml", "base: v2\n")
	s.AddTemplate("Jobs/SAST", "sast: {}\n")
	s.AddTemplate("Terraform", "tf: {}\n")

	s.AddProject("comp/sub/tools")
	for _, tag := range []string{"1.0.0", "1.2.0", "1.10.1", "2.0.0-rc.1", "1.2.7"} {
		s.AddRelease("comp/sub/tools", tag)
	}
	s.AddFile("comp/sub/tools", "1.10.1", "templates/aws.yml", "aws: 1.10.1\n")
	s.AddFile("comp/sub/tools", "1.2.7", "templates/aws.yml", "aws: 1.2.7\n")
	s.AddFile("comp/sub/tools", "1.0.0", "templates/vault/template.yml", "vault: dir\n")
	s.AddFile("comp/sub/tools", "feature", "templates/aws.yml", "aws: branch\n")
	s.AddProject("comp/norel")
	s.AddFile("comp/norel", "main", "templates/x.yml", "x: main\n")

	remote := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok.yml":
			_, _ = w.Write([]byte("remote: yes\n"))
		case "/big.yml":
			_, _ = w.Write([]byte(strings.Repeat("#", gitlabapi.MaxRemoteSize+1)))
		case "/to-http":
			http.Redirect(w, r, "http://example.invalid/x.yml", http.StatusFound)
		default:
			http.NotFound(w, r)
		}
	}))
	defer remote.Close()

	c, _ := newClient(t, s)
	f := gitlabapi.NewFetcher(t.Context(), c, remote.Client())

	for _, tc := range []struct {
		name    string
		inc     pipeline.Include
		path    string
		src     string
		errLike string
		errIs   error
	}{
		{name: "project default branch", inc: pipeline.Include{Kind: pipeline.IncludeProject, Project: "g/shared", Location: "ci/base.yml"},
			path: "project:g/shared@trunk:/ci/base.yml", src: "base: trunk\n"},
		{name: "project ref", inc: pipeline.Include{Kind: pipeline.IncludeProject, Project: "g/shared", Ref: "v2", Location: "/ci/base.yml"},
			path: "project:g/shared@v2:/ci/base.yml", src: "base: v2\n"},
		{name: "project missing file", inc: pipeline.Include{Kind: pipeline.IncludeProject, Project: "g/shared", Location: "nope.yml"},
			errIs: gitlabapi.ErrNotFound},
		{name: "template", inc: pipeline.Include{Kind: pipeline.IncludeTemplate, Location: "Jobs/SAST.gitlab-ci.yml"},
			path: "template:Jobs/SAST", src: "sast: {}\n"},
		{name: "template without suffix", inc: pipeline.Include{Kind: pipeline.IncludeTemplate, Location: "Terraform"},
			path: "template:Terraform", src: "tf: {}\n"},
		{name: "remote", inc: pipeline.Include{Kind: pipeline.IncludeRemote, Location: remote.URL + "/ok.yml?private_token=CANARY"},
			path: "remote:" + remote.URL + "/ok.yml", src: "remote: yes\n"},
		{name: "remote http refused", inc: pipeline.Include{Kind: pipeline.IncludeRemote, Location: "http://user:CANARY@example.invalid/x.yml"},
			errIs: gitlabapi.ErrRemoteRefused, errLike: `"http://example.invalid/x.yml" is not https`},
		{name: "remote too large", inc: pipeline.Include{Kind: pipeline.IncludeRemote, Location: remote.URL + "/big.yml"},
			errIs: gitlabapi.ErrRemoteRefused, errLike: "larger than 1048576 bytes"},
		{name: "remote redirect to http", inc: pipeline.Include{Kind: pipeline.IncludeRemote, Location: remote.URL + "/to-http"},
			errIs: gitlabapi.ErrRemoteRefused},
		{name: "remote 404", inc: pipeline.Include{Kind: pipeline.IncludeRemote, Location: remote.URL + "/missing.yml"},
			errLike: "404 Not Found"},
		{name: "component latest", inc: pipeline.Include{Kind: pipeline.IncludeComponent, Location: "gitlab.example.com/comp/sub/tools/aws@~latest"},
			path: "component:comp/sub/tools/aws@1.10.1", src: "aws: 1.10.1\n"},
		{name: "component partial", inc: pipeline.Include{Kind: pipeline.IncludeComponent, Location: "gitlab.example.com/comp/sub/tools/aws@1.2"},
			path: "component:comp/sub/tools/aws@1.2.7", src: "aws: 1.2.7\n"},
		{name: "component major", inc: pipeline.Include{Kind: pipeline.IncludeComponent, Location: "gitlab.example.com/comp/sub/tools/aws@1"},
			path: "component:comp/sub/tools/aws@1.10.1", src: "aws: 1.10.1\n"},
		{name: "component directory form", inc: pipeline.Include{Kind: pipeline.IncludeComponent, Location: "gitlab.example.com/comp/sub/tools/vault@1.0.0"},
			path: "component:comp/sub/tools/vault@1.0.0", src: "vault: dir\n"},
		{name: "component branch", inc: pipeline.Include{Kind: pipeline.IncludeComponent, Location: "$CI_SERVER_FQDN/comp/sub/tools/aws@feature"},
			path: "component:comp/sub/tools/aws@feature", src: "aws: branch\n"},
		{name: "component latest without releases", inc: pipeline.Include{Kind: pipeline.IncludeComponent, Location: "gitlab.example.com/comp/norel/x@~latest"},
			path: "component:comp/norel/x@main", src: "x: main\n"},
		{name: "component missing", inc: pipeline.Include{Kind: pipeline.IncludeComponent, Location: "gitlab.example.com/comp/norel/y@main"},
			errLike: "neither templates/y.yml nor templates/y/template.yml"},
		{name: "component without version", inc: pipeline.Include{Kind: pipeline.IncludeComponent, Location: "gitlab.example.com/comp/norel/y"},
			errLike: "has no version"},
		{name: "component too short", inc: pipeline.Include{Kind: pipeline.IncludeComponent, Location: "gitlab.example.com/comp/y@1"},
			errLike: "is not host/group/project/name@version"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inc := tc.inc
			path, src, err := f.Fetch(&inc)
			if tc.errLike != "" || tc.errIs != nil {
				if err == nil {
					t.Fatalf("no error; got %q %q", path, src)
				}
				if tc.errIs != nil && !errors.Is(err, tc.errIs) {
					t.Errorf("err = %v, want %v", err, tc.errIs)
				}
				if !strings.Contains(err.Error(), tc.errLike) {
					t.Errorf("err = %v, want it to contain %q", err, tc.errLike)
				}
				if strings.Contains(err.Error(), "CANARY") || strings.Contains(path, "CANARY") {
					t.Errorf("credentials in error or path: %v, %q", err, path)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if path != tc.path || string(src) != tc.src {
				t.Errorf("got %q %q, want %q %q", path, src, tc.path, tc.src)
			}
		})
	}

	// A file is read once per fetcher.
	before := count(s, "GET", "/api/v4/projects/g%2Fshared/repository/files/ci%2Fbase%2Eyml/raw")
	inc := pipeline.Include{Kind: pipeline.IncludeProject, Project: "g/shared", Ref: "v2", Location: "/ci/base.yml"}
	if _, _, err := f.Fetch(&inc); err != nil {
		t.Fatal(err)
	}
	if after := count(s, "GET", "/api/v4/projects/g%2Fshared/repository/files/ci%2Fbase%2Eyml/raw"); after != before {
		t.Errorf("a cached file was read again")
	}
}
