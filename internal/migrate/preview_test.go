package migrate_test

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"gitlab.com/keyless-ci/keyless/internal/migrate"
)

// gitlab-ci-local (https://github.com/firecow/gitlab-ci-local, 4.73.0 as
// scripts/install-peers.sh installs it) is a second implementation of
// GitLab's configuration: --preview prints the pipeline it builds, or
// refuses it. It reads a component from the working tree when the include
// names $CI_SERVER_FQDN/$CI_PROJECT_PATH/NAME@$CI_COMMIT_SHA in a clone
// whose origin is the component's project (README, "Try a component
// locally"), so the migrated configuration includes this checkout's
// templates/.

const gclOrigin = "https://gitlab.com/keyless-ci/keyless.git"

// gclBin is gitlab-ci-local's path, or "" when it is not installed.
func gclBin() string {
	if p := os.Getenv("KEYLESS_TOOLS"); p != "" {
		if _, err := os.Stat(filepath.Join(p, "bin", "gitlab-ci-local")); err == nil {
			return filepath.Join(p, "bin", "gitlab-ci-local")
		}
	}
	home, _ := os.UserHomeDir()
	p := filepath.Join(home, ".cache", "keyless-tools", "bin", "gitlab-ci-local")
	if _, err := os.Stat(p); err != nil {
		return ""
	}
	return p
}

// gclComponent is what the includes name so that gitlab-ci-local reads
// the working tree's templates/.
func gclComponent(o migrate.Options) migrate.Options {
	o.Component = "$CI_SERVER_FQDN/$CI_PROJECT_PATH"
	o.Version = "$CI_COMMIT_SHA"
	return o
}

// gclRepo makes dir a clone of the keyless project as gitlab-ci-local
// sees one: templates/ from this checkout, committed, origin set.
func gclRepo(t *testing.T, dir string) {
	t.Helper()
	templates, err := filepath.Glob(filepath.Join("..", "..", "templates", "*.yml"))
	if err != nil || len(templates) == 0 {
		t.Fatalf("no components: %v", err)
	}
	os.MkdirAll(filepath.Join(dir, "templates"), 0o755)
	for _, f := range templates {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "templates", filepath.Base(f)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, args := range [][]string{
		{"init", "-q", "-b", "main"},
		{"config", "user.name", "keyless test"},
		{"config", "user.email", "test@keyless.invalid"},
		{"remote", "add", "origin", gclOrigin},
		{"add", "-A"},
		{"commit", "-q", "-m", "pipeline under test"},
		{"update-ref", "refs/remotes/origin/main", "HEAD"},
		{"symbolic-ref", "refs/remotes/origin/HEAD", "refs/remotes/origin/main"},
	} {
		cmd := exec.Command("git", append([]string{"-C", dir}, args...)...)
		cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// unfetched is gitlab-ci-local's error for a remote include (or
// template:) it cannot fetch off the network.
var unfetched = regexp.MustCompile(`Remote include could not be fetched (https?://\S+)`)

// preview runs gitlab-ci-local --preview on file in dir, off the network.
// A remote include it cannot fetch is stood in for by an empty mapping in
// its cache of includes (.gitlab-ci-local/includes/HOST/PATH, which
// gitlab-ci-local reads instead of fetching: downloadIncludeRemote in its
// src/parser-includes.ts), so that the rest is checked; the stand-ins
// are logged, and the same for the original and the migrated files.
func preview(t *testing.T, gcl, dir, file string) (int, string) {
	t.Helper()
	cache := filepath.Join(dir, ".gitlab-ci-local", "includes")
	if _, err := os.Stat(cache); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(filepath.Dir(cache), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.CopyFS(cache, os.DirFS(gclIncludes)); err != nil {
			t.Fatal(err)
		}
	}
	for range 10 {
		code, out := previewOnce(t, gcl, dir, file)
		m := unfetched.FindStringSubmatch(out)
		if code == 0 || m == nil {
			return code, out
		}
		stand := filepath.Join(dir, ".gitlab-ci-local", "includes", filepath.FromSlash(strings.TrimPrefix(strings.TrimPrefix(m[1], "https://"), "http://")))
		if _, err := os.Stat(stand); err == nil {
			return code, out // stood in already: another error
		}
		if err := os.MkdirAll(filepath.Dir(stand), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(stand, []byte("{}\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("gitlab-ci-local cannot fetch %s offline: an empty mapping stands in for it", m[1])
	}
	return previewOnce(t, gcl, dir, file)
}

// gclIncludes holds the real text of remote includes (templates,
// components) as gitlab-ci-local's cache of includes lays them out
// (.gitlab-ci-local/includes/HOST/PATH for template: and remote:,
// HOST/PROJECT/REF/templates/NAME.yml for component:, as
// downloadIncludeComponent in its src/parser-includes.ts writes them);
// preview copies it into the clone, so gitlab-ci-local reads these
// instead of fetching. testdata/gcl-includes/README.md names each file's
// source.
const gclIncludes = "testdata/gcl-includes"

func previewOnce(t *testing.T, gcl, dir, file string) (int, string) {
	t.Helper()
	wd, _ := os.Getwd()
	rel, err := filepath.Rel(wd, dir) // gitlab-ci-local refuses an absolute --cwd
	if err != nil {
		t.Fatal(err)
	}
	out, err := os.CreateTemp(t.TempDir(), "preview-*.yml")
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd := exec.Command(gcl, "--cwd", rel, "--file", file, "--preview", "--no-color")
	off := "http://127.0.0.1:1"
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "TMPDIR=" + t.TempDir(),
		"HTTPS_PROXY=" + off, "https_proxy=" + off, "HTTP_PROXY=" + off, "http_proxy=" + off}
	var errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = out, &errb
	if err := cmd.Run(); err != nil && cmd.ProcessState == nil {
		t.Fatalf("gitlab-ci-local: %v", err)
	}
	b, _ := os.ReadFile(out.Name())
	return cmd.ProcessState.ExitCode(), string(b) + errb.String()
}

// checkPreview migrates a copy of before as a gitlab-ci-local clone and
// asserts that gitlab-ci-local --preview accepts the result wherever it
// accepted the original. It returns gitlab-ci-local's output when it
// refuses the original, and "" when it accepts it (or is not installed).
func checkPreview(t *testing.T, before, config string, o migrate.Options) (refused string) {
	t.Helper()
	return previewMigrated(t, before, config, o, true)
}

// previewMigrated is checkPreview; with migrateToo false it previews only
// the original, for a project migrate leaves as it is.
func previewMigrated(t *testing.T, before, config string, o migrate.Options, migrateToo bool) (refused string) {
	t.Helper()
	gcl := gclBin()
	if gcl == "" {
		t.Log("gitlab-ci-local is not installed (scripts/install-peers.sh): --preview of the migrated configuration not checked")
		return ""
	}
	if config == "" {
		config = ".gitlab-ci.yml"
	}
	dir := copyDir(t, before)
	gclRepo(t, dir)
	if code, out := preview(t, gcl, dir, config); code != 0 {
		t.Logf("gitlab-ci-local --preview refuses the original (exit %d), so not the migrated one either:\n%s", code, firstLines(gclErrors(out), 3))
		return out
	}
	if !migrateToo {
		return ""
	}
	o = gclComponent(o)
	o.CIConfig = config
	r, err := migrate.Migrate(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Write(); err != nil {
		t.Fatal(err)
	}
	if code, out := preview(t, gcl, dir, config); code != 0 {
		t.Errorf("gitlab-ci-local --preview refuses the migrated configuration (exit %d):\n%s\n%s", code, out, r.Diff())
	}
	return ""
}

// gclErrors is gitlab-ci-local's output less its warnings.
func gclErrors(out string) string {
	var keep []string
	for _, l := range strings.Split(out, "\n") {
		if !strings.Contains(l, "WARN ") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(strings.TrimSpace(s), "\n", n+1)
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, "\n")
}

// TestPreviewIncludeCache: gitlab-ci-local reads the include text of
// testdata/gcl-includes instead of fetching it: a pipeline that includes
// GitLab's Jobs/Container-Scanning.gitlab-ci.yml previews offline with
// the template's own job, not an empty stand-in's nothing.
func TestPreviewIncludeCache(t *testing.T) {
	gcl := gclBin()
	if gcl == "" {
		t.Skip("gitlab-ci-local is not installed (scripts/install-peers.sh)")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, ".gitlab-ci.yml"), []byte("include:\n  - template: Jobs/Container-Scanning.gitlab-ci.yml\n\nbuild:\n  script: [make]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	gclRepo(t, dir)
	code, out := preview(t, gcl, dir, ".gitlab-ci.yml")
	if code != 0 {
		t.Fatalf("gitlab-ci-local --preview refuses it (exit %d):\n%s", code, gclErrors(out))
	}
	for _, want := range []string{"container_scanning:", "gtcs scan", "security-products/container-scanning:7"} {
		if !strings.Contains(out, want) {
			t.Errorf("the preview has no %q: the cached template was not read\n%s", want, out)
		}
	}
}
