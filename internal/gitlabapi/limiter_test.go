package gitlabapi_test

import (
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"gitlab.com/keyless-ci/keyless/internal/gitlabapi"
	"gitlab.com/keyless-ci/keyless/internal/gitlabapi/gitlabtest"
)

// Issue 16: a 429 pauses every worker of the client, not only the request
// that got it, for GitLab's limits are per user. Real time: the fake's
// Retry-After window is a second long.
func TestRetryAfterPausesEveryWorker(t *testing.T) {
	s := gitlabtest.New(t)
	s.Now = time.Now
	s.Latency = 20 * time.Millisecond
	s.RetryAfter = time.Second
	const projects, workers = 80, 8
	for i := range projects {
		s.AddProject(fmt.Sprintf("acme/p%02d", i))
	}
	s.Throttle(1) // the first request is answered 429, Retry-After: 1
	c, _ := newClient(t, s, func(o *gitlabapi.Options) { o.Now, o.Sleep = time.Now, nil })

	start := time.Now()
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := range jobs {
				if _, err := c.ProjectVariables(t.Context(), fmt.Sprintf("acme/p%02d", i)); err != nil {
					t.Error(err)
				}
			}
		})
	}
	for i := range projects {
		jobs <- i
	}
	close(jobs)
	wg.Wait()

	st := s.Stats()
	if st.InRetryAfter != 0 {
		t.Errorf("%d requests arrived inside the Retry-After window, want 0", st.InRetryAfter)
	}
	want := gitlabapi.RequestStats{Sent: projects + 1, Throttled: 1, Retried: 1}
	if diff := cmp.Diff(want, c.RequestStats()); diff != "" {
		t.Errorf("client counts (-want +got):\n%s", diff)
	}
	if st.Requests != projects+1 || st.Throttled != 1 {
		t.Errorf("the fake answered %d requests, %d of them 429, want %d and 1", st.Requests, st.Throttled, projects+1)
	}
	if d := time.Since(start); d < time.Second {
		t.Errorf("done in %v, inside the 1 s Retry-After", d)
	}
}

// Requests stop when RateLimit-Remaining reaches 0, until RateLimit-Reset,
// rather than collect 429s.
func TestRemainingZeroWaitsForReset(t *testing.T) {
	s := gitlabtest.New(t)
	s.TokenRateLimit = 3
	s.Advance(15 * time.Second) // 45 s to the window's end
	c, sl := newClient(t, s)
	for range 5 {
		if _, err := c.CurrentUser(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	if diff := cmp.Diff([]time.Duration{45 * time.Second}, sl.all()); diff != "" {
		t.Errorf("waits (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(gitlabapi.RequestStats{Sent: 5}, c.RequestStats()); diff != "" {
		t.Errorf("client counts (-want +got):\n%s", diff)
	}
}

// Below a tenth of RateLimit-Limit, the remaining requests are spread over
// the time to RateLimit-Reset, and none is sent once it is 0.
func TestLowRemainingIsPaced(t *testing.T) {
	s := gitlabtest.New(t)
	s.TokenRateLimit = 20 // a minute from the fake's clock
	c, sl := newClient(t, s)
	for range 21 {
		if _, err := c.CurrentUser(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	// After the 18th, 2 remain for 60 s: the 19th goes at once, the 20th
	// 30 s later (the time left over the requests left), the 21st in the
	// next window.
	if diff := cmp.Diff([]time.Duration{30 * time.Second, 30 * time.Second}, sl.all()); diff != "" {
		t.Errorf("waits (-want +got):\n%s", diff)
	}
	if st := s.Stats(); st.Throttled != 0 {
		t.Errorf("%d 429s, want none", st.Throttled)
	}
}

// Issue 16: requests that reach GitLab late (a busy host, the network)
// must not take the client past the window's end. An answer's
// RateLimit-Remaining does not count the requests GitLab had not yet
// received; taken as the estimate, it gave those back, and the first
// requests of each window (sent before any answer told its budget) were
// never counted. With 8 workers, each window then ended in 429s. Real
// time, windows of 2 s.
func TestLateRequestsStayInsideTheWindow(t *testing.T) {
	s := gitlabtest.New(t)
	s.Now = time.Now
	s.Latency = 20 * time.Millisecond
	s.TokenRatePeriod = 2 * time.Second
	s.TokenRateLimit = 40
	late := &lateRequests{base: s.Client().Transport}
	c, _ := newClient(t, s, func(o *gitlabapi.Options) {
		o.Now, o.Sleep = time.Now, nil
		o.HTTPClient = &http.Client{Transport: late}
	})
	const requests, workers = 120, 8 // three windows
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range jobs {
				if _, err := c.CurrentUser(t.Context()); err != nil {
					t.Error(err)
				}
			}
		})
	}
	for i := range requests {
		jobs <- i
	}
	close(jobs)
	wg.Wait()

	st := s.Stats()
	if st.Throttled != 0 || st.InRetryAfter != 0 {
		t.Errorf("the fake answered %d 429s, %d requests inside Retry-After, want none", st.Throttled, st.InRetryAfter)
	}
	if diff := cmp.Diff(gitlabapi.RequestStats{Sent: requests}, c.RequestStats()); diff != "" {
		t.Errorf("client counts (-want +got):\n%s", diff)
	}
}

// lateRequests holds the nth request (n-1)%8 × 30 ms before sending it,
// as a busy host or a network does: requests reach the server in another
// order, and later, than they were let go.
type lateRequests struct {
	base http.RoundTripper
	n    atomic.Int64
}

func (l *lateRequests) RoundTrip(r *http.Request) (*http.Response, error) {
	d := time.Duration((l.n.Add(1)-1)%8) * 30 * time.Millisecond
	select {
	case <-time.After(d):
	case <-r.Context().Done():
		return nil, r.Context().Err()
	}
	return l.base.RoundTrip(r)
}
