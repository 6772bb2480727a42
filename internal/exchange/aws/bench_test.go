package aws_test

import (
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"gitlab.com/keyless-ci/keyless/internal/exchange"
	"gitlab.com/keyless-ci/keyless/internal/exchange/aws"
	"gitlab.com/keyless-ci/keyless/internal/exchange/aws/awstest"
)

// BenchmarkExchange is one AssumeRoleWithWebIdentity round trip through the
// SDK against the fake STS on loopback, keep-alive on: the in-process cost
// of an exchange. bench/sts.sh compares whole processes with the AWS CLI
// and curl.
func BenchmarkExchange(b *testing.B) {
	sts := awstest.New(b)
	tok := token(b)
	o := aws.Options{RoleARN: role, STSEndpoint: sts.URL, SessionName: "bench", Seams: exchange.Seams{HTTPClient: &http.Client{Transport: &http.Transport{}}}}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := aws.Exchange(ctx, tok, o); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWriteEnv renders the export lines `keyless env` prints.
func BenchmarkWriteEnv(b *testing.B) {
	c := (&aws.Credentials{Expiration: time.Now(), Region: "eu-west-1"}).Static()
	b.ReportAllocs()
	for b.Loop() {
		if err := exchange.WriteEnv(io.Discard, c); err != nil {
			b.Fatal(err)
		}
	}
}
