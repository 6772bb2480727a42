//go:build unix

package exchange

import (
	"io"
	"os"
	"os/exec"
	"syscall"
)

// forwardedSignals are the signals passed on to the child. With a terminal,
// the ones it sends to the whole foreground group (INT, QUIT, HUP, TSTP)
// already reach the child and are left alone.
func forwardedSignals(ownGroup bool) []os.Signal {
	if ownGroup {
		return []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2}
	}
	return []os.Signal{syscall.SIGTERM, syscall.SIGUSR1, syscall.SIGUSR2}
}

// forward signals the child's process group when it has its own, so the
// command's own children get it as they would have without keyless.
func forward(p *os.Process, s os.Signal, ownGroup bool) {
	sig, ok := s.(syscall.Signal)
	if !ok {
		return
	}
	if ownGroup {
		if err := syscall.Kill(-p.Pid, sig); err == nil {
			return
		}
	}
	_ = p.Signal(s)
}

func signalled(ee *exec.ExitError) (int, bool) {
	ws, ok := ee.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() {
		return 0, false
	}
	return int(ws.Signal()), true
}

func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	return ok && f != nil && isatty(f.Fd())
}
