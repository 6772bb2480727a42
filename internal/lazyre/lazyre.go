// Package lazyre compiles a package's regular expressions at their first
// use instead of at init. Every package's init runs before main whatever
// the command, so an expression compiled at init is paid for by `keyless
// lint` and `keyless version` even when only `keyless migrate` needs it
// (issue 15).
package lazyre

import (
	"regexp"
	"sync"
)

// New returns a function that compiles expr with regexp.MustCompile on its
// first call and returns that same *regexp.Regexp on every call, from any
// goroutine. An invalid expr panics at that first call, so each expression
// must be exercised by its package's tests.
//
// Not inlined: inlined, it copied sync.OnceValue's body into each of the
// 44 callers' init: 62 KB more code and line tables (issue 15).
//
//go:noinline
func New(expr string) func() *regexp.Regexp {
	return sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(expr) })
}
