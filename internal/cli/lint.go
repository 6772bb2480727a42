//go:build !keyless_slim

package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/urfave/cli/v2"

	"gitlab.com/keyless-ci/keyless/internal/gitlabapi"
	"gitlab.com/keyless-ci/keyless/internal/lint"
	"gitlab.com/keyless-ci/keyless/internal/output"
	"gitlab.com/keyless-ci/keyless/internal/pipeline"
	"gitlab.com/keyless-ci/keyless/internal/secret"
)

func lintFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "format", Usage: "`FORMAT` of the findings: text, json, sarif or codequality (GitLab's artifacts:reports:codequality)", EnvVars: []string{"KEYLESS_LINT_FORMAT"}, Value: "text"},
		&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "write the findings to `FILE` (atomically) instead of stdout", EnvVars: []string{"KEYLESS_LINT_OUTPUT"}},
		&cli.StringFlag{Name: "fail-on", Usage: "exit 1 when a finding is at or above `SEVERITY`: info, minor, major, critical, blocker, or never", EnvVars: []string{"KEYLESS_LINT_FAIL_ON"}, Value: "minor"},
		&cli.StringSliceFlag{Name: "rule", Usage: "run only rule `ID` (repeatable; --list-rules shows them)", EnvVars: []string{"KEYLESS_LINT_RULES"}},
		&cli.StringSliceFlag{Name: "skip-rule", Usage: "do not run rule `ID` (repeatable)", EnvVars: []string{"KEYLESS_LINT_SKIP_RULES"}},
		&cli.StringFlag{Name: "baseline", Usage: "report only findings not in baseline `FILE` (see --write-baseline)", EnvVars: []string{"KEYLESS_LINT_BASELINE"}},
		&cli.BoolFlag{Name: "write-baseline", Usage: "write the findings to the --baseline file, accepting them, and exit 0", EnvVars: []string{"KEYLESS_LINT_WRITE_BASELINE"}},
		&cli.StringFlag{Name: "ci-config", Usage: "the CI/CD configuration `FILE` of a project directory, relative to it (GitLab's CI/CD configuration file setting)", EnvVars: []string{"KEYLESS_LINT_CI_CONFIG", "CI_CONFIG_PATH"}, Value: ".gitlab-ci.yml"},
		&cli.StringSliceFlag{Name: "input", Usage: "spec:inputs value for the main file, as `NAME=VALUE` (repeatable)", EnvVars: []string{"KEYLESS_LINT_INPUTS"}},
		&cli.BoolFlag{Name: "recursive", Aliases: []string{"r"}, Usage: "search each directory for every CI/CD configuration file below it, each a project", EnvVars: []string{"KEYLESS_LINT_RECURSIVE"}},
		&cli.BoolFlag{Name: "online", Usage: "read project:, remote:, template: and component: includes through the GitLab API (needs --token-env)", EnvVars: []string{"KEYLESS_LINT_ONLINE"}},
		&cli.StringFlag{Name: "gitlab-url", Usage: "GitLab instance `URL` for --online (default $CI_SERVER_URL, else https://gitlab.com)", EnvVars: []string{"KEYLESS_GITLAB_URL", "CI_SERVER_URL"}},
		&cli.StringFlag{Name: "token-env", Usage: "`NAME` of the variable holding a GitLab token with read_api, for --online", EnvVars: []string{"KEYLESS_GITLAB_TOKEN_ENV"}, Value: "GITLAB_TOKEN"},
		&cli.BoolFlag{Name: "list-rules", Usage: "list the rules with their ids and severities, and exit"},
		&cli.BoolFlag{Name: "no-color", Usage: "no colour in text output (also: NO_COLOR set, or stdout not a terminal)", EnvVars: []string{"KEYLESS_LINT_NO_COLOR"}},
	}
}

// lintOptions is everything `keyless lint` needs, validated in one place.
type lintOptions struct {
	Paths         []string
	Format        string
	Output        string
	FailOn        lint.Severity // 0: never
	Lint          lint.Options
	Baseline      string
	WriteBaseline bool
	CIConfig      string
	Inputs        map[string]string
	Recursive     bool
	Color         bool
	// Fetcher reads remote includes with --online; nil leaves them
	// unresolved.
	Fetcher pipeline.Fetcher
}

func readLintOptions(c *cli.Context, env Env) (lintOptions, error) {
	o := lintOptions{
		Paths:         c.Args().Slice(),
		Format:        c.String("format"),
		Output:        c.String("output"),
		Baseline:      c.String("baseline"),
		WriteBaseline: c.Bool("write-baseline"),
		CIConfig:      firstNonEmpty(c.String("ci-config"), ".gitlab-ci.yml"),
		Recursive:     c.Bool("recursive"),
		Lint:          lint.Options{Rules: splitList(c.StringSlice("rule")), SkipRules: splitList(c.StringSlice("skip-rule"))},
	}
	if len(o.Paths) == 0 {
		o.Paths = []string{"."}
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
	if filepath.IsAbs(o.CIConfig) || strings.HasPrefix(filepath.Clean(o.CIConfig), "..") {
		return o, usagef("--ci-config %q: give the path inside the project directory, e.g. ci/pipeline.yml", o.CIConfig)
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
		base := firstNonEmpty(c.String("gitlab-url"), "https://gitlab.com")
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
	o.Color = o.Format == "text" && o.Output == "" && !c.Bool("no-color") && env.Getenv("NO_COLOR") == "" && isTerminal(env.Stdout)
	return o, nil
}

func splitList(values []string) []string {
	var out []string
	for _, v := range values {
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
	}
	return out
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
			return runLint(env, o)
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

// lintTarget is one project (or lone file) to lint.
type lintTarget struct {
	dir  string // project directory; "" for a lone file
	file string // a lone file
	// prefix is prepended to the finding paths (relative to the project
	// root) so that, with several projects, they are relative to the
	// working directory.
	prefix string
	// rootPrefix asks for the prefix of a lone file's project root, which
	// is known once the file is loaded (LoadFile walks up to it).
	rootPrefix bool
}

// lintResult is one target's findings, and the sources of the files they
// are in (for the text format's source lines).
type lintResult struct {
	findings []lint.Finding
	sources  map[string][]byte
	err      error
}

func runLint(env Env, o lintOptions) error {
	// Linting allocates many short-lived nodes: collect garbage when the
	// heap has grown fivefold or nears 64 MiB rather than every time it
	// doubles, unless the user tuned the collector (GOGC, GOMEMLIMIT).
	if env.Getenv("GOGC") == "" && env.Getenv("GOMEMLIMIT") == "" {
		defer debug.SetGCPercent(debug.SetGCPercent(400))
		defer debug.SetMemoryLimit(debug.SetMemoryLimit(64 << 20))
	}
	targets, err := lintTargets(o)
	if err != nil {
		return err
	}
	results := make([]lintResult, len(targets))
	var wg sync.WaitGroup
	next := make(chan int)
	for w := 0; w < min(runtime.GOMAXPROCS(0), len(targets)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				results[i] = lintOne(targets[i], o)
			}
		}()
	}
	for i := range targets {
		next <- i
	}
	close(next)
	wg.Wait()

	var findings []lint.Finding
	sources := map[string][]byte{}
	var errs []error
	for _, r := range results {
		if r.err != nil {
			errs = append(errs, r.err)
			continue
		}
		findings = append(findings, r.findings...)
		for k, v := range r.sources {
			sources[k] = v
		}
	}
	if o.Baseline != "" {
		if o.WriteBaseline {
			var b bytes.Buffer
			if err := lint.NewBaseline(findings).Write(&b); err != nil {
				return err
			}
			if err := writeAtomic(o.Baseline, b.Bytes()); err != nil {
				return fmt.Errorf("lint: writing the baseline: %w", err)
			}
			fmt.Fprintf(env.Stderr, "keyless: lint: wrote %d findings to the baseline %s\n", len(findings), o.Baseline)
			return errors.Join(errs...)
		}
		f, err := os.Open(o.Baseline)
		if err != nil {
			return usagef("--baseline: %v (create it with --write-baseline)", err)
		}
		b, err := lint.ReadBaseline(f)
		f.Close()
		if err != nil {
			return usagef("--baseline %s: %v", o.Baseline, err)
		}
		findings = b.Filter(findings)
	}

	f, err := output.New(o.Format, o.Color)
	if err != nil {
		return &UsageError{Err: err}
	}
	rep := &output.Report{Tool: "keyless", Version: Version, Root: ".", Findings: findings, Rules: lint.Rules(),
		Source: func(path string) []byte { return sources[path] }}
	var buf bytes.Buffer
	if err := f.Format(&buf, rep); err != nil {
		return err
	}
	if o.Output != "" {
		if err := writeAtomic(o.Output, buf.Bytes()); err != nil {
			return fmt.Errorf("lint: %w", err)
		}
	} else if _, err := env.Stdout.Write(buf.Bytes()); err != nil {
		return err
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if o.FailOn == 0 {
		return nil
	}
	n := 0
	for _, f := range findings {
		if f.Severity >= o.FailOn {
			n++
		}
	}
	if n > 0 {
		return &findingsError{n: n}
	}
	return nil
}

// lintTargets turns the paths into projects and files.
func lintTargets(o lintOptions) ([]lintTarget, error) {
	var out []lintTarget
	for _, p := range o.Paths {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, usagef("lint %s: %v", p, err)
		}
		prefix := func(dir string) string {
			if len(o.Paths) == 1 && !o.Recursive {
				return ""
			}
			return filepath.ToSlash(filepath.Clean(dir))
		}
		switch {
		case !fi.IsDir():
			out = append(out, lintTarget{file: p, prefix: filepath.ToSlash(filepath.Clean(p)), rootPrefix: prefix(p) != ""})
		case o.Recursive:
			found := 0
			err := filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
				if err != nil {
					return err
				}
				if d.IsDir() && path != p && (d.Name() == ".git" || d.Name() == "node_modules") {
					return filepath.SkipDir
				}
				rel, sp := filepath.ToSlash(o.CIConfig), filepath.ToSlash(path)
				if !d.IsDir() && (sp == filepath.ToSlash(filepath.Join(p, o.CIConfig)) || strings.HasSuffix(sp, "/"+rel)) {
					dir := filepath.Clean(strings.TrimSuffix(sp, rel))
					out = append(out, lintTarget{dir: dir, prefix: prefix(dir)})
					found++
				}
				return nil
			})
			if err != nil {
				return nil, fmt.Errorf("lint: searching %s: %w", p, err)
			}
			if found == 0 {
				return nil, usagef("lint -r %s: no %s below it", p, o.CIConfig)
			}
		default:
			if _, err := os.Stat(filepath.Join(p, o.CIConfig)); err != nil {
				return nil, usagef("lint %s: no %s in it: pass the configuration file itself, --ci-config FILE, or -r to search below it", p, o.CIConfig)
			}
			out = append(out, lintTarget{dir: p, prefix: prefix(p)})
		}
	}
	// A lone file's prefix is its path until its root is known: the order.
	sort.SliceStable(out, func(i, j int) bool { return out[i].prefix < out[j].prefix })
	return out, nil
}

// relToWorkdir is dir relative to the working directory, slash-separated;
// dir itself when it is elsewhere.
func relToWorkdir(dir string) string {
	wd, err := os.Getwd()
	if err != nil {
		return filepath.ToSlash(dir)
	}
	rel, err := filepath.Rel(wd, dir)
	if err != nil || strings.HasPrefix(rel, "..") {
		return filepath.ToSlash(dir)
	}
	return filepath.ToSlash(rel)
}

func lintOne(t lintTarget, o lintOptions) lintResult {
	po := pipeline.Options{CIConfig: o.CIConfig, Inputs: o.Inputs, Fetcher: o.Fetcher}
	var p *pipeline.Pipeline
	var err error
	if t.file != "" {
		p, err = pipeline.LoadFile(t.file, po)
	} else {
		p, err = pipeline.LoadProject(t.dir, po)
	}
	if err != nil {
		return lintResult{err: fmt.Errorf("lint: %w", err)}
	}
	if t.file != "" {
		t.prefix = ""
		if t.rootPrefix {
			t.prefix = relToWorkdir(p.Root)
		}
	}
	fs, err := lint.Run(p, o.Lint)
	if err != nil {
		return lintResult{err: &UsageError{Err: err}}
	}
	r := lintResult{findings: fs, sources: map[string][]byte{}}
	src := map[string][]byte{}
	for _, f := range p.Files {
		src[f.Path] = f.Src
	}
	for i := range r.findings {
		f := &r.findings[i]
		path := f.Pos.File
		if t.prefix != "" && t.prefix != "." {
			f.Pos.File = t.prefix + "/" + path
		}
		if o.Format == "text" {
			r.sources[f.Pos.File] = src[path]
		}
	}
	return r
}
