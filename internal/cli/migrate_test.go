//go:build !keyless_slim

package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const migrateProject = "../../testdata/cli/migrate-project"

// migrateGolden compares o with testdata/cli/migrate-NAME.golden, the
// fixture's directory written PROJECT.
func migrateGolden(t *testing.T, name string, o outcome) {
	t.Helper()
	for _, s := range []*string{&o.Stdout, &o.Stderr} {
		*s = strings.ReplaceAll(*s, migrateProject, "PROJECT")
	}
	outcomeGolden(t, "migrate-"+name, o)
}

func TestMigrateGolden(t *testing.T) {
	role := "arn:aws:iam::123456789012:role/gitlab-deploy"
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"diff", []string{migrateProject, "--aws-role-arn", role, "--vault-addr", "https://vault.example.com", "--vault-role", "ci"}},
		// Flags after the path, as before it.
		{"json", []string{"--format", "json", migrateProject, "--aws-role-arn", role}},
		{"bad-format", []string{migrateProject, "--format", "yaml"}},
		{"half-identity", []string{migrateProject, "--vault-addr", "https://vault.example.com"}},
		{"two-paths", []string{migrateProject, migrateProject}},
		{"no-map", []string{migrateProject, "--map", "no-such-map.yml"}},
		{"help", []string{"--help"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			migrateGolden(t, tc.name, keyless(t, nil, append([]string{"migrate"}, tc.args...)...))
		})
	}
}

// TestMigrateWrite: --write changes the files, a second run finds
// nothing to change, and the diff and plan hold no value of a variable.
func TestMigrateWrite(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{".gitlab-ci.yml", "ci/common.yml"} {
		b, err := os.ReadFile(filepath.Join(migrateProject, f))
		if err != nil {
			t.Fatal(err)
		}
		os.MkdirAll(filepath.Dir(filepath.Join(dir, f)), 0o755)
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	mapFile := filepath.Join(t.TempDir(), "map.yml")
	os.WriteFile(mapFile, []byte("UPLOAD_KEY_ID:\n  role_arn: arn:aws:iam::123456789012:role/upload\nVAULT_CI_TOKEN:\n  addr: https://vault.example.com\n  role: ci\n"), 0o600)
	env := map[string]string{"UPLOAD_KEY_ID": "AKIAIOSFODNN7EXAMPLE", "VAULT_CI_TOKEN": "hvs.CAESIJlU1Jm6kFZfSECRETVALUE"}
	o := keyless(t, env, "migrate", dir, "--map", mapFile, "--write")
	if o.Code != ExitFindings {
		t.Fatalf("exit %d, want 1 (backup is refused)\n%s", o.Code, o.Stderr)
	}
	for _, v := range env {
		if strings.Contains(o.Stdout+o.Stderr, v) {
			t.Errorf("a variable's value is in the output")
		}
	}
	after, _ := os.ReadFile(filepath.Join(dir, ".gitlab-ci.yml"))
	if !strings.Contains(string(after), "extends: .keyless-aws") || strings.Contains(string(after), "aws configure set") {
		t.Errorf("--write did not apply the change:\n%s", after)
	}
	if fi, _ := os.Stat(filepath.Join(dir, ".gitlab-ci.yml")); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want the file's own 0600", fi.Mode().Perm())
	}
	again := keyless(t, nil, "migrate", dir, "--map", mapFile, "--format", "json")
	var plan struct {
		Files   []string
		Refused []struct{ Job, Reason string }
	}
	if err := json.Unmarshal([]byte(again.Stdout), &plan); err != nil {
		t.Fatalf("%v\n%s", err, again.Stdout)
	}
	if len(plan.Files) != 0 {
		t.Errorf("a second migrate changes %v", plan.Files)
	}
	if d := cmp.Diff([]struct{ Job, Reason string }{{"backup", "dynamic"}}, plan.Refused); d != "" {
		t.Errorf("refused (-want +got):\n%s", d)
	}
}
