package exchange_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"gitlab.com/keyless-ci/keyless/internal/exchange"
	"gitlab.com/keyless-ci/keyless/internal/secret"
)

func creds(kv ...string) *exchange.Credentials {
	c := &exchange.Credentials{Provider: "test"}
	for i := 0; i < len(kv); i += 2 {
		c.Vars = append(c.Vars, exchange.Var{Name: kv[i], Value: secret.New(kv[i+1])})
	}
	return c
}

func TestWriteEnvQuotesEveryValue(t *testing.T) {
	c := creds("A", "plain", "B", "it's $(rm -rf /) `x` \"q\"\nnewline")
	c.Unset = []string{"OLD"}
	var b strings.Builder
	if err := exchange.WriteEnv(&b, c); err != nil {
		t.Fatal(err)
	}
	// Evaluate the output in a real shell and read the values back.
	dir := t.TempDir()
	script := filepath.Join(dir, "env.sh")
	os.WriteFile(script, []byte(b.String()+"printf '%s|%s|%s' \"$A\" \"$B\" \"${OLD-unset}\"\n"), 0o600)
	cmd := exchange.Command{Args: []string{"sh", script}, Env: []string{"PATH=" + os.Getenv("PATH"), "OLD=1"}}
	var out strings.Builder
	cmd.Stdout = &out
	if err := exchange.Exec(context.Background(), cmd, &exchange.Credentials{}); err != nil {
		t.Fatal(err)
	}
	want := "plain|it's $(rm -rf /) `x` \"q\"\nnewline|unset"
	if diff := cmp.Diff(want, out.String()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestMergeLaterWinsAndNeverUnsetsWhatIsSet(t *testing.T) {
	a := creds("X", "1", "Y", "a")
	a.Unset = []string{"Z", "W"}
	a.Expiration = time.Unix(200, 0)
	b := creds("Y", "b", "Z", "z")
	b.Expiration = time.Unix(100, 0)
	m := exchange.Merge(a, b)
	env := m.Environ(nil)
	if diff := cmp.Diff([]string{"X=1", "Y=b", "Z=z"}, env); diff != "" {
		t.Errorf("vars (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"W"}, m.Unset); diff != "" {
		t.Errorf("unset (-want +got):\n%s", diff)
	}
	if !m.Expiration.Equal(time.Unix(100, 0)) {
		t.Errorf("expiration %v, want the earliest", m.Expiration)
	}
}

func TestExecExitCodes(t *testing.T) {
	env := []string{"PATH=" + os.Getenv("PATH")}
	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"true"}, 0},
		{[]string{"sh", "-c", "exit 9"}, 9},
		{[]string{"sh", "-c", "kill -KILL $$"}, 128 + 9},
		{[]string{"keyless-no-such-command"}, 127},
		{[]string{"/etc/hostname"}, 126},
	} {
		err := exchange.Exec(context.Background(), exchange.Command{Args: tc.args, Env: env}, &exchange.Credentials{})
		code := 0
		var ee *exchange.ExitError
		if errors.As(err, &ee) {
			code = ee.Code
		} else if err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		if code != tc.code {
			t.Errorf("%v: code %d, want %d (%v)", tc.args, code, tc.code, err)
		}
	}
}

func TestExecForwardsSignals(t *testing.T) {
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- exchange.Exec(context.Background(), exchange.Command{
			Args:   []string{"sh", "-c", `trap 'echo got-term; exit 42' TERM; echo ready; while :; do sleep 0.05; done`},
			Env:    []string{"PATH=" + os.Getenv("PATH")},
			Stdout: pw,
		}, &exchange.Credentials{})
		pw.Close()
	}()
	r := bufio.NewReader(pr)
	if line, _ := r.ReadString('\n'); line != "ready\n" {
		t.Fatalf("child said %q", line)
	}
	// The signal GitLab's runner sends on cancel reaches keyless; Exec has
	// it in hand (signal.Notify) and passes it on.
	syscall.Kill(os.Getpid(), syscall.SIGTERM)
	go io.Copy(io.Discard, r)
	select {
	case err := <-done:
		var ee *exchange.ExitError
		if !errors.As(err, &ee) || ee.Code != 42 {
			t.Fatalf("err = %v, want exit 42 from the child's trap", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the child did not get SIGTERM")
	}
}

func TestStateDirRefusesTheProjectDir(t *testing.T) {
	proj := t.TempDir()
	env := map[string]string{"CI_PROJECT_DIR": proj, "KEYLESS_STATE_DIR": filepath.Join(proj, "sub", "state"), "CI_JOB_ID": "7"}
	_, err := exchange.StateDir(func(k string) string { return env[k] })
	var pe *exchange.ProjectDirError
	if !errors.As(err, &pe) {
		t.Fatalf("err = %v, want ProjectDirError", err)
	}
	// Through a symlink into the project dir, too.
	link := filepath.Join(t.TempDir(), "link")
	os.Symlink(proj, link)
	env["KEYLESS_STATE_DIR"] = filepath.Join(link, "state")
	if _, err := exchange.StateDir(func(k string) string { return env[k] }); !errors.As(err, &pe) {
		t.Errorf("via symlink: err = %v", err)
	}
	tmp := t.TempDir()
	delete(env, "KEYLESS_STATE_DIR")
	env["TMPDIR"] = tmp
	dir, err := exchange.StateDir(func(k string) string { return env[k] })
	if err != nil || dir != filepath.Join(tmp, "keyless-job-7") {
		t.Errorf("dir = %q, %v", dir, err)
	}
}

func TestWriteSecretFileIsAtomicAndPrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "d")
	path := filepath.Join(dir, "f")
	if _, err := exchange.WriteSecretFile(path, []byte("one")); err != nil {
		t.Fatal(err)
	}
	if _, err := exchange.WriteSecretFile(path, []byte("two")); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	fi, _ := os.Stat(path)
	if string(b) != "two" || fi.Mode().Perm() != 0o600 {
		t.Errorf("content %q mode %v", b, fi.Mode().Perm())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("left behind: %v", entries)
	}
	// A file whose directory cannot be created leaves nothing.
	blocker := filepath.Join(t.TempDir(), "file")
	os.WriteFile(blocker, nil, 0o600)
	if _, err := exchange.WriteSecretFile(filepath.Join(blocker, "x"), []byte("s")); err == nil {
		t.Error("wrote under a file")
	}
}
