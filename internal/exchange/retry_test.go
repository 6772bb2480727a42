package exchange_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"testing"
	"time"

	"gitlab.com/keyless-ci/keyless/internal/exchange"
)

var errBusy, errNo = errors.New("busy"), errors.New("no")

func TestRetry(t *testing.T) {
	transient := func(err error) bool { return errors.Is(err, errBusy) }
	fast := func(int) time.Duration { return time.Millisecond }

	// Transient errors are retried until success.
	calls := 0
	n, err := exchange.Retry{Backoff: fast, Transient: transient}.Do(context.Background(), func(context.Context) error {
		if calls++; calls < 3 {
			return errBusy
		}
		return nil
	})
	if err != nil || n != 3 {
		t.Errorf("n=%d err=%v, want 3 attempts and success", n, err)
	}
	// A permanent error ends the loop at once.
	n, err = exchange.Retry{Backoff: fast, Transient: transient}.Do(context.Background(), func(context.Context) error { return errNo })
	if n != 1 || !errors.Is(err, errNo) {
		t.Errorf("n=%d err=%v, want one attempt", n, err)
	}
	// When the deadline cuts an attempt short, the last answer is returned.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	calls = 0
	_, err = exchange.Retry{Backoff: fast, Transient: transient}.Do(ctx, func(ctx context.Context) error {
		if calls++; calls == 1 {
			return errBusy
		}
		<-ctx.Done()
		return ctx.Err()
	})
	if !errors.Is(err, errBusy) {
		t.Errorf("err = %v, want the last answer", err)
	}
	// A server-asked wait beyond the deadline ends the loop without waiting.
	// (Were it to wait, the test would hang: no wall-clock assertion.)
	asked := 0
	_, err = exchange.Retry{Backoff: fast, Transient: transient, RetryAfter: func(error) time.Duration { return time.Hour }}.Do(
		ctx, func(context.Context) error { asked++; return errBusy })
	if !errors.Is(err, errBusy) || asked != 1 {
		t.Errorf("err = %v after %d attempts, want the answer after one", err, asked)
	}
}

// Each retry is told to Progress with its wait, the next attempt's number
// and the time left, so that a long loop is not silent.
func TestRetryProgress(t *testing.T) {
	var b strings.Builder
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	calls := 0
	_, err := exchange.Retry{
		Backoff:   func(n int) time.Duration { return time.Duration(n) * time.Millisecond },
		Transient: func(err error) bool { return errors.Is(err, errBusy) },
		Progress:  &b,
		Name:      "aws: STS",
		Describe:  func(error) string { return "HTTP 503" },
	}.Do(ctx, func(context.Context) error {
		if calls++; calls < 3 {
			return errBusy
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := regexp.MustCompile(`^keyless: aws: STS: HTTP 503; retrying in 1ms \(attempt 2, (59s|1m0s) left\)\n` +
		`keyless: aws: STS: HTTP 503; retrying in 2ms \(attempt 3, (59s|1m0s) left\)\n$`)
	if !want.MatchString(b.String()) {
		t.Errorf("progress:\n%s", b.String())
	}
	// A permanent failure is not retried, and nothing is written.
	b.Reset()
	exchange.Retry{Transient: func(error) bool { return false }, Progress: &b}.Do(ctx, func(context.Context) error { return errNo })
	if b.Len() != 0 {
		t.Errorf("progress for a failure not retried: %q", b.String())
	}
}

func TestRetryOutcome(t *testing.T) {
	if got := exchange.RetryOutcome(1); strings.Contains(got, "retries") || !strings.Contains(got, "no time to retry") {
		t.Errorf("one attempt: %q", got)
	}
	if got := exchange.RetryOutcome(4); !strings.Contains(got, "4 times") {
		t.Errorf("four attempts: %q", got)
	}
}

type attemptFailure struct{ status int }

func (f *attemptFailure) Error() string   { return fmt.Sprintf("HTTP %d", f.status) }
func (f *attemptFailure) Transient() bool { return f.status >= 500 }

// DoAttempts retries what the typed failure finds transient, logs each
// retry with the seams' logger by the failure's class, and hands back the
// failure that ended the loop, nil after a success.
func TestDoAttempts(t *testing.T) {
	var log strings.Builder
	seams := exchange.Seams{
		Backoff: func(int) time.Duration { return time.Millisecond },
		Log:     slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug, ReplaceAttr: dropTime})),
	}
	r := seams.Retry(exchange.Retry{Name: "test", LogMsg: "attempt failed", LogAttrs: []any{"step", "mint"}})
	statuses := []int{503, 502, 200}
	n, f := exchange.DoAttempts(context.Background(), r, func(context.Context) *attemptFailure {
		s := statuses[0]
		statuses = statuses[1:]
		if s == 200 {
			return nil
		}
		return &attemptFailure{s}
	})
	if n != 3 || f != nil {
		t.Errorf("n=%d f=%v, want 3 attempts and success", n, f)
	}
	want := "level=DEBUG msg=\"attempt failed\" step=mint attempt=1 error=\"HTTP 503\" wait=1ms\n" +
		"level=DEBUG msg=\"attempt failed\" step=mint attempt=2 error=\"HTTP 502\" wait=1ms\n"
	if log.String() != want {
		t.Errorf("log:\n%s\nwant:\n%s", log.String(), want)
	}
	n, f = exchange.DoAttempts(context.Background(), r, func(context.Context) *attemptFailure { return &attemptFailure{404} })
	if n != 1 || f == nil || f.status != 404 {
		t.Errorf("n=%d f=%v, want the 404 after one attempt", n, f)
	}
}

func dropTime(_ []string, a slog.Attr) slog.Attr {
	if a.Key == slog.TimeKey {
		return slog.Attr{}
	}
	return a
}

// The end of a context is never retried, whatever Transient would say.
func TestRetryEndOfContext(t *testing.T) {
	for _, end := range []error{context.Canceled, context.DeadlineExceeded} {
		asked := false
		n, err := exchange.Retry{
			Backoff:   func(int) time.Duration { return time.Millisecond },
			Transient: func(error) bool { asked = true; return true },
		}.Do(context.Background(), func(context.Context) error { return fmt.Errorf("post: %w", end) })
		if n != 1 || !errors.Is(err, end) || asked {
			t.Errorf("%v: n=%d err=%v asked=%v, want one attempt, the error, Transient not asked", end, n, err, asked)
		}
	}
}
