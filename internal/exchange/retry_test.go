package exchange_test

import (
	"context"
	"errors"
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
	start := time.Now()
	_, err = exchange.Retry{Backoff: fast, Transient: transient, RetryAfter: func(error) time.Duration { return time.Hour }}.Do(
		ctx, func(context.Context) error { return errBusy })
	if !errors.Is(err, errBusy) || time.Since(start) > 5*time.Second {
		t.Errorf("err = %v after %s", err, time.Since(start))
	}
}
