//go:build keyless_slim

package cli

// helpGolden is the golden of keyless --help in the helper-only build (make
// build-slim), the binary CI jobs download: no lint, compile, report or
// migrate.
const helpGolden = "help-slim"
