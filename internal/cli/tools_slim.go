//go:build keyless_slim

package cli

import "github.com/urfave/cli/v2"

// toolCommands: none in the helper-only build (see tools.go).
func toolCommands(Env) []*cli.Command { return nil }
