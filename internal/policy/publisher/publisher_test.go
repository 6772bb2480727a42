package publisher

import (
	"strings"
	"testing"

	"gitlab.com/keyless-ci/keyless/internal/policy"
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

func TestEvaluate(t *testing.T) {
	t.Parallel()
	claims := policy.Claims{"project_path": "acme/Web", "ci_config_ref_uri": "gitlab.com/acme/Web//.gitlab-ci.yml@refs/tags/v1",
		"ref_path": "refs/tags/v1", "sha": "0123", "environment": "release"}
	s := Spec{ProjectPath: "acme/web", CIConfig: ".gitlab-ci.yml", Environment: "release"}
	if r := Evaluate(s, RegistryPyPI, claims); !r.Admitted {
		t.Errorf("PyPI, case aside: %+v", r)
	}
	// npm compares as written.
	if r := Evaluate(s, RegistryNpm, claims); r.Admitted || r.Verdict != "Project name does not match the job" {
		t.Errorf("npm: %+v", r)
	}
	s.Environment = "pypi"
	r := Evaluate(s, RegistryPyPI, claims)
	if r.Admitted || r.Verdict != "Environment name does not match the job" || !strings.Contains(r.Fix, "--environment release") {
		t.Errorf("environment: %+v", r)
	}
	// A self-managed instance: PyPI's publisher is for gitlab.com.
	claims["ci_config_ref_uri"] = "gitlab.example.com/acme/Web//.gitlab-ci.yml@refs/tags/v1"
	s.Environment = ""
	if r := Evaluate(s, RegistryPyPI, claims); r.Admitted || r.Verdict != "Issuer does not match the job" {
		t.Errorf("self-managed: %+v", r)
	}
}

func TestCrates(t *testing.T) {
	t.Parallel()
	s := Spec{ProjectPath: "acme/tools/web", Environment: "release", CIConfig: "ci/release.yml"}
	got := Crates(s)
	for _, want := range []string{"Namespace          acme/tools\n", "Project            web\n", "Workflow filepath  ci/release.yml\n",
		"Environment        release\n", `aud: "crates.io"`, "keyless crates --token-var CRATES_ID_TOKEN -- cargo publish", "GitLab.com only"} {
		if !strings.Contains(got, want) {
			t.Errorf("lacks %q:\n%s", want, got)
		}
	}
}

// crates.io compares namespace, project and environment ignoring case,
// reads the file from ci_config_ref_uri whatever project it names, and
// trusts https://gitlab.com alone.
func TestEvaluateCrates(t *testing.T) {
	t.Parallel()
	claims := policy.Claims{"iss": "https://gitlab.com", "project_path": "acme/Web", "ci_config_ref_uri": "gitlab.com/acme/Web//ci/release.yml@refs/tags/v1",
		"environment": "Release"}
	s := Spec{ProjectPath: "acme/web", CIConfig: "ci/release.yml", Environment: "release"}
	if r := Evaluate(s, RegistryCrates, claims); !r.Admitted {
		t.Errorf("case aside: %+v", r)
	}
	s.CIConfig = ".gitlab-ci.yml"
	r := Evaluate(s, RegistryCrates, claims)
	if r.Admitted || r.Verdict != "Workflow filepath does not match the job" || !strings.Contains(r.Fix, "keyless policy crates --project acme/Web --ci-config ci/release.yml") {
		t.Errorf("workflow: %+v", r)
	}
	s.CIConfig = "ci/release.yml"
	claims["iss"] = "https://gitlab.example.com"
	if r := Evaluate(s, RegistryCrates, claims); r.Admitted || r.Verdict != "Issuer does not match the job" {
		t.Errorf("self-managed: %+v", r)
	}
}
