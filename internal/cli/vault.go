package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"gitlab.com/keyless-ci/keyless/internal/exchange"
	"gitlab.com/keyless-ci/keyless/internal/exchange/vault"
)

func vaultFlags() []cli.Flag {
	return append(tokenFlags("VAULT"),
		&cli.StringFlag{Name: "addr", Usage: "Vault (or OpenBao) server `URL`, e.g. https://vault.example.com:8200 (plain http to a host other than loopback: a warning)", EnvVars: []string{"KEYLESS_VAULT_ADDR", "VAULT_ADDR"}},
		&cli.StringFlag{Name: "role", Usage: "JWT auth `ROLE` that admits this job's token", EnvVars: []string{"KEYLESS_VAULT_ROLE"}},
		&cli.StringFlag{Name: "mount", Usage: "`PATH` of the JWT auth method under auth/ (default: jwt)", EnvVars: []string{"KEYLESS_VAULT_MOUNT"}},
		&cli.StringFlag{Name: "namespace", Usage: "Vault Enterprise or OpenBao `NAMESPACE` of the auth method and secrets", EnvVars: []string{"KEYLESS_VAULT_NAMESPACE", "VAULT_NAMESPACE"}},
		&cli.StringSliceFlag{Name: "secret", Usage: "put a secret's field in variable ENV, as `ENV=PATH#FIELD` (repeatable; PATH as for vault kv get, KV v1 or v2)", EnvVars: []string{"KEYLESS_VAULT_SECRETS"}},
		&cli.StringSliceFlag{Name: "secret-file", Usage: "write a secret's field to a 0600 file, as `PATH#FIELD=FILE` (repeatable), in a directory only you can write (missing ones are created 0700)", EnvVars: []string{"KEYLESS_VAULT_SECRET_FILES"}},
		&cli.BoolFlag{Name: "allow-project-dir", Usage: "with --secret-file, allow files inside $CI_PROJECT_DIR (they could be uploaded as artifacts)", EnvVars: []string{"KEYLESS_VAULT_ALLOW_PROJECT_DIR"}},
		&cli.BoolFlag{Name: "export-token", Usage: "hand the job the Vault token too, as VAULT_TOKEN with VAULT_ADDR and VAULT_NAMESPACE", EnvVars: []string{"KEYLESS_VAULT_EXPORT_TOKEN"}},
		&cli.StringFlag{Name: "ca-cert", Usage: "PEM `FILE` of the CA that signed Vault's certificate", EnvVars: []string{"KEYLESS_VAULT_CACERT", "VAULT_CACERT"}},
		&cli.StringFlag{Name: "client-cert", Usage: "PEM `FILE` of a client certificate for Vault's TLS (with --client-key)", EnvVars: []string{"KEYLESS_VAULT_CLIENT_CERT", "VAULT_CLIENT_CERT"}},
		&cli.StringFlag{Name: "client-key", Usage: "PEM `FILE` of the client certificate's private key", EnvVars: []string{"KEYLESS_VAULT_CLIENT_KEY", "VAULT_CLIENT_KEY"}},
		&cli.StringFlag{Name: "tls-server-name", Usage: "`NAME` to expect in Vault's certificate (SNI), when it differs from --addr's host", EnvVars: []string{"KEYLESS_VAULT_TLS_SERVER_NAME", "VAULT_TLS_SERVER_NAME"}},
		&cli.DurationFlag{Name: "timeout", Value: 60 * time.Second, Usage: "overall deadline for login and reads, retries included", EnvVars: []string{"KEYLESS_VAULT_TIMEOUT", "KEYLESS_TIMEOUT"}},
		&cli.StringFlag{Name: "audience", Usage: "fail before calling Vault unless the token's aud includes `AUD` (default: any; components set it)", EnvVars: []string{"KEYLESS_VAULT_AUDIENCE"}},
		&cli.StringFlag{Name: "format", Usage: "env or json (default: env without a command, exec with one)", EnvVars: []string{"KEYLESS_VAULT_FORMAT"}},
		trustDocFlag("vault", "role-file", "the JWT role (vault read -format=json auth/jwt/role/NAME)"),
		keepIDTokenFlag("VAULT"),
		quietFlag(),
		debugFlag(),
	)
}

// vaultOptions is everything `keyless vault` needs, filled from flags and
// their environment fallbacks and validated in one place.
type vaultOptions struct {
	Token       tokenOptions
	Exchange    vault.Options
	Timeout     time.Duration
	Format      string
	ExportToken bool
	Quiet       bool
	TrustDoc    string
}

// vaultSlice splits a repeatable flag's values on newlines too, so that a
// component input can list one secret per line.
func vaultSlice(values []string) []string {
	var out []string
	for _, v := range values {
		for _, line := range strings.Split(v, "\n") {
			if line = strings.TrimSpace(line); line != "" {
				out = append(out, line)
			}
		}
	}
	return out
}

func readVaultOptions(c *cli.Context, env Env) (vaultOptions, error) {
	o := vaultOptions{
		Token:       readTokenOptions(c, env, c.String("audience")),
		Timeout:     c.Duration("timeout"),
		Format:      c.String("format"),
		ExportToken: c.Bool("export-token"),
		Quiet:       c.Bool("quiet"),
		TrustDoc:    c.String("role-file"),
	}
	// An empty KEYLESS_VAULT_* (a component's empty input) falls through
	// to the vault CLI's own variable.
	x := vault.Options{
		Addr:      strings.TrimSuffix(strings.TrimSpace(firstNonEmpty(c.String("addr"), env.Getenv("VAULT_ADDR"))), "/"),
		Role:      strings.TrimSpace(c.String("role")),
		Mount:     firstNonEmpty(strings.Trim(c.String("mount"), "/ "), vault.DefaultMount),
		Namespace: strings.Trim(firstNonEmpty(c.String("namespace"), env.Getenv("VAULT_NAMESPACE")), "/ "),
		TLS: vault.TLS{
			CACert:     firstNonEmpty(c.String("ca-cert"), env.Getenv("VAULT_CACERT")),
			ClientCert: firstNonEmpty(c.String("client-cert"), env.Getenv("VAULT_CLIENT_CERT")),
			ClientKey:  firstNonEmpty(c.String("client-key"), env.Getenv("VAULT_CLIENT_KEY")),
			ServerName: firstNonEmpty(c.String("tls-server-name"), env.Getenv("VAULT_TLS_SERVER_NAME")),
		},
		UserAgent: "keyless/" + Version,
	}
	for _, s := range vaultSlice(c.StringSlice("secret")) {
		ref, err := vault.ParseSecret(s)
		if err != nil {
			return o, &UsageError{Err: err}
		}
		x.Secrets = append(x.Secrets, ref)
	}
	for _, s := range vaultSlice(c.StringSlice("secret-file")) {
		ref, err := vault.ParseSecretFile(s)
		if err != nil {
			return o, &UsageError{Err: err}
		}
		abs, err := filepath.Abs(ref.File)
		if err != nil {
			return o, usagef("--secret-file %q: %w", s, err)
		}
		ref.File = abs
		if !c.Bool("allow-project-dir") {
			var pe *exchange.ProjectDirError
			if err := exchange.CheckOutsideProject(abs, env.Getenv("CI_PROJECT_DIR")); errors.As(err, &pe) {
				return o, usagef("--secret-file %q: %s is inside the project directory %q, which GitLab can upload as an artifact "+
					"or cache; write it outside (under $TMPDIR, say), or pass --allow-project-dir", s, abs, pe.ProjectDir)
			} else if err != nil {
				return o, usagef("--secret-file %q: %w", s, err)
			}
		}
		x.Secrets = append(x.Secrets, ref)
	}
	o.Exchange = x
	if o.Timeout <= 0 {
		return o, usagef("--timeout must be positive")
	}
	if err := x.Validate(); err != nil {
		return o, &UsageError{Err: err}
	}
	if len(x.Secrets) == 0 && !o.ExportToken {
		return o, usagef("nothing to hand the job: pass --secret ENV=PATH#FIELD, --secret-file PATH#FIELD=FILE or --export-token " +
			"(KEYLESS_VAULT_SECRETS, KEYLESS_VAULT_SECRET_FILES, KEYLESS_VAULT_EXPORT_TOKEN; the component's secrets, secret_files and export_token inputs)")
	}
	switch o.Format {
	case "", "env", "json":
	default:
		return o, usagef("--format %q: use env or json (or give a command after --)", o.Format)
	}
	for _, f := range []struct{ flag, path string }{{"ca-cert", x.TLS.CACert}, {"client-cert", x.TLS.ClientCert}, {"client-key", x.TLS.ClientKey}} {
		if err := checkFile(f.flag, f.path); err != nil {
			return o, err
		}
	}
	return o, nil
}

var vaultProvider = provider{
	name:        "vault",
	configVar:   "KEYLESS_VAULT_ROLE",
	tokenVarEnv: "KEYLESS_VAULT_TOKEN_VAR",
	command:     vaultCommand,
	flags:       vaultFlags,
	// keyless env keeps the token for `keyless vault revoke` (the
	// component's after_script) in the state directory; keyless exec
	// revokes it when the command exits.
	run: func(c *cli.Context, env Env, m mode, sw io.Writer) (*exchange.Credentials, error) {
		o, err := readVaultOptions(c, env)
		if err != nil {
			return nil, err
		}
		o.Quiet = o.Quiet || c.Bool("quiet")
		r, err := runVault(c.Context, c, env, o)
		if err != nil {
			return nil, err
		}
		if m == modeExec {
			r.env.Close = r.close
			vaultSummary(env.withStderr(sw), o, r, "revoked when the command exits")
			return r.env, nil
		}
		if err := r.keep(c.Context, env, o); err != nil {
			return nil, err
		}
		vaultSummary(env.withStderr(sw), o, r, "kept for keyless vault revoke")
		return r.env, nil
	},
}

func vaultCommand(env Env) *cli.Command {
	return &cli.Command{
		Name:      "vault",
		Usage:     "exchange the ID token for a Vault or OpenBao token (JWT auth) and read secrets with it",
		ArgsUsage: "[-- CMD ARGS...]",
		Description: "Logs in with the JWT auth method, reads each --secret (KV v1 or v2, found as vault kv get\n" +
			"finds them) and writes each --secret-file. With a command after --, runs it with the secrets\n" +
			"in its environment only, then revokes the token and deletes the files. Without one, prints\n" +
			"them in --format env (export lines for eval) or json, and keeps the token, unexported unless\n" +
			"--export-token, in a 0600 file of the job's state directory for 'keyless vault revoke'.\n\n" +
			"   keyless vault --addr https://vault.example.com --role deploy \\\n" +
			"     --secret DB_PASSWORD=secret/ci/db#password -- ./migrate.sh\n" +
			"   eval \"$(keyless vault --role deploy --secret DB_PASSWORD=secret/ci/db#password)\"\n" +
			"   keyless vault revoke                          (after_script: revoke, delete the files)",
		Flags: vaultFlags(),
		Subcommands: []*cli.Command{
			vaultRevokeCommand(env),
		},
		Action: func(c *cli.Context) error {
			o, err := readVaultOptions(c, env)
			if err != nil {
				return err
			}
			args := c.Args().Slice()
			if len(args) > 0 && o.Format != "" {
				return usagef("--format %s prints the secrets; it cannot also run %q (drop one)", o.Format, args[0])
			}
			r, err := runVault(c.Context, c, env, o)
			if err != nil {
				return err
			}
			if len(args) > 0 {
				return r.exec(c.Context, c, env, o, args)
			}
			if err := r.keep(c.Context, env, o); err != nil {
				return err
			}
			if o.Format == "json" {
				return r.creds.WriteJSON(env.Stdout, o.ExportToken)
			}
			vaultSummary(env, o, r, "kept for keyless vault revoke")
			return exchange.WriteEnv(env.Stdout, r.env)
		},
	}
}

// vaultResult is a finished login with what the chosen mode delivers.
type vaultResult struct {
	creds *vault.Credentials
	env   *exchange.Credentials
	x     vault.Options // as used for the login, to revoke with
}

// runVault loads the token, logs in, reads the secrets and writes the
// secret files.
func runVault(ctx context.Context, c *cli.Context, env Env, o vaultOptions) (*vaultResult, error) {
	log := logger(c, env)
	// Shown even with --quiet, which silences the summary, not a risk.
	if w := vault.PlainHTTPWarning(o.Exchange.Addr); w != "" {
		fmt.Fprintf(env.Stderr, "keyless: vault: warning: %s\n", w)
	}
	client, err := httpClient(env, "", 10*time.Second)
	if err != nil {
		return nil, err
	}
	tctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	tok, err := loadToken(tctx, env, o.Token, client)
	if err != nil {
		return nil, err
	}
	x := o.Exchange
	x.HTTPClient = client
	x.Log = log
	x.Progress = env.Stderr // one line per retry, so a long loop is not silent
	x.Now = env.Now
	log.Debug("exchanging ID token", "provider", "vault", "addr", x.Addr, "namespace", x.Namespace, "mount", x.Mount, "role", x.Role, "secrets", len(x.Secrets), "token_source", tok.Source)
	creds, err := vault.Exchange(tctx, tok, x)
	if err != nil {
		var ce *vault.ConfigError
		if errors.As(err, &ce) {
			return nil, &UsageError{Err: err}
		}
		if refusal(err, vault.ErrAudience, vault.ErrClaims, vault.ErrIssuer, vault.ErrInvalidToken) {
			err = explainRejection(err, "vault", o.TrustDoc, tok)
		}
		return nil, err
	}
	r := &vaultResult{creds: creds, x: x}
	if err := creds.WriteFiles(); err != nil {
		r.revoke(ctx)
		creds.Env(false).Cleanup()
		return nil, err
	}
	r.env = creds.Env(o.ExportToken)
	fix := "Raise the role's token_ttl (and token_max_ttl) to cover the job's timeout."
	if w := lifetimeWarning("vault", env.Getenv, creds.Expiration, false, fix); w != "" && !o.Quiet {
		fmt.Fprint(env.Stderr, w)
	}
	return r, nil
}

// keep saves the token and the files for `keyless vault revoke`; if it
// cannot, the token is revoked and the files deleted.
func (r *vaultResult) keep(ctx context.Context, env Env, o vaultOptions) error {
	dir, err := exchange.StateDir(env.Getenv)
	if err == nil {
		_, err = vault.SaveState(dir, r.creds.State())
	}
	if err != nil {
		r.revoke(ctx)
		r.env.Cleanup()
		return fmt.Errorf("vault: keeping the token for keyless vault revoke: %w", err)
	}
	return nil
}

// revoke revokes the token on a context of its own: the job's may be
// cancelled already (a signal ended the command).
func (r *vaultResult) revoke(ctx context.Context) error {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	return vault.Revoke(rctx, r.creds.Token, r.x)
}

// close revokes the token; one that expired or was revoked already is
// not an error.
func (r *vaultResult) close(ctx context.Context) error {
	err := r.revoke(ctx)
	if err == nil || errors.Is(err, vault.ErrPermissionDenied) {
		return nil
	}
	return fmt.Errorf("vault: the token was not revoked; it expires at %s\n%w", vaultUntil(r.creds.Expiration), err)
}

// exec runs the command with the secrets, then revokes the token and
// deletes the files, whatever the command's outcome.
func (r *vaultResult) exec(ctx context.Context, c *cli.Context, env Env, o vaultOptions, args []string) error {
	vaultSummary(env, o, r, "revoked when the command exits")
	err := exchange.Exec(ctx, o.Token.command(env, args), r.env)
	r.env.Close = r.close
	if cerr := r.env.CloseAll(ctx); cerr != nil {
		fmt.Fprintf(env.Stderr, "keyless: warning: %v\n", cerr)
	}
	return err
}

func vaultUntil(t time.Time) string {
	if t.IsZero() {
		return "never (the role's token has no TTL)"
	}
	return t.UTC().Format(time.RFC3339)
}

// vaultSummary tells the job's log what was set, never the values.
func vaultSummary(env Env, o vaultOptions, r *vaultResult, token string) {
	if o.Quiet {
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "keyless: vault: logged in with role %q at %s", o.Exchange.Role, o.Exchange.Addr)
	if r.creds.Namespace != "" {
		fmt.Fprintf(&b, " (namespace %s)", r.creds.Namespace)
	}
	fmt.Fprintf(&b, ", policies %s, token valid until %s", strings.Join(r.creds.Policies, ","), vaultUntil(r.creds.Expiration))
	b.WriteString(" and " + token)
	var names []string
	for _, v := range r.env.Vars {
		names = append(names, v.Name)
	}
	if len(names) > 0 {
		b.WriteString("; set " + strings.Join(names, " "))
	}
	if len(r.creds.Files) > 0 {
		b.WriteString("; wrote " + strings.Join(r.creds.Files, " "))
	}
	fmt.Fprintln(env.Stderr, b.String())
}

func vaultRevokeCommand(env Env) *cli.Command {
	return &cli.Command{
		Name:  "revoke",
		Usage: "revoke the Vault tokens this job kept and delete the secret files written with them",
		Description: "For after_script, as the vault component does: reads the tokens env and json modes kept in\n" +
			"the job's state directory ($KEYLESS_STATE_DIR, else $TMPDIR/keyless-job-$CI_JOB_ID), revokes each\n" +
			"(auth/token/revoke-self), deletes its --secret-file files and the kept token, and is quiet when\n" +
			"there is nothing to revoke. A token that already expired or was revoked counts as revoked.",
		Flags: []cli.Flag{
			&cli.DurationFlag{Name: "timeout", Value: 30 * time.Second, Usage: "overall deadline, retries included", EnvVars: []string{"KEYLESS_VAULT_TIMEOUT", "KEYLESS_TIMEOUT"}},
			quietFlag(),
			debugFlag(),
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef("vault revoke takes no arguments, got %q", c.Args().First())
			}
			return revokeKeptVaultTokens(c, env)
		},
	}
}

// revokeKeptVaultTokens revokes the tokens env and json modes kept in the
// job's state directory and deletes their secret files; `keyless vault
// revoke` and `keyless cleanup` run it. c has the timeout and quiet flags.
func revokeKeptVaultTokens(c *cli.Context, env Env) error {
	if c.Duration("timeout") <= 0 {
		return usagef("--timeout must be positive")
	}
	log := logger(c, env)
	dir, err := exchange.StateDir(env.Getenv)
	if err != nil {
		return err
	}
	states, loadErr := vault.LoadStates(dir)
	if len(states) == 0 {
		log.Debug("no Vault token to revoke", "dir", dir)
		return loadErr
	}
	client, err := httpClient(env, "", 10*time.Second)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(c.Context, c.Duration("timeout"))
	defer cancel()
	errs := []error{loadErr}
	for _, s := range states {
		st := s.State
		x := vault.Options{Addr: st.Addr, Namespace: st.Namespace, TLS: st.TLS, HTTPClient: client, Log: log, Progress: env.Stderr, UserAgent: "keyless/" + Version, Now: env.Now}
		err := vault.Revoke(ctx, st.Token, x)
		gone := errors.Is(err, vault.ErrPermissionDenied)
		if err != nil && !gone {
			errs = append(errs, err)
		}
		// The files go whatever Vault said: they hold secrets. Only
		// those keyless wrote, and directories it created (issue 13).
		removed, rerr := exchange.RemoveFiles(st.Files, st.Dirs)
		_, serr := exchange.RemoveFiles([]string{s.Path}, nil)
		errs = append(errs, rerr, serr)
		if c.Bool("quiet") {
			continue
		}
		what := "revoked the token"
		if gone {
			what = "the token had already expired or been revoked"
		} else if err != nil {
			what = "could not revoke the token (see below); it expires at " + vaultUntil(st.Expiration)
		}
		files := fmt.Sprintf("%d secret files", removed)
		if removed == 1 {
			files = "1 secret file"
		}
		fmt.Fprintf(env.Stderr, "keyless: vault: %s (accessor %s) at %s; removed %s\n",
			what, vault.Mask(st.Accessor), st.Addr, files)
	}
	return errors.Join(errs...)
}
