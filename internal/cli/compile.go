//go:build !keyless_slim

package cli

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"gitlab.com/keyless-ci/keyless/internal/compile"
	"gitlab.com/keyless-ci/keyless/internal/pipeline"
)

func compileFlags() []cli.Flag {
	flags := []cli.Flag{
		&cli.StringFlag{Name: "format", Usage: "`FORMAT` of the configuration: " + strings.Join(compile.Names(), " or "), EnvVars: []string{"KEYLESS_COMPILE_FORMAT"}, Value: "yaml"},
		ciConfigFlag("KEYLESS_COMPILE_"),
		inputFlag("KEYLESS_COMPILE_"),
	}
	return append(flags, onlineFlags("KEYLESS_COMPILE_")...)
}

// compileOptions is everything `keyless compile` needs, validated in one
// place.
type compileOptions struct {
	Path   string // a project directory or a YAML file
	Format string
	configOptions
}

func readCompileOptions(c *cli.Context, env Env, args []string) (compileOptions, error) {
	o := compileOptions{Path: ".", Format: c.String("format")}
	switch len(args) {
	case 0:
	case 1:
		o.Path = args[0]
	default:
		return o, usagef("compile takes one PATH, not %d: compile each project on its own", len(args))
	}
	if _, err := compile.New(o.Format); err != nil {
		return o, usagef("--format: %v", err)
	}
	co, err := readConfigOptions(c, env)
	o.configOptions = co
	return o, err
}

func compileCommand(env Env) *cli.Command {
	flags := compileFlags()
	return &cli.Command{
		Name:      "compile",
		Usage:     "print the configuration GitLab would run, fully expanded (GitLab's merged YAML)",
		ArgsUsage: "[PATH]",
		Description: "Prints the CI/CD configuration as GitLab's own merged YAML shows it (the pipeline editor's\n" +
			"Full configuration, glab ci config compile, the CI Lint API's merged_yaml): includes merged in,\n" +
			"spec:inputs interpolated, anchors and << merges applied, extends applied to every job,\n" +
			"!reference replaced, and .pre and .post added to stages:. As in GitLab's, a job keeps its\n" +
			"extends: key (naming what is already merged in) and a key it sets to null; default: and the old\n" +
			"top-level image:, services:, cache:, before_script: and after_script: stay as written, not\n" +
			"merged into each job; hidden jobs (.name) stay. Keys keep their order: included files' first.\n\n" +
			"PATH is a project directory (its .gitlab-ci.yml, or --ci-config) or a YAML file; the default is\n" +
			"the current directory. project:, remote:, template: and component: includes are read only with\n" +
			"--online; include: rules are not evaluated, every included file is read. Values are printed as\n" +
			"written, secrets included: it is your own configuration (masked CI/CD variables are not in it).\n\n" +
			"Exit 0: printed. Exit 1: printed, with problems listed on stderr (an include that cannot be read,\n" +
			"an extends or !reference that does not resolve, YAML GitLab refuses): what is printed is\n" +
			"incomplete, or GitLab would refuse it. Exit 2: no such PATH, or no configuration in it. Exit 3:\n" +
			"the configuration cannot be read, or the output not written.\n\n" +
			"   keyless compile                               the project in the current directory, as YAML\n" +
			"   keyless compile ci/child.gitlab-ci.yml --format json\n" +
			"   keyless compile --online --input environment=production",
		Flags: flags,
		Action: func(c *cli.Context) error {
			o, err := readCompileOptions(c, env, c.Args().Slice())
			if err != nil {
				return err
			}
			return runCompile(env, o)
		},
	}
}

// compileProblemsError ends keyless compile with exit code 1 once the
// configuration is printed and its problems listed.
type compileProblemsError struct{ n int }

func (e *compileProblemsError) Error() string {
	n := fmt.Sprintf("%d problems", e.n)
	if e.n == 1 {
		n = "1 problem"
	}
	return "compile: " + n + " (above): the configuration printed is incomplete, or GitLab would refuse it"
}
func (e *compileProblemsError) ExitCode() int { return ExitFindings }

// runCompile loads the configuration, prints it merged and lists its
// problems.
func runCompile(env Env, o compileOptions) error {
	dir, err := statConfig("compile", o.Path, o.CIConfig)
	if err != nil {
		return err
	}
	po := pipeline.Options{CIConfig: o.CIConfig, Inputs: o.Inputs, Fetcher: o.Fetcher}
	var p *pipeline.Pipeline
	if dir {
		p, err = pipeline.LoadProject(o.Path, po)
	} else {
		p, err = pipeline.LoadFile(o.Path, po)
	}
	if err != nil {
		return fmt.Errorf("compile: %w", err)
	}
	enc, err := compile.New(o.Format)
	if err != nil {
		return &UsageError{Err: err}
	}
	var b bytes.Buffer
	if err := enc.Encode(&b, p.Merged()); err != nil {
		return fmt.Errorf("compile: %w", err)
	}
	if _, err := env.Stdout.Write(b.Bytes()); err != nil {
		return fmt.Errorf("compile: writing the configuration: %w", err)
	}
	if len(p.Problems) == 0 {
		return nil
	}
	var e bytes.Buffer
	for _, pr := range p.Problems {
		// The loader's advice names lint; here it is compile that reads
		// remote includes with --online.
		msg := strings.ReplaceAll(pr.Message, "keyless lint --online", "keyless compile --online")
		fmt.Fprintf(&e, "%s: %s [%s]\n", posString(pr.Pos), msg, pr.Kind)
	}
	env.Stderr.Write(e.Bytes())
	return &compileProblemsError{n: len(p.Problems)}
}

// posString is file:line:col, leaving out what is unknown.
func posString(p pipeline.Pos) string {
	s := p.File
	if p.Line > 0 {
		s += fmt.Sprintf(":%d", p.Line)
		if p.Col > 0 {
			s += fmt.Sprintf(":%d", p.Col)
		}
	}
	return s
}
