package exchange

import (
	"context"
	"math/rand/v2"
	"time"
)

// Retry is the retry policy every provider shares: one context deadline for
// all attempts and waits, retries only of what Transient accepts, and "full
// jitter" exponential backoff.
type Retry struct {
	// Backoff returns the wait before retry n (1-based); Jittered when nil.
	Backoff func(n int) time.Duration
	// Transient reports whether a retry can succeed.
	Transient func(error) bool
	// RetryAfter, when set, returns a server-asked wait (Retry-After) that
	// lengthens the backoff; 0 when there is none.
	RetryAfter func(error) time.Duration
	// OnRetry is told of each failed attempt before the wait (for a debug
	// log line that names the error's class, never its text).
	OnRetry func(attempt int, err error, wait time.Duration)
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
		if r.Transient == nil || !r.Transient(err) {
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
		if r.OnRetry != nil {
			r.OnRetry(n, err, wait)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return n, err
		case <-t.C:
		}
	}
}

// Jittered is "full jitter" exponential backoff: a uniform wait in
// [50ms, 50ms + min(5s, 250ms·2^(n-1))).
func Jittered(n int) time.Duration {
	ceil := 250 * time.Millisecond << min(n-1, 5)
	ceil = min(ceil, 5*time.Second)
	return time.Duration(rand.Int64N(int64(ceil))) + 50*time.Millisecond
}
