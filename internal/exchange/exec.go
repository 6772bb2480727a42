package exchange

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
)

// Command is the job's command for exec mode.
type Command struct {
	Args   []string
	Env    []string // the inherited environment, before credentials
	Dir    string
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
}

// ExitError carries the exit code of the job's command, or 126/127 when it
// could not be started, as a shell reports them.
type ExitError struct {
	Code int
	Err  error // why it could not start, if it did not
}

func (e *ExitError) Error() string {
	if e.Err != nil {
		return e.Err.Error()
	}
	return fmt.Sprintf("command exited with code %d", e.Code)
}

func (e *ExitError) Unwrap() error { return e.Err }

// forwarded are the signals passed on to the child, so that a cancelled job
// (GitLab sends SIGTERM, then SIGKILL) stops the command too.
var forwarded = []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2}

// Exec runs cmd with c in its environment, forwards signals, and returns
// nil when it exits 0 and an *ExitError with its code otherwise. The
// credentials reach only the child's environment.
func Exec(ctx context.Context, cmd Command, c *Credentials) error {
	if len(cmd.Args) == 0 {
		return &ExitError{Code: 2, Err: errors.New("exec: no command given after --")}
	}
	path, err := exec.LookPath(cmd.Args[0])
	if err != nil {
		code := 127
		if errors.Is(err, os.ErrPermission) {
			code = 126
		}
		return &ExitError{Code: code, Err: fmt.Errorf("exec %q: %w", cmd.Args[0], err)}
	}
	child := exec.Command(path, cmd.Args[1:]...)
	child.Env = c.Environ(cmd.Env)
	child.Dir = cmd.Dir
	child.Stdin, child.Stdout, child.Stderr = cmd.Stdin, cmd.Stdout, cmd.Stderr

	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, forwarded...)
	defer signal.Stop(sigs)

	if err := child.Start(); err != nil {
		code := 126
		if errors.Is(err, os.ErrNotExist) {
			code = 127
		}
		return &ExitError{Code: code, Err: fmt.Errorf("exec %q: %w", cmd.Args[0], err)}
	}
	done := make(chan error, 1)
	go func() { done <- child.Wait() }()
	for {
		select {
		case s := <-sigs:
			_ = child.Process.Signal(s)
		case <-ctx.Done():
			_ = child.Process.Signal(syscall.SIGTERM)
			ctx = context.Background() // signal once, then wait for the child
		case err := <-done:
			return exitErr(err)
		}
	}
}

func exitErr(err error) error {
	if err == nil {
		return nil
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return &ExitError{Code: 128 + int(ws.Signal())}
		}
		return &ExitError{Code: ee.ExitCode()}
	}
	return &ExitError{Code: 126, Err: err}
}
