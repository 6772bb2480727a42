package gitlabapi

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"
)

// transport is the client's only retry and rate-limit layer. client-go's
// own retries (go-retryablehttp) are switched off (gitlab.WithoutRetries):
// its 429 backoff reads RateLimit-Reset but ignores Retry-After, its 5xx
// backoff is a fixed 700-900 ms, and its sleeps cannot be observed in
// tests. Here:
//
//   - every attempt, retries included, passes lim, which the client's
//     workers share: a 429 pauses all of them (issue 16);
//   - 429 and 5xx (but 501) are retried at most maxRetries times; other
//     statuses, 4xx included, never are; POST (creating an issue) is
//     retried only on 429, which GitLab answers before doing anything, so
//     that a 5xx after the write cannot create a second issue;
//   - the wait is Retry-After (seconds or an HTTP date), else
//     RateLimit-Reset (a Unix time), else exponential backoff from 1 s;
//     https://docs.gitlab.com/security/rate_limits/#headers
//   - a wait longer than maxWait, or past ctx's deadline, is not waited:
//     the 429 or 5xx is returned at once.
type transport struct {
	base       http.RoundTripper
	lim        *limiter
	maxRetries int
	maxWait    time.Duration
	now        func() time.Time
	sleep      func(context.Context, time.Duration) error
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	var body []byte
	if req.Body != nil && req.Body != http.NoBody {
		b, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		body = b
	}
	for attempt := 0; ; attempt++ {
		if err := t.lim.wait(ctx); err != nil {
			return nil, err
		}
		if attempt > 0 {
			t.lim.retried.Add(1)
		}
		r := req.Clone(ctx)
		if body != nil {
			r.Body = io.NopCloser(bytes.NewReader(body))
			r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
			r.ContentLength = int64(len(body))
		}
		resp, err := t.base.RoundTrip(r)
		if err != nil {
			t.lim.answered(nil)
			return nil, err
		}
		t.lim.answered(resp)
		throttled := resp.StatusCode == http.StatusTooManyRequests
		var wait time.Duration
		if throttled {
			t.lim.throttled.Add(1)
			// GitLab limits the user, not the request: every worker
			// waits, this one with them in lim.wait (issue 16). A wait
			// beyond maxWait fails this request, below, not the others.
			if wait = t.backoff(attempt, resp); wait <= t.maxWait {
				t.lim.throttle(wait)
			}
		}
		if attempt >= t.maxRetries || !retryable(req.Method, resp.StatusCode) {
			return resp, nil
		}
		if !throttled {
			wait = t.backoff(attempt, resp)
		}
		if wait > t.maxWait {
			return resp, nil
		}
		if dl, ok := ctx.Deadline(); ok && t.now().Add(wait).After(dl) {
			return resp, nil
		}
		if throttled {
			wait = 0 // lim.wait waits
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		if wait > 0 {
			if err := t.sleep(ctx, wait); err != nil {
				return nil, err
			}
		}
	}
}

func retryable(method string, status int) bool {
	if status == http.StatusTooManyRequests {
		return true
	}
	if method == http.MethodPost {
		return false
	}
	return status >= 500 && status <= 599 && status != http.StatusNotImplemented
}

// backoff is how long to wait before retry attempt+1.
func (t *transport) backoff(attempt int, resp *http.Response) time.Duration {
	if v := resp.Header.Get("Retry-After"); v != "" {
		if s, err := strconv.Atoi(v); err == nil && s >= 0 {
			return time.Duration(s) * time.Second
		}
		if at, err := http.ParseTime(v); err == nil {
			return max(at.Sub(t.now()), 0)
		}
	}
	if v := resp.Header.Get("RateLimit-Reset"); v != "" {
		if s, err := strconv.ParseInt(v, 10, 64); err == nil && s > 0 {
			return max(time.Unix(s, 0).Sub(t.now()), 0)
		}
	}
	d := time.Second << min(attempt, 5)
	// Up to 25% jitter so that concurrent clients do not retry in step.
	return d + time.Duration(rand.Int64N(int64(d/4)+1))
}

// sleepCtx waits d or until ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// errCrossHostRedirect refuses a redirect off the GitLab host: the
// PRIVATE-TOKEN header is not one that net/http strips on such redirects.
var errCrossHostRedirect = errors.New("refusing a redirect to another host: check the GitLab URL")

func checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	if req.URL.Host != via[0].URL.Host || req.URL.Scheme != via[0].URL.Scheme {
		return errCrossHostRedirect
	}
	return nil
}
