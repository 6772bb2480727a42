// Package neighbourtest is the other local user of issue 13, for tests of
// files on shared hosts: a shell runner serves several users and jobs, and
// a neighbour who can predict CI_JOB_ID plants directories, files and
// symbolic links where keyless will look. The user is real (useradd), and
// what it plants it creates itself (runuser), so owners and modes are the
// kernel's.
package neighbourtest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"strconv"
	"strings"
	"testing"
	"time"
)

// User is the neighbour.
type User struct {
	Name string
	UID  int
}

// New creates a system user without a home directory (useradd -M -r) for
// the length of the test and removes it at the end. It skips the test
// unless it runs as root with useradd, userdel and runuser (util-linux).
func New(t testing.TB) User {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to create a second local user (useradd); run as root to test what another user can plant")
	}
	for _, tool := range []string{"useradd", "userdel", "runuser"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s to create and act as a second local user: %v", tool, err)
		}
	}
	// One name per test process: packages' tests run in parallel.
	name := fmt.Sprintf("keyless-nb-%d", os.Getpid())
	if _, err := user.Lookup(name); err != nil {
		var out []byte
		// useradd waits for nobody: a lock held by a parallel test
		// process fails it, so try again.
		for i := 0; i < 20; i++ {
			out, err = exec.Command("useradd", "-M", "-r", "-s", "/bin/sh", name).CombinedOutput()
			if err == nil || bytes.Contains(out, []byte("already exists")) {
				err = nil
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			t.Fatalf("useradd %s: %v\n%s", name, err, out)
		}
	}
	t.Cleanup(func() {
		for i := 0; i < 20; i++ {
			out, err := exec.Command("userdel", name).CombinedOutput()
			if err == nil || bytes.Contains(out, []byte("does not exist")) {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Errorf("userdel %s failed; remove the user by hand", name)
	})
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	return User{Name: name, UID: uid}
}

// Run runs a command as the neighbour, with stdin, and fails the test if
// it fails.
func (u User) Run(t testing.TB, stdin []byte, args ...string) {
	t.Helper()
	cmd := exec.Command("runuser", append([]string{"-u", u.Name, "--"}, args...)...)
	cmd.Stdin = bytes.NewReader(stdin)
	cmd.Dir = "/"
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("as %s: %s: %v\n%s", u.Name, strings.Join(args, " "), err, out)
	}
}

// SharedDir is a directory every local user can write to, as /tmp is: mode
// 1777, owned by root, in /tmp itself so that the neighbour can reach it.
// It is removed at the end of the test.
func SharedDir(t testing.TB) string {
	t.Helper()
	d, err := os.MkdirTemp("/tmp", "keyless-shared-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	if err := os.Chmod(d, 0o777|os.ModeSticky); err != nil {
		t.Fatal(err)
	}
	return d
}

// Mkdir creates dir as the neighbour, with mode.
func (u User) Mkdir(t testing.TB, dir string, mode os.FileMode) {
	t.Helper()
	u.Run(t, nil, "mkdir", "-m", strconv.FormatUint(uint64(mode.Perm()), 8), dir)
}

// WriteFile writes data to path as the neighbour, with mode.
func (u User) WriteFile(t testing.TB, path string, data []byte, mode os.FileMode) {
	t.Helper()
	u.Run(t, data, "sh", "-c", `umask 077 && cat > "$1" && chmod "$2" "$1"`, "sh", path, strconv.FormatUint(uint64(mode.Perm()), 8))
}

// Symlink makes link, as the neighbour, point at target.
func (u User) Symlink(t testing.TB, target, link string) {
	t.Helper()
	u.Run(t, nil, "ln", "-s", target, link)
}
