//go:build !keyless_slim

package cli

// helpGolden is the golden of keyless --help in this build: the full build
// lists lint, compile, report and migrate.
const helpGolden = "help"
