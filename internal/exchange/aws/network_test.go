package aws_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
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
			err := exchangetest.CheckRedirectRefused(t, tc, tok.Raw.Reveal(), aws.ErrRedirect,
				func(ctx context.Context, from string, client *http.Client, progress io.Writer) error {
					o := opts(&awstest.STS{URL: from})
					if client != nil {
						o.HTTPClient = client
					}
					o.Progress = progress
					_, err := aws.Exchange(ctx, tok, o)
					return err
				},
				func(from, to string) []string {
					return []string{fmt.Sprintf("%s/ answered HTTP %d, a redirect to %s", from, tc.Status, to), "pass its URL with --sts-endpoint"}
				})
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
	for _, tc := range exchangetest.ConnCases {
		t.Run(tc.Name, func(t *testing.T) {
			sts := awstest.New(t)
			tok := token(t)
			exchangetest.CheckConnectionFailuresAreRetried(t, tc, sts.URL, "aws: STS", func() int { return len(sts.Requests()) },
				func(endpoint string) exchangetest.Exchange {
					o := opts(sts)
					o.STSEndpoint = endpoint
					o.HTTPClient = &http.Client{Transport: &http.Transport{}}
					return run(tok, o)
				})
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
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
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
	exchangetest.CheckUntrustedCertificateIsNotRetried(t, run(token(t), opts(sts)), "--ca-file")
}
