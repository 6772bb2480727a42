// Package keyless is the root of the keyless module. The binary is built
// from cmd/keyless; this package holds only test data that packages share,
// embedded so that every test reads the same bytes.
package keyless

import "embed"

// GitLabIDTokens holds testdata/gitlab/id-tokens: ID-token payloads copied
// from GitLab's public material, each file naming its source. The test
// issuer (internal/oidctest) mints these shapes.
//
//go:embed testdata/gitlab/id-tokens/*.json
var GitLabIDTokens embed.FS
