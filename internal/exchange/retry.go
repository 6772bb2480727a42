package exchange

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"time"

	"gitlab.com/keyless-ci/keyless/internal/option"
)

// Retry is the retry policy every provider shares: one context deadline for
// all attempts and waits, retries only of what Transient accepts, and "full
// jitter" exponential backoff.
type Retry struct {
	// Backoff returns the wait before retry n (1-based); Jittered when nil.
	Backoff func(n int) time.Duration
	// Transient reports whether a retry can succeed; it is not asked about
	// the end of a context (a deadline or a cancellation), which never is.
	Transient func(error) bool
	// RetryAfter, when set, returns a server-asked wait (Retry-After) that
	// lengthens the backoff; 0 when there is none.
	RetryAfter func(error) time.Duration
	// Log, when set, gets a debug line for each failed attempt before the
	// wait: LogMsg, LogAttrs, then the attempt, the failure's class
	// (Describe, never its text) and the wait.
	Log      *slog.Logger
	LogMsg   string
	LogAttrs []any
	// Progress, when set, receives one line per retry, so that a long loop
	// is not silent: "keyless: aws: STS: connection refused; retrying in
	// 1.2s (attempt 2, 41s left)".
	Progress io.Writer
	// Name starts those lines: the provider and the service, "aws: STS".
	Name string
	// Describe names a failure in those lines without its text (a status
	// and error code); ClassifyNet's reason when nil or when it returns "".
	Describe func(error) string
}

// Do calls f until it succeeds, fails with a permanent error, or ctx ends,
// and returns the number of attempts made. When the deadline cuts an
// attempt short, the previous answer is returned instead of the context
// error, as it says more; a wait that would outlast the deadline ends the
// loop at once with the answer in hand.
func (r Retry) Do(ctx context.Context, f func(context.Context) error) (int, error) {
	backoff := r.Backoff
	if backoff == nil {
		backoff = Jittered
	}
	var last error
	for n := 1; ; n++ {
		err := f(ctx)
		if err == nil {
			return n, nil
		}
		if ctx.Err() != nil {
			if last != nil {
				return n, last
			}
			return n, err
		}
		if r.Transient == nil || endOfContext(err) || !r.Transient(err) {
			return n, err
		}
		last = err
		wait := backoff(n)
		if r.RetryAfter != nil {
			wait = max(wait, r.RetryAfter(err))
		}
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
			return n, err
		}
		r.log(n, err, wait)
		r.progress(ctx, n, err, wait)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return n, err
		case <-t.C:
		}
	}
}

func endOfContext(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// Attempt is a provider's failed attempt as it travels through Retry: its
// Error names its class (a status and error code), never the server's
// words, and Transient says whether a retry can succeed.
type Attempt interface {
	error
	Transient() bool
}

// DoAttempts is r.Do for a provider whose attempts fail with a typed F:
// it retries what F finds transient, names a failure by its Error, and
// returns the attempts made and the failure that ended them (nil after a
// success).
func DoAttempts[T any, F interface {
	*T
	Attempt
}](ctx context.Context, r Retry, f func(context.Context) F) (int, F) {
	r.Transient = func(err error) bool { return err.(F).Transient() }
	r.Describe = func(err error) string { return err.Error() }
	n, err := r.Do(ctx, func(ctx context.Context) error {
		if fl := f(ctx); fl != nil {
			return fl
		}
		return nil
	})
	if err != nil {
		return n, err.(F) // Do returns what f returned
	}
	return n, nil
}

// Jittered is "full jitter" exponential backoff: a uniform wait in
// [50ms, 50ms + min(5s, 250ms·2^(n-1))).
func Jittered(n int) time.Duration {
	ceil := 250 * time.Millisecond << min(n-1, 5)
	ceil = min(ceil, 5*time.Second)
	return time.Duration(rand.Int64N(int64(ceil))) + 50*time.Millisecond
}

// log writes the debug line of one failed attempt to Log.
func (r Retry) log(n int, err error, wait time.Duration) {
	if r.Log == nil {
		return
	}
	class := ""
	if r.Describe != nil {
		class = r.Describe(err)
	}
	attrs := append(r.LogAttrs[:len(r.LogAttrs):len(r.LogAttrs)], "attempt", n, "error", class, "wait", wait)
	r.Log.Debug(r.LogMsg, attrs...)
}

// progress writes the line of one retry to Progress.
func (r Retry) progress(ctx context.Context, n int, err error, wait time.Duration) {
	if r.Progress == nil {
		return
	}
	what := ""
	if r.Describe != nil {
		what = r.Describe(err)
	}
	if what == "" {
		what = ClassifyNet(err).Reason
	}
	if what == "" {
		what = "failed"
	}
	left := ""
	if dl, ok := ctx.Deadline(); ok {
		l := time.Until(dl)
		if l >= time.Second {
			l = l.Round(time.Second)
		}
		left = ", " + roundDuration(l).String() + " left"
	}
	fmt.Fprintf(r.Progress, "keyless: %s: %s; retrying in %s (attempt %d%s)\n", r.Name, what, roundDuration(wait), n+1, left)
}

// roundDuration keeps a duration readable: tenths of a second from a
// second up, whole milliseconds below.
func roundDuration(d time.Duration) time.Duration {
	switch {
	case d >= time.Minute:
		return d.Round(time.Second)
	case d >= time.Second:
		return d.Round(100 * time.Millisecond)
	}
	return d.Round(time.Millisecond)
}

// RetryOutcome ends an explanation's sentence about a transient failure
// that lasted: how many attempts were made, never claiming a retry that
// was not ("STS throttled the request " + RetryOutcome(n)). It names
// OptTimeout with a reference (package option).
func RetryOutcome(attempts int) string {
	if attempts > 1 {
		return fmt.Sprintf("%d times before the deadline (%s)", attempts, option.Ref(OptTimeout))
	}
	return "and the deadline (" + option.Ref(OptTimeout) + ") left no time to retry"
}
