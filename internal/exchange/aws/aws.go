// Package aws exchanges a GitLab ID token for temporary AWS credentials with
// STS AssumeRoleWithWebIdentity (optionally chaining into a second role with
// AssumeRole), retrying only what is transient, and explains rejections.
package aws

import (
	"context"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"gitlab.com/keyless-ci/keyless/internal/exchange"
	"gitlab.com/keyless-ci/keyless/internal/idtoken"
	"gitlab.com/keyless-ci/keyless/internal/option"
	"gitlab.com/keyless-ci/keyless/internal/secret"
)

// Options configure one exchange.
type Options struct {
	RoleARN     string
	Region      string
	STSEndpoint string // custom endpoint URL (MinIO, LocalStack, a VPC endpoint)
	// InsecureHTTP are hosts plain http may go to (KEYLESS_INSECURE_HTTP_HOSTS).
	InsecureHTTP exchange.InsecureHosts
	SessionName  string // already sanitised; see SanitizeSessionName
	Duration     time.Duration
	Policy       string   // inline session policy (JSON)
	PolicyARNs   []string // managed session policies
	// ChainRoleARN, when set, is assumed with the first role's credentials.
	ChainRoleARN    string
	ChainExternalID string

	// Seams are the transport, retry waits, log, progress and clock.
	exchange.Seams
}

// The options an exchange's messages name (package option): the CLI says
// them in the words the user typed.
const (
	OptRoleARN         option.Name = "role-arn"
	OptRegion          option.Name = "region"
	OptSTSEndpoint     option.Name = "sts-endpoint"
	OptSessionName     option.Name = "session-name"
	OptDuration        option.Name = "duration"
	OptPolicyFile      option.Name = "policy-file"
	OptPolicyARN       option.Name = "policy-arn"
	OptChainRoleARN    option.Name = "chain-role-arn"
	OptChainExternalID option.Name = "chain-external-id"
	OptCAFile          option.Name = "ca-file"
)

// Credentials are temporary AWS credentials.
type Credentials struct {
	AccessKeyID     secret.Token
	SecretAccessKey secret.Token
	SessionToken    secret.Token
	Expiration      time.Time
	AssumedRoleARN  string
	Region          string
	Attempts        int
}

// DefaultDuration is STS's own default.
const DefaultDuration = time.Hour

// ResolvedRegion validates the role ARN and returns the region the exchange
// will use.
func (o Options) ResolvedRegion() (string, error) {
	arn, err := parseRoleARN(o.RoleARN, o.STSEndpoint != "")
	if err != nil {
		return "", err
	}
	return resolveRegion(o.Region, arn, o.STSEndpoint != "")
}

// Validate checks the options that do not need the network.
func (o Options) Validate() error {
	if o.RoleARN == "" {
		return option.Errorf("no role to assume: pass %s, e.g. arn:aws:iam::123456789012:role/gitlab-deploy", option.RefOrSet(OptRoleARN))
	}
	if o.STSEndpoint != "" {
		if err := exchange.CheckEndpoint(OptSTSEndpoint, o.STSEndpoint, "the ID token", o.InsecureHTTP); err != nil {
			return err
		}
	}
	if _, err := o.ResolvedRegion(); err != nil {
		return err
	}
	if o.Duration != 0 && (o.Duration < 15*time.Minute || o.Duration > 12*time.Hour) {
		return option.Errorf("%s %s is outside STS's range of 15m to 12h", option.Ref(OptDuration), o.Duration)
	}
	if o.ChainRoleARN != "" {
		if _, err := parseRoleARN(o.ChainRoleARN, o.STSEndpoint != ""); err != nil {
			return &option.Error{Option: OptChainRoleARN, Err: err}
		}
	}
	if o.ChainExternalID != "" && o.ChainRoleARN == "" {
		return option.Errorf("%s needs %s", option.Ref(OptChainExternalID), option.Ref(OptChainRoleARN))
	}
	return nil
}

func (o Options) client(region string, creds awssdk.CredentialsProvider) *sts.Client {
	opts := sts.Options{
		Region: region,
		// The SDK's own client follows a 307 or 308 to any host, re-sending
		// the token; ours follows none.
		HTTPClient:  exchange.NoRedirects(o.HTTPClient, OptSTSEndpoint),
		Retryer:     awssdk.NopRetryer{}, // retries are ours: one deadline, only transient errors
		Credentials: creds,
		AppID:       o.UserAgent,
	}
	if o.STSEndpoint != "" {
		opts.BaseEndpoint = awssdk.String(o.STSEndpoint)
	}
	return sts.New(opts)
}

// Exchange trades tok for credentials. The context's deadline bounds every
// attempt and every wait between attempts.
func Exchange(ctx context.Context, tok *idtoken.Token, o Options) (*Credentials, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	region, _ := o.ResolvedRegion()
	in := &sts.AssumeRoleWithWebIdentityInput{
		RoleArn:          awssdk.String(o.RoleARN),
		RoleSessionName:  awssdk.String(o.SessionName),
		WebIdentityToken: awssdk.String(tok.Raw.Reveal()),
	}
	if o.Duration != 0 {
		in.DurationSeconds = awssdk.Int32(int32(o.Duration / time.Second))
	}
	if o.Policy != "" {
		in.Policy = awssdk.String(o.Policy)
	}
	for _, a := range o.PolicyARNs {
		in.PolicyArns = append(in.PolicyArns, stsPolicyARN(a))
	}
	anon := o.client(region, awssdk.AnonymousCredentials{})
	var out *sts.AssumeRoleWithWebIdentityOutput
	attempts, err := retry(ctx, o, func(ctx context.Context) error {
		var err error
		out, err = anon.AssumeRoleWithWebIdentity(ctx, in)
		return err
	})
	if err != nil {
		return nil, newError(err, o, tok, attempts)
	}
	c := fromSTS(out.Credentials, region)
	c.Attempts = attempts
	if out.AssumedRoleUser != nil {
		c.AssumedRoleARN = awssdk.ToString(out.AssumedRoleUser.Arn)
	}
	if o.ChainRoleARN == "" {
		return c, nil
	}
	return chain(ctx, o, tok, region, c)
}

// chain assumes ChainRoleARN with the first role's credentials; the SDK signs
// the call.
func chain(ctx context.Context, o Options, tok *idtoken.Token, region string, first *Credentials) (*Credentials, error) {
	static := awssdk.CredentialsProviderFunc(func(context.Context) (awssdk.Credentials, error) {
		return awssdk.Credentials{
			AccessKeyID:     first.AccessKeyID.Reveal(),
			SecretAccessKey: first.SecretAccessKey.Reveal(),
			SessionToken:    first.SessionToken.Reveal(),
			CanExpire:       true,
			Expires:         first.Expiration,
			Source:          "keyless",
		}, nil
	})
	in := &sts.AssumeRoleInput{
		RoleArn:         awssdk.String(o.ChainRoleARN),
		RoleSessionName: awssdk.String(o.SessionName),
	}
	// Role chaining caps the session at one hour.
	if o.Duration != 0 {
		in.DurationSeconds = awssdk.Int32(int32(min(o.Duration, time.Hour) / time.Second))
	}
	if o.ChainExternalID != "" {
		in.ExternalId = awssdk.String(o.ChainExternalID)
	}
	signed := o.client(region, static)
	var out *sts.AssumeRoleOutput
	attempts, err := retry(ctx, o, func(ctx context.Context) error {
		var err error
		out, err = signed.AssumeRole(ctx, in)
		return err
	})
	if err != nil {
		e := newError(err, o, tok, attempts)
		e.Chained, e.RoleARN = true, o.ChainRoleARN
		return nil, e
	}
	c := fromSTS(out.Credentials, region)
	c.Attempts = first.Attempts + attempts
	if out.AssumedRoleUser != nil {
		c.AssumedRoleARN = awssdk.ToString(out.AssumedRoleUser.Arn)
	}
	return c, nil
}

// retry runs f under the shared policy with STS's transient errors.
func retry(ctx context.Context, o Options, f func(context.Context) error) (int, error) {
	return o.Retry(exchange.Retry{
		Transient: transient,
		Name:      "aws: STS",
		Describe:  errorClass,
		LogMsg:    "STS attempt failed, retrying",
	}).Do(ctx, f)
}
