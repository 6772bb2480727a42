//go:build darwin || freebsd || netbsd || openbsd || dragonfly

package exchange

import (
	"syscall"
	"unsafe"
)

func sysProcAttr(ownGroup bool) *syscall.SysProcAttr {
	if !ownGroup {
		return nil
	}
	return &syscall.SysProcAttr{Setpgid: true}
}

func isatty(fd uintptr) bool {
	var t syscall.Termios
	_, _, errno := syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TIOCGETA, uintptr(unsafe.Pointer(&t)))
	return errno == 0
}
