package cli

import (
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gitlab.com/keyless-ci/keyless/internal/exchange/azure"
	"gitlab.com/keyless-ci/keyless/internal/exchange/azure/azuretest"
	"gitlab.com/keyless-ci/keyless/internal/oidctest"
)

// TestAzureCanary runs every output mode and every error path of keyless
// azure with a canary access token and a real minted ID token, and checks
// that each appears only in the output whose job is to carry it: the access
// token on stdout (env, json) or in the command's environment (exec), the
// ID token in its 0600 token file (--refreshable, az-login); never on
// stderr, in an error, in a --debug log, or in any other file.
func TestAzureCanary(t *testing.T) {
	t.Parallel()
	const canaryAccess = "CANARY-entra-access-token-0123456789abcdef"
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	type mode struct {
		name   string
		faults []azuretest.Fault
		setup  func(t *testing.T, f *azureFixture)
		tls    bool // the fake behind TLS, not trusted
		env    map[string]string
		args   []string
		// where the secrets may appear: "stdout" (the access token),
		// "child" (the access token in the command's environment),
		// "child-file" (the token file's path in it), "tokenfile" (the ID
		// token in its file); nowhere else.
		carries string
		code    int
	}
	echo := azuretest.Fault{Status: 400, Error: "invalid_request", Code: 50027, Message: "Invalid JWT token '{assertion}'."}
	noWait := azuretest.Throttled
	noWait.RetryAfter = ""
	modes := []mode{
		{name: "env", args: []string{"azure"}, carries: "stdout"},
		{name: "json", args: []string{"azure", "--format", "json"}, carries: "stdout"},
		{name: "exec", args: []string{"azure"}, carries: "child"},
		{name: "exec-refreshable", args: []string{"azure", "--refreshable"}, carries: "child-file"},
		{name: "env-refreshable", args: []string{"azure", "--refreshable"}, carries: "tokenfile"},
		{name: "az-login", args: []string{"azure", "--format", "az-login"}, carries: "tokenfile"},
		{name: "keyless-env", args: []string{"env"}, carries: "stdout"},
		{name: "keyless-env-refreshable", args: []string{"env"}, env: map[string]string{"KEYLESS_AZURE_REFRESHABLE": "true"}, carries: "tokenfile"},
		{name: "keyless-exec", args: []string{"exec"}, carries: "child"},
		{name: "token", args: []string{"token", "--verify"}},
		{name: "token-json", args: []string{"token", "--format", "json"}},
		{name: "no-match", args: []string{"azure"}, env: map[string]string{"KEYLESS_AZURE_CLIENT_ID": azuretest.ClientID},
			setup: func(t *testing.T, f *azureFixture) {
				f.entra = azuretest.New(t)
				f.entra.Trust(azuretest.FederatedCredential{Issuer: f.iss.URL, Subject: "other"})
			}, code: 3},
		{name: "no-match-classic", faults: []azuretest.Fault{azuretest.NoMatch}, args: []string{"azure", "--format", "json"}, code: 3},
		{name: "token-time", setup: func(t *testing.T, f *azureFixture) {
			f.entra.Now = func() time.Time { return time.Now().Add(3 * time.Hour) }
		}, args: []string{"azure", "--refreshable"}, code: 3},
		{name: "locked", faults: []azuretest.Fault{azuretest.Locked}, args: []string{"azure", "--format", "az-login"}, code: 3},
		{name: "issuer-unreachable", setup: func(t *testing.T, f *azureFixture) {
			f.iss = oidctest.NewServer(t) // not the shared one: its URL changes
			f.iss.URL = closed.URL
			f.entra.Trust(azuretest.FederatedCredential{Issuer: closed.URL, Subject: azureSubject})
		}, args: []string{"azure"}, code: 3},
		// Entra quoting the assertion back must not leak it either.
		{name: "assertion-echo", faults: []azuretest.Fault{echo}, args: []string{"azure"}, code: 3},
		{name: "throttled-then-timeout", faults: []azuretest.Fault{noWait, {Hang: true}}, args: []string{"azure", "--timeout", "200ms"}, code: 3},
		{name: "unavailable", faults: []azuretest.Fault{azuretest.Unavailable, {Status: 502, Body: "<html>bad gateway</html>"}, {Hang: true}}, args: []string{"azure", "--timeout", "200ms"}, code: 3},
		{name: "untrusted-tls", tls: true, args: []string{"azure"}, code: 3},
		{name: "usage", args: []string{"azure", "--scope", "https://management.azure.com"}, code: 2},
		{name: "wrong-audience", args: []string{"azure", "--audience", "https://gitlab.com"}, code: 3},
		{name: "unknown-app", args: []string{"azure", "--client-id", "99999999-2222-3333-4444-000000000000"}, code: 3},
	}
	// One issuer for every mode: its key takes a 2048-bit RSA generation,
	// and no mode changes it.
	iss := oidctest.NewServer(t)
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			f := azureFixture{iss: iss}
			if m.tls {
				f.entra, _ = azuretest.NewTLS(t, m.faults...)
			} else {
				f.entra = azuretest.New(t, m.faults...)
			}
			f.entra.Trust(azuretest.FederatedCredential{Issuer: f.iss.URL, Subject: azureSubject})
			if m.setup != nil {
				m.setup(t, &f)
			}
			f.entra.AccessToken = canaryAccess
			tok := f.mint(t, oidctest.Job{})
			sig := tok[strings.LastIndexByte(tok, '.')+1:]
			canaries := map[string]string{"access token": canaryAccess, "ID token": tok, "ID token's signature": sig}

			work := t.TempDir()
			childOut := filepath.Join(work, "child.env")
			env := f.env(tok, "KEYLESS_DEBUG", "true", "CI_SERVER_URL", f.iss.URL, "CI_JOB_ID", "1",
				"CI_PROJECT_DIR", filepath.Join(work, "project"), "AZURE_CLIENT_SECRET", "stored-secret")
			for k, v := range m.env {
				env[k] = v
			}
			args := m.args
			if strings.HasPrefix(m.carries, "child") {
				// The child writes its environment to a file the test reads:
				// the one place exec mode's credentials are meant to go.
				args = append(append([]string{}, args...), "--", "sh", "-c", "env > "+childOut)
			}
			o := keyless(t, env, args...)
			if o.Code != m.code {
				t.Fatalf("exit %d, want %d\nstderr: %s", o.Code, m.code, o.Stderr)
			}
			home, tmp := o.Home, o.TmpDir
			check := canaryCheck(t, canaries)
			check("stderr", o.Stderr)
			if m.carries == "stdout" {
				check("stdout", o.Stdout, "access token")
				if !strings.Contains(o.Stdout, canaryAccess) {
					t.Errorf("stdout does not carry the access token:\n%s", o.Stdout)
				}
			} else {
				check("stdout", o.Stdout)
			}
			tokenFile := filepath.Join(tmp, "keyless-job-1", azure.TokenFileName)
			if strings.HasPrefix(m.carries, "child") {
				b, err := os.ReadFile(childOut)
				if err != nil {
					t.Fatal(err)
				}
				childEnv := string(b)
				// The command inherits the job's environment less the ID
				// token variable (issue 13); keyless adds no copy.
				if m.carries == "child-file" {
					check("the command's environment", childEnv, "ID token", "ID token's signature")
					if !strings.Contains(childEnv, "AZURE_FEDERATED_TOKEN_FILE="+tokenFile+"\n") {
						t.Errorf("refreshable child env lacks the token file:\n%s", childEnv)
					}
				} else {
					check("the command's environment", childEnv, "access token", "ID token", "ID token's signature")
					if !strings.Contains(childEnv, "AZURE_ACCESS_TOKEN="+canaryAccess+"\n") {
						t.Errorf("child did not get the access token")
					}
				}
				if n := strings.Count(childEnv, tok); n != 0 || strings.Contains(childEnv, "KEYLESS_AZURE_ID_TOKEN=") {
					t.Errorf("the ID token appears %d times in the command's environment; it gets the credentials only", n)
				}
				if strings.Contains(childEnv, "AZURE_CLIENT_SECRET=") {
					t.Errorf("the stored secret reached the command")
				}
				os.Remove(childOut)
			}
			// Every file keyless left behind, anywhere it could write.
			var meant []string
			leftBehind([]string{home, tmp, work}, func(p string, b []byte, perm fs.FileMode) {
				if m.carries == "tokenfile" && p == tokenFile {
					meant = append(meant, p)
					if perm != 0o600 || string(b) != tok {
						t.Errorf("token file %s: mode %v", p, perm)
					}
					if strings.HasPrefix(p, env["CI_PROJECT_DIR"]) {
						t.Errorf("token file inside the project dir")
					}
					return
				}
				check("file "+p, string(b))
			})
			if m.carries == "tokenfile" && len(meant) == 0 {
				t.Errorf("no token file written")
			}
			if m.carries == "child-file" {
				// The token file lives only as long as the command.
				if _, err := os.Stat(tokenFile); err == nil {
					t.Error("exec mode left the token file behind")
				}
			}
		})
	}
}
