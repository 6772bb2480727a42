package cli

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"gitlab.com/keyless-ci/keyless/internal/doctor"
	"gitlab.com/keyless-ci/keyless/internal/exchange"
	"gitlab.com/keyless-ci/keyless/internal/idtoken"
	"gitlab.com/keyless-ci/keyless/internal/policy"
)

// diagnosis is a doctor verdict as --format json prints it.
type diagnosis struct {
	Verdict string `json:"verdict"`
	Check   string `json:"check"`
	Detail  string `json:"detail"`
	Fix     string `json:"fix,omitempty"`
}

// doctorFailedError ends keyless doctor with exit code 1 after the checks
// are printed.
type doctorFailedError struct{ n int }

func (e doctorFailedError) Error() string { return fmt.Sprintf("%d checks failed", e.n) }
func (e doctorFailedError) ExitCode() int { return ExitFindings }

func doctorCommand(env Env) *cli.Command {
	flags := []cli.Flag{
		&cli.StringFlag{Name: "token-var", Usage: "check only the token in variable `NAME` (default: $KEYLESS_ID_TOKEN and every configured provider's)", EnvVars: []string{"KEYLESS_DOCTOR_TOKEN_VAR"}},
		&cli.StringFlag{Name: "token-file", Usage: "check the token in `FILE`", EnvVars: []string{"KEYLESS_DOCTOR_TOKEN_FILE"}},
		&cli.StringFlag{Name: "issuer", Usage: "the issuer `URL` trust is set up for (default: the token's iss)", EnvVars: []string{"KEYLESS_ISSUER"}},
		&cli.StringFlag{Name: "format", Value: "text", Usage: "text or json"},
		&cli.DurationFlag{Name: "timeout", Value: 30 * time.Second, Usage: "deadline for the issuer's discovery document and keys"},
		&cli.StringFlag{Name: "ca-file", Usage: "PEM `FILE` of extra CAs to trust (a self-managed instance's private CA)", EnvVars: []string{"KEYLESS_CA_FILE"}},
	}
	return &cli.Command{
		Name:  "doctor",
		Usage: "check the job's ID tokens, the issuer, the signature, audiences, lifetime and trust, a verdict line each",
		Description: "Run it in the job that fails (include a component and add 'keyless doctor' to its script), or with\n" +
			"--token-file outside one. It never prints a token. With the trust document a provider's exchange\n" +
			"would face (KEYLESS_AWS_TRUST_POLICY, KEYLESS_AZURE_FEDERATED_CREDENTIAL, KEYLESS_GCP_PROVIDER_FILE,\n" +
			"KEYLESS_VAULT_ROLE_FILE) it also evaluates that trust against the token. Exit code 1 when a check fails.",
		Flags: flags,
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef("doctor takes no arguments, got %q", c.Args().First())
			}
			format := c.String("format")
			if format != "text" && format != "json" {
				return usagef("--format %q: use text or json", format)
			}
			client, err := httpClient(env, c.String("ca-file"), 10*time.Second)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(c.Context, c.Duration("timeout"))
			defer cancel()
			rep := doctor.Run(ctx, doctor.Options{
				TokenVar:        c.String("token-var"),
				TokenFile:       c.String("token-file"),
				DefaultTokenVar: cmp.Or(env.Getenv("KEYLESS_TOKEN_VAR"), idtoken.DefaultVar),
				Issuer:          c.String("issuer"),
				Providers:       doctorProviders(c, env),
				Client:          client,
				Now:             env.Now,
				Getenv:          env.Getenv,
				NpmVersion:      func() string { return npmVersion(ctx, env) },
			})
			if err := writeDoctorReport(env, format, rep); err != nil {
				return err
			}
			if n := rep.Failed(); n > 0 {
				return doctorFailedError{n}
			}
			return nil
		},
	}
}

// doctorProviders are the configured providers as keyless env would run
// them: each one's options read by fromEnv, so that doctor takes the token
// variable, the audience the exchange checks and the trust document it
// explains a refusal with from the exchange's own reading, and names no
// variable of its own (issue 14). A provider whose options do not read is
// a failed check, not the end of the run.
func doctorProviders(c *cli.Context, env Env) []doctor.Provider {
	// Reading warns on stderr (plain http); the exchange says that, not doctor.
	quiet := env
	quiet.Stderr = io.Discard
	var out []doctor.Provider
	for _, p := range providers {
		if env.Getenv(p.configVar) == "" {
			continue
		}
		d := doctor.Provider{Name: p.name}
		_, x, err := p.fromEnv(c, quiet)
		if err != nil {
			d.Err = err
			out = append(out, d)
			continue
		}
		o := x.options()
		d.TokenVar = cmp.Or(o.Token.Var, idtoken.DefaultVar)
		d.Audience, d.TrustDoc = o.Token.Audience, o.TrustDoc
		if pol := policyByName(p.name); pol != nil {
			d.Explain = func(doc []byte, tok *idtoken.Token) (*policy.Result, error) {
				return pol.Explain(doc, tokenClaims(tok))
			}
		} else {
			d.TrustNote = policySlimNote
		}
		out = append(out, d)
	}
	return out
}

// writeDoctorReport prints one verdict a line (text) or the checks and the
// count of failures (json).
func writeDoctorReport(env Env, format string, rep doctor.Report) error {
	out := make([]diagnosis, 0, len(rep.Verdicts))
	for _, v := range rep.Verdicts {
		out = append(out, diagnosis{Verdict: string(v.Status), Check: v.Check, Detail: v.Detail, Fix: v.Fix})
	}
	if format == "json" {
		return exchange.WriteJSON(env.Stdout, map[string]any{"checks": out, "failed": rep.Failed()})
	}
	for _, r := range out {
		fmt.Fprintf(env.Stdout, "%-4s  %s: %s\n", r.Verdict, r.Check, r.Detail)
		if r.Fix != "" {
			fmt.Fprintf(env.Stdout, "      fix: %s\n", r.Fix)
		}
	}
	return nil
}

// npmVersion is `npm --version` as the job's PATH finds npm, "" when it
// does not or npm fails: keyless doctor says which case of npm trusted
// publishing the job is in (issue 18).
func npmVersion(ctx context.Context, env Env) string {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	path := ""
	for _, dir := range filepath.SplitList(env.Getenv("PATH")) {
		if p := filepath.Join(dir, "npm"); isExecutable(p) {
			path = p
			break
		}
	}
	if path == "" {
		return ""
	}
	cmd := exec.CommandContext(ctx, path, "--version", "--no-update-notifier")
	// PATH and HOME only: npm --version needs no token of the job's.
	cmd.Env = []string{"PATH=" + env.Getenv("PATH"), "HOME=" + env.Getenv("HOME")}
	out, err := cmd.Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}
