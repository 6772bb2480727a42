package npm

import (
	"fmt"
	"io"
	"net/url"

	"gitlab.com/keyless-ci/keyless/internal/exchange"
	"gitlab.com/keyless-ci/keyless/internal/secret"
)

// NpmrcPattern names the npmrc keyless writes in the job's state directory.
const NpmrcPattern = "npmrc-*"

// AuthKey is the npmrc key of the registry's token: //HOST/PATH/:_authToken,
// as oidc.js builds it (`//${host}${pathname}:_authToken`).
func AuthKey(registry string) string {
	u, err := url.Parse(registry)
	if err != nil {
		return ""
	}
	return "//" + u.Host + u.Path + ":_authToken"
}

// Npmrc is the user config keyless hands the command: the registry, and its
// token as a reference to NODE_AUTH_TOKEN, which npm, pnpm and yarn 1
// expand from the environment (https://docs.npmjs.com/cli/v11/configuring-npm/npmrc,
// "Environment variables can be replaced using ${VARIABLE_NAME}"). The file
// itself holds no secret.
func Npmrc(registry string) []byte {
	return []byte(fmt.Sprintf("registry=%s\n%s=${NODE_AUTH_TOKEN}\n", registry, AuthKey(registry)))
}

// Env writes the npmrc to a new 0600 file in the state directory dir (made
// 0700, exchange.WriteStateFile) and returns the variables that point the
// clients at it: NPM_CONFIG_USERCONFIG, and NODE_AUTH_TOKEN with the
// token (the variable actions/setup-node's npmrc reads too). Yarn 2 and
// later read no npmrc: they get the token as YARN_NPM_AUTH_TOKEN and the
// registry as YARN_NPM_PUBLISH_REGISTRY, the npmAuthToken and
// npmPublishRegistry settings as environment variables
// (https://yarnpkg.com/configuration/yarnrc: a setting's variable is YARN_
// and its name in snake case), so `yarn npm publish` publishes to the
// registry the token is for. The file is
// listed for Cleanup: exec mode removes it when the command ends, keyless
// cleanup (the component's after_script) otherwise.
func (c *Credentials) Env(dir string) (*exchange.Credentials, error) {
	path, err := exchange.NewStateFile(dir, NpmrcPattern, Npmrc(c.Registry))
	if err != nil {
		return nil, err
	}
	return &exchange.Credentials{
		Provider: "npm",
		Vars: []exchange.Var{
			{Name: "NPM_CONFIG_USERCONFIG", Value: secret.New(path)},
			{Name: "NODE_AUTH_TOKEN", Value: c.Token},
			{Name: "YARN_NPM_AUTH_TOKEN", Value: c.Token},
			{Name: "YARN_NPM_PUBLISH_REGISTRY", Value: secret.New(c.Registry)},
		},
		// A token of another kind in the environment would compete
		// (npm_config__authToken); NPM_TOKEN is left alone: only a project
		// .npmrc that names it reads it. NPM_ID_TOKEN goes too: npm 11.5.1
		// and later exchange it themselves wherever they find it
		// (lib/utils/oidc.js), and that second exchange of the ID token
		// keyless has just used would replace the token handed on here.
		Unset: []string{"NPM_CONFIG__AUTH", "NPM_CONFIG__AUTHTOKEN", "NPM_ID_TOKEN", "npm_config__auth", "npm_config__authToken"},
		Files: []string{path},
	}, nil
}

// WriteJSON prints the token with the registry and package it is for.
func (c *Credentials) WriteJSON(w io.Writer) error {
	out := struct {
		Token    string `json:"token"`
		Registry string `json:"registry"`
		Package  string `json:"package"`
		AuthKey  string `json:"npmrc_key"`
	}{c.Token.Reveal(), c.Registry, c.Package, AuthKey(c.Registry)}
	return exchange.WriteJSON(w, out)
}
