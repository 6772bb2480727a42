package exchange_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"gitlab.com/keyless-ci/keyless/internal/exchange"
	"gitlab.com/keyless-ci/keyless/internal/neighbourtest"
)

func mode(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode() & (os.ModePerm | os.ModeSticky)
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// Issue 13, item 3: a secret file written to /tmp/tls.key made /tmp 0700
// when run as root, and cleanup removed a file's directory ($TMPDIR) once
// empty. keyless now changes and removes only what it created, and
// refuses a directory other users can write to.
func TestSecretFilesChangeAndRemoveOnlyWhatKeylessCreated(t *testing.T) {
	root := t.TempDir()
	own := filepath.Join(root, "own")
	os.Mkdir(own, 0o755)
	os.Chmod(own, 0o755)
	p := filepath.Join(own, "tls.key")
	created, err := exchange.WriteSecretFile(p, []byte("s"))
	if err != nil || len(created) != 0 {
		t.Fatalf("created %v, %v", created, err)
	}
	if m := mode(t, own); m != 0o755 {
		t.Errorf("the existing directory's mode went from 0755 to %v", m)
	}
	if err := (&exchange.Credentials{Files: []string{p}, Dirs: created}).Cleanup(); err != nil {
		t.Fatal(err)
	}
	if exists(p) || !exists(own) {
		t.Errorf("cleanup: file left %v, directory keyless did not create removed %v", exists(p), !exists(own))
	}

	// A shared directory, as /tmp is: refused, and left as it was.
	shared := filepath.Join(root, "tmp")
	os.Mkdir(shared, 0o777)
	os.Chmod(shared, 0o777|os.ModeSticky)
	_, err = exchange.WriteSecretFile(filepath.Join(shared, "tls.key"), []byte("s"))
	var ue *exchange.UnsafePathError
	if !errors.As(err, &ue) || ue.Dir != shared || !strings.Contains(err.Error(), "can be written by other users (mode 1777)") {
		t.Errorf("into a shared directory: %v", err)
	}
	if m := mode(t, shared); m != 0o777|os.ModeSticky {
		t.Errorf("the shared directory's mode went from 1777 to %v", m)
	}
	if exists(filepath.Join(shared, "tls.key")) {
		t.Error("wrote into the shared directory")
	}
	// A new directory in it is keyless's own: made 0700, then removed.
	p = filepath.Join(shared, "keyless-secrets", "sub", "tls.key")
	created, err = exchange.WriteSecretFile(p, []byte("s"))
	want := []string{filepath.Join(shared, "keyless-secrets"), filepath.Join(shared, "keyless-secrets", "sub")}
	if diff := cmp.Diff(want, created); err != nil || diff != "" {
		t.Fatalf("created (-want +got) %v:\n%s", err, diff)
	}
	if m := mode(t, want[0]); m != 0o700 {
		t.Errorf("new directory mode %v", m)
	}
	c := exchange.Merge(&exchange.Credentials{Files: []string{p}, Dirs: created})
	if err := c.Cleanup(); err != nil {
		t.Fatal(err)
	}
	if exists(want[0]) || !exists(shared) || mode(t, shared) != 0o777|os.ModeSticky {
		t.Errorf("cleanup: keyless's directory left %v, the shared one %v", exists(want[0]), mode(t, shared))
	}
	// Without the sticky bit, anyone could rename a directory keyless
	// made there and put theirs in its place.
	open := filepath.Join(root, "open")
	os.Mkdir(open, 0o777)
	os.Chmod(open, 0o777)
	if _, err := exchange.WriteSecretFile(filepath.Join(open, "new", "tls.key"), []byte("s")); !errors.As(err, &ue) || ue.Dir != open {
		t.Errorf("in a world-writable directory: %v", err)
	}
}

// A path keyless recorded is removed only while it is still this user's
// regular file; a directory only while empty.
func TestRemoveFilesLeavesWhatChanged(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "authorized_keys")
	os.WriteFile(target, []byte("keep"), 0o600)
	link := filepath.Join(dir, "link")
	os.Symlink(target, link)
	full := filepath.Join(dir, "full")
	os.Mkdir(full, 0o700)
	os.WriteFile(filepath.Join(full, "other"), nil, 0o600)
	n, err := exchange.RemoveFiles([]string{link, "relative/path", filepath.Join(dir, "missing")}, []string{full})
	if n != 0 || err == nil || !strings.Contains(err.Error(), "not a regular file") || !strings.Contains(err.Error(), "absolute") {
		t.Errorf("removed %d: %v", n, err)
	}
	if !exists(link) || !exists(target) || !exists(full) {
		t.Error("removed what keyless did not write")
	}
}

// Issue 13, item 3, with a second user: keyless writes into nothing the
// neighbour owns or made first.
func TestSecretFilesRefuseWhatANeighbourPlanted(t *testing.T) {
	nb := neighbourtest.New(t)
	shared := neighbourtest.SharedDir(t)
	// The neighbour's own directory, readable by all.
	theirs := filepath.Join(shared, "theirs")
	nb.Mkdir(t, theirs, 0o755)
	_, err := exchange.WriteSecretFile(filepath.Join(theirs, "tls.key"), []byte("s"))
	var ue *exchange.UnsafePathError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "belongs to another user (uid "+strconv.Itoa(nb.UID)+")") {
		t.Errorf("into the neighbour's directory: %v", err)
	}
	if m := mode(t, theirs); m != 0o755 || exists(filepath.Join(theirs, "tls.key")) {
		t.Errorf("the neighbour's directory: mode %v, written to %v", m, exists(filepath.Join(theirs, "tls.key")))
	}
	// The name of the directory keyless would make, taken first.
	taken := filepath.Join(shared, "keyless-secrets")
	nb.Mkdir(t, taken, 0o777)
	if _, err := exchange.WriteSecretFile(filepath.Join(taken, "tls.key"), []byte("s")); !errors.As(err, &ue) || ue.Dir != taken {
		t.Errorf("into a directory the neighbour made first: %v", err)
	}
	if exists(filepath.Join(taken, "tls.key")) || mode(t, taken) != 0o777 {
		t.Error("wrote into, or changed, the neighbour's directory")
	}
	// A file of theirs where keyless writes, in a directory of ours that
	// was once open to them.
	mine := filepath.Join(shared, "mine")
	os.Mkdir(mine, 0o777)
	os.Chmod(mine, 0o777)
	planted := filepath.Join(mine, "tls.key")
	nb.WriteFile(t, planted, []byte("theirs"), 0o644)
	os.Chmod(mine, 0o700)
	if _, err := exchange.WriteSecretFile(planted, []byte("s")); !errors.As(err, &ue) || !strings.Contains(err.Error(), "exists and belongs to uid") {
		t.Errorf("over the neighbour's file: %v", err)
	}
	if b, _ := os.ReadFile(planted); string(b) != "theirs" {
		t.Error("replaced the neighbour's file")
	}
	// Cleanup removes no file of theirs, though a record names it.
	if n, err := exchange.RemoveFiles([]string{planted}, []string{taken}); n != 0 || err == nil || !exists(planted) || !exists(taken) {
		t.Errorf("RemoveFiles removed %d of the neighbour's: %v", n, err)
	}
}

// Issue 13, item 2: the state directory is this user's, 0700, made by
// keyless or refused; cleanup removes what keyless recorded in it.
func TestStateDirIsPrivateAndCleanupRemovesOnlyItsOwn(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "state")
	p, err := exchange.WriteStateFile(dir, "token", []byte("s"))
	if err != nil {
		t.Fatal(err)
	}
	if mode(t, dir) != 0o700 || mode(t, p) != 0o600 {
		t.Errorf("modes %v %v", mode(t, dir), mode(t, p))
	}
	q, err := exchange.NewStateFile(dir, "rec-*.json", []byte(`{}`))
	if err != nil || !strings.HasPrefix(filepath.Base(q), "rec-") {
		t.Fatalf("%s %v", q, err)
	}
	got, err := exchange.ReadStateFiles(dir, "rec-*.json")
	if err != nil || len(got) != 1 || string(got[0].Data) != "{}" {
		t.Fatalf("%v %v", got, err)
	}
	other := filepath.Join(dir, "not-keyless")
	os.WriteFile(other, nil, 0o600)
	if err := exchange.RemoveStateDir(dir); err != nil {
		t.Fatal(err)
	}
	if exists(p) || exists(q) || !exists(other) {
		t.Errorf("removed: %v %v, left a file keyless did not write: %v", !exists(p), !exists(q), exists(other))
	}
	os.Remove(other)
	if err := exchange.RemoveStateDir(dir); err != nil || exists(dir) {
		t.Errorf("a state directory keyless made, emptied: %v, left %v", err, exists(dir))
	}

	// A directory of the user's (KEYLESS_STATE_DIR=$(mktemp -d)) is used
	// and kept; only keyless's files go.
	mine := filepath.Join(base, "mine")
	os.Mkdir(mine, 0o700)
	p, err = exchange.WriteStateFile(mine, "token", []byte("s"))
	if err != nil {
		t.Fatal(err)
	}
	if err := exchange.RemoveStateDir(mine); err != nil || exists(p) || !exists(mine) {
		t.Errorf("%v: file left %v, directory removed %v", err, exists(p), !exists(mine))
	}

	// One others can read is refused, and not re-moded.
	loose := filepath.Join(base, "loose")
	os.Mkdir(loose, 0o755)
	os.Chmod(loose, 0o755)
	var se *exchange.StateError
	if err := exchange.MakeStateDir(loose); !errors.As(err, &se) || !strings.Contains(err.Error(), "has mode 0755, not 0700") ||
		!strings.Contains(err.Error(), "KEYLESS_STATE_DIR") || mode(t, loose) != 0o755 {
		t.Errorf("a 0755 directory: %v", err)
	}
	// A symbolic link is refused, wherever it points.
	link := filepath.Join(base, "link")
	os.Symlink(mine, link)
	if err := exchange.MakeStateDir(link); !errors.As(err, &se) || !strings.Contains(err.Error(), "symbolic link") {
		t.Errorf("a symlink: %v", err)
	}
	if _, err := exchange.ReadStateFiles(link, "*"); !errors.As(err, &se) {
		t.Errorf("reading through a symlink: %v", err)
	}
	// A state file others could have written, or a link, says nothing.
	os.WriteFile(filepath.Join(mine, "rec-loose.json"), []byte("{}"), 0o644)
	os.Symlink("/etc/passwd", filepath.Join(mine, "rec-link.json"))
	got, err = exchange.ReadStateFiles(mine, "rec-*.json")
	if len(got) != 0 || !errors.As(err, &se) || !strings.Contains(err.Error(), "has mode 0644, not 0600") || !strings.Contains(err.Error(), "is a symbolic link") {
		t.Errorf("loose state files: %v %v", got, err)
	}
}

// Issue 13, item 2, with a second user who predicts CI_JOB_ID and makes
// the state directory, with a state file in it, before the job does.
func TestStateDirANeighbourMadeIsRefused(t *testing.T) {
	nb := neighbourtest.New(t)
	shared := neighbourtest.SharedDir(t)
	getenv := func(k string) string { return map[string]string{"TMPDIR": shared, "CI_JOB_ID": "4242"}[k] }
	dir, err := exchange.StateDir(getenv)
	if err != nil || dir != filepath.Join(shared, "keyless-job-4242") {
		t.Fatalf("%s %v", dir, err)
	}
	nb.Mkdir(t, dir, 0o700)
	nb.WriteFile(t, filepath.Join(dir, "vault-token-planted.json"), []byte(`{"addr":"https://attacker.example","token":"x"}`), 0o600)
	nb.WriteFile(t, filepath.Join(dir, ".keyless-state"), []byte("created\nfile vault-token-planted.json\n"), 0o600)
	var se *exchange.StateError
	check := func(what string, err error) {
		t.Helper()
		if !errors.As(err, &se) || se.Path != dir {
			t.Fatalf("%s: err = %v, want a StateError for %s", what, err, dir)
		}
		for _, s := range []string{strconv.Quote(dir), "belongs to uid " + strconv.Itoa(nb.UID), "KEYLESS_STATE_DIR", "TMPDIR"} {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("%s: the message lacks %q:\n%v", what, s, err)
			}
		}
	}
	check("MakeStateDir", exchange.MakeStateDir(dir))
	_, err = exchange.WriteStateFile(dir, "aws-web-identity-token", []byte("s"))
	check("WriteStateFile", err)
	got, err := exchange.ReadStateFiles(dir, "vault-token-*.json")
	check("ReadStateFiles", err)
	if len(got) != 0 {
		t.Errorf("read the neighbour's state: %d files", len(got))
	}
	check("RemoveStateDir", exchange.RemoveStateDir(dir))
	if !exists(filepath.Join(dir, "vault-token-planted.json")) || mode(t, dir) != 0o700 || exists(filepath.Join(dir, "aws-web-identity-token")) {
		t.Error("changed the neighbour's directory")
	}

	// The neighbour's file in a state directory of ours (that was once
	// open to them) is not believed either.
	mine := filepath.Join(shared, "mine")
	if err := exchange.MakeStateDir(mine); err != nil {
		t.Fatal(err)
	}
	os.Chmod(mine, 0o777)
	nb.WriteFile(t, filepath.Join(mine, "vault-token-planted.json"), []byte(`{}`), 0o600)
	nb.Symlink(t, "/root/.ssh/authorized_keys", filepath.Join(mine, "vault-token-link.json"))
	os.Chmod(mine, 0o700)
	got, err = exchange.ReadStateFiles(mine, "vault-token-*.json")
	if len(got) != 0 || !errors.As(err, &se) || !se.File || !strings.Contains(err.Error(), "belongs to uid "+strconv.Itoa(nb.UID)) {
		t.Errorf("the neighbour's state file: %d read, %v", len(got), err)
	}
}

// Issue 13, item 7: exec mode hands the command the credentials, not the
// job's ID token, unless asked.
func TestExecLeavesTheIDTokenOut(t *testing.T) {
	env := []string{"PATH=" + os.Getenv("PATH"), "KEYLESS_ID_TOKEN=a", "KEYLESS_AWS_ID_TOKEN=b", "KEYLESS_VAULT_ID_TOKEN=c", "MY_TOKEN=d", "KEYLESS_ROLE=keep", "CI_JOB_ID=1",
		"KEYLESS_KEEP_ID_TOKEN=false", "KEYLESS_AWS_KEEP_ID_TOKEN=false", "KEYLESS_X_Y_ID_TOKEN=not-a-component's"}
	names := func(keep bool) string {
		var out strings.Builder
		cmd := exchange.Command{Args: []string{"sh", "-c", "env | cut -d= -f1 | grep -E '^(KEYLESS_|MY_TOKEN|CI_)' | sort"}, Env: env,
			Stdout: &out, KeepIDToken: keep, IDTokenVars: []string{"MY_TOKEN", ""}}
		if err := exchange.Exec(context.Background(), cmd, creds("AWS_ACCESS_KEY_ID", "x")); err != nil {
			t.Fatal(err)
		}
		return out.String()
	}
	if diff := cmp.Diff("CI_JOB_ID\nKEYLESS_AWS_KEEP_ID_TOKEN\nKEYLESS_KEEP_ID_TOKEN\nKEYLESS_ROLE\nKEYLESS_X_Y_ID_TOKEN\n", names(false)); diff != "" {
		t.Errorf("by default (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff("CI_JOB_ID\nKEYLESS_AWS_ID_TOKEN\nKEYLESS_AWS_KEEP_ID_TOKEN\nKEYLESS_ID_TOKEN\nKEYLESS_KEEP_ID_TOKEN\nKEYLESS_ROLE\nKEYLESS_VAULT_ID_TOKEN\nKEYLESS_X_Y_ID_TOKEN\nMY_TOKEN\n", names(true)); diff != "" {
		t.Errorf("with KeepIDToken (-want +got):\n%s", diff)
	}
}

// Exec mode ends what it began: once the command's files are removed, the
// state directory keyless made goes too, unless it still holds a file an
// earlier env-mode run left for keyless cleanup (a Vault token).
func TestCleanupTidiesTheStateDirItMade(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "keyless-job-7")
	tok, err := exchange.WriteStateFile(dir, "aws-token", []byte("token"))
	if err != nil {
		t.Fatal(err)
	}
	c := &exchange.Credentials{Files: []string{tok}}
	if err := c.Cleanup(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(dir); !os.IsNotExist(err) {
		t.Errorf("the state directory keyless made outlived the command: %v", err)
	}

	kept, err := exchange.WriteStateFile(dir, "vault-token", []byte("kept for cleanup"))
	if err != nil {
		t.Fatal(err)
	}
	tok, err = exchange.WriteStateFile(dir, "aws-token", []byte("token"))
	if err != nil {
		t.Fatal(err)
	}
	if err := (&exchange.Credentials{Files: []string{tok}}).Cleanup(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(kept); err != nil {
		t.Errorf("exec mode removed a file kept for keyless cleanup: %v", err)
	}
	if err := exchange.RemoveStateDir(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(dir); !os.IsNotExist(err) {
		t.Errorf("keyless cleanup left the state directory: %v", err)
	}
}
