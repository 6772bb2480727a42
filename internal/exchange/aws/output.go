package aws

import (
	"encoding/json"
	"io"
	"time"

	"gitlab.com/keyless-ci/keyless/internal/exchange"
	"gitlab.com/keyless-ci/keyless/internal/secret"
)

// competing lists the inherited variables that would take precedence over,
// or mix with, the credentials keyless sets. The AWS CLI and SDKs ignore the
// environment's keys when a profile is named, so AWS_PROFILE goes too.
var competing = []string{
	"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
	"AWS_CREDENTIAL_EXPIRATION", "AWS_PROFILE", "AWS_DEFAULT_PROFILE",
	"AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_SESSION_NAME",
	"AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
	"AWS_CONTAINER_AUTHORIZATION_TOKEN", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
}

func regionVars(region string) []exchange.Var {
	if region == "" {
		return nil
	}
	return []exchange.Var{exchange.Plain("AWS_REGION", region), exchange.Plain("AWS_DEFAULT_REGION", region)}
}

// Static returns the credentials as the environment variables every AWS SDK
// and the CLI read.
func (c *Credentials) Static() *exchange.Credentials {
	vars := []exchange.Var{
		{Name: "AWS_ACCESS_KEY_ID", Value: c.AccessKeyID},
		{Name: "AWS_SECRET_ACCESS_KEY", Value: c.SecretAccessKey},
		{Name: "AWS_SESSION_TOKEN", Value: c.SessionToken},
	}
	if !c.Expiration.IsZero() {
		vars = append(vars, exchange.Plain("AWS_CREDENTIAL_EXPIRATION", c.Expiration.UTC().Format(time.RFC3339)))
	}
	vars = append(vars, regionVars(c.Region)...)
	return &exchange.Credentials{Provider: "aws", Vars: vars, Unset: exchange.UnsetExcept(competing, vars), Expiration: c.Expiration}
}

// TokenFileName is the ID token file in the job's state directory, for
// --refreshable.
const TokenFileName = "aws-web-identity-token"

// Refreshable writes the ID token to a 0600 file in the state directory
// dir and returns the
// variables with which the SDKs and the CLI run AssumeRoleWithWebIdentity
// themselves whenever their credentials near expiry.
// https://docs.aws.amazon.com/sdkref/latest/guide/feature-assume-role-credentials.html
func Refreshable(dir string, token secret.Token, o Options, region string) (*exchange.Credentials, error) {
	path, err := exchange.WriteStateFile(dir, TokenFileName, []byte(token.Reveal()))
	if err != nil {
		return nil, err
	}
	vars := []exchange.Var{
		exchange.Plain("AWS_ROLE_ARN", o.RoleARN),
		exchange.Plain("AWS_WEB_IDENTITY_TOKEN_FILE", path),
		exchange.Plain("AWS_ROLE_SESSION_NAME", o.SessionName),
	}
	if o.STSEndpoint != "" {
		vars = append(vars, exchange.Plain("AWS_ENDPOINT_URL_STS", o.STSEndpoint))
	}
	vars = append(vars, regionVars(region)...)
	return &exchange.Credentials{Provider: "aws", Vars: vars, Unset: exchange.UnsetExcept(competing, vars), Files: []string{path}}, nil
}

// processOutput is the credential_process contract, version 1.
// https://docs.aws.amazon.com/cli/v1/userguide/cli-configure-sourcing-external.html
type processOutput struct {
	Version         int    `json:"Version"`
	AccessKeyID     string `json:"AccessKeyId"`
	SecretAccessKey string `json:"SecretAccessKey"`
	SessionToken    string `json:"SessionToken"`
	Expiration      string `json:"Expiration,omitempty"`
}

// WriteCredentialProcess prints the credential_process JSON.
func (c *Credentials) WriteCredentialProcess(w io.Writer) error {
	out := processOutput{
		Version:         1,
		AccessKeyID:     c.AccessKeyID.Reveal(),
		SecretAccessKey: c.SecretAccessKey.Reveal(),
		SessionToken:    c.SessionToken.Reveal(),
	}
	if !c.Expiration.IsZero() {
		out.Expiration = c.Expiration.UTC().Format(time.RFC3339)
	}
	return json.NewEncoder(w).Encode(out)
}

// WriteJSON prints the credentials with their expiration, role and region.
func (c *Credentials) WriteJSON(w io.Writer) error {
	out := struct {
		AccessKeyID     string `json:"AccessKeyId"`
		SecretAccessKey string `json:"SecretAccessKey"`
		SessionToken    string `json:"SessionToken"`
		Expiration      string `json:"Expiration"`
		AssumedRoleARN  string `json:"AssumedRoleArn,omitempty"`
		Region          string `json:"Region,omitempty"`
	}{c.AccessKeyID.Reveal(), c.SecretAccessKey.Reveal(), c.SessionToken.Reveal(),
		c.Expiration.UTC().Format(time.RFC3339), c.AssumedRoleARN, c.Region}
	return exchange.WriteJSON(w, out)
}
