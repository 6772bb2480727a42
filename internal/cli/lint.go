//go:build !keyless_slim

package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime/debug"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"

	"gitlab.com/keyless-ci/keyless/internal/lint"
	"gitlab.com/keyless-ci/keyless/internal/output"
)

func lintFlags() []cli.Flag {
	flags := []cli.Flag{
		&cli.StringFlag{Name: "format", Usage: "`FORMAT` of the findings: text, json, sarif or codequality (GitLab's artifacts:reports:codequality)", EnvVars: []string{"KEYLESS_LINT_FORMAT"}, Value: "text"},
		&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "write the findings to `FILE` (atomically) instead of stdout", EnvVars: []string{"KEYLESS_LINT_OUTPUT"}},
		&cli.StringFlag{Name: "fail-on", Usage: "exit 1 when a finding is at or above `SEVERITY`: info, minor, major, critical, blocker, or never", EnvVars: []string{"KEYLESS_LINT_FAIL_ON"}, Value: "minor"},
		&cli.StringSliceFlag{Name: "rule", Usage: "run only rule `ID` (repeatable; --list-rules shows them)", EnvVars: []string{"KEYLESS_LINT_RULES"}},
		&cli.StringSliceFlag{Name: "skip-rule", Usage: "do not run rule `ID` (repeatable)", EnvVars: []string{"KEYLESS_LINT_SKIP_RULES"}},
		&cli.StringFlag{Name: "baseline", Usage: "report only findings not in baseline `FILE` (see --write-baseline)", EnvVars: []string{"KEYLESS_LINT_BASELINE"}},
		&cli.BoolFlag{Name: "write-baseline", Usage: "write the findings to the --baseline file, accepting them, and exit 0", EnvVars: []string{"KEYLESS_LINT_WRITE_BASELINE"}},
		ciConfigFlag("KEYLESS_LINT_"),
		inputFlag("KEYLESS_LINT_"),
		&cli.BoolFlag{Name: "recursive", Aliases: []string{"r"}, Usage: "search each directory for every CI/CD configuration file below it, each a project unless another one includes it or starts it as a child pipeline", EnvVars: []string{"KEYLESS_LINT_RECURSIVE"}},
	}
	return append(append(flags, onlineFlags("KEYLESS_LINT_")...),
		&cli.BoolFlag{Name: "list-rules", Usage: "list the rules with their ids and severities, and exit"},
		&cli.BoolFlag{Name: "no-color", Usage: "no colour in text output (also: NO_COLOR set, or stdout not a terminal)", EnvVars: []string{"KEYLESS_LINT_NO_COLOR"}},
	)
}

// lintOptions is everything `keyless lint` needs, validated in one place.
type lintOptions struct {
	// Lint is what to lint; its Baseline is empty with WriteBaseline.
	Lint          lint.Request
	Format        string
	Output        string
	FailOn        lint.Severity // 0: never
	Baseline      string
	WriteBaseline bool
	Color         bool
}

func readLintOptions(c *cli.Context, env Env) (lintOptions, error) {
	o := lintOptions{
		Format:        c.String("format"),
		Output:        c.String("output"),
		Baseline:      c.String("baseline"),
		WriteBaseline: c.Bool("write-baseline"),
		Lint: lint.Request{
			Paths:     c.Args().Slice(),
			Recursive: c.Bool("recursive"),
			Options:   lint.Options{Rules: splitList(c.StringSlice("rule")...), SkipRules: splitList(c.StringSlice("skip-rule")...)},
		},
	}
	if len(o.Lint.Paths) == 0 {
		o.Lint.Paths = []string{"."}
	}
	if !o.WriteBaseline {
		o.Lint.Baseline = o.Baseline
	}
	if !slices.Contains(output.Names(), o.Format) {
		return o, usagef("--format %q: use one of %s", o.Format, strings.Join(output.Names(), ", "))
	}
	if f := c.String("fail-on"); f != "never" {
		sev, err := lint.ParseSeverity(f)
		if err != nil {
			return o, usagef("--fail-on: %v, or never", err)
		}
		o.FailOn = sev
	}
	if err := lint.CheckRuleIDs(append(append([]string(nil), o.Lint.Rules...), o.Lint.SkipRules...)); err != nil {
		return o, usagef("--rule/--skip-rule: %v", err)
	}
	if o.WriteBaseline && o.Baseline == "" {
		return o, usagef("--write-baseline needs --baseline FILE, the file to write")
	}
	co, err := readConfigOptions(c, env)
	if err != nil {
		return o, err
	}
	o.Lint.CIConfig, o.Lint.Inputs, o.Lint.Fetcher = co.CIConfig, co.Inputs, co.Fetcher
	o.Color = o.Format == "text" && o.Output == "" && !c.Bool("no-color") && env.Getenv("NO_COLOR") == "" && isTerminal(env.Stdout)
	return o, nil
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

func lintCommand(env Env) *cli.Command {
	return &cli.Command{
		Name:      "lint",
		Usage:     "find long-lived secrets and OIDC mistakes in GitLab CI/CD configuration",
		ArgsUsage: "[PATH...]",
		Description: "Builds the pipeline GitLab would build (include:, extends:, !reference, anchors, default:,\n" +
			"spec:inputs) and checks it. PATH is a project directory (its .gitlab-ci.yml, or --ci-config)\n" +
			"or a YAML file; the default is the current directory. Findings point at the file and line\n" +
			"where a value is written and never show a secret: at most its first four characters and\n" +
			"its length. Silence one finding with a comment on its line or the line above:\n\n" +
			"   # keyless:ignore[rule-id] reason\n\n" +
			"   keyless lint                                    the project in the current directory\n" +
			"   keyless lint --format codequality -o gl-code-quality-report.json\n" +
			"   keyless lint -r ~/src                           every project below ~/src\n" +
			"   keyless lint --baseline .keyless-baseline.json --write-baseline   accept today's findings",
		Flags: lintFlags(),
		Action: func(c *cli.Context) error {
			if c.Bool("list-rules") {
				return listRules(env.Stdout)
			}
			o, err := readLintOptions(c, env)
			if err != nil {
				return err
			}
			return runLint(c.Context, env, o)
		},
	}
}

func listRules(w io.Writer) error {
	var b bytes.Buffer
	for _, m := range lint.Rules() {
		fmt.Fprintf(&b, "%-30s %-8s %-7s %s\n", m.ID, m.Severity, m.Group, m.Title)
	}
	_, err := w.Write(b.Bytes())
	return err
}

// runLint runs the linter and maps its report to output and an exit code.
func runLint(ctx context.Context, env Env, o lintOptions) error {
	// Linting allocates many short-lived nodes: collect garbage only when
	// the heap nears 64 MiB, unless the user tuned the collector (GOGC,
	// GOMEMLIMIT). The corpus then needs no collection at all: 61 ms
	// against 65 ms with GOGC=800 under the same limit, and a 5,000-file
	// monorepo is as fast with the same peak memory, 77 MB (issue 15,
	// bench/README.md). GOGC=800 was faster while yaml.v3 decoded
	// everything and its garbage filled the 64 MiB.
	if env.Getenv("GOGC") == "" && env.Getenv("GOMEMLIMIT") == "" {
		defer debug.SetGCPercent(debug.SetGCPercent(-1))
		defer debug.SetMemoryLimit(debug.SetMemoryLimit(64 << 20))
	}
	res, err := lint.Lint(ctx, o.Lint)
	if err != nil {
		return lintRequestError(err, o)
	}
	failed := errors.Join(res.Errors...)
	if o.WriteBaseline {
		var b bytes.Buffer
		if err := lint.NewBaseline(res.Findings).Write(&b); err != nil {
			return err
		}
		if err := writeAtomic(o.Baseline, b.Bytes()); err != nil {
			return fmt.Errorf("lint: writing the baseline: %w", err)
		}
		fmt.Fprintf(env.Stderr, "keyless: lint: wrote %d findings to the baseline %s\n", len(res.Findings), o.Baseline)
		return failed
	}
	if err := writeLintReport(env, o, res); err != nil {
		return err
	}
	if failed != nil {
		return failed
	}
	n := 0
	for _, f := range res.Findings {
		if o.FailOn != 0 && f.Severity >= o.FailOn {
			n++
		}
	}
	if n > 0 {
		return &findingsError{n: n}
	}
	return nil
}

// lintRequestError words the errors of a lint request in the flags the
// user typed.
func lintRequestError(err error, o lintOptions) error {
	var pe *lint.PathError
	var be *lint.BaselineError
	switch {
	case errors.As(err, &be) && errors.Is(err, fs.ErrNotExist):
		return usagef("--baseline: %v (create it with --write-baseline)", be.Err)
	case errors.As(err, &be):
		return usagef("--baseline %s: %v", be.Path, be.Err)
	case errors.As(err, &pe) && errors.Is(err, lint.ErrNoConfig) && o.Lint.Recursive:
		return usagef("lint -r %s: no %s below it", pe.Path, o.Lint.CIConfig)
	case errors.As(err, &pe) && errors.Is(err, lint.ErrNoConfig):
		return usagef("lint %s: no %s in it: pass the configuration file itself, --ci-config FILE, or -r to search below it", pe.Path, o.Lint.CIConfig)
	case errors.As(err, &pe):
		return usagef("lint %s: %v", pe.Path, pe.Err)
	}
	return err
}

// writeLintReport writes the findings in the chosen format to --output or
// stdout.
func writeLintReport(env Env, o lintOptions, res *lint.Report) error {
	f, err := output.New(o.Format, o.Color)
	if err != nil {
		return &UsageError{Err: err}
	}
	rep := &output.Report{Tool: "keyless", Version: Version, Root: ".", Findings: res.Findings, Rules: lint.Rules(),
		Source: func(path string) []byte { return res.Sources[path] }}
	var buf bytes.Buffer
	if err := f.Format(&buf, rep); err != nil {
		return err
	}
	if o.Output != "" {
		if err := writeAtomic(o.Output, buf.Bytes()); err != nil {
			return fmt.Errorf("lint: %w", err)
		}
		return nil
	}
	_, err = env.Stdout.Write(buf.Bytes())
	return err
}
