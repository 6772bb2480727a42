package cli

import (
	"encoding/base64"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gitlab.com/keyless-ci/keyless/internal/exchange/sts/ststest"
	"gitlab.com/keyless-ci/keyless/internal/oidctest"
)

// TestSTSCanary runs every output mode and error path of `keyless sts` with
// a real minted ID token and canary values for the issued token, the refresh
// token and the client secret. Each may appear only where it is meant to go:
// the issued token on stdout (env, json) or in the command's environment
// (exec); the client secret only in the request's Authorization header; the
// ID token only in the request body; the refresh token nowhere. Never on
// stderr, in an error, in a --debug log or in a file.
func TestSTSCanary(t *testing.T) {
	t.Parallel()
	const (
		canaryIssued  = "CANARY-issued-token-0123456789abcdef"
		canaryRefresh = "CANARY-refresh-token-0123456789abcdef"
		canarySecret  = "CANARY-client/secret+0123456789:abcdef"
		canaryAlnum   = "CANARYclientSecretAlnum0123456789" // a secret that is also a valid variable name
		secretVar     = "STS_CANARY_CLIENT_SECRET"
		clientID      = "gitlab-ci"
	)
	iss := oidctest.NewServer(t)
	impostor, err := oidctest.New() // same iss, a key the issuer does not publish
	if err != nil {
		t.Fatal(err)
	}
	impostor.URL = iss.URL

	basicArgs := []string{"--client-id", clientID, "--client-secret-env", secretVar}
	basicEnv := map[string]string{"KEYLESS_STS_CLIENT_ID": clientID, "KEYLESS_STS_CLIENT_SECRET_ENV": secretVar}
	type mode struct {
		name string
		// faults returns the scripted answers, given the ID token, so that
		// they can quote it back as careless servers do.
		faults   func(tok string) []ststest.Fault
		basic    bool // the server requires HTTP Basic client authentication
		assert   bool // the server requires a jwt-bearer client assertion
		impostor bool // the ID token is one the server cannot verify
		env      map[string]string
		args     []string
		exec     bool   // append a command that writes its environment to a file
		carries  string // "stdout", "child" or "" (nothing may carry the issued token)
		code     int
	}
	echo := func(status int, code string) func(string) []ststest.Fault {
		return func(tok string) []ststest.Fault {
			return []ststest.Fault{{Status: status, Error: code,
				Description: "secret " + canarySecret + " / " + url.QueryEscape(canarySecret) + ", signature " + tok[strings.LastIndexByte(tok, '.')+1:] +
					", subject_token=" + tok + " (" + url.QueryEscape(tok) + ")",
				URI: "https://sso.example.com/errors?token=" + tok}}
		}
	}
	modes := []mode{
		{name: "env", args: []string{"sts"}, carries: "stdout"},
		{name: "json", args: []string{"sts", "--format", "json", "--requested-token-type", "jwt"}, carries: "stdout"},
		{name: "exec", args: []string{"sts"}, exec: true, carries: "child"},
		{name: "env-basic", basic: true, args: append([]string{"sts"}, basicArgs...), carries: "stdout"},
		{name: "json-basic", basic: true, args: append([]string{"sts", "--format", "json"}, basicArgs...), carries: "stdout"},
		{name: "exec-basic", basic: true, args: append([]string{"sts", "--env", "API_TOKEN"}, basicArgs...), exec: true, carries: "child"},
		{name: "env-assertion", assert: true, args: []string{"sts", "--client-id", clientID, "--client-assertion-type", "jwt-bearer"}, carries: "stdout"},
		{name: "keyless-env", basic: true, env: basicEnv, args: []string{"env"}, carries: "stdout"},
		{name: "keyless-env-json", args: []string{"env", "--format", "json"}, carries: "stdout"},
		{name: "keyless-exec", basic: true, env: basicEnv, args: []string{"exec"}, exec: true, carries: "child"},
		{name: "invalid-grant-echo", basic: true, impostor: true, args: append([]string{"sts"}, basicArgs...), code: 3},
		{name: "invalid-request-echo", basic: true, faults: echo(400, "invalid_request"), args: append([]string{"sts"}, basicArgs...), code: 3},
		{name: "invalid-client-echo", basic: true, faults: echo(401, "invalid_client"), args: append([]string{"sts", "--format", "json"}, basicArgs...), code: 3},
		{name: "invalid-target-echo", basic: true, faults: echo(400, "invalid_target"), args: append([]string{"sts", "--audience", "x"}, basicArgs...), exec: true, code: 3},
		{name: "other-code-echo", basic: true, env: basicEnv, faults: echo(400, "server_policy"), args: []string{"env"}, code: 3},
		{name: "not-found-echo", faults: func(tok string) []ststest.Fault {
			return []ststest.Fault{{Status: 404, Body: "<html>no route for " + tok + "</html>", ContentType: "text/html"}}
		}, args: []string{"sts"}, code: 3},
		{name: "redirect-echo", faults: func(tok string) []ststest.Fault {
			return []ststest.Fault{{Status: 302, Location: "https://elsewhere.example/token?subject_token=" + tok}}
		}, args: []string{"sts"}, code: 3},
		// A broken success answer holds the issued and refresh tokens: neither may be quoted.
		{name: "bad-success", faults: func(string) []ststest.Fault {
			return []ststest.Fault{{Status: 200, ContentType: "application/json",
				Body: `{"access_token":"` + canaryIssued + `","expires_in":"` + canaryIssued + `","refresh_token":"` + canaryRefresh + `"}`}}
		}, args: []string{"sts"}, code: 3},
		{name: "no-access-token", faults: func(string) []ststest.Fault {
			return []ststest.Fault{{Status: 200, ContentType: "application/json", Body: `{"refresh_token":"` + canaryRefresh + `","token_type":"Bearer"}`}}
		}, args: []string{"sts", "--format", "json"}, code: 3},
		{name: "unavailable-then-timeout", basic: true, faults: func(string) []ststest.Fault {
			return []ststest.Fault{ststest.Unavailable, {Hang: true}}
		}, args: append([]string{"sts", "--timeout", "200ms"}, basicArgs...), code: 3},
		{name: "usage", basic: true, args: append([]string{"sts", "--env", "PATH"}, basicArgs...), code: 2},
		// The secret itself where its variable's name belongs ($NAME, expanded by GitLab).
		{name: "secret-as-name", basic: true, env: map[string]string{"KEYLESS_STS_CLIENT_ID": clientID, "KEYLESS_STS_CLIENT_SECRET_ENV": canarySecret}, args: []string{"sts"}, code: 2},
		{name: "alnum-secret-as-name", env: map[string]string{"KEYLESS_STS_CLIENT_ID": clientID, "KEYLESS_STS_CLIENT_SECRET_ENV": canaryAlnum}, args: []string{"env"}, code: 2},
		{name: "wrong-audience", basic: true, args: append([]string{"sts", "--expected-aud", "other"}, basicArgs...), code: 3},
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			minter := iss
			if m.impostor {
				minter = impostor
			}
			tok := minter.MustMint(t, oidctest.Job{Audience: []string{stsAud}})
			sig := tok[strings.LastIndexByte(tok, '.')+1:]
			var faults []ststest.Fault
			if m.faults != nil {
				faults = m.faults(tok)
			}
			f := newSTSFixture(t, iss, faults...)
			f.srv.AccessToken, f.srv.RefreshToken = canaryIssued, canaryRefresh
			f.srv.SubjectError = "invalid_grant"
			if m.basic {
				f.srv.ClientID, f.srv.ClientSecret = clientID, canarySecret
			}
			f.srv.RequireAssertion = m.assert
			// The start of the token too: a message cut short must not carry a piece of it.
			canaries := map[string]string{"ID token": tok, "ID token signature": sig, "ID token start": tok[:48], "issued token": canaryIssued,
				"refresh token": canaryRefresh, "client secret": canarySecret, "alphanumeric client secret": canaryAlnum, "encoded client secret": url.QueryEscape(canarySecret)}

			work := t.TempDir()
			childOut := filepath.Join(work, "child.env")
			env := map[string]string{
				"KEYLESS_ID_TOKEN": tok, "KEYLESS_STS_TOKEN_URL": f.srv.TokenURL(),
				"KEYLESS_DEBUG": "true", "CI_SERVER_URL": iss.URL, "CI_JOB_ID": "1", "CI_PROJECT_DIR": filepath.Join(work, "project"),
			}
			if m.basic {
				// A masked CI/CD variable of the job.
				env[secretVar] = canarySecret
			}
			for k, v := range m.env {
				env[k] = v
			}
			args := m.args
			if m.exec {
				args = append(append([]string{}, args...), "--", "sh", "-c", "env > "+childOut)
			}
			o := keyless(t, env, args...)
			if o.Code != m.code {
				t.Fatalf("exit %d, want %d\nstderr: %s", o.Code, m.code, o.Stderr)
			}

			check := canaryCheck(t, canaries)
			check("stderr", o.Stderr)
			if m.carries == "stdout" {
				check("stdout", o.Stdout, "issued token")
				if !strings.Contains(o.Stdout, canaryIssued) {
					t.Errorf("stdout does not carry the issued token:\n%s", o.Stdout)
				}
			} else {
				check("stdout", o.Stdout)
			}
			if m.exec && m.code == 0 {
				b, err := os.ReadFile(childOut)
				if err != nil {
					t.Fatal(err)
				}
				// The child inherits the job's own ID token variable; keyless
				// adds the issued token and removes the client secret.
				check("the command's environment", string(b), "issued token", "ID token", "ID token signature", "ID token start")
				if !strings.Contains(string(b), "="+canaryIssued+"\n") {
					t.Errorf("the command did not get the issued token")
				}
				os.Remove(childOut)
			} else if _, err := os.Stat(childOut); err == nil {
				t.Errorf("the command ran although the exchange failed")
			}
			// Where the secrets were meant to go: the request.
			for _, r := range f.srv.Requests() {
				if r.Form != nil && r.Form.Get("subject_token") != tok {
					t.Errorf("the request's subject_token is not the ID token")
				}
				if m.basic && m.code != 2 && r.Authorization != "Basic "+base64.StdEncoding.EncodeToString([]byte(clientID+":"+url.QueryEscape(canarySecret))) {
					t.Errorf("Authorization = %q", r.Authorization)
				}
				if strings.Contains(r.Form.Encode(), url.QueryEscape(canarySecret)) {
					t.Errorf("the client secret is in the request body")
				}
			}
			// Every file keyless could have left behind.
			leftBehind([]string{o.Home, o.TmpDir, work}, func(p string, b []byte, _ fs.FileMode) {
				check("file "+p, string(b))
			})
		})
	}
}
