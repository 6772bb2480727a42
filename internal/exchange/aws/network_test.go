package aws_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"gitlab.com/keyless-ci/keyless/internal/exchange/aws"
	"gitlab.com/keyless-ci/keyless/internal/exchange/aws/awstest"
	"gitlab.com/keyless-ci/keyless/internal/exchange/exchangetest"
)

// A redirect from the STS endpoint, to another server or from https to
// plain http, is not followed: the SDK's client would re-send the token.
func TestRedirectsAreNotFollowed(t *testing.T) {
	for _, tc := range exchangetest.RedirectCases {
		t.Run(tc.Name, func(t *testing.T) {
			tok := token(t)
			trap := exchangetest.NewTrap(t, tok.Raw.Reveal())
			from, client := exchangetest.Redirector(t, tc.Status, trap.URL, tc.TLS)
			o := opts(&awstest.STS{URL: from})
			if client != nil {
				o.HTTPClient = client
			}
			var progress strings.Builder
			o.Progress = &progress
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, err := aws.Exchange(ctx, tok, o)
			exchangetest.CheckRefused(t, tc, err, aws.ErrRedirect, trap, tok.Raw.Reveal(), progress.String(),
				fmt.Sprintf("%s/ answered HTTP %d, a redirect to %s", from, tc.Status, trap.URL), "pass its URL with --sts-endpoint")
			if strings.Contains(err.Error(), "attempts") {
				t.Errorf("a refusal claims attempts:\n%s", err)
			}
		})
	}
}

// Connections that fail without an answer are retried, each retry told
// with its wait, and the exchange succeeds once STS answers: the refused,
// reset and dropped connections are the kernel's own, from a proxy in
// front of the fake.
func TestConnectionFailuresAreRetriedAndTold(t *testing.T) {
	for _, tc := range []struct {
		name    string
		faults  []exchangetest.ConnFault
		refused int // attempts refused before the proxy listens
		reason  string
	}{
		{"refused", nil, 2, "connection refused"},
		{"reset", []exchangetest.ConnFault{exchangetest.Reset, exchangetest.Reset}, 0, "connection reset"},
		{"dropped before the answer", []exchangetest.ConnFault{exchangetest.Drop, exchangetest.Drop}, 0, "connection closed before an answer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sts := awstest.New(t)
			p := exchangetest.NewProxy(t, sts.URL, tc.faults...)
			o := opts(sts)
			o.STSEndpoint = p.URL
			o.HTTPClient = &http.Client{Transport: &http.Transport{}}
			if tc.refused > 0 {
				p.Down()
				o.Backoff = func(n int) time.Duration {
					if n == tc.refused {
						p.Up()
					}
					return time.Millisecond
				}
			}
			var progress strings.Builder
			o.Progress = &progress
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c, err := aws.Exchange(ctx, token(t), o)
			if err != nil {
				t.Fatal(err)
			}
			if c.Attempts != 3 || len(sts.Requests()) != 1 {
				t.Errorf("%d attempts, %d requests reached STS; want 3 and 1", c.Attempts, len(sts.Requests()))
			}
			want := regexp.MustCompile(`^keyless: aws: STS: ` + tc.reason + `; retrying in 1ms \(attempt 2, \d+s left\)\n` +
				`keyless: aws: STS: ` + tc.reason + `; retrying in 1ms \(attempt 3, \d+s left\)\n$`)
			if !want.MatchString(progress.String()) {
				t.Errorf("progress:\n%s", progress.String())
			}
		})
	}
}

// STS that stays unreachable fails at the deadline, with a message that
// says how many attempts were made; one that is refused on the only
// attempt the deadline allows does not claim retries.
func TestUnreachableSaysWhatWasTried(t *testing.T) {
	p := exchangetest.NewProxy(t, "http://127.0.0.1:1")
	p.Down()
	o := opts(&awstest.STS{URL: p.URL})
	o.Backoff = func(int) time.Duration { return 20 * time.Millisecond }
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := aws.Exchange(ctx, token(t), o)
	var e *aws.Error
	if !errors.Is(err, aws.ErrConnection) || !errors.As(err, &e) || e.Attempts < 2 {
		t.Fatalf("err = %v", err)
	}
	want := fmt.Sprintf("keyless could not connect to %s (connection refused) in %d attempts before the deadline", p.URL, e.Attempts)
	if msg := err.Error(); !strings.Contains(msg, want) || strings.Contains(msg, "ran out") || !strings.Contains(msg, "--sts-endpoint") {
		t.Errorf("message lacks %q:\n%s", want, msg)
	}

	// A wait longer than the deadline: one attempt, and no retry claimed.
	o.Backoff = func(int) time.Duration { return time.Hour }
	ctx, cancel = context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err = aws.Exchange(ctx, token(t), o)
	if !errors.As(err, &e) || e.Attempts != 1 || !strings.Contains(err.Error(), "left no time to retry") || strings.Contains(err.Error(), "attempts") {
		t.Errorf("err = %v", err)
	}
}

// An untrusted certificate fails at once, with the fix, and is not
// retried.
func TestUntrustedCertificateIsNotRetried(t *testing.T) {
	sts, _ := awstest.NewTLS(t)
	o := opts(sts)
	var progress strings.Builder
	o.Progress = &progress
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := aws.Exchange(ctx, token(t), o)
	var e *aws.Error
	if !errors.Is(err, aws.ErrTLS) || !errors.As(err, &e) || e.Attempts != 1 || progress.Len() != 0 {
		t.Fatalf("err = %v, progress %q", err, progress.String())
	}
	if !strings.Contains(err.Error(), "--ca-file") {
		t.Errorf("message lacks the fix:\n%s", err)
	}
}
