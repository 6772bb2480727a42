package cli

import (
	"cmp"
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"gitlab.com/keyless-ci/keyless/internal/exchange"
	"gitlab.com/keyless-ci/keyless/internal/option"
	"gitlab.com/keyless-ci/keyless/internal/policy"
	"gitlab.com/keyless-ci/keyless/internal/policy/publisher"
)

// pypiPolicyFlags and npmPolicyFlags map the options of publisher.Spec to
// the flags of `keyless policy pypi` and `keyless policy npm`.
var (
	pypiPolicyFlags = optionFlags{
		policy.OptProject:     "project",
		policy.OptEnvironment: "environment",
		publisher.OptCIConfig: "ci-config",
	}
	npmPolicyFlags = pypiPolicyFlags.with(optionFlags{publisher.OptPackage: "package"})
)

// publisherCommands are `keyless policy pypi` and `keyless policy npm`:
// the trusted publisher each registry asks for (issue 18).
func publisherCommands(env Env) []*cli.Command {
	mk := func(name, registry, usage string, print func(publisher.Spec) string, m optionFlags, extra ...cli.Flag) *cli.Command {
		var say words
		cmd := &cli.Command{
			Name:  name,
			Usage: usage,
			Flags: append([]cli.Flag{
				&cli.StringFlag{Name: "project", Usage: "the project `PATH` that publishes (group/subgroup/project; default $CI_PROJECT_PATH)", EnvVars: []string{"KEYLESS_POLICY_PROJECT"}},
				&cli.StringFlag{Name: "environment", Usage: "admit only jobs deploying to environment `NAME` (recommended: a protected one)", EnvVars: []string{"KEYLESS_POLICY_ENVIRONMENT"}},
				&cli.StringFlag{Name: "ci-config", Value: publisher.DefaultCIConfig, Usage: "the project's top-level pipeline `FILE`, as its CI/CD settings name it", EnvVars: []string{"KEYLESS_POLICY_CI_CONFIG"}},
			}, extra...),
			Action: func(c *cli.Context) error {
				if c.NArg() > 0 {
					return usagef("policy %s takes no arguments, got %q", name, c.Args().First())
				}
				s := publisher.Spec{
					ProjectPath: strings.Trim(strings.TrimSpace(cmp.Or(c.String("project"), env.Getenv("CI_PROJECT_PATH"))), "/"),
					Environment: strings.TrimSpace(c.String("environment")),
					CIConfig:    strings.TrimPrefix(strings.TrimSpace(c.String("ci-config")), "./"),
				}
				if name == "npm" {
					s.Package = strings.TrimSpace(c.String("package"))
				}
				if s.ProjectPath == "" {
					return usagef("keyless policy %s needs %s PATH (or $CI_PROJECT_PATH in a job)", name, flagRef("project"))
				}
				if err := s.Validate(); err != nil {
					return &UsageError{Err: err}
				}
				for _, w := range s.Warnings(registry) {
					fmt.Fprintf(env.Stderr, "keyless: warning: %s\n", option.Render(w, say))
				}
				_, err := fmt.Fprint(env.Stdout, print(s))
				return err
			},
		}
		say = onTerminal(m, cmd.Flags, nil)
		return speaks(cmd, m, nil)
	}
	return []*cli.Command{
		mk("pypi", "PyPI", "print the GitLab trusted publisher to add on PyPI (and the job that matches it)", publisher.PyPI, pypiPolicyFlags),
		mk("npm", "npm", "print the GitLab CI/CD trusted publisher to add on npm, and the npm trust command", publisher.Npm, npmPolicyFlags,
			&cli.StringFlag{Name: "package", Usage: "the package `NAME` (@scope/name; default: npm reads package.json)", EnvVars: []string{"KEYLESS_POLICY_PACKAGE"}}),
		mk("crates", "crates.io", "print the GitLab trusted publishing config to add to a crate on crates.io (and the job that matches it)", publisher.Crates, pypiPolicyFlags),
	}
}

// publisherExplainCommands are `keyless explain pypi` and `keyless explain
// npm`: a trusted publisher, as --project, --ci-config and --environment
// give it, evaluated against the job's token field by field (issue 18).
func publisherExplainCommands(env Env) []*cli.Command {
	mk := func(registry, title string, m optionFlags) *cli.Command {
		flags := append(claimsFlags(),
			&cli.StringFlag{Name: "project", Usage: "the publisher's project `PATH` (group/subgroup/project; default $CI_PROJECT_PATH)", EnvVars: []string{"KEYLESS_POLICY_PROJECT"}},
			&cli.StringFlag{Name: "environment", Usage: "the publisher's environment `NAME`; empty admits any", EnvVars: []string{"KEYLESS_POLICY_ENVIRONMENT"}},
			&cli.StringFlag{Name: "ci-config", Value: publisher.DefaultCIConfig, Usage: "the publisher's top-level pipeline `FILE`", EnvVars: []string{"KEYLESS_POLICY_CI_CONFIG"}},
			&cli.StringFlag{Name: "format", Value: "text", Usage: "text or json"},
		)
		say := onTerminal(m, flags, nil)
		return speaks(&cli.Command{
			Name:  registry,
			Usage: "evaluate a " + title + " trusted publisher (--project, --ci-config, --environment) against the job's token or --claims",
			Flags: flags,
			Action: func(c *cli.Context) error {
				if c.NArg() > 0 {
					return usagef("explain %s takes no arguments, got %q", registry, c.Args().First())
				}
				format := c.String("format")
				if format != "text" && format != "json" {
					return usagef("--format %q: use text or json", format)
				}
				s := publisher.Spec{
					ProjectPath: strings.Trim(strings.TrimSpace(cmp.Or(c.String("project"), env.Getenv("CI_PROJECT_PATH"))), "/"),
					Environment: strings.TrimSpace(c.String("environment")),
					CIConfig:    strings.TrimPrefix(strings.TrimSpace(c.String("ci-config")), "./"),
				}
				if s.ProjectPath == "" {
					return usagef("keyless explain %s needs %s PATH, the publisher's project (or $CI_PROJECT_PATH in a job)", registry, flagRef("project"))
				}
				if err := s.Validate(); err != nil {
					return &UsageError{Err: err}
				}
				claims, source, err := readClaims(c, env)
				if err != nil {
					return err
				}
				res := publisher.Evaluate(s, registry, claims)
				if format == "json" {
					if err := exchange.WriteJSON(env.Stdout, res); err != nil {
						return err
					}
				} else {
					var b strings.Builder
					fmt.Fprintf(&b, "%s trusted publisher %s (%s) against the claims of %s\n\n", title, s.ProjectPath, s.CIConfig, source)
					writeResult(&b, res)
					fmt.Fprint(env.Stdout, option.Render(b.String(), say))
				}
				if !res.Admitted {
					return refusedError{}
				}
				return nil
			},
		}, m, nil)
	}
	return []*cli.Command{mk(publisher.RegistryPyPI, "PyPI", pypiPolicyFlags), mk(publisher.RegistryNpm, "npm", pypiPolicyFlags),
		mk(publisher.RegistryCrates, "crates.io", pypiPolicyFlags)}
}
