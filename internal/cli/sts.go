package cli

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"gitlab.com/keyless-ci/keyless/internal/exchange"
	"gitlab.com/keyless-ci/keyless/internal/exchange/sts"
	"gitlab.com/keyless-ci/keyless/internal/idtoken"
	"gitlab.com/keyless-ci/keyless/internal/option"
	"gitlab.com/keyless-ci/keyless/internal/secret"
)

func stsFlags() []cli.Flag {
	return exchangeFlags("STS",
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
		formatFlag("STS", "env or json"),
		caFileFlag("STS", "TLS-inspecting proxy, private token endpoint"),
		timeoutFlag("STS", "the exchange"),
	)
}

// stsOptions is everything `keyless sts` needs, filled from flags and their
// environment fallbacks and validated in one place.
type stsOptions struct {
	exchangeOptions
	Exchange  sts.Options
	SecretEnv string // the variable the client secret came from
	EnvName   string
}

func readSTSOptions(c *cli.Context, env Env) (exchanger, error) {
	base, err := readExchangeOptions(c, env, c.String("expected-aud"), "", "env", "json")
	o := &stsOptions{
		exchangeOptions: base,
		SecretEnv:       strings.TrimSpace(c.String("client-secret-env")),
		// An empty KEYLESS_STS_ENV (a component's empty input) is the default.
		EnvName: cmp.Or(strings.TrimSpace(c.String("env")), sts.DefaultEnv),
	}
	if err != nil {
		return o, err
	}
	x := sts.Options{
		TokenURL:           strings.TrimSpace(c.String("token-url")),
		Audiences:          splitList(c.StringSlice("audience")...),
		Resources:          splitList(c.StringSlice("resource")...),
		Scope:              c.String("scope"),
		RequestedTokenType: strings.TrimSpace(c.String("requested-token-type")),
		SubjectTokenType:   cmp.Or(strings.TrimSpace(c.String("subject-token-type")), sts.DefaultSubjectTokenType),
		ClientID:           strings.TrimSpace(c.String("client-id")),
		Auth:               sts.AuthNone,
	}
	assertion := strings.TrimSpace(c.String("client-assertion-type"))
	switch assertion {
	case "":
	case "jwt-bearer", sts.JWTBearer:
		x.Auth = sts.AuthJWTBearer
	default:
		return o, &UsageError{Err: &option.Error{Option: sts.OptClientAssertionType, Value: assertion,
			Err: fmt.Errorf("use jwt-bearer (%s), which sends the ID token as the client assertion", sts.JWTBearer)}}
	}
	if o.SecretEnv != "" {
		if x.Auth == sts.AuthJWTBearer {
			return o, usagef("%s and %s are two ways to authenticate the client; pass one", option.Ref(sts.OptClientSecretEnv), option.Ref(sts.OptClientAssertionType))
		}
		if !stsVarName(o.SecretEnv) {
			// Not quoted: a value that is no name may be the secret itself
			// (an input written $SECRET, which GitLab expands).
			return o, usagef("%s takes the NAME of the variable that holds the client secret (letters, digits and '_'), not the secret; a component's client_secret_variable input is written without '$'", option.Ref(sts.OptClientSecretEnv))
		}
		// Read here, from the variable: a flag's value would show in process listings.
		x.Auth = sts.AuthBasic
		x.ClientSecret = secret.New(env.Getenv(o.SecretEnv))
		x.SecretSource = "$" + o.SecretEnv
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
			return o, usagef("%s %s would overwrite the variable keyless reads the ID token or the client secret from; choose another name", option.Ref(sts.OptEnv), o.EnvName)
		}
	}
	return o, nil
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
	flags:       stsFlags,
	read:        readSTSOptions,
	usage:       "exchange the ID token at any OAuth 2.0 Token Exchange (RFC 8693) endpoint",
	prints:      "prints the token",
	description: "Sends the ID token as the subject token to --token-url and hands on the issued token in\n" +
		"one variable (--env, default KEYLESS_STS_TOKEN). With a command after --, runs it with the\n" +
		"token in its environment only and exits with its code. Without one, prints it in --format env\n" +
		"(an export line for eval) or json (with issued_token_type and expires_in). A refresh token\n" +
		"is never handed on.\n\n" +
		"   keyless sts --token-url https://sso.example.com/realms/ci/protocol/openid-connect/token \\\n" +
		"     --audience deploy-api -- sh -c 'curl -H \"Authorization: Bearer $KEYLESS_STS_TOKEN\" ...'\n" +
		"   eval \"$(keyless sts --token-url URL --client-id ci --client-secret-env CI_CLIENT_SECRET --env API_TOKEN)\"",
	options: optionFlags{
		sts.OptTokenURL:            "token-url",
		sts.OptAudience:            "audience",
		sts.OptResource:            "resource",
		sts.OptScope:               "scope",
		sts.OptSubjectTokenType:    "subject-token-type",
		sts.OptRequestedTokenType:  "requested-token-type",
		sts.OptClientID:            "client-id",
		sts.OptClientSecretEnv:     "client-secret-env",
		sts.OptClientAssertionType: "client-assertion-type",
		sts.OptEnv:                 "env",
		sts.OptCAFile:              "ca-file",
	},
}

// exchange trades the token at --token-url for the issued token.
func (o *stsOptions) exchange(ctx context.Context, call exchangeCall, tok *idtoken.Token) (*issued, error) {
	x := o.Exchange
	x.Seams = call.Seams
	call.Log.Debug("exchanging ID token", "provider", "sts", "token_url", sts.DisplayURL(x.TokenURL),
		"audience", strings.Join(x.Audiences, " "), "resource", strings.Join(x.Resources, " "), "scope", x.Scope,
		"subject_token_type", sts.ExpandTokenType(x.SubjectTokenType), "requested_token_type", sts.ExpandTokenType(x.RequestedTokenType),
		"client_auth", string(x.Auth), "client_id", exchange.MaskID(x.ClientID), "token_source", tok.Source)
	creds, err := sts.Exchange(ctx, tok, x)
	if err != nil {
		return nil, err
	}
	call.Log.Debug("exchange done", "attempts", creds.Attempts, "issued_token_type", creds.IssuedTokenType, "expires", creds.Expiration)
	r := &issued{env: creds.Env(o.EnvName, o.SecretEnv), expires: creds.Expiration,
		fix: "Ask the token server for a longer lifetime for this client, or exchange closer to where the token is used."}
	r.summary = func(w io.Writer, _ mode) {
		what := cmp.Or(creds.IssuedTokenType, "a token")
		until := "no expiry given"
		if !creds.Expiration.IsZero() {
			until = "until " + creds.Expiration.UTC().Format(time.RFC3339)
		}
		var b strings.Builder
		fmt.Fprintf(&b, "keyless: sts: exchanged the ID token at %s for %s, %s; set %s", sts.DisplayURL(o.Exchange.TokenURL), what, until, o.EnvName)
		if len(r.env.Unset) > 0 {
			fmt.Fprintf(&b, "; unset %s", strings.Join(r.env.Unset, " "))
		}
		fmt.Fprintln(w, b.String())
	}
	if o.Format == "json" {
		r.print = func(env Env) error { return creds.WriteJSON(env.Stdout) }
	}
	return r, nil
}
