// Command keyless-fake-gitlab serves a synthetic GitLab instance on
// loopback for demos and benchmarks of `keyless report`: the fake of
// internal/gitlabapi/gitlabtest, filled deterministically from a seed with
// groups acme/g001…, projects whose .gitlab-ci.yml uses their CI/CD
// variables, and variables holding synthetic (never valid) credentials at
// the project, group and instance levels.
//
//	keyless-fake-gitlab -addr 127.0.0.1:0 -projects 10000 -vars 5 -groups 50 \
//	    -latency 20ms -rate-per-minute 2000 -seed 1 -token-file T -url-file U
//
// It writes the base URL to -url-file and an administrator's token to
// -token-file (mode 0600), prints "fake GitLab at URL" on stderr, and
// serves until SIGINT or SIGTERM. GET /-/stats answers the request counts
// as JSON (no token needed; not delayed, not rate limited).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"gitlab.com/keyless-ci/keyless/internal/gitlabapi/gitlabtest"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

func run(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("keyless-fake-gitlab", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:0", "listen on `HOST:PORT` (port 0: any free port)")
	projects := fs.Int("projects", 12, "number of projects")
	vars := fs.Int("vars", 5, "CI/CD variables per project")
	groups := fs.Int("groups", 0, "number of groups acme/gNNN (0: one per 4 projects, 1 to 50)")
	latency := fs.Duration("latency", 0, "delay of every API answer, e.g. 20ms")
	jitter := fs.Duration("latency-jitter", 0, "a random delay below this added to each answer's -latency, e.g. 100ms: requests reach the rate limit out of order")
	rpm := fs.Int("rate-per-minute", 0, "API requests allowed per minute per token, answered 429 beyond (0: no limit; GitLab.com: 2000)")
	seed := fs.Uint64("seed", 1, "seed of the synthetic data: the same seed builds the same instance")
	tokenFile := fs.String("token-file", "", "write the administrator's token to `FILE` (mode 0600)")
	urlFile := fs.String("url-file", "", "write the base URL to `FILE`")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: keyless-fake-gitlab [flags]\n\nServes a synthetic GitLab instance (fake, never valid credentials) until interrupted.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 || *projects < 0 || *vars < 0 || *groups < 0 || *groups > 999 || *rpm < 0 || *latency < 0 || *jitter < 0 {
		fmt.Fprintln(stderr, "keyless-fake-gitlab: no arguments; -projects, -vars, -latency, -latency-jitter and -rate-per-minute must not be negative, -groups at most 999")
		return 2
	}

	// Before the files are written: a script that sees them may stop us.
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()

	start := time.Now()
	s := gitlabtest.NewServer()
	s.NoRequestLog = true
	in := Build(s, Config{Projects: *projects, Vars: *vars, Groups: *groups, Seed: *seed})
	s.Latency = *latency
	s.LatencyJitter = *jitter
	s.TokenRateLimit = *rpm
	built := time.Since(start)

	url, stop, err := s.StartAt(*addr)
	if err != nil {
		fmt.Fprintf(stderr, "keyless-fake-gitlab: %v\n", err)
		return 1
	}
	defer stop()
	if *tokenFile != "" {
		if err := writeFile(*tokenFile, in.AdminToken+"\n", 0o600); err != nil {
			fmt.Fprintf(stderr, "keyless-fake-gitlab: %v\n", err)
			return 1
		}
	}
	if *urlFile != "" {
		if err := writeFile(*urlFile, url+"\n", 0o644); err != nil {
			fmt.Fprintf(stderr, "keyless-fake-gitlab: %v\n", err)
			return 1
		}
	}
	fmt.Fprintf(stderr, "fake GitLab at %s\n", url)
	if os.Getenv("FAKE_GITLAB_VERBOSE") != "" {
		fmt.Fprintf(stderr, "keyless-fake-gitlab: %d groups, %d projects, %d project, %d group and %d instance variables (%d credentials), built in %s\n",
			in.Groups, in.Projects, in.ProjectVars, in.GroupVars, in.InstanceVars, in.Credentials, built.Round(time.Millisecond))
	}

	<-ctx.Done()
	return 0
}

// writeFile writes content to path with mode perm, replacing the file
// whole (so that a reader polling for it never sees it half written).
func writeFile(path, content string, perm os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), perm); err != nil {
		return err
	}
	if err := os.Chmod(tmp, perm); err != nil { // WriteFile keeps an existing file's mode
		return err
	}
	return os.Rename(tmp, path)
}
