package migrate_test

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/google/go-cmp/cmp"

	"gitlab.com/keyless-ci/keyless/internal/migrate"
)

// TestMigrateDocs: each **Before** of docs/migrate.md, migrated with the
// flags the document names, is its **After**, byte for byte.
func TestMigrateDocs(t *testing.T) {
	b, err := os.ReadFile("../../docs/migrate.md")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile("(?s)### ([^\n]+)\n+\\*\\*Before\\*\\*\n+```yaml\n(.*?)```\n+\\*\\*After\\*\\*\n+```yaml\n(.*?)```")
	ms := re.FindAllStringSubmatch(string(b), -1)
	if len(ms) != 7 {
		t.Fatalf("docs/migrate.md has %d before/after examples, want one per cloud, PyPI, npm and crates.io (7)", len(ms))
	}
	// The npm example publishes the package this package.json names.
	pkg := regexp.MustCompile("(?s)with the project's `package.json`:\n+```json\n(.*?)```").FindStringSubmatch(string(b))
	if pkg == nil {
		t.Fatal("docs/migrate.md: the npm example's package.json is missing")
	}
	for _, m := range ms {
		t.Run(m[1], func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, ".gitlab-ci.yml"), []byte(m[2]), 0o644); err != nil {
				t.Fatal(err)
			}
			if m[1] == "npm" {
				if err := os.WriteFile(filepath.Join(dir, "package.json"), []byte(pkg[1]), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			r, err := migrate.Migrate(dir, migrate.Options{Identities: migrate.Identities{Default: flagIdentities}})
			if err != nil {
				t.Fatal(err)
			}
			if len(r.Plan.Refused) > 0 {
				t.Errorf("refused: %+v", r.Plan.Refused)
			}
			if err := r.Write(); err != nil {
				t.Fatal(err)
			}
			got, _ := os.ReadFile(filepath.Join(dir, ".gitlab-ci.yml"))
			if d := cmp.Diff(m[3], string(got)); d != "" {
				t.Errorf("docs/migrate.md's After is not what migrate writes (-doc +migrate):\n%s", d)
			}
		})
	}
}
