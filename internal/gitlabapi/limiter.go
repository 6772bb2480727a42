package gitlabapi

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// RequestStats counts the requests of a Client, retries included.
type RequestStats struct {
	// Sent is every request sent to GitLab, retries included.
	Sent int64 `json:"sent"`
	// Throttled is the 429 answers received.
	Throttled int64 `json:"throttled"`
	// Retried is the requests sent again after a 429 or 5xx answer.
	Retried int64 `json:"retried"`
}

// RequestStats returns the counts of the requests c has sent so far.
func (c *Client) RequestStats() RequestStats {
	if c.lim == nil {
		return RequestStats{}
	}
	return RequestStats{Sent: c.lim.sent.Load(), Throttled: c.lim.throttled.Load(), Retried: c.lim.retried.Load()}
}

// lowWater is the share of RateLimit-Limit below which the remaining
// requests of a window are spread over the time left to its reset
// (1/lowWater of the limit), rather than sent as fast as the client's own
// rate allows.
const lowWater = 10

// limiter is the one gate every request of a Client passes, whichever
// worker sends it (issue 16). GitLab's limits are per user, not per
// request: a 429 means that every request of the token will be refused
// until the window ends, and a request sent inside it counts against the
// user too ("throttled requests count"). So:
//
//   - a 429 pauses the whole client until its Retry-After (else
//     RateLimit-Reset) has passed, not only the request that got it;
//   - when RateLimit-Remaining reaches 0 no request is sent before
//     RateLimit-Reset, and below 1/lowWater of RateLimit-Limit the
//     remaining requests are spread over the time to the reset;
//   - rate bounds the client's own rate under all of that.
//
// https://docs.gitlab.com/security/rate_limits/#headers
// https://docs.gitlab.com/administration/settings/user_and_ip_rate_limits/
type limiter struct {
	rate    *rate.Limiter
	now     func() time.Time
	sleep   func(context.Context, time.Duration) error
	maxWait time.Duration

	mu    sync.Mutex
	pause time.Time // no request before: a 429's Retry-After
	// The server's window, from the last answers' headers: its end
	// (zero when unknown or over), its limit, and an estimate of the
	// requests left in it: the lowest of RateLimit-Remaining less the
	// requests then in flight, less the requests sent since.
	reset     time.Time
	limit     int
	remaining int
	next      time.Time // pacing: the earliest the next request may go
	// inflight is the requests sent whose answers have not been read.
	// An answer's RateLimit-Remaining does not count those GitLab had
	// not yet received when it answered; taken as the estimate as it
	// stands, it gave back the requests in flight, and with them the
	// ones sent while the window was unknown (the first after a reset).
	// Requests that reach GitLab late (a busy host, the network) then
	// went past the window's end in 429s (issue 16).
	inflight int

	sent, throttled, retried atomic.Int64
}

// wait blocks until a request may be sent, and counts it as sent.
func (l *limiter) wait(ctx context.Context) error {
	if err := l.rate.Wait(ctx); err != nil {
		return err
	}
	for {
		l.mu.Lock()
		now := l.now()
		at := l.readyAt(now)
		if !at.After(now) {
			l.take(now)
			l.mu.Unlock()
			l.sent.Add(1)
			return nil
		}
		l.mu.Unlock()
		if err := l.sleep(ctx, at.Sub(now)); err != nil {
			return err
		}
	}
}

// readyAt is when the next request may go; l.mu is held.
func (l *limiter) readyAt(now time.Time) time.Time {
	at := l.pause
	if l.reset.IsZero() {
		return at
	}
	if !now.Before(l.reset) { // the window is over: a new budget
		l.reset, l.next = time.Time{}, time.Time{}
		return at
	}
	if l.remaining <= 0 {
		return later(at, l.reset)
	}
	if l.low() {
		return later(at, l.next)
	}
	return at
}

func (l *limiter) low() bool { return l.limit > 0 && l.remaining*lowWater < l.limit }

// take spends one request of the window's budget; l.mu is held.
func (l *limiter) take(now time.Time) {
	l.inflight++
	if l.reset.IsZero() {
		return
	}
	l.remaining--
	if l.low() && l.remaining > 0 {
		l.next = now.Add(l.reset.Sub(now) / time.Duration(l.remaining+1))
	}
}

// answered ends a request that wait let go: resp is its answer, nil
// when none came. It reads the answer's rate-limit headers.
func (l *limiter) answered(resp *http.Response) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.inflight--
	if resp == nil {
		return
	}
	rem, err1 := strconv.Atoi(resp.Header.Get("RateLimit-Remaining"))
	rs, err2 := strconv.ParseInt(resp.Header.Get("RateLimit-Reset"), 10, 64)
	if err1 != nil || err2 != nil || rem < 0 {
		return
	}
	reset := time.Unix(rs, 0)
	now := l.now()
	// A reset in the past, or further than the longest wait accepted
	// (a clock far from the server's), is not a window to plan in.
	if !reset.After(now) || reset.Sub(now) > l.maxWait {
		return
	}
	// The requests still in flight may reach GitLab after it made this
	// answer, so its count may lack them: they are taken as spent.
	rem -= l.inflight
	switch {
	case l.reset.IsZero() || reset.After(l.reset): // a new window
		l.reset, l.remaining = reset, rem
	case reset.Equal(l.reset):
		l.remaining = min(l.remaining, rem)
	default: // an answer from a window already over
		return
	}
	if n, err := strconv.Atoi(resp.Header.Get("RateLimit-Limit")); err == nil && n > 0 {
		l.limit = n
	}
}

// throttle pauses every request of the client for d, after a 429.
func (l *limiter) throttle(d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.pause = later(l.pause, l.now().Add(d))
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
