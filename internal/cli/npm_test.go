package cli

import (
	"cmp"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"gitlab.com/keyless-ci/keyless/internal/exchange/exchangetest"
	"gitlab.com/keyless-ci/keyless/internal/exchange/npm/npmtest"
	"gitlab.com/keyless-ci/keyless/internal/oidctest"
)

const npmPackage = "@keyless-ci/demo"

func newNpmFixture(t *testing.T, iss *oidctest.Issuer, faults ...npmtest.Fault) *npmtest.Server {
	t.Helper()
	srv := npmtest.New(t, faults...)
	srv.Verify = exchangetest.TrustIssuer(iss.URL, srv.Audience())
	srv.Packages[npmPackage] = npmtest.Publisher{Namespace: "keyless-ci", Project: "demo", CIFile: ".gitlab-ci.yml"}
	return srv
}

func npmEnv(t *testing.T, iss *oidctest.Issuer, srv *npmtest.Server, tok string) map[string]string {
	work := t.TempDir()
	return map[string]string{"KEYLESS_ID_TOKEN": tok, "KEYLESS_NPM_REGISTRY": srv.URL, "KEYLESS_NPM_PACKAGE": npmPackage,
		"CI_SERVER_URL": iss.URL, "CI_JOB_ID": "1", "CI_PROJECT_DIR": filepath.Join(work, "project")}
}

// childScript records the command's environment and its npmrc, as npm
// would read it, with the file's mode.
func childScript(out string) []string {
	return []string{"--", "sh", "-c", `env > "$0"; cat "$NPM_CONFIG_USERCONFIG" > "$0.npmrc"; stat -c %a "$NPM_CONFIG_USERCONFIG" > "$0.mode"`, out}
}

func TestNpmCommand(t *testing.T) {
	t.Parallel()
	iss := oidctest.NewServer(t)
	t.Run("exec", func(t *testing.T) {
		t.Parallel()
		srv := newNpmFixture(t, iss)
		env := npmEnv(t, iss, srv, iss.MustMint(t, oidctest.Job{Audience: []string{srv.Audience()}}))
		out := filepath.Join(t.TempDir(), "child.env")
		o := keyless(t, env, append([]string{"npm"}, childScript(out)...)...)
		if o.Code != 0 {
			t.Fatalf("exit %d\n%s", o.Code, o.Stderr)
		}
		b, _ := os.ReadFile(out)
		rc, _ := os.ReadFile(out + ".npmrc")
		mode, _ := os.ReadFile(out + ".mode")
		if !strings.Contains(string(b), "NODE_AUTH_TOKEN="+srv.Token+"\n") {
			t.Error("the command did not get NODE_AUTH_TOKEN")
		}
		host := strings.TrimPrefix(srv.URL, "http:")
		if want := "registry=" + srv.URL + "/\n" + host + "/:_authToken=${NODE_AUTH_TOKEN}\n"; string(rc) != want {
			t.Errorf("npmrc = %q, want %q", rc, want)
		}
		if strings.TrimSpace(string(mode)) != "600" {
			t.Errorf("npmrc mode %s", mode)
		}
		// The npmrc lived as long as the command: its path is gone.
		for _, line := range strings.Split(string(b), "\n") {
			if p, ok := strings.CutPrefix(line, "NPM_CONFIG_USERCONFIG="); ok {
				if strings.HasPrefix(p, env["CI_PROJECT_DIR"]) {
					t.Error("the npmrc is inside the project directory")
				}
				if _, err := os.Stat(p); !os.IsNotExist(err) {
					t.Errorf("the npmrc %s outlived the command", p)
				}
				if _, err := os.Stat(filepath.Dir(p)); !os.IsNotExist(err) {
					t.Errorf("its directory %s outlived the command", filepath.Dir(p))
				}
			}
		}
	})
	t.Run("env-then-cleanup", func(t *testing.T) {
		t.Parallel()
		srv := newNpmFixture(t, iss)
		env := npmEnv(t, iss, srv, iss.MustMint(t, oidctest.Job{Audience: []string{srv.Audience()}}))
		env["TMPDIR"] = t.TempDir()
		o := keyless(t, env, "env")
		if o.Code != 0 {
			t.Fatalf("exit %d\n%s", o.Code, o.Stderr)
		}
		var path string
		for _, line := range strings.Split(o.Stdout, "\n") {
			if p, ok := strings.CutPrefix(line, "export NPM_CONFIG_USERCONFIG="); ok {
				path = strings.Trim(p, "'")
			}
		}
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("npmrc %q: %v", path, err)
		}
		if o := keyless(t, env, "cleanup"); o.Code != 0 {
			t.Fatalf("cleanup: exit %d\n%s", o.Code, o.Stderr)
		}
		if _, err := os.Stat(path); !os.IsNotExist(err) {
			t.Error("keyless cleanup left the npmrc")
		}
	})
	t.Run("json", func(t *testing.T) {
		t.Parallel()
		srv := newNpmFixture(t, iss)
		env := npmEnv(t, iss, srv, iss.MustMint(t, oidctest.Job{Audience: []string{srv.Audience()}}))
		o := keyless(t, env, "npm", "--format", "json")
		var got map[string]string
		if o.Code != 0 || json.Unmarshal([]byte(o.Stdout), &got) != nil || got["token"] != srv.Token || got["package"] != npmPackage {
			t.Errorf("exit %d, stdout %q\n%s", o.Code, o.Stdout, o.Stderr)
		}
	})
	t.Run("not-found", func(t *testing.T) {
		t.Parallel()
		srv := newNpmFixture(t, iss)
		env := npmEnv(t, iss, srv, iss.MustMint(t, oidctest.Job{Audience: []string{srv.Audience()}}))
		o := keyless(t, env, "npm", "--package", "@keyless-ci/unknown")
		if o.Code != 3 {
			t.Fatalf("exit %d\n%s", o.Code, o.Stderr)
		}
		for _, want := range []string{"package not found", "Top-level CI file path", "--package"} {
			if !strings.Contains(o.Stderr, want) {
				t.Errorf("stderr lacks %q:\n%s", want, o.Stderr)
			}
		}
	})
	t.Run("component-input-words", func(t *testing.T) {
		t.Parallel()
		srv := newNpmFixture(t, iss)
		env := npmEnv(t, iss, srv, iss.MustMint(t, oidctest.Job{Audience: []string{srv.Audience()}}))
		env["KEYLESS_NPM_COMPONENT"] = ".keyless-npm"
		env["KEYLESS_NPM_PACKAGE"] = "Not Valid"
		o := keyless(t, env, "env")
		if o.Code != 2 || !strings.Contains(o.Stderr, `package "Not Valid"`) {
			t.Errorf("exit %d\n%s", o.Code, o.Stderr)
		}
	})
	t.Run("help", func(t *testing.T) {
		t.Parallel()
		o := keyless(t, nil, "npm", "--help")
		for _, want := range []string{"--package", "--registry", "NPM_CONFIG_USERCONFIG", "11.5.1", "KEYLESS_NPM_PACKAGE"} {
			if !strings.Contains(o.Stdout, want) {
				t.Errorf("help lacks %q", want)
			}
		}
	})
}

// TestNpmCanary runs every output mode and refusal of `keyless npm` with a
// real minted ID token and a canary publish token. The publish token may
// appear only on stdout (env, json) and in the command's environment; the
// npmrc holds a reference to NODE_AUTH_TOKEN, never the value; the ID
// token only in the request's Authorization header. Nothing on stderr, in
// an error, in a --debug log or in a file.
func TestNpmCanary(t *testing.T) {
	t.Parallel()
	const canary = "npm_CANARYpublishToken0123456789abcdef"
	iss := oidctest.NewServer(t)
	type mode struct {
		name    string
		faults  func(tok string) []npmtest.Fault
		args    []string
		exec    bool
		carries string
		code    int
		aud     string
	}
	modes := []mode{
		{name: "env", args: []string{"npm"}, carries: "stdout"},
		{name: "json", args: []string{"npm", "--format", "json"}, carries: "stdout"},
		{name: "exec", args: []string{"npm"}, exec: true, carries: "child"},
		{name: "keyless-env", args: []string{"env"}, carries: "stdout"},
		{name: "keyless-exec", args: []string{"exec"}, exec: true, carries: "child"},
		{name: "wrong-audience", args: []string{"npm"}, aud: "npm:registry.npmjs.org", code: 3},
		{name: "unauthorized-echo", faults: func(tok string) []npmtest.Fault {
			return []npmtest.Fault{{Status: 401, ContentType: "application/json", Body: `{"message": "OIDC token exchange error - unauthorized: ` + tok + `"}`}}
		}, args: []string{"npm"}, code: 3},
		{name: "server-error-echo", faults: func(tok string) []npmtest.Fault {
			return []npmtest.Fault{{Status: 502, Body: "<pre>Bearer " + tok + "</pre>", ContentType: "text/html"}, {Hang: true}}
		}, args: []string{"npm", "--timeout", "300ms"}, exec: true, code: 3},
		{name: "redirect-echo", faults: func(tok string) []npmtest.Fault {
			return []npmtest.Fault{{Status: 308, Location: "https://elsewhere.example/x?auth=" + tok}}
		}, args: []string{"npm"}, code: 3},
		{name: "bad-success", faults: func(string) []npmtest.Fault {
			return []npmtest.Fault{{Status: 201, ContentType: "application/json", Body: `{"token": 7, "note": "` + canary + `"}`}}
		}, args: []string{"npm"}, code: 3},
		{name: "usage", args: []string{"npm", "--package", ""}, code: 2},
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			// Every fake listens on loopback: its audience is npm:127.0.0.1.
			tok := iss.MustMint(t, oidctest.Job{Audience: []string{cmp.Or(m.aud, "npm:127.0.0.1")}})
			var faults []npmtest.Fault
			if m.faults != nil {
				faults = m.faults(tok)
			}
			srv := newNpmFixture(t, iss, faults...)
			srv.Token = canary
			sig := tok[strings.LastIndexByte(tok, '.')+1:]
			canaries := map[string]string{"ID token": tok, "ID token signature": sig, "ID token start": tok[:48], "publish token": canary}
			env := npmEnv(t, iss, srv, tok)
			env["KEYLESS_DEBUG"] = "true"
			work := t.TempDir()
			childOut := filepath.Join(work, "child.env")
			args := m.args
			if m.exec {
				args = append(append([]string{}, args...), childScript(childOut)...)
			}
			o := keyless(t, env, args...)
			if o.Code != m.code {
				t.Fatalf("exit %d, want %d\nstderr: %s", o.Code, m.code, o.Stderr)
			}
			checkCanaryOutput(t, o, childOut, canaries, m.carries, "publish token", "NODE_AUTH_TOKEN="+canary+"\n")
			for _, r := range srv.Requests() {
				if r.Authorization != "Bearer "+tok {
					t.Errorf("Authorization is not the ID token")
				}
			}
			if m.aud != "" && len(srv.Requests()) > 0 {
				t.Error("the ID token was sent to a registry it is not for")
			}
			// Every file: the npmrc included, which refers to the token only.
			checkCanaryFiles(t, canaries, o.Home, o.TmpDir, work, env["CI_PROJECT_DIR"])
		})
	}
}

// TestNpmRealClient runs the npm CLI, where it is installed, as keyless
// npm's command: it must read the npmrc keyless wrote, expand
// ${NODE_AUTH_TOKEN} in it and send the issued token to the registry
// (npm whoami). It checks the one thing the fake cannot: that a real
// client accepts the npmrc.
func TestNpmRealClient(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("npm"); err != nil {
		t.Skip("npm is not installed")
	}
	iss := oidctest.NewServer(t)
	srv := newNpmFixture(t, iss)
	env := npmEnv(t, iss, srv, iss.MustMint(t, oidctest.Job{Audience: []string{srv.Audience()}}))
	o := keyless(t, env, "npm", "--quiet", "--", "npm", "whoami", "--no-update-notifier", "--loglevel", "silent")
	if o.Code != 0 {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", o.Code, o.Stdout, o.Stderr)
	}
	if strings.TrimSpace(o.Stdout) != "keyless-ci-publisher" {
		t.Errorf("npm whoami printed %q", o.Stdout)
	}
	var whoami int
	for _, r := range srv.Requests() {
		if r.Path == npmtest.WhoamiPath {
			whoami++
			if r.Authorization != "Bearer "+srv.Token {
				t.Errorf("npm sent Authorization %q", r.Authorization)
			}
		}
	}
	if whoami != 1 {
		t.Errorf("npm asked whoami %d times", whoami)
	}
}

// keyless doctor says which case of npm trusted publishing the job is in,
// from the npm on the job's PATH.
func TestNpmDoctorCase(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("npm"); err != nil {
		t.Skip("npm is not installed")
	}
	iss := oidctest.NewServer(t)
	tok := iss.MustMint(t, oidctest.Job{Audience: []string{"npm:registry.npmjs.org"}})
	o := keyless(t, map[string]string{"NPM_ID_TOKEN": tok, "KEYLESS_TOKEN_VAR": "NPM_ID_TOKEN", "CI_SERVER_URL": iss.URL}, "doctor")
	if !strings.Contains(o.Stdout, "npm trusted publishing: npm ") {
		t.Errorf("doctor says nothing of npm:\n%s%s", o.Stdout, o.Stderr)
	}
	if strings.Contains(o.Stdout+o.Stderr, tok) {
		t.Error("doctor printed the token")
	}
}
