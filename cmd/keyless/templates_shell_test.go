package main

// The credential components' before_script and after_script, run as GitLab
// runs them, by each POSIX shell a job's image may have (dash as Debian's sh,
// bash, busybox sh as Alpine's), with a stand-in keyless: what the shell code
// itself must guarantee, which needs no peers (issue 13).
//
// GitLab runs before_script and script in one shell and after_script in a
// shell of its own (https://docs.gitlab.com/ci/yaml/#after_script), with
// errexit on; so do these tests.

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// componentScripts returns the before_script and after_script of the hidden
// job of templates/<name>.yml, each as the one script GitLab runs.
func componentScripts(t *testing.T, name string) (before, after string) {
	t.Helper()
	f, err := os.Open(filepath.Join(templatesDir, name+".yml"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := yaml.NewDecoder(f)
	var spec any
	var body map[string]struct {
		BeforeScript []string `yaml:"before_script"`
		AfterScript  []string `yaml:"after_script"`
	}
	if err := errors.Join(dec.Decode(&spec), dec.Decode(&body)); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	job, ok := body["$[[ inputs.as ]]"]
	if !ok || len(job.BeforeScript) == 0 || len(job.AfterScript) == 0 {
		t.Fatalf("templates/%s.yml has no hidden job with a before_script and an after_script", name)
	}
	return strings.Join(job.BeforeScript, "\n"), strings.Join(job.AfterScript, "\n")
}

// jobShell is a shell a job's image may run the scripts with.
type jobShell struct {
	name string
	argv []string
}

// jobShells are the shells on this machine among dash, bash and busybox sh;
// scripts/install-peers.sh installs all three.
func jobShells(t *testing.T) []jobShell {
	t.Helper()
	var out []jobShell
	for _, s := range []jobShell{{"dash", []string{"dash"}}, {"bash", []string{"bash"}}, {"busybox", []string{"busybox", "sh"}}} {
		if _, err := exec.LookPath(s.argv[0]); err == nil {
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		t.Skip("none of dash, bash and busybox is installed")
	}
	return out
}

// runShell runs script with sh in dir, with exactly env, and returns what it
// printed and its exit code. The script goes to the shell's standard input,
// as the runner hands it over (so set -v prints each line as it is read).
func runShell(t *testing.T, sh jobShell, dir string, env []string, script string) result {
	t.Helper()
	cmd := exec.Command(sh.argv[0], append(sh.argv[1:], "-s")...)
	cmd.Dir, cmd.Env, cmd.Stdin = dir, env, strings.NewReader(script)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Minute):
		cmd.Process.Kill()
		t.Fatalf("%s: no exit after a minute", sh.name)
	}
	return result{Stdout: out.String(), Stderr: errb.String(), Code: cmd.ProcessState.ExitCode()}
}

// writeScript writes an executable shell script.
func writeScript(t *testing.T, path, body string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chmod(path, 0o755)
}

// fakeKeyless stands in for the helper: `keyless env` prints the export
// lines in $KEYLESS_TEST_EXPORTS and logs where it ran from (its directory's
// mode and owner), `keyless cleanup` logs that it ran.
const fakeKeyless = `case $1 in
env)
  echo "env ran from $(ls -ldn "$(dirname "$0")" | cut -d' ' -f1,3)" >>"$KEYLESS_TEST_LOG"
  printf '%s\n' "$KEYLESS_TEST_EXPORTS" ;;
cleanup) echo "cleanup ran" >>"$KEYLESS_TEST_LOG" ;;
*) echo "fake keyless: $*" >&2; exit 2 ;;
esac
`

// plantedKeyless is what another local user leaves where a job might look
// for keyless: it would run as the job's user, with its ID tokens.
const plantedKeyless = `echo "planted $0 ran: $*" >>"$KEYLESS_TEST_MARKER"
echo "export KEYLESS_TEST_PLANTED=1"
`

// attacker returns the uid and gid of a second local user, created for the
// test (and removed after it) unless it exists.
func attacker(t *testing.T) (uid, gid int) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("planting files as another user needs root (to create the user keyless-attacker and chown to it)")
	}
	if _, err := exec.LookPath("useradd"); err != nil {
		t.Skip("useradd is missing: cannot create the second local user keyless-attacker")
	}
	const name = "keyless-attacker"
	u, err := user.Lookup(name)
	if err != nil {
		if out, err := exec.Command("useradd", "-M", "-r", "-s", "/usr/sbin/nologin", name).CombinedOutput(); err != nil {
			t.Fatalf("useradd %s: %v\n%s", name, err, out)
		}
		t.Cleanup(func() { exec.Command("userdel", name).Run() })
		if u, err = user.Lookup(name); err != nil {
			t.Fatal(err)
		}
	}
	uid, _ = strconv.Atoi(u.Uid)
	gid, _ = strconv.Atoi(u.Gid)
	return uid, gid
}

// plant writes a planted keyless at path, its directory created with mode
// dirMode, both owned by uid:gid.
func plant(t *testing.T, path string, dirMode os.FileMode, uid, gid int) {
	t.Helper()
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, dirMode); err != nil {
		t.Fatal(err)
	}
	writeScript(t, path, plantedKeyless)
	for _, p := range []string{dir, path} {
		if err := os.Chown(p, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	os.Chmod(dir, dirMode)
}

// releaseOf serves bin as this machine's helper of a release, with its true
// SHA256SUMS, as the package registry would.
func releaseOf(t *testing.T, bin []byte) string {
	t.Helper()
	dir := t.TempDir()
	name := "keyless-helper-linux-" + runtime.GOARCH
	if err := os.WriteFile(filepath.Join(dir, name), bin, 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(bin)
	if err := os.WriteFile(filepath.Join(dir, "SHA256SUMS"), []byte(hex.EncodeToString(sum[:])+"  "+name+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
	t.Cleanup(srv.Close)
	return srv.URL
}

// Issue 13, item 1. (templates/aws.yml stands for every credential
// component: TestComponentsShareInstallAndScripts keeps their scripts the
// same.) Another user of a shared host (shell executor, job ids
// in sequence) plants keyless where the job would look for it: in
// $TMPDIR/keyless-bin-<job id> (the old download directory, and a name the
// new one's pattern matches) and in the project's .keyless/bin. In no install
// mode may the planted binary run, in before_script or in after_script; the
// job runs its own keyless (the artifact, the image's, or the download that
// was checked, from a directory only the job's user can write) and says what
// it ignored.
func TestComponentScriptsNeverRunAPlantedKeyless(t *testing.T) {
	uid, gid := attacker(t)
	if runtime.GOARCH != "amd64" && runtime.GOARCH != "arm64" {
		t.Skipf("the components download helpers for amd64 and arm64, not %s", runtime.GOARCH)
	}
	before, after := componentScripts(t, "aws")
	fake := []byte("#!/bin/sh\n" + fakeKeyless)
	url := releaseOf(t, fake)

	for _, sh := range jobShells(t) {
		for _, mode := range []string{"artifact", "path", "download"} {
			t.Run(sh.name+"/"+mode, func(t *testing.T) {
				work := t.TempDir()
				project := filepath.Join(work, "project")
				tmp := filepath.Join(work, "tmp") // a /tmp: sticky, everyone may create in it
				image := filepath.Join(work, "image-bin")
				for _, d := range []string{project, tmp, image} {
					os.MkdirAll(d, 0o755)
				}
				os.Chmod(tmp, 0o1777)
				os.Chmod(work, 0o755)
				jobID := strconv.Itoa(4000 + len(sh.name)*10 + len(mode))
				marker := filepath.Join(work, "planted-ran")
				log := filepath.Join(work, "log")

				// What the attacker plants.
				plant(t, filepath.Join(tmp, "keyless-bin-"+jobID, "keyless"), 0o755, uid, gid)
				plant(t, filepath.Join(tmp, "keyless-bin-"+jobID+".AAAAAA", "keyless"), 0o700, uid, gid)
				if mode != "artifact" {
					plant(t, filepath.Join(project, ".keyless", "bin", "keyless"), 0o755, uid, gid)
				}
				// The job's own keyless.
				path := pathWithout()
				switch mode {
				case "artifact":
					writeScript(t, filepath.Join(project, ".keyless", "bin", "keyless"), fakeKeyless)
				case "path":
					writeScript(t, filepath.Join(image, "keyless"), fakeKeyless)
					path = image + string(os.PathListSeparator) + path
				}

				env := []string{"PATH=" + path, "HOME=" + work, "TMPDIR=" + tmp, "CI_JOB_ID=" + jobID, "CI_PROJECT_DIR=" + project,
					"KEYLESS_INSTALL=" + mode, "KEYLESS_DOWNLOAD_URL=" + url, "KEYLESS_RELEASE=1.2.3",
					"KEYLESS_TEST_EXPORTS=export KEYLESS_TEST_FAKE='ok'", "KEYLESS_TEST_LOG=" + log, "KEYLESS_TEST_MARKER=" + marker}
				job := runShell(t, sh, project, env, "set -e\n"+before+"\necho \"script ran with KEYLESS_TEST_FAKE=$KEYLESS_TEST_FAKE\"\n")
				cleanup := runShell(t, sh, project, env, "set -e\n"+after+"\n")
				out := "before_script and script:\n" + job.Stdout + job.Stderr + "after_script:\n" + cleanup.Stdout + cleanup.Stderr

				if b, err := os.ReadFile(marker); err == nil {
					t.Fatalf("the planted keyless ran as the job's user:\n%s\n%s", b, out)
				}
				if job.Code != 0 || !strings.Contains(job.Stdout, "script ran with KEYLESS_TEST_FAKE=ok") {
					t.Fatalf("the job did not run its own keyless and its script: exit %d\n%s", job.Code, out)
				}
				if cleanup.Code != 0 {
					t.Errorf("after_script: exit %d\n%s", cleanup.Code, out)
				}
				logged, _ := os.ReadFile(log)
				if !strings.Contains(string(logged), "env ran") || !strings.Contains(string(logged), "cleanup ran") {
					t.Errorf("the job's own keyless did not run env and cleanup:\n%s\n%s", logged, out)
				}
				if mode != "artifact" && !strings.Contains(job.Stderr, "ignoring "+filepath.Join(project, ".keyless", "bin", "keyless")) {
					t.Errorf("before_script does not say that it ignores .keyless/bin/keyless with install: %s:\n%s", mode, out)
				}
				if mode != "download" {
					return
				}
				// The download ran from a directory of the job's user that
				// no one else can write to, and it is gone afterwards; the
				// planted one that looks like it was named and left alone.
				if m := regexp.MustCompile(`env ran from (\S+) (\d+)`).FindStringSubmatch(string(logged)); m == nil || m[1] != "drwx------" || m[2] != strconv.Itoa(os.Geteuid()) {
					t.Errorf("the downloaded keyless did not run from a 0700 directory of the job's user: %q", logged)
				}
				if !strings.Contains(cleanup.Stderr, "ignoring "+filepath.Join(tmp, "keyless-bin-"+jobID+".AAAAAA")) {
					t.Errorf("after_script does not say that it ignores the directory another user made:\n%s", out)
				}
				left, _ := filepath.Glob(filepath.Join(tmp, "keyless-bin-"+jobID+".*"))
				if len(left) != 1 || filepath.Base(left[0]) != "keyless-bin-"+jobID+".AAAAAA" {
					t.Errorf("after the job, %s holds %v; want only the planted directory, which is not the job's to remove", tmp, left)
				}
			})
		}
	}
}

// Issue 13, item 6. With xtrace on (set -x, as CI_DEBUG_TRACE=true turns
// it on) or verbose (bash's set -v prints what eval runs), the shell would
// print the captured export lines and each export that eval runs: the
// credentials in the job log. The before_script turns both off around
// keyless env and turns them back on after.
func TestComponentBeforeScriptHidesCredentialsFromXtrace(t *testing.T) {
	before, _ := componentScripts(t, "aws")
	const secret = "fake/secret/access/key/xtrace/0123456789"
	for _, sh := range jobShells(t) {
		for _, opts := range []string{"-x", "-v", "-xv"} {
			t.Run(sh.name+opts, func(t *testing.T) {
				work := t.TempDir()
				image := filepath.Join(work, "bin")
				writeScript(t, filepath.Join(image, "keyless"), fakeKeyless)
				spy := filepath.Join(work, "spy")
				env := []string{"PATH=" + image + string(os.PathListSeparator) + pathWithout(), "HOME=" + work, "TMPDIR=" + work,
					"CI_JOB_ID=77", "CI_PROJECT_DIR=" + work, "KEYLESS_INSTALL=path", "KEYLESS_TEST_LOG=" + filepath.Join(work, "log"),
					"KEYLESS_TEST_EXPORTS=export AWS_SECRET_ACCESS_KEY='" + secret + "'\nexport AWS_REGION='eu-west-1'"}
				script := "set -e " + opts + "\n" + before + "\n: tracing-is-back\nset +xv\nprintf '%s' \"$AWS_SECRET_ACCESS_KEY\" >" + spy + "\n"
				r := runShell(t, sh, work, env, script)
				if r.Code != 0 {
					t.Fatalf("exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
				}
				if got, _ := os.ReadFile(spy); string(got) != secret {
					t.Fatalf("the script did not get the credentials (%q)\n%s", got, r.Stderr)
				}
				if strings.Contains(r.Stdout+r.Stderr, secret) {
					t.Errorf("the secret access key is in the job log:\n%s%s", r.Stdout, r.Stderr)
				}
				// The job's own tracing is back on for its script.
				if want := ": tracing-is-back"; !strings.Contains(r.Stderr, want) {
					t.Errorf("set %s is not restored after keyless env: no %q in\n%s", opts, want, r.Stderr)
				}
			})
		}
	}
}

// Issue 13, item 12. A released component pins the binary its image holds
// (keyless-linux-ARCH in KEYLESS_HELPER_SHA256, written by make
// release-pin): with install: artifact, .keyless/bin/keyless runs, in
// before_script and in after_script, only if it is that binary, whatever
// image the tag pointed at.
func TestComponentArtifactRunsOnlyThePinnedBinary(t *testing.T) {
	if runtime.GOARCH != "amd64" && runtime.GOARCH != "arm64" {
		t.Skipf("the components pin binaries for amd64 and arm64, not %s", runtime.GOARCH)
	}
	before, after := componentScripts(t, "aws")
	body := "#!/bin/sh\n" + fakeKeyless
	sum := sha256.Sum256([]byte(body))
	good := hex.EncodeToString(sum[:])
	for _, sh := range jobShells(t) {
		for _, tc := range []struct {
			name, pin string
			ok        bool
		}{
			{"matches", "go1.26.8 linux-" + runtime.GOARCH + "=" + strings.Repeat("1", 64) + " keyless-linux-" + runtime.GOARCH + "=" + good, true},
			{"another binary", "go1.26.8 keyless-linux-" + runtime.GOARCH + "=" + strings.Repeat("2", 64), false},
			{"no pin for this architecture", "go1.26.8 keyless-linux-other=" + good, false},
			{"an unreleased component", "", true},
		} {
			t.Run(sh.name+"/"+tc.name, func(t *testing.T) {
				work := t.TempDir()
				project := filepath.Join(work, "project")
				log := filepath.Join(work, "log")
				writeScript(t, filepath.Join(project, ".keyless", "bin", "keyless"), fakeKeyless)
				env := []string{"PATH=" + pathWithout(), "HOME=" + work, "TMPDIR=" + work, "CI_JOB_ID=77", "CI_PROJECT_DIR=" + project,
					"KEYLESS_INSTALL=artifact", "KEYLESS_HELPER_SHA256=" + tc.pin,
					"KEYLESS_TEST_EXPORTS=export KEYLESS_TEST_FAKE='ok'", "KEYLESS_TEST_LOG=" + log}
				job := runShell(t, sh, project, env, "set -e\n"+before+"\necho \"script ran with KEYLESS_TEST_FAKE=$KEYLESS_TEST_FAKE\"\n")
				cleanup := runShell(t, sh, project, env, after+"\n")
				logged, _ := os.ReadFile(log)
				out := job.Stdout + job.Stderr + cleanup.Stdout + cleanup.Stderr
				if tc.ok {
					if job.Code != 0 || !strings.Contains(string(logged), "env ran") || !strings.Contains(string(logged), "cleanup ran") {
						t.Errorf("the pinned binary did not run: exit %d, log %q\n%s", job.Code, logged, out)
					}
					return
				}
				if job.Code != 3 || !strings.Contains(job.Stderr, "is not the keyless-linux-"+runtime.GOARCH+" this component pins") {
					t.Errorf("a binary that is not the pinned one: exit %d, want 3 and the reason\n%s", job.Code, out)
				}
				if len(logged) != 0 {
					t.Errorf("a binary that is not the pinned one ran: %q\n%s", logged, out)
				}
			})
		}
	}
}
