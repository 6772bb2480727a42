package cli

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gitlab.com/keyless-ci/keyless/internal/exchange/vault/vaulttest"
	"gitlab.com/keyless-ci/keyless/internal/oidctest"
)

// TestVaultCanary runs every output mode and every error path of keyless
// vault with a canary Vault token, canary secret values and a real minted
// ID token, and checks that each appears only in the output whose job is
// to carry it: the secrets on stdout (env, json) or in the command's
// environment (exec) or in their --secret-file; the Vault token only with
// --export-token there, and in the 0600 state file that keeps it for
// `keyless vault revoke`; never on stderr, in an error, in a --debug log,
// or in any other file.
func TestVaultCanary(t *testing.T) {
	t.Parallel()
	const (
		canaryToken = "hvs.CANARY-vault-token-0123456789abcdef"
		canaryDB    = "CANARY-db-password-0123456789abcdef"
		canaryAPI   = "CANARY-api-key-0123456789abcdef"
		canaryTLS   = "CANARY-tls-key-0123456789abcdef"
	)
	type mode struct {
		name   string
		faults func(tok string) []vaulttest.Fault
		setup  func(t *testing.T, f vaultFixture, env map[string]string)
		tls    bool // the fake behind TLS, not trusted
		env    map[string]string
		args   []string
		file   bool // add --secret-file secret/ci/tls#key=FILE
		// what may appear on stdout and in the command's environment
		// ("child"): the names of the canaries.
		stdout, child []string
		kept          bool // the token is kept in a state file
		code          int
	}
	secrets := []string{"--role", "deploy", "--secret", "DB=secret/ci/db#password", "--secret", "API=kv1/ci/api#key"}
	vaultArgs := func(a ...string) []string { return append(append([]string{"vault"}, secrets...), a...) }
	both := []string{"db password", "api key"}
	withToken := []string{"db password", "api key", "Vault token"}
	component := map[string]string{"KEYLESS_VAULT_ROLE": "deploy", "KEYLESS_VAULT_SECRETS": "DB=secret/ci/db#password\nAPI=kv1/ci/api#key"}
	envMode := func(t *testing.T, f vaultFixture, env map[string]string) {
		t.Helper()
		if o := keyless(t, env, vaultArgs("--secret-file", "secret/ci/tls#key="+env["TLS_FILE"])...); o.Code != 0 {
			t.Fatalf("env mode before revoke: exit %d\n%s", o.Code, o.Stderr)
		}
	}
	modes := []mode{
		{name: "env", args: vaultArgs(), stdout: both, kept: true},
		{name: "env-export-token", args: vaultArgs("--export-token"), stdout: withToken, kept: true},
		{name: "env-secret-file", args: vaultArgs(), file: true, stdout: both, kept: true},
		{name: "json", args: vaultArgs("--format", "json"), stdout: both, kept: true},
		{name: "json-export-token", args: vaultArgs("--format", "json", "--export-token"), stdout: withToken, kept: true},
		{name: "exec", args: vaultArgs(), child: both},
		{name: "exec-export-token", args: vaultArgs("--export-token"), child: withToken},
		{name: "exec-secret-file", args: vaultArgs(), file: true, child: append(both, "tls key")},
		{name: "keyless-env", args: []string{"env"}, env: component, stdout: both, kept: true},
		{name: "keyless-exec", args: []string{"exec"}, env: component, child: both},
		{name: "revoke", setup: envMode, args: []string{"vault", "revoke"}},
		{name: "token", args: []string{"token", "--verify"}},
		{name: "token-json", args: []string{"token", "--format", "json"}},
		{name: "role-not-found", args: []string{"vault", "--role", "nope", "--export-token"}, code: 3},
		{name: "bound-claims", setup: func(t *testing.T, f vaultFixture, env map[string]string) {
			f.v.Roles["deploy"].BoundClaims["project_path"] = "keyless-ci/other"
		}, args: vaultArgs(), code: 3},
		{name: "read-denied", args: []string{"vault", "--role", "deploy", "--secret", "DB=secret/ci/db#password", "--secret", "P=secret/prod/db#password"}, code: 3},
		{name: "missing-field", args: vaultArgs("--secret", "X=secret/ci/db#nope", "--export-token"), code: 3},
		// Vault quoting the ID token, the Vault token or a secret read
		// earlier back must not leak them either.
		{name: "jwt-echo", faults: func(tok string) []vaulttest.Fault {
			return []vaulttest.Fault{{Path: "auth/", Status: 400, Errors: []string{"error validating token: " + tok}}}
		}, args: vaultArgs(), code: 3},
		{name: "token-echo", faults: func(string) []vaulttest.Fault {
			return []vaulttest.Fault{{Path: "kv1/", Status: 400, Errors: []string{"1 error occurred:\n\t* token " + canaryToken + " and value " + canaryDB + " refused\n\n"}}}
		}, args: vaultArgs(), code: 3},
		{name: "sealed-then-timeout", faults: func(string) []vaulttest.Fault {
			return []vaulttest.Fault{vaulttest.Sealed, vaulttest.Throttled, {Hang: true}}
		}, args: vaultArgs("--timeout", "200ms"), code: 3},
		{name: "read-hangs", faults: func(string) []vaulttest.Fault { return []vaulttest.Fault{{Path: "kv1/", Hang: true}} },
			args: vaultArgs("--timeout", "300ms", "--export-token"), code: 3},
		{name: "untrusted-tls", tls: true, args: vaultArgs(), code: 3},
		{name: "usage", args: vaultArgs("--format", "yaml"), code: 2},
		{name: "wrong-audience", args: vaultArgs("--audience", "https://gitlab.com"), code: 3},
	}
	// One issuer for every mode: its key takes a 2048-bit RSA generation,
	// and no mode changes it.
	iss := oidctest.NewServer(t)
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			f := vaultFixture{iss: iss, state: filepath.Join(t.TempDir(), "state")}
			if m.tls {
				f.v, _ = vaulttest.NewTLS(t, false)
			} else {
				f.v = vaulttest.New(t)
			}
			f.v.DiscoveryURL, f.v.BoundIssuer = f.iss.URL, f.iss.URL
			f.v.NextTokens = []string{canaryToken}
			f.v.Put("secret/ci/db", map[string]any{"username": "ci", "password": canaryDB})
			f.v.Put("kv1/ci/api", map[string]any{"key": canaryAPI})
			f.v.Put("secret/ci/tls", map[string]any{"key": canaryTLS})
			tok := f.mint(t, oidctest.Job{})
			if m.faults != nil {
				f.v.AddFaults(m.faults(tok)...)
			}
			sig := tok[strings.LastIndexByte(tok, '.')+1:]
			canaries := map[string]string{"Vault token": canaryToken, "db password": canaryDB, "api key": canaryAPI,
				"tls key": canaryTLS, "ID token": tok, "ID token's signature": sig}

			work := t.TempDir()
			childOut := filepath.Join(work, "child.env")
			tlsFile := filepath.Join(work, "out", "tls.key")
			env := f.env(tok, "KEYLESS_DEBUG", "true", "CI_SERVER_URL", f.iss.URL, "CI_JOB_ID", "1",
				"CI_PROJECT_DIR", filepath.Join(work, "project"), "TLS_FILE", tlsFile)
			for k, v := range m.env {
				env[k] = v
			}
			if m.setup != nil {
				m.setup(t, f, env)
			}
			args := append([]string{}, m.args...)
			if m.file {
				args = append(args, "--secret-file", "secret/ci/tls#key="+tlsFile)
			}
			if m.child != nil {
				// The child writes its environment (and the secret file) to a
				// file the test reads: the one place exec mode's secrets go.
				script := "env > " + childOut
				if m.file {
					script += "; cat " + tlsFile + " >> " + childOut
				}
				args = append(args, "--", "sh", "-c", script)
			}
			o := keyless(t, env, args...)
			if o.Code != m.code {
				t.Fatalf("exit %d, want %d\nstderr: %s", o.Code, m.code, o.Stderr)
			}
			check := canaryCheck(t, canaries)
			check("stderr", o.Stderr)
			check("stdout", o.Stdout, m.stdout...)
			for _, name := range m.stdout {
				if !strings.Contains(o.Stdout, canaries[name]) {
					t.Errorf("stdout does not carry the %s:\n%s", name, o.Stdout)
				}
			}
			if m.child != nil {
				b, err := os.ReadFile(childOut)
				if err != nil {
					t.Fatal(err)
				}
				childEnv := string(b)
				// The command inherits the job's environment less the ID
				// token variable (issue 13); keyless adds no copy.
				check("the command's environment", childEnv, append(m.child, "ID token", "ID token's signature")...)
				for _, name := range m.child {
					if !strings.Contains(childEnv, canaries[name]) {
						t.Errorf("the command did not get the %s", name)
					}
				}
				if n := strings.Count(childEnv, tok); n != 0 {
					t.Errorf("the ID token appears %d times in the command's environment; it gets the credentials only", n)
				}
				os.Remove(childOut)
			}
			// Every file keyless left behind, anywhere it could write.
			states := 0
			leftBehind([]string{o.Home, o.TmpDir, work, f.state}, func(p string, b []byte, perm fs.FileMode) {
				switch {
				case p == tlsFile && m.file && m.child == nil:
					if perm != 0o600 || string(b) != canaryTLS {
						t.Errorf("secret file %s: mode %v", p, perm)
					}
					return
				case filepath.Dir(p) == f.state && strings.HasPrefix(filepath.Base(p), "vault-token-"):
					states++
					if perm != 0o600 {
						t.Errorf("state file %s: mode %v", p, perm)
					}
					check("state file "+p, string(b), "Vault token")
					return
				}
				check("file "+p, string(b))
			})
			if want := map[bool]int{true: 1, false: 0}[m.kept]; states != want {
				t.Errorf("%d state files, want %d", states, want)
			}
			if _, err := os.Stat(tlsFile); (err == nil) != (m.file && m.child == nil) {
				t.Errorf("secret file: %v (written %v, exec %v)", err, m.file, m.child != nil)
			}
			if info, issued := f.v.Token(canaryToken); issued && info.Revoked == m.kept {
				t.Errorf("token revoked: %v, kept: %v", info.Revoked, m.kept)
			}
		})
	}
}
