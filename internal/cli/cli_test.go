package cli

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/urfave/cli/v2"

	"gitlab.com/keyless-ci/keyless/internal/exchange/aws/awstest"
	"gitlab.com/keyless-ci/keyless/internal/idtoken"
	"gitlab.com/keyless-ci/keyless/internal/oidctest"
	"gitlab.com/keyless-ci/keyless/internal/option"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/cli")

// fixture is an issuer and a fake STS for one test.
type fixture struct {
	iss *oidctest.Issuer
	sts *awstest.STS // nil for another provider's golden
}

func newFixture(t *testing.T, faults ...awstest.Fault) fixture {
	t.Helper()
	return fixture{iss: oidctest.NewServer(t), sts: awstest.New(t, faults...)}
}

type outcome struct {
	Code           int
	Stdout, Stderr string
	// Home and TmpDir are the HOME and TMPDIR keyless ran with.
	Home, TmpDir string
}

// rewrite is o with r applied to its stdout and stderr: a provider's
// golden makes its fake's address and ids stable so.
func (o outcome) rewrite(r func(string) string) outcome {
	o.Stdout, o.Stderr = r(o.Stdout), r(o.Stderr)
	return o
}

// testBackoff is the wait before every retry in these tests: the
// providers' jittered backoff waits up to seconds.
func testBackoff(int) time.Duration { return 5 * time.Millisecond }

// keyless runs the CLI in-process with the variables in env and no other
// but PATH (for the commands exec mode runs), HOME and TMPDIR: directories
// of the test's own unless env names them. keyless reads variables only
// through Env, so the developer's shell cannot change a result and tests
// run in parallel.
func keyless(t *testing.T, env map[string]string, args ...string) outcome {
	t.Helper()
	return keylessWith(t, nil, env, args...)
}

// keylessWith is keyless with client as Env.HTTPClient.
func keylessWith(t *testing.T, client *http.Client, env map[string]string, args ...string) outcome {
	t.Helper()
	vars := map[string]string{"PATH": os.Getenv("PATH"), "HOME": t.TempDir(), "TMPDIR": t.TempDir()}
	for k, v := range env {
		vars[k] = v
	}
	environ := make([]string, 0, len(vars))
	for k, v := range vars {
		environ = append(environ, k+"="+v)
	}
	sort.Strings(environ)
	var out, errb bytes.Buffer
	code := Run(context.Background(), append([]string{"keyless"}, args...), Env{
		Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, HTTPClient: client, Backoff: testBackoff,
		LookupEnv: func(name string) (string, bool) {
			v, ok := vars[name]
			return v, ok
		},
		Environ: func() []string { return environ },
	})
	o := outcome{Code: code, Stdout: out.String(), Stderr: errb.String(), Home: vars["HOME"], TmpDir: vars["TMPDIR"]}
	saidInWords(t, o)
	return o
}

// saidInWords fails t when an option reference (package option) reached
// the output unrendered, as it is or escaped (JSON, %q): every test that
// runs the CLI checks it, since its helpers all do (issue 14).
func saidInWords(t *testing.T, o outcome) {
	t.Helper()
	for _, s := range []string{o.Stdout, o.Stderr} {
		if option.HasRef(s) || strings.Contains(s, `\u001e`) || strings.Contains(s, `\x1e`) {
			t.Errorf("an option reference reached the output unrendered:\n%q", s)
		}
	}
}

// clearProcessEnv unsets the process's variables that start with one of
// prefixes for the length of the test, which cannot run in parallel: for a
// test that hands keyless's output to a vendor's library, which reads the
// process's environment, not Env.
func clearProcessEnv(t *testing.T, prefixes ...string) {
	t.Helper()
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		for _, p := range prefixes {
			if strings.HasPrefix(name, p) {
				t.Setenv(name, "")
				os.Unsetenv(name)
			}
		}
	}
}

var (
	rfc3339  = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ`)
	lifetime = regexp.MustCompile(`\((?:\d+h)?(?:\d+m)?\d+s (left|ago)\)|expired (?:\d+h)?(?:\d+m)?\d+s ago|"remaining_seconds": \d+`)
	session  = regexp.MustCompile(`gitlab-local-\d+`)
	before   = regexp.MustCompile(`(?:\d+h)?(?:\d+m)?\d+s before`)
	// A retry's line: its wait and the time left are jittered, and so is
	// how many fit in the deadline.
	retryLine = regexp.MustCompile(`(?m)^(keyless: .*; retrying in )\S+ \(attempt \d+(, \S+ left)?\)$`)
	retries   = regexp.MustCompile(`\d+ times before the deadline`)
)

// normalize replaces what changes from run to run.
func (f fixture) normalize(s string) string {
	s = strings.ReplaceAll(s, f.iss.URL, "ISSUER")
	if f.sts != nil {
		s = strings.ReplaceAll(s, f.sts.URL, "STS")
	}
	s = strings.ReplaceAll(s, idtoken.IssuerHost(f.iss.URL), "ISSUER_HOST")
	s = rfc3339.ReplaceAllString(s, "TIME")
	s = lifetime.ReplaceAllString(s, "LIFETIME")
	s = before.ReplaceAllString(s, "DURATION before")
	s = retries.ReplaceAllString(s, "N times before the deadline")
	s = retryLine.ReplaceAllString(s, "${1}WAIT (attempt N, LEFT left)")
	s = dropRepeats(s)
	return session.ReplaceAllString(s, "gitlab-local-NOW")
}

// dropRepeats keeps one of each run of equal lines: the retries of one
// failure, whose number depends on the jitter.
func dropRepeats(s string) string {
	lines := strings.SplitAfter(s, "\n")
	out := lines[:0]
	for i, l := range lines {
		if i > 0 && l == lines[i-1] && strings.Contains(l, "; retrying in WAIT") {
			continue
		}
		out = append(out, l)
	}
	return strings.Join(out, "")
}

func golden(t *testing.T, name string, f fixture, o outcome) {
	t.Helper()
	got := fmt.Sprintf("exit %d\n--- stdout\n%s--- stderr\n%s", o.Code, f.normalize(o.Stdout), f.normalize(o.Stderr))
	path := filepath.Join("..", "..", "testdata", "cli", name+".golden")
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/cli -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s (-want +got):\n%s", path, diff)
	}
}

const role = "arn:aws:iam::123456789012:role/gitlab-deploy"

func TestGolden(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	tok := f.iss.MustMint(t, oidctest.Job{Environment: "production"})
	other := f.iss.MustMint(t, oidctest.Job{Audience: []string{"https://gitlab.example.com"}})
	expired := f.iss.MustMint(t, oidctest.Job{IssuedAt: f.iss.Now().Add(-3 * 3600e9)})
	aws := map[string]string{"KEYLESS_ID_TOKEN": tok, "KEYLESS_AWS_STS_ENDPOINT": f.sts.URL}
	with := func(m map[string]string, kv ...string) map[string]string {
		out := map[string]string{}
		for k, v := range m {
			out[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			out[kv[i]] = kv[i+1]
		}
		return out
	}
	cases := []struct {
		name string
		env  map[string]string
		args []string
	}{
		{helpGolden, nil, []string{"--help"}},
		{"aws-help", nil, []string{"aws", "--help"}},
		{"version", nil, []string{"version"}},
		{"unknown-flag", nil, []string{"aws", "--nope"}},
		{"unknown-command", nil, []string{"nope"}},
		{"bad-env-bool", map[string]string{"KEYLESS_AWS_REFRESHABLE": "maybe"}, []string{"aws", "--role-arn", role}},
		{"token", map[string]string{"KEYLESS_ID_TOKEN": tok}, []string{"token"}},
		{"token-component-var", map[string]string{"KEYLESS_AWS_ID_TOKEN": tok, "KEYLESS_AWS_TOKEN_VAR": "KEYLESS_AWS_ID_TOKEN"}, []string{"token"}},
		{"token-json", map[string]string{"KEYLESS_ID_TOKEN": tok}, []string{"token", "--format", "json"}},
		{"token-verify", map[string]string{"KEYLESS_ID_TOKEN": tok, "CI_SERVER_URL": f.iss.URL}, []string{"token", "--verify"}},
		{"token-missing", nil, []string{"token", "--aud", "sts.amazonaws.com"}},
		{"token-malformed", map[string]string{"KEYLESS_ID_TOKEN": "not-a-jwt"}, []string{"token"}},
		{"token-expired", map[string]string{"KEYLESS_ID_TOKEN": expired}, []string{"token"}},
		{"token-bad-format", map[string]string{"KEYLESS_ID_TOKEN": tok}, []string{"token", "--format", "yaml"}},
		{"aws-env", aws, []string{"aws", "--role-arn", role, "--region", "eu-west-1"}},
		{"aws-json", aws, []string{"aws", "--role-arn", role, "--format", "json"}},
		{"aws-credential-process", aws, []string{"aws", "--role-arn", role, "--format", "credential-process"}},
		{"aws-exec-exit-code", aws, []string{"aws", "--role-arn", role, "--", "sh", "-c", `test -n "$AWS_SESSION_TOKEN" && test -z "$AWS_PROFILE" && echo "region=$AWS_REGION"; exit 7`}},
		{"aws-exec-not-found", aws, []string{"aws", "--role-arn", role, "-q", "--", "keyless-no-such-command"}},
		{"aws-no-role", aws, []string{"aws"}},
		{"aws-bad-arn", aws, []string{"aws", "--role-arn", "gitlab-deploy"}},
		{"aws-bad-duration", aws, []string{"aws", "--role-arn", role, "--duration", "forever"}},
		{"aws-partition-region", with(aws, "KEYLESS_AWS_STS_ENDPOINT", ""), []string{"aws", "--role-arn", "arn:aws-cn:iam::123456789012:role/x", "--region", "us-east-1"}},
		{"aws-format-and-command", aws, []string{"aws", "--role-arn", role, "--format", "json", "--", "true"}},
		{"aws-wrong-audience", with(aws, "KEYLESS_ID_TOKEN", other, "KEYLESS_AWS_AUDIENCE", "sts.amazonaws.com"), []string{"aws", "--role-arn", role}},
		{"aws-expired", with(aws, "KEYLESS_ID_TOKEN", expired), []string{"aws", "--role-arn", role}},
		{"aws-no-token", with(aws, "KEYLESS_ID_TOKEN", "", "KEYLESS_AWS_TOKEN_VAR", "KEYLESS_AWS_ID_TOKEN", "KEYLESS_AWS_AUDIENCE", "sts.amazonaws.com"), []string{"aws", "--role-arn", role}},
		{"aws-lifetime-warning", with(aws, "CI_JOB_STARTED_AT", f.iss.Now().UTC().Format(time.RFC3339), "CI_JOB_TIMEOUT", "10800"), []string{"aws", "--role-arn", role, "--format", "json"}},
		{"aws-lifetime-ok", with(aws, "CI_JOB_STARTED_AT", f.iss.Now().UTC().Format(time.RFC3339), "CI_JOB_TIMEOUT", "1800"), []string{"aws", "--role-arn", role, "--format", "json"}},
		{"env-no-provider", nil, []string{"env"}},
		{"env-aws", with(aws, "KEYLESS_AWS_ROLE_ARN", role, "KEYLESS_AWS_REGION", "", "AWS_REGION", "eu-central-1"), []string{"env"}},
		{"exec-no-command", with(aws, "KEYLESS_AWS_ROLE_ARN", role), []string{"exec"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			golden(t, tc.name, f, keyless(t, tc.env, tc.args...))
		})
	}
}

func TestGoldenAccessDenied(t *testing.T) {
	t.Parallel()
	f := newFixture(t, awstest.AccessDenied)
	tok := f.iss.MustMint(t, oidctest.Job{})
	o := keyless(t, map[string]string{"KEYLESS_ID_TOKEN": tok, "KEYLESS_AWS_STS_ENDPOINT": f.sts.URL}, "aws", "--role-arn", role, "--", "true")
	golden(t, "aws-access-denied", f, o)
}

// checkCAFile runs args, an exchange that prints its credentials with
// --format json, in env against a fake that serves TLS with cert: without
// --ca-file the certificate is not trusted, said with the fix, and no
// request reaches the fake (requests counts them); with it stdout has
// want; a CA file that does not exist is a usage error.
func checkCAFile(t *testing.T, env map[string]string, cert []byte, requests func() int, want string, args ...string) {
	t.Helper()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(ca, cert, 0o644)
	args = append(args, "--format", "json")
	o := keyless(t, env, args...)
	if o.Code != ExitFailure || !strings.Contains(o.Stderr, "--ca-file") || requests() != 0 {
		t.Fatalf("untrusted certificate: exit %d, %d requests\n%s", o.Code, requests(), o.Stderr)
	}
	o = keyless(t, env, append(args, "--ca-file", ca)...)
	if o.Code != 0 || !strings.Contains(o.Stdout, want) {
		t.Fatalf("with --ca-file: exit %d\n%s", o.Code, o.Stderr)
	}
	o = keyless(t, env, append(args, "--ca-file", filepath.Join(t.TempDir(), "missing.pem"))...)
	if o.Code != ExitUsage {
		t.Errorf("missing CA file: exit %d\n%s", o.Code, o.Stderr)
	}
}

func TestCAFile(t *testing.T) {
	t.Parallel()
	sts, cert := awstest.NewTLS(t)
	iss := oidctest.NewServer(t)
	env := map[string]string{"KEYLESS_ID_TOKEN": iss.MustMint(t, oidctest.Job{}), "KEYLESS_AWS_STS_ENDPOINT": sts.URL}
	checkCAFile(t, env, cert, func() int { return len(sts.Requests()) }, sts.AccessKeyID, "aws", "--role-arn", role)
}

func TestProfileStaysOutOfTheProjectDir(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	env := map[string]string{"KEYLESS_ID_TOKEN": f.iss.MustMint(t, oidctest.Job{}), "KEYLESS_AWS_STS_ENDPOINT": f.sts.URL}
	proj := t.TempDir()
	env["CI_PROJECT_DIR"] = proj
	env["AWS_CONFIG_FILE"] = filepath.Join(proj, ".aws", "config")
	env["AWS_SHARED_CREDENTIALS_FILE"] = filepath.Join(proj, ".aws", "credentials")
	o := keyless(t, env, "aws", "--role-arn", role, "--profile", "ci")
	if o.Code != ExitUsage || !strings.Contains(o.Stderr, "inside the project directory") || !strings.Contains(o.Stderr, "--allow-project-dir") {
		t.Fatalf("exit %d\n%s", o.Code, o.Stderr)
	}
	if _, err := os.Stat(filepath.Join(proj, ".aws")); !os.IsNotExist(err) {
		t.Errorf("wrote into the project dir: %v", err)
	}
	o = keyless(t, env, "aws", "--role-arn", role, "--profile", "ci", "--allow-project-dir")
	if o.Code != 0 || !strings.Contains(o.Stderr, `wrote profile "ci"`) || o.Stdout != "" {
		t.Fatalf("with --allow-project-dir: exit %d\n%s", o.Code, o.Stderr)
	}
	if fi, err := os.Stat(env["AWS_SHARED_CREDENTIALS_FILE"]); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("credentials file: %v %v", fi, err)
	}
}

// `keyless PROVIDER --help` documents every flag with a usage line and its
// environment fallbacks, the first of them KEYLESS_<PROVIDER>_* (quiet and
// debug are shared: KEYLESS_QUIET, KEYLESS_DEBUG), so that a component can
// set any option through variables.
func TestEveryProviderFlagHasAnEnvFallbackInHelp(t *testing.T) {
	t.Parallel()
	for _, p := range providers {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			o := keyless(t, nil, p.name, "--help")
			if o.Code != 0 {
				t.Fatalf("exit %d\n%s", o.Code, o.Stderr)
			}
			prefix := "KEYLESS_" + strings.ToUpper(p.name) + "_"
			for _, fl := range p.flags() {
				name := fl.Names()[0]
				d, ok := fl.(cli.DocGenerationFlag)
				if !ok {
					t.Fatalf("--%s: %T has no usage or environment variables", name, fl)
				}
				if d.GetUsage() == "" {
					t.Errorf("--%s has no usage line", name)
				}
				envs := d.GetEnvVars()
				switch {
				case len(envs) == 0:
					t.Errorf("--%s has no environment fallback", name)
					continue
				case name == "quiet" || name == "debug":
				case !strings.HasPrefix(envs[0], prefix):
					t.Errorf("--%s's first fallback is %s, not %s*", name, envs[0], prefix)
				}
				if !strings.Contains(o.Stdout, "--"+name) {
					t.Errorf("help does not show --%s", name)
				}
				for _, e := range envs {
					if !strings.Contains(o.Stdout, "$"+e) {
						t.Errorf("help does not show $%s for --%s", e, name)
					}
				}
			}
		})
	}
}
