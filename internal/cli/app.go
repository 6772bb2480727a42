// Package cli wires keyless's commands to urfave/cli: flags, environment
// fallbacks, validation and exit codes. The work happens in the packages it
// calls; nothing here prints a secret except where a mode's job is to print
// credentials on stdout.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/urfave/cli/v2"

	"gitlab.com/keyless-ci/keyless/internal/exchange"
	"gitlab.com/keyless-ci/keyless/internal/option"
)

// Exit codes, the documented contract (README, --help).
const (
	ExitOK       = 0
	ExitFindings = 1 // lint and report found something at or above --fail-on; explain: refused; doctor: a check failed; migrate: jobs refused
	ExitUsage    = 2 // bad flags, arguments or configuration
	ExitFailure  = 3 // the work failed: no or bad token, exchange refused, network
)

const exitCodeHelp = `EXIT CODES:
   0    success
   1    findings at or above --fail-on (lint, report); the trust refuses the token (explain);
        a check failed (doctor); jobs refused, listed on stderr (migrate)
   2    usage error: unknown flag, invalid value, missing configuration
   3    failure: no or invalid ID token, exchange refused, issuer or STS unreachable
   N    exec mode (keyless aws -- CMD, keyless exec -- CMD): CMD's own exit code;
        126 when CMD cannot be run, 127 when it is not found, 128+N when killed by signal N
`

// Env is the process's outside world, injected so the CLI runs in-process in
// tests, several at once: keyless reads variables only through it, flags'
// environment fallbacks included (urfave.go), and never sets one.
type Env struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// LookupEnv, Getenv and Environ are the job's variables; Run fills in
	// those left nil from the others, or from the process.
	LookupEnv func(string) (string, bool)
	Getenv    func(string) string
	Environ   func() []string
	// HTTPClient is the base client for outgoing calls; nil uses a default
	// transport that honours HTTPS_PROXY and NO_PROXY.
	HTTPClient *http.Client
	Now        func() time.Time
	// Backoff is the wait before retry n (1-based) of every exchange; nil
	// is the providers' own, jittered (exchange.Jittered).
	Backoff func(n int) time.Duration
}

// withDefaults is env with what it left nil taken from the process, or
// derived from what it set: a Getenv alone makes a LookupEnv that finds
// only non-empty variables.
func (env Env) withDefaults() Env {
	switch {
	case env.LookupEnv != nil:
	case env.Getenv != nil:
		getenv := env.Getenv
		env.LookupEnv = func(name string) (string, bool) {
			v := getenv(name)
			return v, v != ""
		}
	default:
		env.LookupEnv = os.LookupEnv
	}
	if env.Getenv == nil {
		lookup := env.LookupEnv
		env.Getenv = func(name string) string {
			v, _ := lookup(name)
			return v
		}
	}
	if env.Environ == nil {
		env.Environ = os.Environ
	}
	if env.Now == nil {
		env.Now = time.Now
	}
	if env.Stdin == nil {
		env.Stdin = os.Stdin
	}
	return env
}

// Version is stamped at build time with -ldflags "-X ...cli.Version=1.2.3".
var Version = "dev"

// UsageError is an error in how keyless was called. Its message names the
// flags involved.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// Text keeps the option references of Err for the command to render
// (words.go).
func (e *UsageError) Text() string { return option.Text(e.Err) }

func usagef(format string, args ...any) error {
	return &UsageError{Err: option.Errorf(format, args...)}
}

// findingsError ends keyless lint with exit code 1, silently: the findings
// have spoken.
type findingsError struct{ n int }

func (e *findingsError) Error() string { return fmt.Sprintf("%d findings", e.n) }
func (e *findingsError) ExitCode() int { return ExitFindings }

// Run runs keyless with args (args[0] is the program name) and returns the
// exit code.
func Run(ctx context.Context, args []string, env Env) int {
	env = env.withDefaults()
	app := newApp(env)
	args, err := interspersed(app, args)
	if err == nil {
		err = app.RunContext(ctx, args)
	}
	if err == nil {
		return ExitOK
	}
	code := ExitCode(err)
	var fe *findingsError
	var re refusedError
	var de doctorFailedError
	if errors.As(err, &fe) || errors.As(err, &re) || errors.As(err, &de) {
		return code // the findings, the evaluation or the checks are the message
	}
	var ee *exchange.ExitError
	if errors.As(err, &ee) && ee.Err == nil {
		return code // the command's own failure; it has spoken for itself
	}
	fmt.Fprintf(env.Stderr, "keyless: %v\n", err)
	// In a component's job the options are inputs, not flags: --help has
	// nothing for its author.
	var je *jobError
	if code == ExitUsage && !(errors.As(err, &je) && je.component) {
		fmt.Fprintln(env.Stderr, "Run 'keyless --help' for usage.")
	}
	return code
}

// ExitCode maps an error to the documented exit code.
func ExitCode(err error) int {
	var ue *UsageError
	var ee *exchange.ExitError
	var ce cli.ExitCoder
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &ee):
		return ee.Code
	case errors.As(err, &ue):
		return ExitUsage
	case errors.As(err, &ce):
		return ce.ExitCode()
	}
	return ExitFailure
}

func newApp(env Env) *cli.App {
	setHelpFlag()
	app := &cli.App{
		Name:  "keyless",
		Usage: "short-lived cloud credentials for GitLab CI/CD jobs from their ID tokens, no stored secrets",
		Description: "keyless exchanges the job's GitLab ID token (id_tokens:) for temporary cloud\n" +
			"credentials and hands them to the job's command without printing them.\n\n" +
			"   keyless aws --role-arn ARN -- aws s3 ls      run one command with AWS credentials\n" +
			"   eval \"$(keyless env)\"                         export the credentials of every KEYLESS_* provider\n" +
			"   keyless token                                 show the job token's claims (never the token)",
		Version:                Version,
		Reader:                 env.Stdin,
		Writer:                 env.Stdout,
		ErrWriter:              env.Stderr,
		HideVersion:            true,
		UseShortOptionHandling: false,
		Suggest:                true,
		CustomAppHelpTemplate:  cli.AppHelpTemplate + "\n" + exitCodeHelp,
		ExitErrHandler:         func(*cli.Context, error) {}, // Run maps errors to codes
		OnUsageError:           onUsageError,
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef("unknown command %q: run 'keyless --help' for the commands", c.Args().First())
			}
			return cli.ShowAppHelp(c)
		},
	}
	app.Commands = []*cli.Command{versionCommand(env), tokenCommand(env)}
	for _, p := range providers {
		app.Commands = append(app.Commands, p.command(env))
	}
	app.Commands = append(app.Commands, envCommand(env), execCommand(env), cleanupCommand(env),
		policyCommand(env), explainCommand(env), doctorCommand(env))
	app.Commands = append(app.Commands, toolCommands(env)...)
	for _, c := range app.Commands {
		c.OnUsageError = onUsageError
		c.CustomHelpTemplate = cli.CommandHelpTemplate + "\n" + exitCodeHelp
		readFallbacksFrom(env, c)
		addHelpCommands(c)
	}
	return app
}

func onUsageError(_ *cli.Context, err error, _ bool) error {
	return &UsageError{Err: err}
}

// logger returns a debug logger when --debug is set, else one that drops
// everything. It logs names and identifiers, never values.
func logger(c *cli.Context, env Env) *slog.Logger {
	level := slog.LevelWarn
	if c.Bool("debug") {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(env.Stderr, &slog.HandlerOptions{Level: level}))
}

func quietFlag() cli.Flag {
	return &cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "no summary line on stderr", EnvVars: []string{"KEYLESS_QUIET"}}
}

func debugFlag() cli.Flag {
	return &cli.BoolFlag{Name: "debug", Usage: "log each step to stderr (names and identifiers only, never values)", EnvVars: []string{"KEYLESS_DEBUG"}}
}

func versionCommand(env Env) *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "print the version",
		Action: func(c *cli.Context) error {
			_, err := fmt.Fprintf(env.Stdout, "keyless %s\n", Version)
			return err
		},
	}
}
