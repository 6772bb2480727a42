package migrate_test

import (
	"crypto/sha256"
	"encoding/base32"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"gitlab.com/keyless-ci/keyless/internal/migrate"
	"gitlab.com/keyless-ci/keyless/internal/pipeline"
)

// projectFetcher serves one include:project file.
type projectFetcher struct{ src string }

func (f projectFetcher) Fetch(inc *pipeline.Include) (string, []byte, error) {
	return "project:" + inc.Project + "@main:/" + strings.TrimPrefix(inc.Location, "/"), []byte(f.src), nil
}

func write(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, src := range files {
		os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func reasons(p migrate.Plan) map[string]string {
	out := map[string]string{}
	for _, r := range p.Refused {
		out[r.Job] = r.Reason
	}
	return out
}

// TestMigrateNotLocal: a job written in a project include, and the
// credential lines of a template written in one, are refused: migrate
// edits only the project's own files.
func TestMigrateNotLocal(t *testing.T) {
	dir := write(t, map[string]string{".gitlab-ci.yml": `include:
  - project: g/templates
    file: /ci.yml

upload:
  extends: .aws-keys
  script:
    - aws s3 cp dist/ s3://x/ --recursive
`})
	o := migrate.Options{Fetcher: projectFetcher{src: `.aws-keys:
  before_script:
    - export AWS_ACCESS_KEY_ID=$SHARED_KEY_ID
    - export AWS_SECRET_ACCESS_KEY=$SHARED_SECRET

deploy:
  variables:
    AWS_ACCESS_KEY_ID: $KEY_ID
    AWS_SECRET_ACCESS_KEY: $SECRET
  script:
    - aws s3 sync public/ s3://y/
`}, Identities: migrate.Identities{Default: flagIdentities}}
	r, err := migrate.Migrate(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(map[string]string{"upload": migrate.ReasonNotLocal, "deploy": migrate.ReasonNotLocal}, reasons(r.Plan)); d != "" {
		t.Errorf("refusals (-want +got):\n%s", d)
	}
	if len(r.Changes) != 0 {
		t.Errorf("changes:\n%s", r.Diff())
	}
}

// TestMigrateDiffRedacts: a secret written in the configuration near an
// edit is shown in the diff by its hint only.
func TestMigrateDiffRedacts(t *testing.T) {
	// Made at run time: no real-looking key is committed (STYLE 17).
	sum := sha256.Sum256([]byte("keyless migrate redaction test"))
	id := "AKIA" + base32.StdEncoding.EncodeToString(sum[:])[:16]
	dir := write(t, map[string]string{".gitlab-ci.yml": "deploy:\n  variables:\n    LEGACY_ID: " + id + "\n    AWS_ACCESS_KEY_ID: $KEY_ID\n    AWS_SECRET_ACCESS_KEY: $SECRET\n  script:\n    - aws s3 ls\n"})
	r, err := migrate.Migrate(dir, migrate.Options{Identities: migrate.Identities{Default: flagIdentities}})
	if err != nil {
		t.Fatal(err)
	}
	d := r.Diff()
	if !strings.Contains(d, "-    AWS_ACCESS_KEY_ID: $KEY_ID") {
		t.Fatalf("the diff does not remove the mapping:\n%s", d)
	}
	if strings.Contains(d, id) || !strings.Contains(d, "<redacted: AKIA") {
		t.Errorf("the key is in the diff, or not redacted by its hint:\n%s", d)
	}
}

// TestParseMap: errors name the entry and what to write.
func TestParseMap(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{"K:\n  role_arn: arn:aws:iam::1:role/x\n", ""},
		{"K:\n  cloud: aws\n", "aws needs the input role_arn"},
		{"K:\n  foo: bar\n", `cloud ""`},
		{"K:\n  addr: https://v\n", "vault needs the input role"},
		{"bad name:\n  role_arn: x\n", "not a variable name"},
		{"K:\n  role_arn: x\n  as: keyless-aws\n", "starting with a dot"},
		{"- a\n", "write VARIABLE"},
	} {
		_, err := migrate.ParseMap([]byte(tc.src))
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%q: %v", tc.src, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%q: err %v, want %q", tc.src, err, tc.want)
		}
	}
}
