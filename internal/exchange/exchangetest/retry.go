package exchangetest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	"gitlab.com/keyless-ci/keyless/internal/exchange"
)

// Exchange is one provider's exchange as the retry checks drive it: against
// the fake its test set up, under ctx, with backoff and progress in its
// Options. The checks count attempts by progress's retry lines, and by the
// "after N attempts" an error claims.
type Exchange func(ctx context.Context, backoff func(n int) time.Duration, progress io.Writer) error

// Repeat is n copies of a fake's fault f: a server that fails that way
// until the deadline.
func Repeat[F any](f F, n int) []F {
	out := make([]F, n)
	for i := range out {
		out[i] = f
	}
	return out
}

func noWait(int) time.Duration { return time.Millisecond }

// CheckTransientRetried runs each list of faults a provider retries through
// run, which starts its fake with them and exchanges: each fault costs one
// attempt and one request, and the exchange then succeeds. calls is the
// attempts and requests a fault-free exchange makes (Vault's login, detect
// and read are three).
func CheckTransientRetried[F any](t *testing.T, calls int, faults [][]F, run func(faults []F) (attempts, requests int, err error)) {
	t.Helper()
	for _, f := range faults {
		attempts, requests, err := run(f)
		if err != nil {
			t.Fatalf("faults %v: %v", f, err)
		}
		if want := calls + len(f); attempts != want || requests != want {
			t.Errorf("faults %v: %d attempts, %d requests, want %d", f, attempts, requests, want)
		}
	}
}

// CheckDeadlineHolds runs x, whose fake never answers, with a deadline of
// 300ms: it must end with the shared timeout, which says so, and let
// errors.Is find the context's deadline.
func CheckDeadlineHolds(t *testing.T, x Exchange) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	err := x(ctx, noWait, nil)
	if !errors.Is(err, exchange.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want a timeout", err)
	}
	if !strings.Contains(err.Error(), "did not answer before the deadline") {
		t.Errorf("explanation: %v", err)
	}
	return err
}

// CheckRetriesStopAtTheDeadline runs x, whose fake fails with kind until
// the deadline, with 20ms waits and a deadline of 200ms: requests (the
// fake's count) shows a few retries and no more, and the error is kind,
// counts its attempts and says wants.
func CheckRetriesStopAtTheDeadline(t *testing.T, x Exchange, requests func() int, kind error, wants ...string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	err := x(ctx, func(int) time.Duration { return 20 * time.Millisecond }, nil)
	if !errors.Is(err, kind) {
		t.Fatalf("err = %v, want %v", err, kind)
	}
	for _, want := range append([]string{"attempts"}, wants...) {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("explanation lacks %q:\n%s", want, err)
		}
	}
	if n := requests(); n < 2 || n > 20 {
		t.Errorf("%d requests in 200ms with 20ms backoff", n)
	}
	return err
}

// CheckUntrustedCertificateIsNotRetried runs x against a fake whose
// certificate the client does not trust: the shared ErrTLS at once, no
// retry line and no attempts claimed, and the fix (the option that takes
// a CA bundle).
func CheckUntrustedCertificateIsNotRetried(t *testing.T, x Exchange, fix string) error {
	t.Helper()
	var progress strings.Builder
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := x(ctx, noWait, &progress)
	if !errors.Is(err, exchange.ErrTLS) || strings.Contains(err.Error(), "attempts") || progress.Len() != 0 {
		t.Fatalf("err = %v, progress %q", err, progress.String())
	}
	if !strings.Contains(err.Error(), fix) {
		t.Errorf("explanation lacks the fix %q:\n%s", fix, err)
	}
	return err
}

// ConnCase is a failure of the connection itself, which every exchange
// retries.
type ConnCase struct {
	Name    string
	Faults  []ConnFault // what the proxy does with the first connections
	Refused int         // attempts refused before the proxy listens
	// Reasons are how a retry line may name the failure: a reset that
	// arrives while the client still sends is a broken pipe to it.
	Reasons []string
}

// ConnCases fail the first two attempts: refused, reset, or dropped after
// the request was read.
var ConnCases = []ConnCase{
	{"refused", nil, 2, []string{"connection refused"}},
	{"reset", []ConnFault{Reset, Reset}, 0, []string{"connection reset", "connection closed while sending"}},
	{"dropped before the answer", []ConnFault{Drop, Drop}, 0, []string{"connection closed before an answer"}},
}

// CheckConnectionFailuresAreRetried puts a Proxy with c's faults in front
// of target, the fake's URL, and runs the exchange run returns for the
// proxy's URL: it succeeds on the third attempt, with one request reaching
// the fake (requests counts them), after one retry line each for the first
// two, which start with "keyless: " and line: the provider and service as
// its retry lines name them ("aws: STS"), PROXY standing for the proxy's
// URL where they name the endpoint ("sts: PROXY/token").
func CheckConnectionFailuresAreRetried(t *testing.T, c ConnCase, target, line string, requests func() int, run func(endpoint string) Exchange) {
	t.Helper()
	p := NewProxy(t, target, c.Faults...)
	backoff := noWait
	if c.Refused > 0 {
		p.Down()
		backoff = func(n int) time.Duration {
			if n == c.Refused {
				p.Up()
			}
			return time.Millisecond
		}
	}
	var progress strings.Builder
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := run(p.URL)(ctx, backoff, &progress); err != nil {
		t.Fatal(err)
	}
	if n := requests(); n != 1 {
		t.Errorf("%d requests reached the fake, want 1", n)
	}
	reasons := make([]string, len(c.Reasons))
	for i, r := range c.Reasons {
		reasons[i] = regexp.QuoteMeta(r)
	}
	retry := func(n int) string {
		return regexp.QuoteMeta("keyless: "+strings.ReplaceAll(line, "PROXY", p.URL)+": ") + "(?:" + strings.Join(reasons, "|") + ")" +
			regexp.QuoteMeta(fmt.Sprintf("; retrying in 1ms (attempt %d, ", n)) + `\d+s left\)\n`
	}
	if !regexp.MustCompile("^" + retry(2) + retry(3) + "$").MatchString(progress.String()) {
		t.Errorf("progress:\n%s", progress.String())
	}
}

// CheckRetryAfterIsHonoured runs x against a fake that throttles the first
// request with Retry-After: 1 (RFC 9110 §10.2.3, in seconds): the exchange
// waits that second, not its own shorter backoff, and then succeeds on the
// one retry.
func CheckRetryAfterIsHonoured(t *testing.T, x Exchange) {
	t.Helper()
	var progress strings.Builder
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	if err := x(ctx, noWait, &progress); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < time.Second || strings.Count(progress.String(), "; retrying in ") != 1 {
		t.Errorf("retried after %s; Retry-After asked for 1s:\n%s", d, progress.String())
	}
}

// CheckRetryAfterBeyondTheDeadline runs x, with a deadline of 5s, against a
// fake that throttles with Retry-After: 120: the exchange gives up at once
// after one request (requests counts them), throttled, and says wants.
func CheckRetryAfterBeyondTheDeadline(t *testing.T, x Exchange, requests func() int, wants ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	err := x(ctx, noWait, nil)
	if !errors.Is(err, exchange.ErrThrottled) {
		t.Fatalf("err = %v, want throttled", err)
	}
	if d := time.Since(start); d > 2*time.Second || requests() != 1 {
		t.Errorf("took %s and %d requests", d, requests())
	}
	for _, want := range wants {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("explanation lacks %q:\n%s", want, err)
		}
	}
}
