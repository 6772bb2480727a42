package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"gitlab.com/keyless-ci/keyless/internal/exchange/aws/awstest"
)

// startExec starts `keyless aws -- sh -c script` in a process group of its
// own, as a runner's job shell would be, with no terminal on stdin.
func startExec(t *testing.T, p peers, script string) *exec.Cmd {
	t.Helper()
	sts := awstest.New(t)
	cmd := exec.Command(p.Bin, "aws", "-q", "--role-arn", "arn:aws:iam::123456789012:role/x", "--sts-endpoint", sts.URL, "--", "sh", "-c", script)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "KEYLESS_ID_TOKEN=" + p.mint(t, ""), "TMPDIR=" + t.TempDir()}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); cmd.Wait() })
	return cmd
}

func waitFile(t *testing.T, path string) string {
	t.Helper()
	for i := 0; i < 200; i++ {
		if b, err := os.ReadFile(path); err == nil && strings.HasSuffix(string(b), "\n") {
			return strings.TrimSpace(string(b))
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("%s never written", path)
	return ""
}

// GitLab's shell executor cancels a job by sending SIGTERM to the job's
// process group. The command must get it once: a second TERM or INT is
// "stop now" to Terraform and others.
func TestE2EExecGroupSignalReachesTheCommandOnce(t *testing.T) {
	p := e2e(t)
	dir := t.TempDir()
	ready, count := filepath.Join(dir, "ready"), filepath.Join(dir, "count")
	script := `n=0; trap 'n=$((n+1))' TERM; echo $$ > ` + ready + `
i=0; while [ $i -lt 40 ]; do sleep 0.05; i=$((i+1)); [ $n -gt 0 ] && break; done
sleep 0.5; echo $n > ` + count + `; exit 42`
	cmd := startExec(t, p, script)
	waitFile(t, ready)
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if n := waitFile(t, count); n != "1" {
		t.Errorf("the command got SIGTERM %s times, want once", n)
	}
	cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 42 {
		t.Errorf("exit %d, want the command's 42", code)
	}
}

// When keyless itself is killed (SIGKILL cannot be forwarded), the command
// must not run on alone.
func TestE2EExecCommandDiesWithKeyless(t *testing.T) {
	p := e2e(t)
	pidFile := filepath.Join(t.TempDir(), "pid")
	cmd := startExec(t, p, `echo $$ > `+pidFile+`; exec sleep 60`)
	pid, err := strconv.Atoi(waitFile(t, pidFile))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Process.Kill() // keyless only, not its group
	cmd.Wait()
	for i := 0; i < 200; i++ {
		if syscall.Kill(pid, 0) != nil {
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("the command (pid %d) outlived keyless", pid)
}
