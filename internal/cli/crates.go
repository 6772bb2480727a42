package cli

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"gitlab.com/keyless-ci/keyless/internal/exchange"
	"gitlab.com/keyless-ci/keyless/internal/exchange/crates"
	"gitlab.com/keyless-ci/keyless/internal/idtoken"
)

func cratesFlags() []cli.Flag {
	return append(tokenFlags("CRATES"),
		&cli.StringFlag{Name: "registry-url", Value: crates.DefaultRegistry, Usage: "base `URL` of the registry; the ID token's aud must be its host (crates.io)", EnvVars: []string{"KEYLESS_CRATES_REGISTRY_URL"}},
		&cli.StringFlag{Name: "registry", Usage: "cargo registry `NAME` the token is for, CARGO_REGISTRIES_<NAME>_TOKEN (default: crates.io, CARGO_REGISTRY_TOKEN)", EnvVars: []string{"KEYLESS_CRATES_REGISTRY"}},
		&cli.StringFlag{Name: "format", Usage: "env or json (default: env without a command, exec with one)", EnvVars: []string{"KEYLESS_CRATES_FORMAT"}},
		&cli.StringFlag{Name: "ca-file", Usage: "PEM `FILE` of extra CAs to trust (TLS-inspecting proxy)", EnvVars: []string{"KEYLESS_CRATES_CA_FILE", "KEYLESS_CA_FILE"}},
		&cli.DurationFlag{Name: "timeout", Value: 60 * time.Second, Usage: "overall deadline for the exchange, retries included", EnvVars: []string{"KEYLESS_CRATES_TIMEOUT", "KEYLESS_TIMEOUT"}},
		keepIDTokenFlag("CRATES"),
		quietFlag(),
		debugFlag(),
	)
}

// cratesOptions is everything `keyless crates` needs, read and validated in
// one place.
type cratesOptions struct {
	exchangeOptions
	Exchange crates.Options
	Registry string // cargo's name of the registry; "" is crates.io
}

func readCratesOptions(c *cli.Context, env Env) (exchanger, error) {
	base, err := readExchangeOptions(c, env, "", "", "env", "json")
	o := &cratesOptions{exchangeOptions: base}
	if err != nil {
		return o, err
	}
	x := crates.Options{RegistryURL: cmp.Or(strings.TrimSpace(c.String("registry-url")), crates.DefaultRegistry), InsecureHTTP: insecureHTTP(env)}
	o.Exchange = x
	if err := x.Validate(); err != nil {
		return o, &UsageError{Err: err}
	}
	// The audience is known from the URL alone: the token is checked
	// before anything is sent, and keyless doctor checks it too.
	o.Token.Audience = x.Audience()
	warnInsecureHTTP(env, x.InsecureHTTP, "--registry-url", x.Base())
	if o.Registry = strings.TrimSpace(c.String("registry")); o.Registry != "" {
		if err := crates.CheckRegistry(o.Registry); err != nil {
			return o, &UsageError{Err: err}
		}
	}
	return o, nil
}

// keyless env keeps the token for `keyless cleanup` (the component's
// after_script) to revoke; a command after --, and keyless exec, revoke
// it when the command exits, as crates-io-auth-action's post step does.
var cratesProvider = provider{
	name:        "crates",
	configVar:   "KEYLESS_CRATES_REGISTRY_URL",
	tokenVarEnv: "KEYLESS_CRATES_TOKEN_VAR",
	flags:       cratesFlags,
	read:        readCratesOptions,
	usage:       "exchange the ID token for a short-lived crates.io publish token (trusted publishing) for cargo publish",
	prints:      "prints the token",
	description: "Checks that the ID token's aud is the registry's host (crates.io), POSTs it to\n" +
		"REGISTRY/api/v1/trusted_publishing/tokens for a token that publishes the crates whose GitLab\n" +
		"trusted publishing config matches this job, valid for 30 minutes. With a command after --,\n" +
		"runs it with CARGO_REGISTRY_TOKEN (CARGO_REGISTRIES_<NAME>_TOKEN with --registry) in its\n" +
		"environment only, revokes the token when it exits, and exits with its code. Without one,\n" +
		"prints it as --format env or json and keeps it, in a 0600 file of the job's state directory,\n" +
		"for keyless cleanup to revoke. A refusal names the config fields that must match: namespace,\n" +
		"project, workflow filepath and environment.\n\n" +
		"   id_tokens: { CRATES_ID_TOKEN: { aud: crates.io } }\n" +
		"   keyless crates --token-var CRATES_ID_TOKEN -- cargo publish",
	options: optionFlags{
		crates.OptRegistryURL: "registry-url",
		crates.OptRegistry:    "registry",
		crates.OptCAFile:      "ca-file",
	},
}

// exchange trades the ID token at the registry for a publish token.
func (o *cratesOptions) exchange(ctx context.Context, call exchangeCall, tok *idtoken.Token) (*issued, error) {
	x := o.Exchange
	x.Seams = call.Seams
	call.Log.Debug("exchanging ID token", "provider", "crates", "registry_url", x.Base(), "registry", o.Registry, "token_source", tok.Source)
	creds, err := crates.Exchange(ctx, tok, x)
	if err != nil {
		return nil, err
	}
	call.Log.Debug("exchange done", "attempts", creds.Attempts, "audience", creds.Audience)
	// No expires: a 30-minute token would warn in every job longer than
	// that; the summary says until when it lasts.
	r := &issued{env: creds.Env(o.Registry),
		fix: "crates.io's tokens last 30 minutes: run the publish as the command of keyless crates (keyless crates -- cargo publish)."}
	revoke := func(ctx context.Context) error {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
		defer cancel()
		return crates.Revoke(rctx, creds.Token, x)
	}
	kept := "kept for keyless cleanup to revoke"
	r.hold = func(ctx context.Context, m mode) error {
		if m == modeExec {
			kept = "revoked when the command exits"
			r.env.Close = revoke
			return nil
		}
		dir, err := exchange.StateDir(call.Env.Getenv)
		if err == nil {
			_, err = crates.SaveState(dir, crates.State{Registry: x.Base(), Token: creds.Token, Expiration: creds.Expiration})
		}
		if err != nil {
			return errors.Join(fmt.Errorf("crates: keeping the token for keyless cleanup: %w; it was revoked", err), revoke(ctx))
		}
		return nil
	}
	r.summary = func(w io.Writer, _ mode) {
		fmt.Fprintf(w, "keyless: crates: %s issued a publish token for this job's trusted publishing config until %s, %s; set %s\n",
			creds.Registry, creds.Expiration.UTC().Format(time.RFC3339), kept, setNames(r.env))
	}
	if o.Format == "json" {
		r.print = func(env Env) error { return creds.WriteJSON(env.Stdout) }
	}
	return r, nil
}

// revokeKeptCratesTokens revokes the tokens env and json modes kept in the
// job's state directory dir and removes their files; `keyless cleanup`
// runs it. c has the timeout and quiet flags.
func revokeKeptCratesTokens(c *cli.Context, env Env, dir string) error {
	log := logger(c, env)
	states, loadErr := crates.LoadStates(dir)
	if len(states) == 0 {
		log.Debug("no crates.io token to revoke", "dir", dir)
		return loadErr
	}
	client, err := httpClient(env, cmp.Or(env.Getenv("KEYLESS_CRATES_CA_FILE"), env.Getenv("KEYLESS_CA_FILE")), 10*time.Second)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(c.Context, c.Duration("timeout"))
	defer cancel()
	errs := []error{loadErr}
	for _, s := range states {
		x := crates.Options{RegistryURL: s.State.Registry, InsecureHTTP: insecureHTTP(env), Seams: seams(env, client, log)}
		err := crates.Revoke(ctx, s.State.Token, x)
		// The file goes whatever the registry said: it holds the token.
		_, rerr := exchange.RemoveFiles([]string{s.Path}, nil)
		errs = append(errs, err, rerr)
		if !c.Bool("quiet") {
			what := "revoked the publish token"
			if err != nil {
				what = "could not revoke the publish token (see below); it expires at " + s.State.Expiration.UTC().Format(time.RFC3339)
			}
			fmt.Fprintf(env.Stderr, "keyless: crates: %s at %s\n", what, exchange.DisplayURL(s.State.Registry))
		}
	}
	return errors.Join(errs...)
}
