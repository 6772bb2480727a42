package cli

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"gitlab.com/keyless-ci/keyless/internal/exchange/pypi"
	"gitlab.com/keyless-ci/keyless/internal/idtoken"
)

func pypiFlags() []cli.Flag {
	return exchangeFlags("PYPI",
		&cli.StringFlag{Name: "index-url", Value: pypi.DefaultIndex, Usage: "base `URL` of the index: https://pypi.org, or https://test.pypi.org for TestPyPI", EnvVars: []string{"KEYLESS_PYPI_INDEX_URL"}},
		&cli.StringFlag{Name: "repository", Usage: "Poetry repository `NAME` the token is for, POETRY_PYPI_TOKEN_<NAME> (default pypi, testpypi for TestPyPI)", EnvVars: []string{"KEYLESS_PYPI_REPOSITORY"}},
		formatFlag("PYPI", "env or json"),
		caFileFlag("PYPI", "TLS-inspecting proxy"),
		timeoutFlag("PYPI", "the exchange"),
	)
}

// pypiOptions is everything `keyless pypi` needs, read and validated in one
// place.
type pypiOptions struct {
	exchangeOptions
	Exchange   pypi.Options
	Repository string
}

func readPyPIOptions(c *cli.Context, env Env) (exchanger, error) {
	// The audience is the index's to say (INDEX/_/oidc/audience): the
	// exchange checks it before the token leaves the job.
	base, err := readExchangeOptions(c, env, "", "", "env", "json")
	o := &pypiOptions{exchangeOptions: base}
	if err != nil {
		return o, err
	}
	x := pypi.Options{IndexURL: cmp.Or(strings.TrimSpace(c.String("index-url")), pypi.DefaultIndex), InsecureHTTP: insecureHTTP(env)}
	o.Exchange = x
	if err := x.Validate(); err != nil {
		return o, &UsageError{Err: err}
	}
	warnInsecureHTTP(env, x.InsecureHTTP, "--index-url", x.Index())
	o.Repository = cmp.Or(strings.TrimSpace(c.String("repository")), pypi.DefaultRepository(x.Index()))
	if err := pypi.CheckRepository(o.Repository); err != nil {
		return o, &UsageError{Err: err}
	}
	return o, nil
}

var pypiProvider = provider{
	name:        "pypi",
	configVar:   "KEYLESS_PYPI_INDEX_URL",
	tokenVarEnv: "KEYLESS_PYPI_TOKEN_VAR",
	flags:       pypiFlags,
	read:        readPyPIOptions,
	usage:       "exchange the ID token for a short-lived PyPI API token (trusted publishing) for twine, uv and Poetry",
	prints:      "prints the token",
	description: "Reads the index's audience from INDEX/_/oidc/audience, checks that the ID token is for it,\n" +
		"and exchanges it at INDEX/_/oidc/mint-token for an API token scoped to the projects whose\n" +
		"trusted publisher matches this job, valid for 15 minutes. With a command after --, runs it\n" +
		"with TWINE_USERNAME=__token__, TWINE_PASSWORD, UV_PUBLISH_TOKEN and POETRY_PYPI_TOKEN_<REPOSITORY>\n" +
		"in its environment only (for TestPyPI also TWINE_REPOSITORY_URL, UV_PUBLISH_URL and Poetry's\n" +
		"repository URL) and exits with its code. Without one, prints them as --format env or json.\n" +
		"A refusal names the trusted publisher fields that must match: namespace, project, top-level\n" +
		"pipeline file and environment.\n\n" +
		"   id_tokens: { PYPI_ID_TOKEN: { aud: pypi } }\n" +
		"   keyless pypi --token-var PYPI_ID_TOKEN -- twine upload dist/*\n" +
		"   keyless pypi --token-var PYPI_ID_TOKEN -- uv publish\n" +
		"   keyless pypi --index-url https://test.pypi.org --token-var PYPI_ID_TOKEN -- poetry publish -r testpypi",
	options: optionFlags{
		pypi.OptIndexURL:   "index-url",
		pypi.OptRepository: "repository",
		pypi.OptCAFile:     "ca-file",
	},
}

// exchange trades the token at the index for an API token.
func (o *pypiOptions) exchange(ctx context.Context, call exchangeCall, tok *idtoken.Token) (*issued, error) {
	x := o.Exchange
	x.Seams = call.Seams
	call.Log.Debug("exchanging ID token", "provider", "pypi", "index", x.Index(), "repository", o.Repository, "token_source", tok.Source)
	creds, err := pypi.Exchange(ctx, tok, x)
	if err != nil {
		return nil, err
	}
	call.Log.Debug("exchange done", "attempts", creds.Attempts, "audience", creds.Audience, "expires", creds.Expiration)
	// No expires: a 15-minute token would warn in every job longer than that;
	// the summary says until when it lasts.
	r := &issued{env: creds.Env(x.Index(), o.Repository),
		fix: "PyPI's tokens last 15 minutes: run the upload as the command of keyless pypi (keyless pypi -- twine upload dist/*)."}
	r.summary = func(w io.Writer, _ mode) {
		fmt.Fprintf(w, "keyless: pypi: %s minted an API token for this job's trusted publisher until %s; set %s\n",
			creds.Index, creds.Expiration.UTC().Format(time.RFC3339), setNames(r.env))
	}
	if o.Format == "json" {
		r.print = func(env Env) error { return creds.WriteJSON(env.Stdout) }
	}
	return r, nil
}
