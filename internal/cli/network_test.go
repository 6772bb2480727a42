package cli

import (
	"regexp"
	"strings"
	"testing"

	"gitlab.com/keyless-ci/keyless/internal/exchange/aws/awstest"
	"gitlab.com/keyless-ci/keyless/internal/exchange/exchangetest"
	"gitlab.com/keyless-ci/keyless/internal/oidctest"
)

// STS that refuses connections is retried until --timeout, each retry on
// stderr, and the message says what was tried (issue 13: it failed at once,
// saying the retries had run out).
func TestAWSUnreachableIsRetried(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	p := exchangetest.NewProxy(t, f.sts.URL)
	p.Down()
	tok := f.iss.MustMint(t, oidctest.Job{})
	o := keyless(t, map[string]string{"KEYLESS_ID_TOKEN": tok, "KEYLESS_AWS_STS_ENDPOINT": p.URL}, "aws", "--role-arn", role, "--timeout", "300ms")
	if n := strings.Count(o.Stderr, "keyless: aws: STS: connection refused; retrying in "); n < 1 {
		t.Errorf("%d retry lines:\n%s", n, o.Stderr)
	}
	host := strings.TrimPrefix(p.URL, "http://")
	o.Stderr = strings.ReplaceAll(o.Stderr, host, "STS_HOST")
	o.Stderr = regexp.MustCompile(`after \d+ attempts|in \d+ attempts`).ReplaceAllStringFunc(o.Stderr, func(s string) string {
		return s[:strings.IndexByte(s, ' ')] + " N attempts"
	})
	golden(t, "aws-unreachable", fixture{iss: f.iss, sts: &awstest.STS{URL: "http://STS_HOST"}}, o)
}
