package lint

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// awsProject is a pipeline with an AWS key pair written in a job's
// variables. Test data: the key is synthetic (testdata/err/secret_aws.yml).
const awsProject = `deploy:
  variables:
    AWS_ACCESS_KEY_ID: AKIAUJZDEGXDNCF32EPF
    AWS_SECRET_ACCESS_KEY: nyVmihA+2O76UMFxFkM+R5Kjp1vRt/1fjORS+6il
  script:
    - aws s3 sync public/ s3://example-site/
`

// twoProjects writes awsProject as the projects a/ and b/ below a new
// directory, and returns it.
func twoProjects(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	for _, name := range []string{"a", "b"} {
		if err := os.MkdirAll(filepath.Join(root, name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, name, ".gitlab-ci.yml"), []byte(awsProject), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func lintOK(t *testing.T, r Request) *Report {
	t.Helper()
	r.Rules = []string{"hardcoded-aws-key"}
	rep, err := Lint(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Errors) > 0 {
		t.Fatal(errors.Join(rep.Errors...))
	}
	return rep
}

// fingerprints maps each finding's path and line to its fingerprint.
func fingerprints(fs []Finding) map[string]string {
	out := map[string]string{}
	for _, f := range fs {
		out[where(f)] = f.Fingerprint
	}
	return out
}

// The same key in two projects linted together has two fingerprints, and
// a baseline of one project does not silence the other (issue 14).
func TestLintFingerprintsDifferPerProject(t *testing.T) {
	root := twoProjects(t)
	t.Chdir(root)
	rep := lintOK(t, Request{Paths: []string{"."}, Recursive: true})
	byProject := map[string][]Finding{}
	seen := map[string]string{}
	for _, f := range rep.Findings {
		dir, _, _ := strings.Cut(f.Pos.File, "/")
		byProject[dir] = append(byProject[dir], f)
		if other, ok := seen[f.Fingerprint]; ok {
			t.Errorf("%s and %s have the same fingerprint %s", other, where(f), f.Fingerprint)
		}
		seen[f.Fingerprint] = where(f)
	}
	if len(byProject["a"]) == 0 || len(byProject["a"]) != len(byProject["b"]) {
		t.Fatalf("findings by project: %v", fingerprints(rep.Findings))
	}

	// A baseline of a alone, written with a's path as a -r run writes it.
	var buf bytes.Buffer
	if err := NewBaseline(byProject["a"]).Write(&buf); err != nil {
		t.Fatal(err)
	}
	base := filepath.Join(t.TempDir(), "baseline.json")
	if err := os.WriteFile(base, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	rep = lintOK(t, Request{Paths: []string{"."}, Recursive: true, Baseline: base})
	if d := cmp.Diff(fingerprints(byProject["b"]), fingerprints(rep.Findings)); d != "" {
		t.Errorf("with a's baseline, want b's findings only (-want +got):\n%s", d)
	}
}

// A lone project's fingerprints do not depend on where it is, and are
// Run's: baselines written before issue 14 still hold.
func TestLintLoneProjectFingerprints(t *testing.T) {
	root := twoProjects(t)
	a := lintOK(t, Request{Paths: []string{filepath.Join(root, "a")}})
	b := lintOK(t, Request{Paths: []string{filepath.Join(root, "b")}})
	if len(a.Findings) == 0 {
		t.Fatal("no findings")
	}
	if d := cmp.Diff(fingerprints(a.Findings), fingerprints(b.Findings)); d != "" {
		t.Errorf("a lone project's fingerprints depend on its directory (-a +b):\n%s", d)
	}
	for _, f := range a.Findings {
		if f.Pos.File != ".gitlab-ci.yml" {
			t.Errorf("a lone project's finding at %s, want .gitlab-ci.yml", where(f))
		}
	}
}

func TestLintRequestErrors(t *testing.T) {
	empty := t.TempDir()
	for _, tc := range []struct {
		name string
		r    Request
		want error
	}{
		{"missing", Request{Paths: []string{filepath.Join(empty, "nope")}}, os.ErrNotExist},
		{"no-config", Request{Paths: []string{empty}}, ErrNoConfig},
		{"recursive-none", Request{Paths: []string{empty}, Recursive: true}, ErrNoConfig},
		{"baseline", Request{Paths: []string{twoProjects(t)}, Recursive: true, Baseline: filepath.Join(empty, "nope.json")}, os.ErrNotExist},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Lint(context.Background(), tc.r)
			if !errors.Is(err, tc.want) {
				t.Errorf("error %v, want %v", err, tc.want)
			}
		})
	}
}

func where(f Finding) string { return fmt.Sprintf("%s:%d:%d", f.Pos.File, f.Pos.Line, f.Pos.Col) }

// With -r, a configuration that another project's pipeline reads (a local
// include, or a child pipeline) is linted as that project's file, not as
// a project of its own, where its includes would be read from the wrong
// root (issue 15). A project no one reads is still linted.
func TestLintRecursiveSkipsIncludedConfigs(t *testing.T) {
	root := t.TempDir()
	for name, src := range map[string]string{
		".gitlab-ci.yml": "include:\n  - local: api/.gitlab-ci.yml\n" +
			".deploy:\n  image: alpine\n" +
			"web:\n  trigger:\n    include: web/.gitlab-ci.yml\n",
		// Included by the root: .deploy and ci/api.yml are the root's.
		"api/.gitlab-ci.yml": "include:\n  - local: ci/api.yml\napi:\n  extends: .deploy\n  script: [make api]\n",
		"ci/api.yml":         "api-test:\n  script: [make test]\n",
		// A child pipeline of the root.
		"web/.gitlab-ci.yml": "web-deploy:\n  variables:\n    AWS_ACCESS_KEY_ID: AKIAUJZDEGXDNCF32EPF\n  script: [make web]\n",
		// Its own project.
		"tools/.gitlab-ci.yml": "tools:\n  variables:\n    AWS_ACCESS_KEY_ID: AKIAUJZDEGXDNCF32EPF\n  script: [make tools]\n",
	} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(root, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Chdir(root)
	rep, err := Lint(context.Background(), Request{Paths: []string{"."}, Recursive: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Errors) > 0 {
		t.Fatal(errors.Join(rep.Errors...))
	}
	var got []string
	for _, f := range rep.Findings {
		got = append(got, where(f)+" "+f.Rule)
	}
	want := []string{"web/.gitlab-ci.yml:3:24 hardcoded-aws-key", "tools/.gitlab-ci.yml:3:24 hardcoded-aws-key"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("findings (-want +got):\n%s", d)
	}
}
