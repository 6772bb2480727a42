package main

import (
	"os"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// The project's own .gitlab-ci.yml is a valid pipeline as gitlab-ci-local
// expands it (with this checkout's components included by
// $CI_SERVER_FQDN/$CI_PROJECT_PATH/<name>@$CI_COMMIT_SHA), has every stage
// and job the release process needs, and lints clean.
func TestE2EGitLabCIProjectPipeline(t *testing.T) {
	p := e2e(t)
	ci, err := os.ReadFile("../../.gitlab-ci.yml")
	if err != nil {
		t.Fatal(err)
	}
	g := newGCLProject(t, p, string(ci))
	for _, vars := range []map[string]string{nil, {"CI_COMMIT_TAG": "1.2.3"}} {
		r := g.run(t, os.Getenv("PATH"), vars, "--preview")
		if r.Code != 0 {
			t.Fatalf("gitlab-ci-local --preview %v: exit %d\n%s%s", vars, r.Code, r.Stdout, r.Stderr)
		}
		var pipeline map[string]yaml.Node
		if err := yaml.Unmarshal([]byte(r.Stdout), &pipeline); err != nil {
			t.Fatal(err)
		}
		var stages []string
		node := pipeline["stages"]
		if err := node.Decode(&stages); err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(stages, ","); !strings.Contains(got, "test,self-lint,component-test,build,release") {
			t.Errorf("stages %s", got)
		}
		for _, job := range []string{"test", "vet", "self-lint", "component-test:aws", "component-test:lint", "component-test:fakes", "build", "container-image", "upload", "release"} {
			if _, ok := pipeline[job]; !ok {
				t.Errorf("no job %s in the expanded pipeline", job)
			}
		}
		// The image is pushed only after the release checked its digest
		// against the templates' pin, and sign checks what was pushed.
		var job struct{ Script []string }
		for name, order := range map[string][]string{
			"container-image": {"scripts/release-image.sh dist keyless-image.tar", "scripts/release-check-pins.sh dist keyless-image.tar", "crane\" push"},
			"sign":            {`scripts/release-check-pins.sh dist "$(cat image.ref)"`, "cosign sign-blob", "cosign sign "},
		} {
			n, ok := pipeline[name]
			if !ok {
				continue // sign runs on a tag only
			}
			if err := n.Decode(&job); err != nil {
				t.Fatal(err)
			}
			script, at := strings.Join(job.Script, "\n"), 0
			for _, step := range order {
				i := strings.Index(script[at:], step)
				if i < 0 {
					t.Errorf("%s (%v): %q missing, or not after %q:\n%s", name, vars, step, order, script)
					break
				}
				at += i + len(step)
			}
		}
		// The aws component under test: its hidden job, with the test
		// audience and the MinIO role.
		var aws struct {
			IDTokens  map[string]struct{ Aud string } `yaml:"id_tokens"`
			Variables map[string]string               `yaml:"variables"`
		}
		node = pipeline["component-test:aws"]
		if err := node.Decode(&aws); err != nil {
			t.Fatal(err)
		}
		if aws.IDTokens["KEYLESS_AWS_ID_TOKEN"].Aud != "keyless-component-test" || aws.Variables["KEYLESS_AWS_STS_ENDPOINT"] != "http://minio:9000" {
			t.Errorf("component-test:aws does not get the aws component's id_tokens and variables: %+v", aws)
		}
	}
	r := run(t, nil, p.Bin, "lint", "--fail-on", "minor", "../../.gitlab-ci.yml")
	if r.Code != 0 {
		t.Errorf("keyless lint .gitlab-ci.yml: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
}
