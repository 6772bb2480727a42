//go:build keyless_slim

package cli

import "gitlab.com/keyless-ci/keyless/internal/policy"

// gcpPolicy is nil in the helper-only build: Google's evaluator needs
// cel-go (policy_gcp.go).
var gcpPolicy func() policy.Provider
