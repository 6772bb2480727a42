package cli

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"gitlab.com/keyless-ci/keyless/internal/exchange"
	"gitlab.com/keyless-ci/keyless/internal/exchange/aws"
)

// providers is the registry of exchanges (provider, in exchange.go).
var providers = []provider{awsProvider, gcpProvider, stsProvider, azureProvider, vaultProvider, pypiProvider, npmProvider, cratesProvider}

// mode is how `keyless env` or `keyless exec` hands credentials over.
type mode int

const (
	modeEnv  mode = iota // printed for eval; after_script cleans up
	modeExec             // one command; keyless cleans up when it exits
)

// runProviders runs every configured provider with options taken from the
// environment alone (each provider's flags parsed from no arguments): those
// whose configVar is set, and those whose component the job extends. Errors
// name the options as the job set them (inJobWords).
func runProviders(c *cli.Context, env Env, m mode) (creds *exchange.Credentials, err error) {
	if err := checkComponentInputs(env); err != nil {
		return nil, err
	}
	var all []*exchange.Credentials
	// What each provider set is told once all have succeeded: a job that
	// fails here has nothing set (issue 13).
	var summaries bytes.Buffer
	defer func() {
		// A provider failed: the others' credentials reach nobody.
		if err != nil {
			exchange.Merge(all...).CloseAll(context.WithoutCancel(c.Context))
		}
	}()
	for _, p := range providers {
		if env.Getenv(p.configVar) == "" && env.Getenv(p.componentVar()) == "" {
			continue
		}
		pc, x, err := p.fromEnv(c, env)
		if err != nil {
			return nil, err
		}
		creds, err := p.run(pc, env, x, m, &summaries)
		if err != nil {
			return nil, p.inJobWords(env, err)
		}
		all = append(all, creds)
	}
	if len(all) == 0 {
		var vars []string
		for _, p := range providers {
			vars = append(vars, p.configVar)
		}
		return nil, usagef("no provider is configured: set %s (or include a keyless component, which sets it)", strings.Join(vars, " or "))
	}
	if _, err := summaries.WriteTo(env.Stderr); err != nil {
		return nil, err
	}
	return exchange.Merge(all...), nil
}

// envContext is p's flags parsed from the environment alone, as keyless
// env and keyless exec run p, and as keyless doctor checks it. Errors name
// the options as the job set them.
func (p provider) envContext(c *cli.Context, env Env) (*cli.Context, error) {
	set := flag.NewFlagSet(p.name, flag.ContinueOnError)
	set.SetOutput(io.Discard)
	for _, f := range p.flags() {
		if err := applyFlag(f, set, env.LookupEnv); err != nil {
			return nil, p.inJobWords(env, &UsageError{Err: err})
		}
	}
	if err := set.Parse(nil); err != nil {
		return nil, p.inJobWords(env, &UsageError{Err: err})
	}
	pc := cli.NewContext(c.App, set, c)
	pc.Context = c.Context
	return pc, nil
}

// fromEnv is p's options as keyless env and keyless exec run it and keyless
// doctor checks it: its flags from the environment alone (envContext), read
// and checked as its command reads them (readOptions), errors in the job's
// words. pc is the context they were read from.
func (p provider) fromEnv(c *cli.Context, env Env) (pc *cli.Context, x exchanger, err error) {
	pc, err = p.envContext(c, env)
	if err != nil {
		return nil, nil, err
	}
	x, err = p.readOptions(pc, env)
	if err != nil {
		return nil, nil, p.inJobWords(env, err)
	}
	return pc, x, nil
}

func envCommand(env Env) *cli.Command {
	return &cli.Command{
		Name:  "env",
		Usage: "print export lines for every provider configured through KEYLESS_* variables",
		Description: "For eval \"$(keyless env)\" in before_script, as the components do. Every value is\n" +
			"single-quoted; nothing but the export and unset lines reaches stdout.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "format", Value: "env", Usage: "env or json"},
			quietFlag(),
			debugFlag(),
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef("env takes no arguments; to run a command use 'keyless exec -- %s'", c.Args().First())
			}
			format := c.String("format")
			if format != "env" && format != "json" {
				return usagef("--format %q: use env or json", format)
			}
			creds, err := runProviders(c, env, modeEnv)
			if err != nil {
				return err
			}
			if format == "json" {
				return exchange.WriteEnvJSON(env.Stdout, creds)
			}
			return exchange.WriteEnv(env.Stdout, creds)
		},
	}
}

func execCommand(env Env) *cli.Command {
	return &cli.Command{
		Name:      "exec",
		Usage:     "run a command with the credentials of every provider configured through KEYLESS_* variables",
		ArgsUsage: "-- CMD ARGS...",
		Flags: []cli.Flag{
			keepIDTokenFlag(""),
			quietFlag(),
			debugFlag(),
		},
		Action: func(c *cli.Context) error {
			if c.NArg() == 0 {
				return usagef("exec needs a command: keyless exec -- CMD ARGS...")
			}
			creds, err := runProviders(c, env, modeExec)
			if err != nil {
				return err
			}
			// The token variables the providers read, as runProviders
			// finds them (KEYLESS_<P>_TOKEN_VAR, else KEYLESS_TOKEN_VAR).
			t := tokenOptions{KeepIDToken: c.Bool("keep-id-token"), Var: env.Getenv("KEYLESS_TOKEN_VAR")}
			cmd := t.command(env, c.Args().Slice())
			for _, p := range providers {
				cmd.IDTokenVars = append(cmd.IDTokenVars, env.Getenv(p.tokenVarEnv))
			}
			err = exchange.Exec(c.Context, cmd, creds)
			// The context may be cancelled already (a signal ended the
			// command); revoking must still happen.
			cctx, cancel := context.WithTimeout(context.WithoutCancel(c.Context), 15*time.Second)
			defer cancel()
			if cerr := creds.CloseAll(cctx); cerr != nil {
				fmt.Fprintf(env.Stderr, "keyless: warning: %v\n", cerr)
			}
			return err
		},
	}
}

func cleanupCommand(env Env) *cli.Command {
	return &cli.Command{
		Name:  "cleanup",
		Usage: "end this job's credentials: revoke kept Vault and crates.io tokens, remove token and secret files and AWS profiles",
		Description: "Every component runs it in after_script, so its place in extends: does not matter. It revokes\n" +
			"the Vault tokens keyless env kept (as 'keyless vault revoke' does), deletes their secret files,\n" +
			"revokes the crates.io publish tokens keyless crates kept in env and json modes,\n" +
			"removes the profiles 'keyless aws --profile' wrote, then the token files --refreshable wrote and\n" +
			"the job's state directory ($KEYLESS_STATE_DIR, else $TMPDIR/keyless-job-$CI_JOB_ID) if keyless\n" +
			"made it. It acts only on a state directory of yours with mode 0700 and on what keyless recorded\n" +
			"there, and is quiet when there is nothing to do.",
		Flags: []cli.Flag{
			&cli.DurationFlag{Name: "timeout", Value: 30 * time.Second, Usage: "overall deadline for revoking, retries included", EnvVars: []string{"KEYLESS_VAULT_TIMEOUT", "KEYLESS_TIMEOUT"}},
			quietFlag(),
			debugFlag(),
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef("cleanup takes no arguments, got %q", c.Args().First())
			}
			dir, err := exchange.StateDir(env.Getenv)
			if err != nil {
				return err
			}
			// A directory another user made (CI_JOB_ID is predictable)
			// says nothing keyless acts on (issue 13).
			if ok, err := exchange.CheckStateDir(dir); !ok || err != nil {
				return err
			}
			// The state directory goes even when revoking fails: what it
			// holds is only useful to a revoke that can no longer happen.
			rerr := revokeKeptVaultTokens(c, env)
			perr := removeKeptAWSProfiles(c, env, dir)
			cerr := revokeKeptCratesTokens(c, env, dir)
			return errors.Join(rerr, perr, cerr, exchange.RemoveStateDir(dir))
		},
	}
}

// removeKeptAWSProfiles removes the profiles `keyless aws --profile` wrote
// in this job, as their records in the state directory dir say.
func removeKeptAWSProfiles(c *cli.Context, env Env, dir string) error {
	saved, err := aws.LoadProfiles(dir)
	errs := []error{err}
	for _, s := range saved {
		rerr := aws.RemoveProfile(s.Record)
		_, ferr := exchange.RemoveFiles([]string{s.Path}, nil)
		errs = append(errs, rerr, ferr)
		if rerr == nil && !c.Bool("quiet") {
			var files []string
			for _, sec := range s.Record.Sections {
				files = append(files, sec.File)
			}
			fmt.Fprintf(env.Stderr, "keyless: aws: removed profile %q from %s\n", s.Record.Name, strings.Join(files, " and "))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("aws: %w", err)
	}
	return nil
}
