package cli

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"gitlab.com/keyless-ci/keyless/internal/exchange"
	"gitlab.com/keyless-ci/keyless/internal/idtoken"
)

// tokenFlags are shared by every command that reads the job's token; prefix
// scopes their environment fallbacks (KEYLESS_AWS_TOKEN_VAR, …) so that
// several components can sit in one job, each with its own audience.
func tokenFlags(prefix string) []cli.Flag {
	envs := func(name string) []string {
		if prefix == "" {
			return []string{"KEYLESS_" + name}
		}
		return []string{"KEYLESS_" + prefix + "_" + name, "KEYLESS_" + name}
	}
	return []cli.Flag{
		&cli.StringFlag{Name: "token-var", Value: idtoken.DefaultVar, Usage: "`NAME` of the variable holding the job's ID token (set by id_tokens:)", EnvVars: envs("TOKEN_VAR")},
		&cli.StringFlag{Name: "token-file", Usage: "read the ID token from `FILE` instead of a variable", EnvVars: envs("TOKEN_FILE")},
		&cli.BoolFlag{Name: "verify", Usage: "verify the token's signature against the issuer's published keys before using it", EnvVars: envs("VERIFY")},
		&cli.StringFlag{Name: "issuer", Usage: "issuer `URL` for --verify (default $CI_SERVER_URL, else the token's iss)", EnvVars: envs("ISSUER")},
	}
}

// exchangeFlags are an exchange command's flags: tokenFlags, the
// provider's own, then --keep-id-token, --quiet and --debug; prefix scopes
// their environment fallbacks (KEYLESS_AWS_…) as tokenFlags do.
func exchangeFlags(prefix string, own ...cli.Flag) []cli.Flag {
	flags := append(tokenFlags(prefix), own...)
	return append(flags, keepIDTokenFlag(prefix), quietFlag(), debugFlag())
}

// caFileFlag is an exchange's --ca-file; why says whose certificates the
// extra CAs are for.
func caFileFlag(prefix, why string) cli.Flag {
	return &cli.StringFlag{Name: "ca-file", Usage: "PEM `FILE` of extra CAs to trust (" + why + ")", EnvVars: []string{"KEYLESS_" + prefix + "_CA_FILE", "KEYLESS_CA_FILE"}}
}

// timeoutFlag is an exchange's --timeout, the deadline for what (its
// calls), retries included.
func timeoutFlag(prefix, what string) cli.Flag {
	return &cli.DurationFlag{Name: "timeout", Value: 60 * time.Second, Usage: "overall deadline for " + what + ", retries included", EnvVars: []string{"KEYLESS_" + prefix + "_TIMEOUT", "KEYLESS_TIMEOUT"}}
}

// formatFlag is an exchange's --format: the formats it prints (e.g. "env
// or json"), exec mode with a command.
func formatFlag(prefix, formats string) cli.Flag {
	return &cli.StringFlag{Name: "format", Usage: formats + " (default: env without a command, exec with one)", EnvVars: []string{"KEYLESS_" + prefix + "_FORMAT"}}
}

// keepIDTokenFlag is --keep-id-token, on every command that runs one
// after --; prefix scopes its first environment fallback as tokenFlags do.
func keepIDTokenFlag(prefix string) cli.Flag {
	envs := []string{"KEYLESS_KEEP_ID_TOKEN"}
	if prefix != "" {
		envs = append([]string{"KEYLESS_" + prefix + "_KEEP_ID_TOKEN"}, envs...)
	}
	return &cli.BoolFlag{Name: "keep-id-token", EnvVars: envs,
		Usage: "with a command after --, leave the job's ID token variables ($KEYLESS_ID_TOKEN, $KEYLESS_*_ID_TOKEN, --token-var) in its environment; by default it gets the credentials only"}
}

// tokenOptions is what tokenFlags fill, with --keep-id-token.
type tokenOptions struct {
	Var, File string
	Verify    bool
	Issuer    string
	Audience  string // expected audience; "" accepts any
	// AltAudience is accepted in Audience's place when the token carries
	// it (Google accepts either form of a provider's name).
	AltAudience string
	KeepIDToken bool
}

func readTokenOptions(c *cli.Context, env Env, audience string) tokenOptions {
	o := tokenOptions{Var: c.String("token-var"), File: c.String("token-file"), Verify: c.Bool("verify"), Issuer: c.String("issuer"), Audience: audience,
		KeepIDToken: c.Bool("keep-id-token")}
	if o.Issuer == "" {
		o.Issuer = env.Getenv("CI_SERVER_URL")
	}
	return o
}

// command is args, the command after --, as exec mode runs it: with the
// job's environment less its ID token variables (the one the token was read
// from, and exchange.IsIDTokenVar's), unless --keep-id-token (issue 13).
func (o tokenOptions) command(env Env, args []string) exchange.Command {
	return exchange.Command{Args: args, Env: env.Environ(), Stdin: env.Stdin, Stdout: env.Stdout, Stderr: env.Stderr,
		KeepIDToken: o.KeepIDToken, IDTokenVars: []string{o.Var}}
}

// loadToken finds, decodes and checks the token: lifetime always, audience
// when one is expected, signature with --verify.
func loadToken(ctx context.Context, env Env, o tokenOptions, client *http.Client) (*idtoken.Token, error) {
	tok, err := idtoken.Load(idtoken.Source{Var: o.Var, File: o.File, Getenv: env.Getenv, Audience: o.Audience})
	if err != nil {
		return nil, err
	}
	if err := tok.CheckTime(env.Now()); err != nil {
		return nil, err
	}
	aud := o.Audience
	if o.AltAudience != "" && tok.Claims.Audience.Contains(o.AltAudience) {
		aud = o.AltAudience
	}
	if err := tok.CheckAudience(aud, o.Var); err != nil {
		return nil, err
	}
	if o.Verify {
		v := idtoken.Verifier{Issuer: o.Issuer, Audience: aud, Client: client, Now: env.Now}
		if err := v.Verify(ctx, tok); err != nil {
			return nil, err
		}
	}
	return tok, nil
}

func tokenCommand(env Env) *cli.Command {
	return speaks(&cli.Command{
		Name:  "token",
		Usage: "show the claims of the job's ID token (never the token or its signature)",
		Description: "Prints the claims a trust policy is matched against, with the remaining lifetime.\n" +
			"With --verify, also checks the signature against the issuer's discovery document and keys.",
		Flags: append(tokenFlags(""),
			&cli.StringFlag{Name: "format", Value: "text", Usage: "text or json"},
			&cli.StringFlag{Name: "aud", Usage: "fail unless the token's audience includes `AUD`"},
			debugFlag(),
		),
		Action: func(c *cli.Context) error {
			format := c.String("format")
			if format != "text" && format != "json" {
				return usagef("--format %q: use text or json", format)
			}
			if c.NArg() > 0 {
				return usagef("token takes no arguments, got %q", c.Args().First())
			}
			o := readTokenOptions(c, env, c.String("aud"))
			if !c.IsSet("token-var") && o.File == "" && env.Getenv(o.Var) == "" {
				// In a component's job the token sits in the provider's own
				// variable (KEYLESS_AWS_ID_TOKEN); show that one.
				for _, p := range providers {
					if v := env.Getenv(p.tokenVarEnv); v != "" && env.Getenv(v) != "" {
						o.Var = v
						break
					}
				}
			}
			client, err := httpClient(env, "", 30*time.Second)
			if err != nil {
				return err
			}
			tok, err := idtoken.Load(idtoken.Source{Var: o.Var, File: o.File, Getenv: env.Getenv, Audience: o.Audience})
			if err != nil {
				return err
			}
			// The claims are shown even for an expired token: that is when
			// a person most needs to see them.
			now := env.Now()
			fields := tok.SafeFields(now)
			verdict := "not verified (pass --verify to check the signature)"
			var checkErr error
			if err := tok.CheckAudience(o.Audience, o.Var); err != nil {
				checkErr = err
			} else if err := tok.CheckTime(now); err != nil {
				checkErr = err
			} else if o.Verify {
				ctx, cancel := context.WithTimeout(c.Context, 30*time.Second)
				defer cancel()
				v := idtoken.Verifier{Issuer: o.Issuer, Audience: o.Audience, Client: client, Now: env.Now}
				if err := v.Verify(ctx, tok); err != nil {
					checkErr = err
				} else {
					verdict = "verified against " + strings.TrimSuffix(cmp.Or(o.Issuer, tok.Claims.Issuer), "/")
				}
			}
			if checkErr != nil {
				verdict = "invalid"
			}
			if format == "json" {
				out := map[string]any{"source": tok.Source, "signature": verdict, "remaining_seconds": int64(tok.Remaining(now).Seconds())}
				claims := map[string]string{}
				for _, f := range fields {
					if f.Name != "expires" {
						claims[f.Name] = f.Value
					}
				}
				claims["exp"] = tok.Claims.ExpiresAt.UTC().Format(time.RFC3339)
				out["claims"] = claims
				if err := exchange.WriteJSON(env.Stdout, out); err != nil {
					return err
				}
			} else {
				fmt.Fprintf(env.Stdout, "ID token from %s\n", tok.Source)
				fmt.Fprint(env.Stdout, idtoken.FormatFields("  ", append(fields, idtoken.Field{Name: "signature", Value: verdict})))
			}
			return checkErr
		},
	}, tokenOptionFlags, nil)
}
