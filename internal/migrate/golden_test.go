package migrate_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
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
			if len(r.Changes) > 0 {
				checkDiffApplies(t, filepath.Join(dir, "before"), work, r.Diff())
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
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
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

// checkDiffApplies: the diff migrate prints, applied to before at the
// exact lines its hunk headers name (strictApply), and by git apply (a
// second implementation of the format), gives what --write wrote.
func checkDiffApplies(t *testing.T, before, written, diff string) {
	t.Helper()
	strict := copyDir(t, before)
	if err := strictApply(strict, diff); err != nil {
		t.Fatalf("the diff does not apply at its own line numbers: %v\n%s", err, diff)
	}
	compareTrees(t, strict, written)
	if _, err := exec.LookPath("git"); err != nil {
		t.Log("git is not installed: the diff is not applied with git apply")
		return
	}
	dir := copyDir(t, before)
	patch := filepath.Join(t.TempDir(), "migrate.diff")
	if err := os.WriteFile(patch, []byte(diff), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("git", "apply", "--unsafe-paths", patch)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git apply of the diff: %v\n%s\n%s", err, out, diff)
	}
	compareTrees(t, dir, written)
}

var hunkRe = regexp.MustCompile(`^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@$`)

// strictApply applies a unified diff (of files ending in a newline) in
// dir, each hunk exactly where its header says, with every context and
// removed line as it says.
func strictApply(dir, diff string) error {
	lines := strings.SplitAfter(diff, "\n")
	var file string
	var src, out []string
	at := 0 // lines of src consumed
	flush := func() error {
		if file == "" {
			return nil
		}
		out = append(out, src[at:]...)
		return os.WriteFile(filepath.Join(dir, file), []byte(strings.Join(out, "")), 0o644)
	}
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		switch {
		case l == "":
		case strings.HasPrefix(l, "--- a/"):
		case strings.HasPrefix(l, "+++ b/"):
			if err := flush(); err != nil {
				return err
			}
			file = strings.TrimSuffix(strings.TrimPrefix(l, "+++ b/"), "\n")
			b, err := os.ReadFile(filepath.Join(dir, file))
			if err != nil {
				return err
			}
			src, out, at = strings.SplitAfter(string(b), "\n"), nil, 0
			if src[len(src)-1] == "" {
				src = src[:len(src)-1]
			}
		case strings.HasPrefix(l, "@@"):
			m := hunkRe.FindStringSubmatch(strings.TrimSuffix(l, "\n"))
			if m == nil {
				return fmt.Errorf("bad hunk header %q", l)
			}
			old, _ := strconv.Atoi(m[1])
			n := 1
			if m[2] != "" {
				n, _ = strconv.Atoi(m[2])
			}
			start := old - 1
			if n == 0 {
				start = old
			}
			if start < at || start > len(src) {
				return fmt.Errorf("hunk %q starts at line %d, before or past what is left", l, old)
			}
			out = append(out, src[at:start]...)
			at = start
		case l[0] == ' ' || l[0] == '-':
			if at >= len(src) || src[at] != l[1:] {
				return fmt.Errorf("line %d is not %q", at+1, l[1:])
			}
			if l[0] == ' ' {
				out = append(out, src[at])
			}
			at++
		case l[0] == '+':
			out = append(out, l[1:])
		default:
			return fmt.Errorf("unexpected diff line %q", l)
		}
	}
	return flush()
}
