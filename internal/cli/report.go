//go:build !keyless_slim

package cli

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/urfave/cli/v2"

	"gitlab.com/keyless-ci/keyless/internal/gitlabapi"
	"gitlab.com/keyless-ci/keyless/internal/option"
	"gitlab.com/keyless-ci/keyless/internal/report"
	"gitlab.com/keyless-ci/keyless/internal/secret"
)

func reportFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "gitlab-url", Usage: "GitLab instance `URL` (default $CI_SERVER_URL, else https://gitlab.com)", EnvVars: []string{"KEYLESS_GITLAB_URL", "CI_SERVER_URL"}},
		&cli.StringFlag{Name: "token-env", Value: "GITLAB_TOKEN", Usage: "`NAME` of the variable holding a GitLab token with read_api (api for --publish-issue), Maintainer or Owner on the scope", EnvVars: []string{"KEYLESS_GITLAB_TOKEN_ENV"}},
		&cli.StringSliceFlag{Name: "group", Usage: "inventory group `PATH`, its subgroups and projects (repeatable)", EnvVars: []string{"KEYLESS_REPORT_GROUPS"}},
		&cli.StringSliceFlag{Name: "project", Usage: "inventory project `PATH` (repeatable)", EnvVars: []string{"KEYLESS_REPORT_PROJECTS"}},
		&cli.BoolFlag{Name: "instance", Usage: "inventory the whole instance (an administrator's token)", EnvVars: []string{"KEYLESS_REPORT_INSTANCE"}},
		&cli.StringFlag{Name: "format", Usage: "`FORMAT` of the report: markdown, json, csv or html (json with --shard)", EnvVars: []string{"KEYLESS_REPORT_FORMAT"}},
		&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "write the report to `FILE` (atomically) instead of stdout", EnvVars: []string{"KEYLESS_REPORT_OUTPUT"}},
		&cli.IntFlag{Name: "concurrency", Value: 8, Usage: "projects read at once", EnvVars: []string{"KEYLESS_REPORT_CONCURRENCY"}},
		&cli.Float64Flag{Name: "rate", Value: 10, Usage: "at most `N` API requests per second (GitLab.com allows about 33 for an authenticated user)", EnvVars: []string{"KEYLESS_REPORT_RATE"}},
		&cli.DurationFlag{Name: "timeout", Value: time.Hour, Usage: "overall deadline of the run", EnvVars: []string{"KEYLESS_REPORT_TIMEOUT"}},
		&cli.StringFlag{Name: "shard", Usage: "read only shard `I/N` of the projects and write a partial JSON report for 'keyless report merge' (default $CI_NODE_INDEX/$CI_NODE_TOTAL of a parallel: job)", EnvVars: []string{"KEYLESS_REPORT_SHARD"}},
		&cli.StringFlag{Name: "resume", Usage: "continue the interrupted run saved in `FILE` (the partial JSON keyless wrote when it stopped)", EnvVars: []string{"KEYLESS_REPORT_RESUME"}},
		&cli.StringFlag{Name: "publish-issue", Usage: "create or update one issue in project `PATH` holding the markdown report", EnvVars: []string{"KEYLESS_REPORT_PUBLISH_ISSUE"}},
		&cli.BoolFlag{Name: "fail-on-found", Usage: "exit 1 when the report lists a credential", EnvVars: []string{"KEYLESS_REPORT_FAIL_ON_FOUND"}},
		quietFlag(),
		debugFlag(),
	}
}

// reportOptions is everything `keyless report` needs, validated in one place.
type reportOptions struct {
	GitLabURL    string
	Token        secret.Token
	Scope        report.Scope
	Format       string
	Output       string
	Concurrency  int
	Rate         float64
	Timeout      time.Duration
	Shard        *report.Shard
	Resume       string
	PublishIssue string
	FailOnFound  bool
	Quiet        bool
}

func readReportOptions(c *cli.Context, env Env) (reportOptions, error) {
	o := reportOptions{
		GitLabURL:    strings.TrimSuffix(cmp.Or(c.String("gitlab-url"), "https://gitlab.com"), "/"),
		Format:       c.String("format"),
		Output:       c.String("output"),
		Concurrency:  c.Int("concurrency"),
		Rate:         c.Float64("rate"),
		Timeout:      c.Duration("timeout"),
		Resume:       c.String("resume"),
		PublishIssue: c.String("publish-issue"),
		FailOnFound:  c.Bool("fail-on-found"),
		Quiet:        c.Bool("quiet"),
	}
	if c.NArg() > 0 {
		return o, usagef("report takes no arguments (got %q): name the scope with --group, --project or --instance", c.Args().First())
	}
	groups, projects := splitList(c.StringSlice("group")...), splitList(c.StringSlice("project")...)
	n := 0
	for _, set := range []bool{len(groups) > 0, len(projects) > 0, c.Bool("instance")} {
		if set {
			n++
		}
	}
	switch {
	case n != 1:
		return o, usagef("name one scope: --group PATH..., --project PATH... or --instance")
	case len(groups) > 0:
		o.Scope = report.Scope{Kind: "group", Paths: groups}
	case len(projects) > 0:
		o.Scope = report.Scope{Kind: "project", Paths: projects}
	default:
		o.Scope = report.Scope{Kind: "instance", Paths: []string{}}
	}
	name := c.String("token-env")
	tok := env.Getenv(name)
	if tok == "" {
		return o, usagef("no GitLab token: set %s to a token with the read_api scope (or name another variable with --token-env)", name)
	}
	o.Token = secret.New(tok)
	if o.Concurrency < 1 || o.Concurrency > 64 {
		return o, usagef("--concurrency %d: use 1 to 64", o.Concurrency)
	}
	if o.Rate <= 0 {
		return o, usagef("--rate must be positive")
	}
	if o.Timeout <= 0 {
		return o, usagef("--timeout must be positive")
	}
	shard := c.String("shard")
	if shard == "" && !c.IsSet("shard") && env.Getenv("CI_NODE_TOTAL") != "" && env.Getenv("CI_NODE_TOTAL") != "1" {
		shard = env.Getenv("CI_NODE_INDEX") + "/" + env.Getenv("CI_NODE_TOTAL")
	}
	if shard != "" {
		s, err := parseShard(shard)
		if err != nil {
			return o, err
		}
		o.Shard = s
		if o.Format == "" {
			o.Format = "json"
		}
		if o.Format != "json" {
			return o, usagef("--shard writes a partial JSON report for 'keyless report merge'; drop --format %s", o.Format)
		}
		if o.PublishIssue != "" {
			return o, usagef("--publish-issue needs the whole report: publish from 'keyless report merge', not from one shard")
		}
	}
	if o.Format == "" {
		o.Format = "markdown"
	}
	if !slices.Contains(report.Formats(), o.Format) {
		return o, usagef("--format %q: use one of %s", o.Format, strings.Join(report.Formats(), ", "))
	}
	return o, nil
}

func parseShard(s string) (*report.Shard, error) {
	i, n, ok := strings.Cut(s, "/")
	idx, err1 := strconv.Atoi(i)
	total, err2 := strconv.Atoi(n)
	if !ok || err1 != nil || err2 != nil || total < 1 || idx < 1 || idx > total {
		return nil, usagef("--shard %q: write I/N with 1 <= I <= N, e.g. 2/4", s)
	}
	return &report.Shard{Index: idx, Total: total}, nil
}

// reportOptionFlags maps the options the report package's messages name to
// the flags of `keyless report`.
var reportOptionFlags = optionFlags{report.OptResume: "resume", report.OptShard: "shard"}

func reportCommand(env Env) *cli.Command {
	return speaks(&cli.Command{
		Name:  "report",
		Usage: "inventory the long-lived credentials stored in GitLab CI/CD variables, and what replaces each",
		Description: "Reads the CI/CD variables of a group (with its subgroups and projects, and the groups above it),\n" +
			"of projects, or of the whole instance, and each project's pipeline. For every variable that\n" +
			"holds a long-lived credential it reports the kind, how exposed it is, the jobs that would\n" +
			"break without it, and its replacement: the keyless component, the cloud-side trust and the\n" +
			"steps to retire the key. Values are classified and dropped: no report, log or error holds one.\n\n" +
			"   GITLAB_TOKEN=... keyless report --group acme --format html -o credentials.html\n" +
			"   keyless report --instance --shard 2/4 -o part-2.json     (one job of parallel: 4)\n" +
			"   keyless report merge part-*.json --format markdown --publish-issue acme/security",
		Flags:       reportFlags(),
		Subcommands: []*cli.Command{reportMergeCommand(env)},
		Action: func(c *cli.Context) error {
			o, err := readReportOptions(c, env)
			if err != nil {
				return err
			}
			return runReport(c, env, o)
		},
	}, reportOptionFlags, nil)
}

func newGitLabClient(env Env, base string, tok secret.Token, rate float64) (*gitlabapi.Client, error) {
	client, err := httpClient(env, "", 30*time.Second)
	if err != nil {
		return nil, err
	}
	api, err := gitlabapi.New(gitlabapi.Options{BaseURL: base, Token: tok, HTTPClient: client, UserAgent: "keyless/" + Version,
		RequestsPerSecond: rate, Burst: max(int(rate*2), 1)})
	if err != nil {
		return nil, usagef("--gitlab-url: %v", err)
	}
	return api, nil
}

func runReport(c *cli.Context, env Env, o reportOptions) error {
	tuneReportGC(env)
	api, err := newGitLabClient(env, o.GitLabURL, o.Token, o.Rate)
	if err != nil {
		return err
	}
	var resume *report.Report
	if o.Resume != "" {
		if resume, err = readReportFile(o.Resume); err != nil {
			return usagef("--resume: %v", err)
		}
	}
	ctx, cancel := context.WithTimeout(c.Context, o.Timeout)
	defer cancel()
	client, err := httpClient(env, "", 30*time.Second)
	if err != nil {
		return err
	}
	prog := newProgress(env, o.Quiet)
	rep, err := report.Collect(ctx, report.Options{
		API:         api,
		Fetcher:     gitlabapi.NewFetcher(ctx, api, client),
		Scope:       o.Scope,
		Concurrency: o.Concurrency,
		Shard:       o.Shard,
		Resume:      resume,
		Progress:    prog.update,
		Log:         logger(c, env),
		Now:         env.Now,
		GitLabURL:   o.GitLabURL,
		ToolVersion: Version,
	})
	prog.done()
	if err != nil {
		if rep == nil {
			return option.Errorf("report: %w", err)
		}
		// Interrupted: keep what was read, so that --resume goes on.
		path := cmp.Or(o.Resume, "keyless-report.partial.json")
		if werr := writeReport(path, "json", rep); werr != nil {
			return fmt.Errorf("report: %w (and the partial report could not be saved: %v)", err, werr)
		}
		return fmt.Errorf("report: %w; %d of the projects were read and saved in %s: run the same command with --resume %s to go on", err, len(rep.Projects), path, path)
	}
	if err := writeReport(o.Output, o.Format, rep); err != nil {
		return err
	}
	if o.Output != "" && !o.Quiet {
		fmt.Fprintf(env.Stderr, "keyless: report: %d credentials in %d projects (%d could not be read); wrote %s\n",
			rep.Summary.Credentials, rep.Summary.Projects, rep.Summary.ProjectsFailed, o.Output)
	} else if o.Output == "" {
		if err := renderTo(env.Stdout, o.Format, rep); err != nil {
			return err
		}
	}
	if o.Resume != "" && !sameFile(o.Resume, o.Output) {
		// The run it continued is done: a partial report left behind
		// would be resumed by mistake next time (issue 16).
		if err := os.Remove(o.Resume); err != nil && !errors.Is(err, fs.ErrNotExist) {
			fmt.Fprintf(env.Stderr, "keyless: report: the partial report %s could not be removed: %v\n", o.Resume, err)
		}
	}
	if o.PublishIssue != "" {
		if err := publishIssue(ctx, env, api, o.PublishIssue, rep, o.Quiet); err != nil {
			return err
		}
	}
	if o.FailOnFound && rep.Summary.Credentials > 0 {
		return &findingsError{n: rep.Summary.Credentials}
	}
	return nil
}

// tuneReportGC keeps an instance's report within bench/report.sh's memory
// target: the run waits on GitLab's rate limit, so collecting garbage more
// often near 128 MiB costs nothing a user sees. A user's own GOGC or
// GOMEMLIMIT wins.
func tuneReportGC(env Env) {
	if env.Getenv("GOGC") == "" && env.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(128 << 20)
	}
}

func publishIssue(ctx context.Context, env Env, api gitlabapi.API, project string, rep *report.Report, quiet bool) error {
	var md bytes.Buffer
	if err := renderTo(&md, "markdown", rep); err != nil {
		return err
	}
	title := "keyless: long-lived credentials in " + scopeTitle(rep.Scope)
	issue, err := api.UpsertIssue(ctx, project, title, md.String())
	if err != nil {
		return fmt.Errorf("report: --publish-issue %s: %w", project, err)
	}
	if !quiet {
		verb := "updated"
		if issue.Created {
			verb = "created"
		}
		fmt.Fprintf(env.Stderr, "keyless: report: %s issue %s\n", verb, issue.WebURL)
	}
	return nil
}

func scopeTitle(s report.Scope) string {
	if s.Kind == "instance" {
		return "the instance"
	}
	return s.Kind + " " + strings.Join(s.Paths, ", ")
}

func renderTo(w io.Writer, format string, rep *report.Report) error {
	r, err := report.NewRenderer(format)
	if err != nil {
		return &UsageError{Err: err}
	}
	return r.Render(w, rep)
}

// writeReport renders rep to path atomically; "" does nothing.
func writeReport(path, format string, rep *report.Report) error {
	if path == "" {
		return nil
	}
	// A usage error (an unknown format) comes before any file is made.
	if _, err := report.NewRenderer(format); err != nil {
		return &UsageError{Err: err}
	}
	if err := writeAtomicWith(path, func(w io.Writer) error { return renderTo(w, format, rep) }); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return nil
}

func readReportFile(path string) (*report.Report, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var r report.Report
	if err := json.NewDecoder(bufio.NewReader(f)).Decode(&r); err != nil {
		return nil, fmt.Errorf("%s is not a keyless report (JSON): %w", path, err)
	}
	if r.Version != report.Version {
		return nil, fmt.Errorf("%s: report version %d, this keyless reads version %d", path, r.Version, report.Version)
	}
	return &r, nil
}

func reportMergeCommand(env Env) *cli.Command {
	return &cli.Command{
		Name:      "merge",
		Usage:     "combine the partial JSON reports of --shard runs into one report",
		ArgsUsage: "FILE...",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "format", Value: "markdown", Usage: "`FORMAT` of the report: markdown, json, csv or html", EnvVars: []string{"KEYLESS_REPORT_FORMAT"}},
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "write the report to `FILE` (atomically) instead of stdout", EnvVars: []string{"KEYLESS_REPORT_OUTPUT"}},
			&cli.StringFlag{Name: "publish-issue", Usage: "create or update one issue in project `PATH` holding the markdown report (needs --gitlab-url's token)", EnvVars: []string{"KEYLESS_REPORT_PUBLISH_ISSUE"}},
			&cli.StringFlag{Name: "gitlab-url", Usage: "GitLab instance `URL` for --publish-issue", EnvVars: []string{"KEYLESS_GITLAB_URL", "CI_SERVER_URL"}},
			&cli.StringFlag{Name: "token-env", Value: "GITLAB_TOKEN", Usage: "`NAME` of the variable holding the token for --publish-issue", EnvVars: []string{"KEYLESS_GITLAB_TOKEN_ENV"}},
			quietFlag(),
		},
		Action: func(c *cli.Context) error {
			if c.NArg() == 0 {
				return usagef("report merge needs the partial reports: keyless report merge part-1.json part-2.json ...")
			}
			tuneReportGC(env)
			format := c.String("format")
			if !slices.Contains(report.Formats(), format) {
				return usagef("--format %q: use one of %s", format, strings.Join(report.Formats(), ", "))
			}
			var parts []*report.Report
			for _, p := range c.Args().Slice() {
				r, err := readReportFile(p)
				if err != nil {
					return usagef("report merge: %v", err)
				}
				parts = append(parts, r)
			}
			rep, err := report.Merge(parts...)
			if err != nil {
				return usagef("report merge: %v", err)
			}
			if out := c.String("output"); out != "" {
				if err := writeReport(out, format, rep); err != nil {
					return err
				}
			} else if err := renderTo(env.Stdout, format, rep); err != nil {
				return err
			}
			if project := c.String("publish-issue"); project != "" {
				tok := env.Getenv(c.String("token-env"))
				if tok == "" {
					return usagef("--publish-issue: set %s to a token with the api scope", c.String("token-env"))
				}
				api, err := newGitLabClient(env, strings.TrimSuffix(cmp.Or(c.String("gitlab-url"), rep.GitLabURL, "https://gitlab.com"), "/"), secret.New(tok), 10)
				if err != nil {
					return err
				}
				return publishIssue(c.Context, env, api, project, rep, c.Bool("quiet"))
			}
			return nil
		},
	}
}

// progress shows how far a report run is: a bar redrawn in place on a
// terminal, a plain line every 10 seconds otherwise (a CI job log).
type progress struct {
	mu       sync.Mutex
	w        io.Writer
	tty      bool
	quiet    bool
	start    time.Time
	last     time.Time
	count    int
	total    int
	drawn    bool
	interval time.Duration
}

func newProgress(env Env, quiet bool) *progress {
	return &progress{w: env.Stderr, tty: isTerminal(env.Stderr), quiet: quiet, start: time.Now(), interval: 10 * time.Second}
}

func (p *progress) update(done, total int) {
	if p.quiet {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.count, p.total = done, total
	now := time.Now()
	if p.tty {
		if now.Sub(p.last) < 100*time.Millisecond && done != total {
			return
		}
		p.last = now
		fmt.Fprintf(p.w, "\r%s", p.line(now, true))
		p.drawn = true
		return
	}
	if now.Sub(p.last) >= p.interval || done == total {
		p.last = now
		fmt.Fprintln(p.w, p.line(now, false))
	}
}

func (p *progress) line(now time.Time, bar bool) string {
	elapsed := now.Sub(p.start).Seconds()
	rate := 0.0
	if elapsed > 0 {
		rate = float64(p.count) / elapsed
	}
	eta := "?"
	if rate > 0 && p.total >= p.count {
		eta = (time.Duration(float64(p.total-p.count)/rate) * time.Second).Round(time.Second).String()
	}
	s := fmt.Sprintf("keyless: report: %d/%d projects, %.1f/s, ETA %s", p.count, p.total, rate, eta)
	if !bar || p.total == 0 {
		return s
	}
	const width = 30
	filled := width * p.count / p.total
	return "[" + strings.Repeat("#", filled) + strings.Repeat(".", width-filled) + "] " + s
}

func (p *progress) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.drawn {
		fmt.Fprintln(p.w)
	}
}

// sameFile reports whether paths a and b name one file (b may not exist).
func sameFile(a, b string) bool {
	if b == "" {
		return false
	}
	if filepath.Clean(a) == filepath.Clean(b) {
		return true
	}
	ai, err1 := os.Stat(a)
	bi, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(ai, bi)
}
