//go:build !keyless_slim

package cli

import (
	"cmp"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"gitlab.com/keyless-ci/keyless/internal/gitlabapi"
	"gitlab.com/keyless-ci/keyless/internal/pipeline"
	"gitlab.com/keyless-ci/keyless/internal/secret"
)

// The flags that say how to read a project's CI/CD configuration, the
// same for lint and compile; envPrefix is the command's (KEYLESS_LINT_,
// KEYLESS_COMPILE_).

func ciConfigFlag(envPrefix string) cli.Flag {
	return &cli.StringFlag{Name: "ci-config", Usage: "the CI/CD configuration `FILE` of a project directory, relative to it (GitLab's CI/CD configuration file setting)", EnvVars: []string{envPrefix + "CI_CONFIG", "CI_CONFIG_PATH"}, Value: ".gitlab-ci.yml"}
}

func inputFlag(envPrefix string) cli.Flag {
	return &cli.StringSliceFlag{Name: "input", Usage: "spec:inputs value for the main file, as `NAME=VALUE` (repeatable)", EnvVars: []string{envPrefix + "INPUTS"}}
}

func onlineFlags(envPrefix string) []cli.Flag {
	return []cli.Flag{
		&cli.BoolFlag{Name: "online", Usage: "read project:, remote:, template: and component: includes through the GitLab API (needs --token-env)", EnvVars: []string{envPrefix + "ONLINE"}},
		&cli.StringFlag{Name: "gitlab-url", Usage: "GitLab instance `URL` for --online (default $CI_SERVER_URL, else https://gitlab.com)", EnvVars: []string{"KEYLESS_GITLAB_URL", "CI_SERVER_URL"}},
		&cli.StringFlag{Name: "token-env", Usage: "`NAME` of the variable holding a GitLab token with read_api, for --online", EnvVars: []string{"KEYLESS_GITLAB_TOKEN_ENV"}, Value: "GITLAB_TOKEN"},
	}
}

// configOptions are how to read a configuration: the values of the flags
// above, validated.
type configOptions struct {
	CIConfig string
	Inputs   map[string]string
	// Fetcher reads remote includes (--online); nil leaves them unread.
	Fetcher pipeline.Fetcher
}

func readConfigOptions(c *cli.Context, env Env) (configOptions, error) {
	o := configOptions{CIConfig: cmp.Or(c.String("ci-config"), ".gitlab-ci.yml")}
	if ci := o.CIConfig; filepath.IsAbs(ci) || strings.HasPrefix(filepath.Clean(ci), "..") {
		return o, usagef("--ci-config %q: give the path inside the project directory, e.g. ci/pipeline.yml", ci)
	}
	for _, kv := range c.StringSlice("input") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return o, usagef("--input %q: write NAME=VALUE", kv)
		}
		if o.Inputs == nil {
			o.Inputs = map[string]string{}
		}
		o.Inputs[strings.TrimSpace(k)] = v
	}
	if c.Bool("online") {
		name := c.String("token-env")
		tok := env.Getenv(name)
		if tok == "" {
			return o, usagef("--online reads includes through the GitLab API: set %s to a token with the read_api scope (or name another variable with --token-env)", name)
		}
		base := cmp.Or(c.String("gitlab-url"), "https://gitlab.com")
		client, err := httpClient(env, "", 30*time.Second)
		if err != nil {
			return o, err
		}
		api, err := gitlabapi.New(gitlabapi.Options{BaseURL: base, Token: secret.New(tok), HTTPClient: client, UserAgent: "keyless/" + Version})
		if err != nil {
			return o, usagef("--gitlab-url: %v", err)
		}
		o.Fetcher = gitlabapi.NewFetcher(c.Context, api, client)
	}
	return o, nil
}

// statConfig checks the PATH of a command that reads a project's
// configuration: it exists and, as a directory, holds ciConfig. Its errors
// are usage errors that start with cmd and PATH.
func statConfig(cmd, path, ciConfig string) (isDir bool, err error) {
	fi, err := os.Stat(path)
	if err != nil {
		return false, pathUsage(cmd+" "+path, err)
	}
	if !fi.IsDir() {
		return false, nil
	}
	if _, err := os.Stat(filepath.Join(path, ciConfig)); err != nil {
		return true, usagef("%s %s: no %s in it: pass the configuration file itself, or --ci-config FILE", cmd, path, ciConfig)
	}
	return true, nil
}

// pathUsage is a usage error about a file the user named: what (the
// command or flag, and the path), then err without the path an
// fs.PathError repeats.
func pathUsage(what string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return usagef("%s: %v", what, err)
}
