// Package aws generates the IAM trust that lets GitLab CI/CD jobs call
// sts:AssumeRoleWithWebIdentity with their ID token (an IAM OIDC identity
// provider and a role trust policy), and evaluates a role trust policy
// against a token's claims the way IAM does.
package aws

import (
	"strings"

	"gitlab.com/keyless-ci/keyless/internal/option"
	"gitlab.com/keyless-ci/keyless/internal/policy"
)

// DefaultAudience is the audience GitLab's AWS documentation uses and the
// aws component asks for.
const DefaultAudience = "sts.amazonaws.com"

// action is the one action a web identity trust is about.
const action = "sts:AssumeRoleWithWebIdentity"

type provider struct{}

// OptTrustPolicy is the option that gives Explain the role's trust policy
// (package option).
const OptTrustPolicy option.Name = "trust-policy"

// New returns AWS's trust provider: Name "aws", Document OptTrustPolicy.
func New() policy.Provider { return provider{} }

// OwnsAudience recognises the audience this cloud's jobs ask for.
func (provider) OwnsAudience(aud string) bool {
	return aud == DefaultAudience || strings.HasSuffix(aud, ".amazonaws.com")
}

func (provider) Name() string          { return "aws" }
func (provider) Formats() []string     { return []string{"json", "terraform", "cloudformation"} }
func (provider) Document() option.Name { return OptTrustPolicy }

// issuerHost is an issuer as IAM names its OIDC provider and condition
// keys: without the scheme, with any path.
func issuerHost(iss string) string {
	return strings.TrimPrefix(strings.TrimPrefix(iss, "https://"), "http://")
}
