package cli

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/urfave/cli/v2"

	"gitlab.com/keyless-ci/keyless/internal/exchange"
	"gitlab.com/keyless-ci/keyless/internal/exchange/npm"
	"gitlab.com/keyless-ci/keyless/internal/idtoken"
)

func npmFlags() []cli.Flag {
	return exchangeFlags("NPM",
		&cli.StringFlag{Name: "package", Usage: "`NAME` of the package to publish, as in package.json (@scope/name)", EnvVars: []string{"KEYLESS_NPM_PACKAGE"}},
		&cli.StringFlag{Name: "registry", Value: npm.DefaultRegistry, Usage: "registry `URL`; the ID token's aud must be npm:HOST", EnvVars: []string{"KEYLESS_NPM_REGISTRY"}},
		formatFlag("NPM", "env or json"),
		caFileFlag("NPM", "TLS-inspecting proxy"),
		timeoutFlag("NPM", "the exchange"),
	)
}

type npmOptions struct {
	exchangeOptions
	Exchange npm.Options
}

func readNpmOptions(c *cli.Context, env Env) (exchanger, error) {
	base, err := readExchangeOptions(c, env, "", "", "env", "json")
	o := &npmOptions{exchangeOptions: base}
	if err != nil {
		return o, err
	}
	x := npm.Options{Registry: strings.TrimSpace(c.String("registry")), Package: strings.TrimSpace(c.String("package")), InsecureHTTP: insecureHTTP(env)}
	o.Exchange = x
	if err := x.Validate(); err != nil {
		return o, &UsageError{Err: err}
	}
	// npm:HOST is known from the registry alone: the token is checked
	// before anything is sent, and keyless doctor checks it too.
	o.Token.Audience = x.Audience()
	warnInsecureHTTP(env, x.InsecureHTTP, "--registry", x.RegistryURL())
	return o, nil
}

var npmProvider = provider{
	name:        "npm",
	configVar:   "KEYLESS_NPM_PACKAGE",
	tokenVarEnv: "KEYLESS_NPM_TOKEN_VAR",
	flags:       npmFlags,
	read:        readNpmOptions,
	usage:       "exchange the ID token for a short-lived npm publish token (trusted publishing) for npm, pnpm and yarn",
	prints:      "prints the token",
	description: "For the clients that do not exchange the ID token themselves (npm before 11.5.1, pnpm,\n" +
		"yarn 1): checks that the token's aud is npm:HOST of --registry, POSTs it to\n" +
		"/-/npm/v1/oidc/token/exchange/package/NAME as npm 11.5.1 does, and gives the command\n" +
		"NODE_AUTH_TOKEN and NPM_CONFIG_USERCONFIG, a temporary npmrc (0600, in a private directory\n" +
		"outside the project, removed when the command ends) that points the registry's _authToken at\n" +
		"NODE_AUTH_TOKEN, and yarn 2+ YARN_NPM_AUTH_TOKEN and YARN_NPM_PUBLISH_REGISTRY. Without a command, prints them as --format env (keyless cleanup removes the\n" +
		"npmrc) or the token as json. With npm 11.5.1 or later, an NPM_ID_TOKEN with aud\n" +
		"npm:registry.npmjs.org is all npm publish needs.\n\n" +
		"   id_tokens: { NPM_ID_TOKEN: { aud: \"npm:registry.npmjs.org\" } }\n" +
		"   keyless npm --token-var NPM_ID_TOKEN --package @my-org/my-lib -- pnpm publish --no-git-checks",
	options: optionFlags{
		npm.OptRegistry: "registry",
		npm.OptPackage:  "package",
		npm.OptCAFile:   "ca-file",
	},
}

func (o *npmOptions) exchange(ctx context.Context, call exchangeCall, tok *idtoken.Token) (*issued, error) {
	x := o.Exchange
	x.Seams = call.Seams
	call.Log.Debug("exchanging ID token", "provider", "npm", "registry", x.RegistryURL(), "package", x.Package, "token_source", tok.Source)
	creds, err := npm.Exchange(ctx, tok, x)
	if err != nil {
		return nil, err
	}
	call.Log.Debug("exchange done", "attempts", creds.Attempts)
	r := &issued{}
	if o.Format == "json" {
		r.print = func(env Env) error { return creds.WriteJSON(env.Stdout) }
		r.env = &exchange.Credentials{Provider: "npm"}
		return r, nil
	}
	dir, err := exchange.StateDir(call.Env.Getenv)
	if err != nil {
		return nil, err
	}
	if r.env, err = creds.Env(dir); err != nil {
		return nil, err
	}
	call.Log.Debug("wrote the npmrc", "path", r.env.Files[0])
	r.summary = func(w io.Writer, _ mode) {
		fmt.Fprintf(w, "keyless: npm: %s issued a publish token for %s; set %s (npmrc %s)\n",
			exchange.DisplayURL(creds.Registry), creds.Package, setNames(r.env), r.env.Files[0])
	}
	return r, nil
}
