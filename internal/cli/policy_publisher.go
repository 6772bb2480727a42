package cli

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

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
					ProjectPath: strings.Trim(strings.TrimSpace(firstNonEmpty(c.String("project"), env.Getenv("CI_PROJECT_PATH"))), "/"),
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
	}
}
