package migrate_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"gitlab.com/keyless-ci/keyless/internal/migrate"
)

var update = flag.Bool("update", false, "rewrite testdata/golden/*/after and plan.json")

// flagIdentities are the identities the golden cases get, as the
// --aws-role-arn … flags give them.
var flagIdentities = map[string]migrate.Identity{
	"aws":   {Cloud: "aws", Inputs: map[string]string{"role_arn": "arn:aws:iam::123456789012:role/gitlab-deploy"}},
	"gcp":   {Cloud: "gcp", Inputs: map[string]string{"provider": "projects/123456789/locations/global/workloadIdentityPools/gitlab/providers/gitlab", "service_account": "deploy@example-4821.iam.gserviceaccount.com"}},
	"azure": {Cloud: "azure", Inputs: map[string]string{"client_id": "11111111-2222-3333-4444-555555555555", "tenant_id": "66666666-7777-8888-9999-000000000000"}},
	"vault": {Cloud: "vault", Inputs: map[string]string{"addr": "https://vault.example.com", "role": "ci"}},
}

// caseOptions are a case's options.json.
type caseOptions struct {
	// NoFlags gives the case no identity from flags.
	NoFlags  bool `json:"noflags"`
	Implicit bool `json:"implicit"`
}

// TestMigrateGolden runs each testdata/golden/<case>: before/ migrated
// must equal after/ byte for byte and its plan plan.json; the migrated
// project must meet the post-conditions (checkPost). A case whose after/
// equals its before/ is a refusal.
func TestMigrateGolden(t *testing.T) {
	cases, err := filepath.Glob("testdata/golden/*")
	if err != nil || len(cases) == 0 {
		t.Fatalf("no golden cases: %v", err)
	}
	for _, dir := range cases {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			o := migrate.Options{}
			var co caseOptions
			if b, err := os.ReadFile(filepath.Join(dir, "options.json")); err == nil {
				if err := json.Unmarshal(b, &co); err != nil {
					t.Fatal(err)
				}
			}
			if !co.NoFlags {
				o.Identities.Default = flagIdentities
			}
			o.Implicit = co.Implicit
			if b, err := os.ReadFile(filepath.Join(dir, "map.yml")); err == nil {
				o.Identities.Vars, err = migrate.ParseMap(b)
				if err != nil {
					t.Fatal(err)
				}
			}
			work := copyDir(t, filepath.Join(dir, "before"))
			r, err := migrate.Migrate(work, o)
			if err != nil {
				t.Fatal(err)
			}
			if err := r.Write(); err != nil {
				t.Fatal(err)
			}
			r.Plan.Project = "."
			plan, err := json.MarshalIndent(r.Plan, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			plan = append(plan, '\n')
			if *update {
				os.RemoveAll(filepath.Join(dir, "after"))
				copyTree(t, work, filepath.Join(dir, "after"))
				if err := os.WriteFile(filepath.Join(dir, "plan.json"), plan, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(filepath.Join(dir, "plan.json"))
			if err != nil {
				t.Fatalf("%v (run with -update)", err)
			}
			if d := cmp.Diff(string(want), string(plan)); d != "" {
				t.Errorf("plan (-want +got):\n%s", d)
			}
			compareTrees(t, filepath.Join(dir, "after"), work)
			for _, c := range r.Changes {
				if strings.Contains(r.Diff(), "SECRET-VALUE") || bytes.Contains(c.After, []byte("SECRET-VALUE")) && !bytes.Contains(c.Before, []byte("SECRET-VALUE")) {
					t.Errorf("a secret value reached the output")
				}
			}
			checkPost(t, filepath.Join(dir, "before"), work, "", r.Plan, o)
			if len(r.Changes) > 0 {
				checkPreview(t, filepath.Join(dir, "before"), "", o)
			}
		})
	}
}

func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// compareTrees fails for each file of want that got has not, or holds
// other bytes.
func compareTrees(t *testing.T, want, got string) {
	t.Helper()
	err := filepath.WalkDir(want, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(want, p)
		w, _ := os.ReadFile(p)
		g, err := os.ReadFile(filepath.Join(got, rel))
		if err != nil {
			t.Errorf("%s: %v", rel, err)
			return nil
		}
		if d := cmp.Diff(string(w), string(g)); d != "" {
			t.Errorf("%s (-want +got):\n%s", rel, d)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("%v (run with -update)", err)
	}
}
