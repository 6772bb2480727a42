//go:build !keyless_slim

package cli

import "github.com/urfave/cli/v2"

// toolCommands are the commands beyond the credential helper: lint,
// compile and report, with the GitLab API client they use. The
// keyless_slim build tag leaves them out of a helper-only binary, the one
// CI jobs download (make build-slim).
func toolCommands(env Env) []*cli.Command {
	return []*cli.Command{lintCommand(env), compileCommand(env), reportCommand(env), migrateCommand(env)}
}
