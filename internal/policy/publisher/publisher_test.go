package publisher

import (
	"strings"
	"testing"
)

func TestPyPI(t *testing.T) {
	t.Parallel()
	s := Spec{ProjectPath: "acme/tools/web", Environment: "release", CIConfig: DefaultCIConfig}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	got := PyPI(s)
	for _, want := range []string{"Namespace                     acme/tools\n", "Project name                  web\n",
		"Top-level pipeline file path  .gitlab-ci.yml\n", "Environment name              release\n", "environment: release\n", `aud: "pypi"`} {
		if !strings.Contains(got, want) {
			t.Errorf("lacks %q:\n%s", want, got)
		}
	}
	if len(s.Warnings("pypi")) != 0 {
		t.Error("a spec with an environment warns")
	}
}

func TestNpm(t *testing.T) {
	t.Parallel()
	s := Spec{ProjectPath: "acme/web", CIConfig: "ci/release.yml", Package: "@acme/web"}
	got := Npm(s)
	for _, want := range []string{"npm trust gitlab @acme/web --project acme/web --file ci/release.yml\n", "Top-level CI file path  ci/release.yml",
		"https://www.npmjs.com/package/@acme/web/access", `aud: "npm:registry.npmjs.org"`, "(empty: any job"} {
		if !strings.Contains(got, want) {
			t.Errorf("lacks %q:\n%s", want, got)
		}
	}
	if len(s.Warnings("npm")) != 1 {
		t.Error("a spec without an environment does not warn")
	}
	s.Environment = "npm prod"
	if got := Npm(s); !strings.Contains(got, "--environment 'npm prod'") || !strings.Contains(got, `environment: "npm prod"`) {
		t.Errorf("environment not quoted:\n%s", got)
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	for _, s := range []Spec{{ProjectPath: "web", CIConfig: ".gitlab-ci.yml"}, {ProjectPath: "a//b", CIConfig: ".gitlab-ci.yml"},
		{ProjectPath: "a/b", CIConfig: "/abs.yml"}, {ProjectPath: "a/b", CIConfig: "../x.yml"}, {ProjectPath: "a/b", CIConfig: "ci.yml@other/project"},
		{ProjectPath: "a/b", CIConfig: "https://example.com/ci.yml"}, {ProjectPath: "a/b"}} {
		if s.Validate() == nil {
			t.Errorf("%+v: no error", s)
		}
	}
}
