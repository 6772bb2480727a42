// Command keyless exchanges a GitLab CI/CD job's ID token for short-lived
// cloud credentials. All of its logic lives in internal/cli and below.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"gitlab.com/keyless-ci/keyless/internal/cli"
)

func main() {
	// SIGINT/SIGTERM cancel in-flight exchanges; exec mode forwards them to
	// the child itself.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := cli.Run(ctx, os.Args, cli.Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr,
		LookupEnv: os.LookupEnv, Environ: os.Environ})
	stop()
	os.Exit(code)
}
