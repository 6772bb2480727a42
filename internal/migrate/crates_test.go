package migrate_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gitlab.com/keyless-ci/keyless/internal/migrate"
)

// TestMigrateCrates: a crates.io publish job with a stored token moves to
// the crates component, its cargo login and --token argument taken out;
// what migrate cannot edit safely is refused with the reason (issue 18).
func TestMigrateCrates(t *testing.T) {
	job := func(lines ...string) string {
		s := "publish:\n  image: rust:1.91\n  script:\n"
		for _, l := range lines {
			s += "    - " + l + "\n"
		}
		return s
	}
	for _, c := range []struct {
		name    string
		files   map[string]string
		script  string // the job's script as migrated, "" refused
		refused string
	}{
		{"token argument", map[string]string{".gitlab-ci.yml": job(`cargo publish --token "$CRATES_TOKEN" --locked`)}, "    - cargo publish --locked\n", ""},
		{"token argument last", map[string]string{".gitlab-ci.yml": job(`cargo publish --locked --token=${CRATES_TOKEN}`)}, "    - cargo publish --locked\n", ""},
		{"stored CARGO_REGISTRY_TOKEN", map[string]string{".gitlab-ci.yml": job(`cargo publish --token $CARGO_REGISTRY_TOKEN`)}, "    - cargo publish\n", ""},
		{"cargo login argument", map[string]string{".gitlab-ci.yml": job(`cargo login "$CRATES_TOKEN"`, "cargo publish")}, "    - cargo publish\n", ""},
		{"cargo login stdin", map[string]string{".gitlab-ci.yml": job(`echo "$CRATES_TOKEN" | cargo login`, "cargo publish")}, "    - cargo publish\n", ""},
		{"token in a list", map[string]string{".gitlab-ci.yml": job(`cargo publish --token "$CRATES_TOKEN" && echo published`)}, "", "dynamic"},
		{"token twice", map[string]string{".gitlab-ci.yml": job(`cargo publish --token "$CRATES_TOKEN" --token "$CRATES_TOKEN"`)}, "", "dynamic"},
		{"sets CARGO_REGISTRY_TOKEN", map[string]string{".gitlab-ci.yml": "publish:\n  variables:\n    CARGO_REGISTRY_TOKEN: $CRATES_TOKEN\n  script:\n    - export CARGO_REGISTRY_TOKEN=$(printf %s \"$CARGO_REGISTRY_TOKEN\" | tr -d '\\n')\n    - cargo publish\n"}, "", "dynamic"},
		{"credentials file", map[string]string{".gitlab-ci.yml": "publish:\n  variables:\n    CARGO_REGISTRY_TOKEN: $CRATES_TOKEN\n  script:\n    - echo \"[registry]\" > $CARGO_HOME/credentials.toml\n    - cargo publish\n"}, "", "dynamic"},
		{"index", map[string]string{".gitlab-ci.yml": job(`cargo publish --index sparse+https://cargo.example.com/index/ --token "$CRATES_TOKEN"`)}, "", "registry"},
		{"default registry", map[string]string{".cargo/config": "[registry]\ndefault = 'example-internal'\n", ".gitlab-ci.yml": job(`cargo publish --token "$CRATES_TOKEN"`)}, "", "registry"},
		{"default registry crates-io", map[string]string{".cargo/config.toml": "registry.default = \"crates-io\"\n", ".gitlab-ci.yml": job(`cargo publish --token "$CRATES_TOKEN"`)}, "    - cargo publish\n", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := write(t, c.files)
			r, err := migrate.Migrate(dir, migrate.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if got := reasons(r.Plan)["publish"]; got != c.refused {
				t.Fatalf("refused %q, want %q (%+v)\n%s", got, c.refused, r.Plan.Refused, r.Diff())
			}
			if c.refused != "" {
				if len(r.Changes) > 0 {
					t.Errorf("a refused job's configuration changed:\n%s", r.Diff())
				}
				return
			}
			if err := r.Write(); err != nil {
				t.Fatal(err)
			}
			b, _ := os.ReadFile(filepath.Join(dir, ".gitlab-ci.yml"))
			_, script, _ := strings.Cut(string(b), "  script:\n")
			if script != c.script || !strings.Contains(string(b), "extends: .keyless-crates") {
				t.Errorf("migrated:\n%s\nwant the script:\n%s", b, c.script)
			}
		})
	}
}

// TestMigrateCratesExistingInclude: a project that includes the crates
// component already gets no second include.
func TestMigrateCratesExistingInclude(t *testing.T) {
	dir := write(t, map[string]string{".gitlab-ci.yml": `include:
  - component: $CI_SERVER_FQDN/keyless-ci/keyless/crates@1

publish:
  variables:
    CARGO_REGISTRY_TOKEN: $CRATES_TOKEN
  script:
    - cargo publish
`})
	r, err := migrate.Migrate(dir, migrate.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Plan.Includes) != 1 || !r.Plan.Includes[0].Existing || len(r.Plan.Jobs) != 1 || r.Plan.Jobs[0].Extends != ".keyless-crates" {
		t.Fatalf("want the existing include used: %+v %+v\n%s", r.Plan.Includes, r.Plan.Jobs, r.Diff())
	}
}
