package cli

import (
	"cmp"
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
	"gitlab.com/keyless-ci/keyless/internal/idtoken"
	"gitlab.com/keyless-ci/keyless/internal/option"
)

func vaultFlags() []cli.Flag {
	return exchangeFlags("VAULT",
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
		timeoutFlag("VAULT", "login and reads"),
		&cli.StringFlag{Name: "audience", Usage: "fail before calling Vault unless the token's aud includes `AUD` (default: any; components set it)", EnvVars: []string{"KEYLESS_VAULT_AUDIENCE"}},
		formatFlag("VAULT", "env or json"),
		trustDocFlag("vault", "the JWT role (vault read -format=json auth/jwt/role/NAME)"),
	)
}

// vaultOptions is everything `keyless vault` needs, filled from flags and
// their environment fallbacks and validated in one place.
type vaultOptions struct {
	exchangeOptions
	Exchange    vault.Options
	ExportToken bool
}

func readVaultOptions(c *cli.Context, env Env) (exchanger, error) {
	base, err := readExchangeOptions(c, env, c.String("audience"), documentFlags["vault"], "env", "json")
	o := &vaultOptions{exchangeOptions: base, ExportToken: c.Bool("export-token")}
	if err != nil {
		return o, err
	}
	// An empty KEYLESS_VAULT_* (a component's empty input) falls through
	// to the vault CLI's own variable.
	x := vault.Options{
		Addr:      strings.TrimSuffix(strings.TrimSpace(cmp.Or(c.String("addr"), env.Getenv("VAULT_ADDR"))), "/"),
		Role:      strings.TrimSpace(c.String("role")),
		Mount:     cmp.Or(strings.Trim(c.String("mount"), "/ "), vault.DefaultMount),
		Namespace: strings.Trim(cmp.Or(c.String("namespace"), env.Getenv("VAULT_NAMESPACE")), "/ "),
		TLS: vault.TLS{
			CACert:     cmp.Or(c.String("ca-cert"), env.Getenv("VAULT_CACERT")),
			ClientCert: cmp.Or(c.String("client-cert"), env.Getenv("VAULT_CLIENT_CERT")),
			ClientKey:  cmp.Or(c.String("client-key"), env.Getenv("VAULT_CLIENT_KEY")),
			ServerName: cmp.Or(c.String("tls-server-name"), env.Getenv("VAULT_TLS_SERVER_NAME")),
		},
	}
	for _, s := range splitList(c.StringSlice("secret")...) {
		ref, err := vault.ParseSecret(s)
		if err != nil {
			return o, &UsageError{Err: err}
		}
		x.Secrets = append(x.Secrets, ref)
	}
	for _, s := range splitList(c.StringSlice("secret-file")...) {
		ref, err := vault.ParseSecretFile(s)
		if err != nil {
			return o, &UsageError{Err: err}
		}
		abs, err := filepath.Abs(ref.File)
		if err != nil {
			return o, &UsageError{Err: &option.Error{Option: vault.OptSecretFile, Value: s, Err: err}}
		}
		ref.File = abs
		if !c.Bool("allow-project-dir") {
			var pe *exchange.ProjectDirError
			if err := exchange.CheckOutsideProject(abs, env.Getenv("CI_PROJECT_DIR")); errors.As(err, &pe) {
				return o, &UsageError{Err: &option.Error{Option: vault.OptSecretFile, Value: s, Err: option.Errorf(
					"%s is inside the project directory %q, which GitLab can upload as an artifact "+
						"or cache; write it outside (under $TMPDIR, say), or pass %s", abs, pe.ProjectDir, flagRef("allow-project-dir"))}}
			} else if err != nil {
				return o, &UsageError{Err: &option.Error{Option: vault.OptSecretFile, Value: s, Err: err}}
			}
		}
		x.Secrets = append(x.Secrets, ref)
	}
	o.Exchange = x
	if err := x.Validate(); err != nil {
		return o, &UsageError{Err: err}
	}
	if len(x.Secrets) == 0 && !o.ExportToken {
		return o, usagef("nothing to hand the job: pass %s ENV=PATH#FIELD, %s PATH#FIELD=FILE or %s "+
			"(KEYLESS_VAULT_SECRETS, KEYLESS_VAULT_SECRET_FILES, KEYLESS_VAULT_EXPORT_TOKEN; the component's secrets, secret_files and export_token inputs)",
			option.Ref(vault.OptSecret), option.Ref(vault.OptSecretFile), option.Ref(vault.OptExportToken))
	}
	for _, f := range []struct {
		option option.Name
		path   string
	}{{vault.OptCACert, x.TLS.CACert}, {vault.OptClientCert, x.TLS.ClientCert}, {vault.OptClientKey, x.TLS.ClientKey}} {
		if err := checkFile(option.Ref(f.option), f.path); err != nil {
			return o, err
		}
	}
	// Shown even with --quiet, which silences the summary, not a risk.
	if w := vault.PlainHTTPWarning(x.Addr); w != "" {
		o.Warnings = append(o.Warnings, w)
	}
	return o, nil
}

// keyless env keeps the token for `keyless vault revoke` (the component's
// after_script) in the state directory; keyless exec, and a command after
// --, revoke it when the command exits.
var vaultProvider = provider{
	name:        "vault",
	configVar:   "KEYLESS_VAULT_ROLE",
	tokenVarEnv: "KEYLESS_VAULT_TOKEN_VAR",
	flags:       vaultFlags,
	read:        readVaultOptions,
	refusals:    []error{vault.ErrAudience, vault.ErrClaims, vault.ErrIssuer, vault.ErrInvalidToken},
	usage:       "exchange the ID token for a Vault or OpenBao token (JWT auth) and read secrets with it",
	prints:      "prints the secrets",
	description: "Logs in with the JWT auth method, reads each --secret (KV v1 or v2, found as vault kv get\n" +
		"finds them) and writes each --secret-file. With a command after --, runs it with the secrets\n" +
		"in its environment only, then revokes the token and deletes the files. Without one, prints\n" +
		"them in --format env (export lines for eval) or json, and keeps the token, unexported unless\n" +
		"--export-token, in a 0600 file of the job's state directory for 'keyless vault revoke'.\n\n" +
		"   keyless vault --addr https://vault.example.com --role deploy \\\n" +
		"     --secret DB_PASSWORD=secret/ci/db#password -- ./migrate.sh\n" +
		"   eval \"$(keyless vault --role deploy --secret DB_PASSWORD=secret/ci/db#password)\"\n" +
		"   keyless vault revoke                          (after_script: revoke, delete the files)",
	subcommands: func(env Env) []*cli.Command { return []*cli.Command{vaultRevokeCommand(env)} },
	options: optionFlags{
		vault.OptAddr:        "addr",
		vault.OptRole:        "role",
		vault.OptMount:       "mount",
		vault.OptNamespace:   "namespace",
		vault.OptSecret:      "secret",
		vault.OptSecretFile:  "secret-file",
		vault.OptExportToken: "export-token",
		vault.OptCACert:      "ca-cert",
		vault.OptClientCert:  "client-cert",
		vault.OptClientKey:   "client-key",
		vault.OptAudience:    "audience",
	},
}

// exchange logs in, reads the secrets and writes the secret files.
func (o *vaultOptions) exchange(ctx context.Context, call exchangeCall, tok *idtoken.Token) (*issued, error) {
	x := o.Exchange
	x.Seams = call.Seams
	call.Log.Debug("exchanging ID token", "provider", "vault", "addr", x.Addr, "namespace", x.Namespace, "mount", x.Mount, "role", x.Role, "secrets", len(x.Secrets), "token_source", tok.Source)
	creds, err := vault.Exchange(ctx, tok, x)
	if err != nil {
		var ce *vault.ConfigError
		if errors.As(err, &ce) {
			return nil, &UsageError{Err: err}
		}
		return nil, err
	}
	v := &vaultLogin{creds: creds, x: x}
	if err := creds.WriteFiles(); err != nil {
		v.revoke(ctx)
		creds.Env(false).Cleanup()
		return nil, err
	}
	r := &issued{env: creds.Env(o.ExportToken), expires: creds.Expiration,
		fix: "Raise the role's token_ttl (and token_max_ttl) to cover the job's timeout."}
	r.hold = func(ctx context.Context, m mode) error {
		if m == modeExec {
			r.env.Close = v.close
			return nil
		}
		// Kept for `keyless vault revoke`; if it cannot be, the token is
		// revoked and the files deleted.
		dir, err := exchange.StateDir(call.Env.Getenv)
		if err == nil {
			_, err = vault.SaveState(dir, creds.State())
		}
		if err != nil {
			v.revoke(ctx)
			r.env.Cleanup()
			return fmt.Errorf("vault: keeping the token for keyless vault revoke: %w", err)
		}
		return nil
	}
	r.summary = func(w io.Writer, m mode) {
		var b strings.Builder
		fmt.Fprintf(&b, "keyless: vault: logged in with role %q at %s", x.Role, x.Addr)
		if creds.Namespace != "" {
			fmt.Fprintf(&b, " (namespace %s)", creds.Namespace)
		}
		fmt.Fprintf(&b, ", policies %s, token valid until %s", strings.Join(creds.Policies, ","), vaultUntil(creds.Expiration))
		if m == modeExec {
			b.WriteString(" and revoked when the command exits")
		} else {
			b.WriteString(" and kept for keyless vault revoke")
		}
		if names := setNames(r.env); names != "" {
			b.WriteString("; set " + names)
		}
		if len(creds.Files) > 0 {
			b.WriteString("; wrote " + strings.Join(creds.Files, " "))
		}
		fmt.Fprintln(w, b.String())
	}
	if o.Format == "json" {
		r.print = func(env Env) error { return creds.WriteJSON(env.Stdout, o.ExportToken) }
	}
	return r, nil
}

// vaultLogin is a finished login, to revoke.
type vaultLogin struct {
	creds *vault.Credentials
	x     vault.Options // as used for the login, to revoke with
}

// revoke revokes the token on a context of its own: the job's may be
// cancelled already (a signal ended the command).
func (r *vaultLogin) revoke(ctx context.Context) error {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	return vault.Revoke(rctx, r.creds.Token, r.x)
}

// close revokes the token; one that expired or was revoked already is
// not an error.
func (r *vaultLogin) close(ctx context.Context) error {
	err := r.revoke(ctx)
	if err == nil || errors.Is(err, vault.ErrPermissionDenied) {
		return nil
	}
	return fmt.Errorf("vault: the token was not revoked; it expires at %s\n%w", vaultUntil(r.creds.Expiration), err)
}

func vaultUntil(t time.Time) string {
	if t.IsZero() {
		return "never (the role's token has no TTL)"
	}
	return t.UTC().Format(time.RFC3339)
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
		x := vault.Options{Addr: st.Addr, Namespace: st.Namespace, TLS: st.TLS, Seams: seams(env, client, log)}
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
