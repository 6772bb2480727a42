package exchange

import (
	"io"
	"os"
	"os/exec"
	"syscall"
)

// Windows has no process groups to signal in the POSIX sense; Ctrl-C
// reaches every process on the console, so nothing is forwarded.
func forwardedSignals(bool) []os.Signal { return nil }

func forward(*os.Process, os.Signal, bool) {}

func signalled(*exec.ExitError) (int, bool) { return 0, false }

func isTerminal(io.Reader) bool { return true }

func sysProcAttr(bool) *syscall.SysProcAttr { return nil }
