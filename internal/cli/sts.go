package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"gitlab.com/keyless-ci/keyless/internal/exchange"
	"gitlab.com/keyless-ci/keyless/internal/exchange/sts"
	"gitlab.com/keyless-ci/keyless/internal/secret"
)

func stsFlags() []cli.Flag {
	return append(tokenFlags("STS"),
		&cli.StringFlag{Name: "token-url", Usage: "token endpoint `URL` of the RFC 8693 server (https; http only to loopback)", EnvVars: []string{"KEYLESS_STS_TOKEN_URL"}},
		&cli.StringSliceFlag{Name: "audience", Usage: "audience parameter `AUD`, the logical name of the service the token is for (repeatable; commas in the variable)", EnvVars: []string{"KEYLESS_STS_AUDIENCE"}},
		&cli.StringSliceFlag{Name: "resource", Usage: "resource parameter, the absolute `URI` of the service the token is for (repeatable; commas in the variable)", EnvVars: []string{"KEYLESS_STS_RESOURCE"}},
		&cli.StringFlag{Name: "scope", Usage: "space-separated `SCOPES` to request (default: the server's)", EnvVars: []string{"KEYLESS_STS_SCOPE"}},
		&cli.StringFlag{Name: "requested-token-type", Usage: "token `TYPE` to ask for: a URI, or access_token, jwt, id_token, refresh_token, saml1, saml2 (default: the server's)", EnvVars: []string{"KEYLESS_STS_REQUESTED_TOKEN_TYPE"}},
		&cli.StringFlag{Name: "subject-token-type", Value: sts.DefaultSubjectTokenType, Usage: "`TYPE` of the ID token as the server expects it: a URI, or jwt, id_token, …", EnvVars: []string{"KEYLESS_STS_SUBJECT_TOKEN_TYPE"}},
		&cli.StringFlag{Name: "client-id", Usage: "client `ID` to send (in the body; with --client-secret-env, with HTTP Basic)", EnvVars: []string{"KEYLESS_STS_CLIENT_ID"}},
		&cli.StringFlag{Name: "client-secret-env", Usage: "authenticate the client with HTTP Basic, reading the secret from variable `NAME` (never from a flag)", EnvVars: []string{"KEYLESS_STS_CLIENT_SECRET_ENV"}},
		&cli.StringFlag{Name: "client-assertion-type", Usage: "client assertion `TYPE`: jwt-bearer authenticates the client with the ID token itself (RFC 7523)", EnvVars: []string{"KEYLESS_STS_CLIENT_ASSERTION_TYPE"}},
		&cli.StringFlag{Name: "expected-aud", Usage: "fail before calling the server unless the ID token's aud includes `AUD` (components set it)", EnvVars: []string{"KEYLESS_STS_EXPECTED_AUD"}},
		&cli.StringFlag{Name: "env", Value: sts.DefaultEnv, Usage: "`NAME` of the variable that receives the issued token (exec and env formats)", EnvVars: []string{"KEYLESS_STS_ENV"}},
		&cli.StringFlag{Name: "format", Usage: "env or json (default: env without a command, exec with one)", EnvVars: []string{"KEYLESS_STS_FORMAT"}},
		&cli.StringFlag{Name: "ca-file", Usage: "PEM `FILE` of extra CAs to trust (TLS-inspecting proxy, private token endpoint)", EnvVars: []string{"KEYLESS_STS_CA_FILE", "KEYLESS_CA_FILE"}},
		&cli.DurationFlag{Name: "timeout", Value: 60 * time.Second, Usage: "overall deadline for the exchange, retries included", EnvVars: []string{"KEYLESS_STS_TIMEOUT", "KEYLESS_TIMEOUT"}},
		keepIDTokenFlag("STS"),
		quietFlag(),
		debugFlag(),
	)
}

// stsOptions is everything `keyless sts` needs, filled from flags and their
// environment fallbacks and validated in one place.
type stsOptions struct {
	Token     tokenOptions
	Exchange  sts.Options
	SecretEnv string // the variable the client secret came from
	EnvName   string
	CAFile    string
	Timeout   time.Duration
	Format    string
	Quiet     bool
}

func readSTSOptions(c *cli.Context, env Env) (stsOptions, error) {
	o := stsOptions{
		Token:     readTokenOptions(c, env, c.String("expected-aud")),
		SecretEnv: strings.TrimSpace(c.String("client-secret-env")),
		// An empty KEYLESS_STS_ENV (a component's empty input) is the default.
		EnvName: firstNonEmpty(strings.TrimSpace(c.String("env")), sts.DefaultEnv),
		CAFile:  c.String("ca-file"),
		Timeout: c.Duration("timeout"),
		Format:  c.String("format"),
		Quiet:   c.Bool("quiet"),
	}
	x := sts.Options{
		TokenURL:           strings.TrimSpace(c.String("token-url")),
		Audiences:          stsList(c.StringSlice("audience")),
		Resources:          stsList(c.StringSlice("resource")),
		Scope:              c.String("scope"),
		RequestedTokenType: strings.TrimSpace(c.String("requested-token-type")),
		SubjectTokenType:   firstNonEmpty(strings.TrimSpace(c.String("subject-token-type")), sts.DefaultSubjectTokenType),
		ClientID:           strings.TrimSpace(c.String("client-id")),
		Auth:               sts.AuthNone,
		UserAgent:          "keyless/" + Version,
	}
	assertion := strings.TrimSpace(c.String("client-assertion-type"))
	switch assertion {
	case "":
	case "jwt-bearer", sts.JWTBearer:
		x.Auth = sts.AuthJWTBearer
	default:
		return o, usagef("--client-assertion-type %q: use jwt-bearer (%s), which sends the ID token as the client assertion", assertion, sts.JWTBearer)
	}
	if o.SecretEnv != "" {
		if x.Auth == sts.AuthJWTBearer {
			return o, usagef("--client-secret-env and --client-assertion-type are two ways to authenticate the client; pass one")
		}
		if !stsVarName(o.SecretEnv) {
			// Not quoted: a value that is no name may be the secret itself
			// (an input written $SECRET, which GitLab expands).
			return o, usagef("--client-secret-env takes the NAME of the variable that holds the client secret (letters, digits and '_'), not the secret; a component's client_secret_variable input is written without '$'")
		}
		// Read here, from the variable: a flag's value would show in process listings.
		x.Auth = sts.AuthBasic
		x.ClientSecret = secret.New(env.Getenv(o.SecretEnv))
		x.SecretSource = "$" + o.SecretEnv
	}
	if o.Timeout <= 0 {
		return o, usagef("--timeout must be positive")
	}
	x.InsecureHTTP = insecureHTTP(env)
	o.Exchange = x
	if err := x.Validate(); err != nil {
		return o, &UsageError{Err: err}
	}
	warnInsecureHTTP(env, x.InsecureHTTP, "--token-url", x.TokenURL)
	if err := sts.CheckEnvName(o.EnvName); err != nil {
		return o, &UsageError{Err: err}
	}
	for _, other := range []string{o.Token.Var, o.SecretEnv} {
		if o.EnvName == other {
			return o, usagef("--env %s would overwrite the variable keyless reads the ID token or the client secret from; choose another name", o.EnvName)
		}
	}
	switch o.Format {
	case "", "env", "json":
	default:
		return o, usagef("--format %q: use env or json (or give a command after --)", o.Format)
	}
	if err := checkFile("ca-file", o.CAFile); err != nil {
		return o, err
	}
	return o, nil
}

// stsList flattens repeated flags and comma-separated variables, dropping
// empty items (a component's empty input).
func stsList(in []string) []string {
	var out []string
	for _, a := range in {
		for _, p := range strings.Split(a, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

func stsVarName(s string) bool {
	for i, r := range s {
		if !(r == '_' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return s != ""
}

var stsProvider = provider{
	name:        "sts",
	configVar:   "KEYLESS_STS_TOKEN_URL",
	tokenVarEnv: "KEYLESS_STS_TOKEN_VAR",
	command:     stsCommand,
	flags:       stsFlags,
	run: func(c *cli.Context, env Env, _ mode, sw io.Writer) (*exchange.Credentials, error) {
		o, err := readSTSOptions(c, env)
		if err != nil {
			return nil, err
		}
		o.Quiet = o.Quiet || c.Bool("quiet")
		r, err := runSTS(c.Context, c, env, o)
		if err != nil {
			return nil, err
		}
		stsSummary(env.withStderr(sw), o, r)
		return r.env, nil
	},
}

func stsCommand(env Env) *cli.Command {
	return &cli.Command{
		Name:      "sts",
		Usage:     "exchange the ID token at any OAuth 2.0 Token Exchange (RFC 8693) endpoint",
		ArgsUsage: "[-- CMD ARGS...]",
		Description: "Sends the ID token as the subject token to --token-url and hands on the issued token in\n" +
			"one variable (--env, default KEYLESS_STS_TOKEN). With a command after --, runs it with the\n" +
			"token in its environment only and exits with its code. Without one, prints it in --format env\n" +
			"(an export line for eval) or json (with issued_token_type and expires_in). A refresh token\n" +
			"is never handed on.\n\n" +
			"   keyless sts --token-url https://sso.example.com/realms/ci/protocol/openid-connect/token \\\n" +
			"     --audience deploy-api -- sh -c 'curl -H \"Authorization: Bearer $KEYLESS_STS_TOKEN\" ...'\n" +
			"   eval \"$(keyless sts --token-url URL --client-id ci --client-secret-env CI_CLIENT_SECRET --env API_TOKEN)\"",
		Flags: stsFlags(),
		Action: func(c *cli.Context) error {
			o, err := readSTSOptions(c, env)
			if err != nil {
				return err
			}
			args := c.Args().Slice()
			if len(args) > 0 && o.Format != "" {
				return usagef("--format %s prints the token; it cannot also run %q (drop one)", o.Format, args[0])
			}
			r, err := runSTS(c.Context, c, env, o)
			if err != nil {
				return err
			}
			return deliverSTS(c.Context, env, r, o, args)
		},
	}
}

// stsResult is a finished exchange with what exec and env modes deliver.
type stsResult struct {
	creds *sts.Credentials
	env   *exchange.Credentials
}

// runSTS loads the token, exchanges it, and prepares the environment.
func runSTS(ctx context.Context, c *cli.Context, env Env, o stsOptions) (*stsResult, error) {
	log := logger(c, env)
	client, err := httpClient(env, o.CAFile, 10*time.Second)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	tok, err := loadToken(ctx, env, o.Token, client)
	if err != nil {
		return nil, err
	}
	x := o.Exchange
	x.HTTPClient = client
	x.Log = log
	x.Progress = env.Stderr // one line per retry, so a long loop is not silent
	x.Now = env.Now
	log.Debug("exchanging ID token", "provider", "sts", "token_url", sts.DisplayURL(x.TokenURL),
		"audience", strings.Join(x.Audiences, " "), "resource", strings.Join(x.Resources, " "), "scope", x.Scope,
		"subject_token_type", sts.ExpandTokenType(x.SubjectTokenType), "requested_token_type", sts.ExpandTokenType(x.RequestedTokenType),
		"client_auth", string(x.Auth), "client_id", sts.MaskID(x.ClientID), "token_source", tok.Source)
	creds, err := sts.Exchange(ctx, tok, x)
	if err != nil {
		return nil, err
	}
	log.Debug("exchange done", "attempts", creds.Attempts, "issued_token_type", creds.IssuedTokenType, "expires", creds.Expiration)
	r := &stsResult{creds: creds, env: creds.Env(o.EnvName, o.SecretEnv)}
	fix := "Ask the token server for a longer lifetime for this client, or exchange closer to where the token is used."
	if w := lifetimeWarning("sts", env.Getenv, creds.Expiration, false, fix); w != "" && !o.Quiet {
		fmt.Fprint(env.Stderr, w)
	}
	return r, nil
}

func deliverSTS(ctx context.Context, env Env, r *stsResult, o stsOptions, args []string) error {
	switch {
	case len(args) > 0:
		stsSummary(env, o, r)
		defer r.env.Cleanup()
		return exchange.Exec(ctx, o.Token.command(env, args), r.env)
	case o.Format == "json":
		return r.creds.WriteJSON(env.Stdout)
	default:
		stsSummary(env, o, r)
		return exchange.WriteEnv(env.Stdout, r.env)
	}
}

// stsSummary tells the job's log what was set, never the values.
func stsSummary(env Env, o stsOptions, r *stsResult) {
	if o.Quiet {
		return
	}
	what := firstNonEmpty(r.creds.IssuedTokenType, "a token")
	until := "no expiry given"
	if !r.creds.Expiration.IsZero() {
		until = "until " + r.creds.Expiration.UTC().Format(time.RFC3339)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "keyless: sts: exchanged the ID token at %s for %s, %s; set %s", sts.DisplayURL(o.Exchange.TokenURL), what, until, o.EnvName)
	if len(r.env.Unset) > 0 {
		fmt.Fprintf(&b, "; unset %s", strings.Join(r.env.Unset, " "))
	}
	fmt.Fprintln(env.Stderr, b.String())
}
