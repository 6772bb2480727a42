package exchange

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strings"

	"gitlab.com/keyless-ci/keyless/internal/idtoken"
)

// Command is the job's command for exec mode.
type Command struct {
	Args   []string
	Env    []string // the inherited environment, before credentials
	Dir    string
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// KeepIDToken leaves the job's ID token in the command's environment.
	// By default Exec removes IDTokenVars and every variable IsIDTokenVar
	// names: the command needs the credentials, not the token they came
	// from, which every party that trusts this job's identity accepts
	// (issue 13).
	KeepIDToken bool
	// IDTokenVars names other variables the token was read from (a
	// --token-var of another name).
	IDTokenVars []string
}

// IsIDTokenVar reports whether name is a variable keyless's components put
// a job's ID token in: KEYLESS_ID_TOKEN, or KEYLESS_<PROVIDER>_ID_TOKEN
// with a one-word provider (KEYLESS_KEEP_ID_TOKEN is the switch that keeps
// them, not a token).
func IsIDTokenVar(name string) bool {
	if name == idtoken.DefaultVar {
		return true
	}
	p, ok := strings.CutPrefix(name, "KEYLESS_")
	if p, ok = strings.CutSuffix(p, "_ID_TOKEN"); !ok || p == "" || p == "KEEP" {
		return false
	}
	return strings.Trim(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") == ""
}

// environ is the inherited environment the command starts from.
func (cmd Command) environ() []string {
	if cmd.KeepIDToken {
		return cmd.Env
	}
	out := make([]string, 0, len(cmd.Env))
	for _, kv := range cmd.Env {
		name, _, _ := strings.Cut(kv, "=")
		drop := IsIDTokenVar(name)
		for _, v := range cmd.IDTokenVars {
			drop = drop || v != "" && name == v
		}
		if !drop {
			out = append(out, kv)
		}
	}
	return out
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

// Exec runs cmd with c in its environment, passes signals on, and returns
// nil when it exits 0 and an *ExitError with its code otherwise. The
// credentials reach only the child's environment.
//
// Signals: GitLab's shell executor cancels a job by signalling the whole
// process group, and a terminal sends Ctrl-C to the whole foreground group;
// a child in keyless's group then gets the signal directly, and forwarding
// it again would make it a second interrupt (which Terraform, for one, takes
// as "stop now"). So without a terminal the child gets a process group of
// its own, keyless forwards each signal to that group exactly once, and on
// Linux the child is killed if keyless is killed; with a terminal the child
// stays in the foreground group and only signals a terminal does not send
// are forwarded. ctx does not stop the command: signals do. The job's ID
// token stays out of the command's environment unless cmd.KeepIDToken.
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
	child.Env = c.Environ(cmd.environ())
	child.Dir = cmd.Dir
	child.Stdin, child.Stdout, child.Stderr = cmd.Stdin, cmd.Stdout, cmd.Stderr
	own := !isTerminal(cmd.Stdin)
	child.SysProcAttr = sysProcAttr(own)

	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, forwardedSignals(own)...)
	defer signal.Stop(sigs)

	// Pdeathsig belongs to the thread that forked the child: keep it.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
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
			forward(child.Process, s, own)
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
		if sig, ok := signalled(ee); ok {
			return &ExitError{Code: 128 + sig}
		}
		return &ExitError{Code: ee.ExitCode()}
	}
	return &ExitError{Code: 126, Err: err}
}
