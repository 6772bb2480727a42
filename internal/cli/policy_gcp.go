//go:build !keyless_slim

package cli

import (
	"gitlab.com/keyless-ci/keyless/internal/policy"
	"gitlab.com/keyless-ci/keyless/internal/policy/gcp"
)

// gcpPolicy is Google's trust provider; its evaluator links cel-go, which
// the helper-only build leaves out (policy_gcp_slim.go).
var gcpPolicy = func() policy.Provider { return gcp.New() }
