package cli

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"gitlab.com/keyless-ci/keyless/internal/exchange/vault"
	"gitlab.com/keyless-ci/keyless/internal/exchange/vault/vaulttest"
	"gitlab.com/keyless-ci/keyless/internal/oidctest"
	"gitlab.com/keyless-ci/keyless/internal/secret"
)

// vaultGoldenToken is the Vault token the fake hands out in golden tests,
// so that export lines are stable. It is test data, not a real token.
const vaultGoldenToken = "hvs.TESTONLY-keyless-golden-token"

// vaultFixture is an issuer and a fake Vault whose JWT auth method trusts
// it: bound_issuer and oidc_discovery_url are the issuer's, so the fake
// checks the token's signature as Vault does.
type vaultFixture struct {
	iss   *oidctest.Issuer
	v     *vaulttest.Vault
	state string // KEYLESS_STATE_DIR
}

func newVaultFixture(t *testing.T, faults ...vaulttest.Fault) vaultFixture {
	t.Helper()
	f := vaultFixture{iss: oidctest.NewServer(t), v: vaulttest.New(t, faults...), state: filepath.Join(t.TempDir(), "state")}
	f.v.DiscoveryURL = f.iss.URL
	f.v.BoundIssuer = f.iss.URL
	return f
}

// mint is a token for the fake's role audience unless j names one.
func (f vaultFixture) mint(t *testing.T, j oidctest.Job) string {
	t.Helper()
	if len(j.Audience) == 0 {
		j.Audience = []string{vaulttest.DefaultAudience}
	}
	return f.iss.MustMint(t, j)
}

// env is the environment of a job that reaches the fake: the token where
// the component puts it, the address in VAULT_ADDR.
func (f vaultFixture) env(tok string, kv ...string) map[string]string {
	m := map[string]string{
		"KEYLESS_VAULT_ID_TOKEN":  tok,
		"KEYLESS_VAULT_TOKEN_VAR": "KEYLESS_VAULT_ID_TOKEN",
		"VAULT_ADDR":              f.v.URL,
		"KEYLESS_STATE_DIR":       f.state,
	}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

var (
	vaultMasked   = regexp.MustCompile(`\*{8}[A-Za-z0-9]{4}`)
	vaultAttempts = regexp.MustCompile(`after \d+ attempts`)
	vaultPort     = regexp.MustCompile(`127\.0\.0\.1:\d+`)
)

// golden compares o with testdata/cli/NAME.golden, the fake's address
// written VAULT, the state directory STATE, masked accessors ********ACCS.
func (f vaultFixture) golden(t *testing.T, name string, o outcome) {
	t.Helper()
	golden(t, name, fixture{iss: f.iss}, o.rewrite(func(s string) string {
		s = strings.ReplaceAll(s, f.v.URL, "VAULT")
		s = strings.ReplaceAll(s, f.state, "STATE")
		s = vaultMasked.ReplaceAllString(s, "********ACCS")
		return vaultAttempts.ReplaceAllString(s, "after N attempts")
	}))
}

func TestVaultGolden(t *testing.T) {
	t.Parallel()
	f := newVaultFixture(t)
	tok := f.mint(t, oidctest.Job{Environment: "production"})
	other := f.mint(t, oidctest.Job{Audience: []string{"https://gitlab.example.com"}})
	expired := f.mint(t, oidctest.Job{IssuedAt: f.iss.Now().Add(-3 * time.Hour)})
	env := f.env(tok)
	with := func(kv ...string) map[string]string { return f.env(tok, kv...) }
	secrets := []string{"--role", "deploy", "--secret", "DB_PASSWORD=secret/ci/db#password", "--secret", "API_KEY=kv1/ci/api#key"}
	args := func(a ...string) []string { return append(append([]string{"vault"}, secrets...), a...) }
	child := `test -n "$DB_PASSWORD" && test -z "${VAULT_TOKEN+set}" && echo "api key has ${#API_KEY} characters"; exit 7`
	cases := []struct {
		name string
		env  map[string]string
		args []string
	}{
		{"vault-help", nil, []string{"vault", "--help"}},
		{"vault-revoke-help", nil, []string{"vault", "revoke", "--help"}},
		{"vault-env", env, args()},
		{"vault-env-export-token", with("VAULT_NAMESPACE", ""), args("--export-token")},
		{"vault-json", env, args("--format", "json")},
		{"vault-exec-exit-code", env, args("--", "sh", "-c", child)},
		{"vault-exec-not-found", env, args("-q", "--", "keyless-no-such-command")},
		{"vault-keyless-env", with("KEYLESS_VAULT_ROLE", "deploy", "KEYLESS_VAULT_SECRETS", "DB_PASSWORD=secret/ci/db#password\nAPI_KEY=kv1/ci/api#key\n"), []string{"env"}},
		{"vault-token-component-var", env, []string{"token"}},
		{"vault-no-addr", with("VAULT_ADDR", ""), args()},
		{"vault-bad-addr", env, args("--addr", "vault.example.com")},
		{"vault-no-role", env, []string{"vault", "--export-token"}},
		{"vault-nothing-to-deliver", env, []string{"vault", "--role", "deploy"}},
		{"vault-bad-secret", env, []string{"vault", "--role", "deploy", "--secret", "secret/ci/db#password"}},
		{"vault-bad-format", env, args("--format", "yaml")},
		{"vault-format-and-command", env, args("--format", "json", "--", "true")},
		{"vault-secret-file-in-project", with("CI_PROJECT_DIR", "/builds/keyless-ci/demo"), []string{"vault", "--role", "deploy", "--secret-file", "secret/ci/db#password=/builds/keyless-ci/demo/db.pass"}},
		{"vault-wrong-audience", with("KEYLESS_VAULT_ID_TOKEN", other, "KEYLESS_VAULT_AUDIENCE", vaulttest.DefaultAudience), args()},
		{"vault-expired", with("KEYLESS_VAULT_ID_TOKEN", expired), args()},
		{"vault-no-token", with("KEYLESS_VAULT_ID_TOKEN", "", "KEYLESS_VAULT_AUDIENCE", vaulttest.DefaultAudience), args()},
		{"vault-role-not-found", env, []string{"vault", "--role", "Release", "--export-token"}},
		{"vault-audience-not-bound", with("KEYLESS_VAULT_ID_TOKEN", other), args()},
		{"vault-wrong-mount", env, args("--mount", "gitlab")},
		{"vault-permission-denied", env, []string{"vault", "--role", "deploy", "--secret", "P=secret/prod/db#password"}},
		{"vault-missing-field", env, []string{"vault", "--role", "deploy", "--secret", "P=secret/ci/db#pasword"}},
		{"vault-lifetime-warning", with("CI_JOB_STARTED_AT", f.iss.Now().UTC().Format(time.RFC3339), "CI_JOB_TIMEOUT", "10800"), args("--format", "json")},
	}
	// One after another: they share the fake, whose next token each sets
	// and some revoke.
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f.v.NextTokens = []string{vaultGoldenToken}
			f.golden(t, tc.name, keyless(t, tc.env, tc.args...))
		})
	}
}

func TestVaultGoldenRefusals(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		faults []vaulttest.Fault
		setup  func(*vaulttest.Vault)
		job    oidctest.Job
		args   []string
	}{
		{name: "vault-bound-claims", job: oidctest.Job{ProjectPath: "keyless-ci/fork"}},
		{name: "vault-unprotected-ref", job: oidctest.Job{Ref: "feature-x"}},
		{name: "vault-no-bound-audiences", setup: func(v *vaulttest.Vault) {
			r := v.Roles["deploy"]
			r.BoundAudiences = nil
			v.Roles["deploy"] = r
		}},
		{name: "vault-sealed", faults: repeatVault(vaulttest.Sealed, 500), args: []string{"--timeout", "300ms"}},
		{name: "vault-detect-denied", setup: func(v *vaulttest.Vault) { v.Policies["ci-read"] = []string{"kv1/ci/*"} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newVaultFixture(t, tc.faults...)
			if tc.setup != nil {
				tc.setup(f.v)
			}
			args := append([]string{"vault", "--role", "deploy", "--secret", "DB_PASSWORD=secret/ci/db#password"}, tc.args...)
			o := keyless(t, f.env(f.mint(t, tc.job)), args...)
			f.golden(t, tc.name, o)
		})
	}
}

func repeatVault(f vaulttest.Fault, n int) []vaulttest.Fault {
	out := make([]vaulttest.Fault, n)
	for i := range out {
		out[i] = f
	}
	return out
}

func TestVaultUnreachable(t *testing.T) {
	t.Parallel()
	f := newVaultFixture(t)
	o := keyless(t, f.env(f.mint(t, oidctest.Job{}), "VAULT_ADDR", "http://127.0.0.1:1"), "vault", "--role", "deploy", "--export-token", "--timeout", "300ms")
	if o.Code != ExitFailure || !strings.Contains(o.Stderr, "could not connect to http://127.0.0.1:1") || !strings.Contains(o.Stderr, "connection refused") {
		t.Fatalf("exit %d\n%s", o.Code, o.Stderr)
	}
}

// vaultExports parses the export lines of env mode.
func vaultExports(t *testing.T, out string) map[string]string {
	t.Helper()
	m := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), "export ")
		if !ok {
			continue
		}
		name, val, _ := strings.Cut(line, "=")
		m[name] = strings.ReplaceAll(strings.Trim(val, "'"), `'\''`, "'")
	}
	return m
}

// Env mode keeps the token and the file list for `keyless vault revoke`,
// which revokes the token and deletes the files; `keyless cleanup` removes
// what is left of the state directory.
func TestVaultRevokeAfterEnvMode(t *testing.T) {
	t.Parallel()
	f := newVaultFixture(t)
	out := filepath.Join(t.TempDir(), "secrets", "db.pass")
	env := f.env(f.mint(t, oidctest.Job{}), "CI_PROJECT_DIR", t.TempDir())
	o := keyless(t, env, "vault", "--role", "deploy", "--secret", "P=secret/ci/db#password", "--secret-file", "secret/ci/db#username="+out)
	if o.Code != 0 {
		t.Fatalf("exit %d\n%s", o.Code, o.Stderr)
	}
	if vaultExports(t, o.Stdout)["P"] != "fake-db-password" {
		t.Errorf("stdout: %s", o.Stdout)
	}
	if b, err := os.ReadFile(out); err != nil || string(b) != "ci" {
		t.Fatalf("secret file: %q %v", b, err)
	}
	states, _ := filepath.Glob(filepath.Join(f.state, vault.StatePattern))
	if len(states) != 1 {
		t.Fatalf("state files: %v", states)
	}
	if fi, _ := os.Stat(states[0]); fi.Mode().Perm() != 0o600 {
		t.Errorf("state file mode %v", fi.Mode().Perm())
	}
	toks := f.v.Tokens()
	if len(toks) != 1 || toks[0].Revoked {
		t.Fatalf("tokens: %+v", toks)
	}

	o = keyless(t, env, "vault", "revoke")
	if o.Code != 0 || !strings.Contains(o.Stderr, "keyless: vault: revoked the token (accessor ****") || !strings.Contains(o.Stderr, "removed 1 secret file\n") {
		t.Fatalf("revoke: exit %d\n%s", o.Code, o.Stderr)
	}
	if !f.v.Tokens()[0].Revoked {
		t.Error("the token is not revoked")
	}
	for _, p := range []string{out, states[0]} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s left behind", p)
		}
	}
	// Nothing left: quiet, exit 0.
	if o := keyless(t, env, "vault", "revoke"); o.Code != 0 || o.Stderr != "" {
		t.Errorf("second revoke: exit %d\n%s", o.Code, o.Stderr)
	}

	// A token the job revoked itself, then keyless cleanup alone.
	o = keyless(t, env, "vault", "--role", "deploy", "--export-token")
	tok := vaultExports(t, o.Stdout)["VAULT_TOKEN"]
	if tok == "" {
		t.Fatalf("no VAULT_TOKEN exported: %s", o.Stdout)
	}
	if err := vault.Revoke(t.Context(), secret.New(tok), vault.Options{Addr: f.v.URL}); err != nil {
		t.Fatal(err)
	}
	o = keyless(t, env, "vault", "revoke")
	if o.Code != 0 || !strings.Contains(o.Stderr, "already expired or been revoked") {
		t.Errorf("revoking a revoked token: exit %d\n%s", o.Code, o.Stderr)
	}
	// keyless cleanup, every component's after_script, revokes too.
	o = keyless(t, env, "vault", "--role", "deploy", "--export-token", "--secret-file", "secret/ci/db#username="+out)
	tok = vaultExports(t, o.Stdout)["VAULT_TOKEN"]
	if o := keyless(t, env, "cleanup"); o.Code != 0 || !strings.Contains(o.Stderr, "keyless: vault: revoked the token") {
		t.Fatalf("cleanup: %d %s", o.Code, o.Stderr)
	}
	if info, _ := f.v.Token(tok); !info.Revoked {
		t.Error("keyless cleanup did not revoke the kept token")
	}
	for _, p := range []string{out, f.state} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("keyless cleanup left %s", p)
		}
	}
}

// Exec mode hands the command the secrets and the files, then revokes the
// token and deletes the files, whatever the command's exit code.
func TestVaultExecRevokesAndDeletes(t *testing.T) {
	t.Parallel()
	f := newVaultFixture(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "db.user")
	seen := filepath.Join(dir, "seen")
	env := f.env(f.mint(t, oidctest.Job{}))
	script := `printf '%s|%s|%s' "$P" "$(cat ` + file + `)" "$VAULT_TOKEN" > ` + seen + `; exit 3`
	o := keyless(t, env, "vault", "--role", "deploy", "--secret", "P=secret/ci/db#password", "--secret-file", "secret/ci/db#username="+file, "--export-token", "--", "sh", "-c", script)
	if o.Code != 3 {
		t.Fatalf("exit %d, want the command's 3\n%s", o.Code, o.Stderr)
	}
	b, _ := os.ReadFile(seen)
	parts := strings.Split(string(b), "|")
	if len(parts) != 3 || parts[0] != "fake-db-password" || parts[1] != "ci" || !strings.HasPrefix(parts[2], "hvs.") {
		t.Fatalf("the command saw %q", b)
	}
	if _, err := os.Stat(file); !os.IsNotExist(err) {
		t.Error("the secret file outlived the command")
	}
	if info, _ := f.v.Token(parts[2]); !info.Revoked {
		t.Error("the token outlived the command")
	}
	if states, _ := filepath.Glob(filepath.Join(f.state, vault.StatePattern)); len(states) != 0 {
		t.Errorf("exec mode kept the token: %v", states)
	}
}

// keyless exec runs every configured provider; it revokes the Vault token
// and deletes the secret files once the command exits, and keeps nothing
// for after_script.
func TestVaultKeylessExec(t *testing.T) {
	t.Parallel()
	f := newVaultFixture(t)
	dir := t.TempDir()
	seen := filepath.Join(dir, "seen")
	file := filepath.Join(dir, "db.user")
	env := f.env(f.mint(t, oidctest.Job{}), "KEYLESS_VAULT_ROLE", "deploy",
		"KEYLESS_VAULT_SECRETS", "P=secret/ci/db#password,K=kv1/ci/api#port",
		"KEYLESS_VAULT_SECRET_FILES", "secret/ci/db#username="+file)
	o := keyless(t, env, "exec", "--", "sh", "-c", `echo "$P $K $(cat `+file+`)" > `+seen+`; exit 5`)
	if o.Code != 5 {
		t.Fatalf("exit %d, want the command's 5\n%s", o.Code, o.Stderr)
	}
	if b, _ := os.ReadFile(seen); string(b) != "fake-db-password 8443 ci\n" {
		t.Errorf("the command saw %q", b)
	}
	if toks := f.v.Tokens(); len(toks) != 1 || !toks[0].Revoked {
		t.Errorf("the token outlived the command: %+v", toks)
	}
	if _, err := os.Stat(file); !os.IsNotExist(err) {
		t.Error("the secret file outlived the command")
	}
	if states, _ := filepath.Glob(filepath.Join(f.state, vault.StatePattern)); len(states) != 0 {
		t.Errorf("keyless exec kept the token: %v", states)
	}
	if !strings.Contains(o.Stderr, "revoked when the command exits") {
		t.Errorf("the summary does not say the token is revoked:\n%s", o.Stderr)
	}
}

// A token Vault cannot revoke is reported with its expiry, and the files
// go anyway; the command's exit code stands.
func TestVaultKeylessExecWarnsWhenRevokeFails(t *testing.T) {
	t.Parallel()
	f := newVaultFixture(t, vaulttest.Fault{Path: "auth/token/revoke-self", Status: 400, Errors: []string{"invalid request"}})
	file := filepath.Join(t.TempDir(), "db.user")
	env := f.env(f.mint(t, oidctest.Job{}), "KEYLESS_VAULT_ROLE", "deploy",
		"KEYLESS_VAULT_SECRET_FILES", "secret/ci/db#username="+file)
	o := keyless(t, env, "exec", "--", "true")
	if o.Code != 0 {
		t.Fatalf("exit %d, want the command's 0\n%s", o.Code, o.Stderr)
	}
	if !strings.Contains(o.Stderr, "the token was not revoked; it expires at") {
		t.Errorf("no warning:\n%s", o.Stderr)
	}
	if _, err := os.Stat(file); !os.IsNotExist(err) {
		t.Error("the secret file outlived the command")
	}
}

// Empty KEYLESS_VAULT_* variables (a component's empty inputs) fall
// through to the vault CLI's variables.
func TestVaultStandardVariablesAreFallbacks(t *testing.T) {
	t.Parallel()
	f := newVaultFixture(t)
	f.v.Namespace = "team-a"
	env := f.env(f.mint(t, oidctest.Job{}), "KEYLESS_VAULT_ADDR", "", "KEYLESS_VAULT_NAMESPACE", "", "VAULT_NAMESPACE", "team-a",
		"KEYLESS_VAULT_ROLE", "deploy", "KEYLESS_VAULT_EXPORT_TOKEN", "true", "KEYLESS_VAULT_MOUNT", "", "KEYLESS_VAULT_FORMAT", "json")
	o := keyless(t, env, "vault")
	if o.Code != 0 {
		t.Fatalf("exit %d\n%s", o.Code, o.Stderr)
	}
	var out struct{ Env map[string]string }
	if err := json.Unmarshal([]byte(o.Stdout), &out); err != nil {
		t.Fatal(err)
	}
	if out.Env["VAULT_ADDR"] != f.v.URL || out.Env["VAULT_NAMESPACE"] != "team-a" || out.Env["VAULT_TOKEN"] == "" {
		t.Errorf("json: %s", o.Stdout)
	}
	if r := f.v.Requests(); r[0].Path != "auth/jwt/login" || r[0].Namespace != "team-a" {
		t.Errorf("login request: %+v", r[0])
	}
}

func TestVaultTLSFlags(t *testing.T) {
	t.Parallel()
	v, files := vaulttest.NewTLS(t, true)
	iss := oidctest.NewServer(t)
	f := vaultFixture{iss: iss, v: v, state: filepath.Join(t.TempDir(), "state")}
	env := f.env(f.mint(t, oidctest.Job{}))
	base := []string{"vault", "--role", "deploy", "--secret", "P=secret/ci/db#password", "--timeout", "5s"}
	o := keyless(t, env, base...)
	if o.Code != ExitFailure || !strings.Contains(o.Stderr, "--ca-cert (VAULT_CACERT)") || len(v.Requests()) != 0 {
		t.Fatalf("untrusted: exit %d\n%s", o.Code, o.Stderr)
	}
	o = keyless(t, env, append(base, "--ca-cert", files.CACert, "--client-cert", files.ClientCert, "--client-key", files.ClientKey)...)
	if o.Code != 0 || vaultExports(t, o.Stdout)["P"] != "fake-db-password" {
		t.Fatalf("with flags: exit %d\n%s", o.Code, o.Stderr)
	}
	// The vault CLI's variables work as fallbacks, and revoke finds the
	// TLS files in the kept state.
	o = keyless(t, f.env(f.mint(t, oidctest.Job{}), "VAULT_CACERT", files.CACert, "VAULT_CLIENT_CERT", files.ClientCert, "VAULT_CLIENT_KEY", files.ClientKey), base...)
	if o.Code != 0 {
		t.Fatalf("with VAULT_CACERT: exit %d\n%s", o.Code, o.Stderr)
	}
	if o := keyless(t, f.env(""), "vault", "revoke"); o.Code != 0 || strings.Count(o.Stderr, "revoked the token") != 2 {
		t.Fatalf("revoke over mTLS: exit %d\n%s", o.Code, o.Stderr)
	}
	o = keyless(t, env, append(base, "--client-cert", files.ClientCert)...)
	if o.Code != ExitUsage || !strings.Contains(o.Stderr, "go together") {
		t.Errorf("a cert without its key: exit %d\n%s", o.Code, o.Stderr)
	}
	o = keyless(t, env, append(base, "--ca-cert", filepath.Join(t.TempDir(), "missing.pem"))...)
	if o.Code != ExitUsage || !strings.Contains(o.Stderr, "--ca-cert") {
		t.Errorf("a missing CA file: exit %d\n%s", o.Code, o.Stderr)
	}
	o = keyless(t, env, append(base, "--ca-cert", files.ClientKey)...)
	if o.Code != ExitUsage {
		t.Errorf("a CA file without a certificate: exit %d\n%s", o.Code, o.Stderr)
	}
}
