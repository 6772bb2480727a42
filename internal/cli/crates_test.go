package cli

import (
	"cmp"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"gitlab.com/keyless-ci/keyless/internal/exchange/crates/cratestest"
	"gitlab.com/keyless-ci/keyless/internal/exchange/exchangetest"
	"gitlab.com/keyless-ci/keyless/internal/oidctest"
)

func newCratesFixture(t *testing.T, iss *oidctest.Issuer, faults ...cratestest.Fault) *cratestest.Server {
	t.Helper()
	srv := cratestest.New(t, faults...)
	srv.Issuer = iss.URL
	srv.Verify = exchangetest.TrustIssuer(iss.URL, srv.Audience())
	srv.Configs = []cratestest.Config{{Crate: "keyless-demo", Namespace: "keyless-ci", Project: "demo", WorkflowFilepath: ".gitlab-ci.yml"}}
	return srv
}

// cratesEnv is a job's environment for keyless crates; TMPDIR is fixed so
// that keyless cleanup, run after, finds the state directory.
func cratesEnv(t *testing.T, iss *oidctest.Issuer, srv *cratestest.Server, tok string) map[string]string {
	work := t.TempDir()
	return map[string]string{"KEYLESS_ID_TOKEN": tok, "KEYLESS_CRATES_REGISTRY_URL": srv.URL, "CI_SERVER_URL": iss.URL,
		"CI_JOB_ID": "1", "CI_PROJECT_DIR": filepath.Join(work, "project"), "TMPDIR": filepath.Join(work, "tmp")}
}

func cratesMint(t *testing.T, iss *oidctest.Issuer, srv *cratestest.Server) string {
	return iss.MustMint(t, oidctest.Job{Audience: []string{srv.Audience()}})
}

func TestCratesCommand(t *testing.T) {
	t.Parallel()
	iss := oidctest.NewServer(t)
	t.Run("exec", func(t *testing.T) {
		t.Parallel()
		srv := newCratesFixture(t, iss)
		env := cratesEnv(t, iss, srv, cratesMint(t, iss, srv))
		os.MkdirAll(env["TMPDIR"], 0o700)
		out := filepath.Join(t.TempDir(), "child.env")
		o := keyless(t, env, "crates", "--", "sh", "-c", "env > "+out)
		if o.Code != 0 {
			t.Fatalf("exit %d\n%s", o.Code, o.Stderr)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), "CARGO_REGISTRY_TOKEN=cio_tp_") || strings.Contains(string(b), "KEYLESS_ID_TOKEN=") {
			t.Errorf("the command's environment:\n%s", b)
		}
		if !strings.Contains(o.Stderr, "keyless: crates: ") || !strings.Contains(o.Stderr, "revoked when the command exits; set CARGO_REGISTRY_TOKEN") {
			t.Errorf("summary:\n%s", o.Stderr)
		}
		// Revoked once the command exited.
		if srv.Live() != 0 || srv.Revoked() != 1 {
			t.Errorf("live %d, revoked %d", srv.Live(), srv.Revoked())
		}
	})
	t.Run("env-then-cleanup", func(t *testing.T) {
		t.Parallel()
		srv := newCratesFixture(t, iss)
		env := cratesEnv(t, iss, srv, cratesMint(t, iss, srv))
		os.MkdirAll(env["TMPDIR"], 0o700)
		o := keyless(t, env, "crates", "--registry", "my-reg")
		if o.Code != 0 {
			t.Fatalf("exit %d\n%s", o.Code, o.Stderr)
		}
		for _, want := range []string{"export CARGO_REGISTRIES_MY_REG_TOKEN='cio_tp_", "unset CARGO_REGISTRIES_MY_REG_CREDENTIAL_PROVIDER"} {
			if !strings.Contains(o.Stdout, want) {
				t.Errorf("stdout lacks %q:\n%s", want, o.Stdout)
			}
		}
		if !strings.Contains(o.Stderr, "kept for keyless cleanup to revoke") || srv.Live() != 1 {
			t.Errorf("live %d; summary:\n%s", srv.Live(), o.Stderr)
		}
		o = keyless(t, env, "cleanup")
		if o.Code != 0 || srv.Live() != 0 || srv.Revoked() != 1 {
			t.Fatalf("cleanup: exit %d, live %d, revoked %d\n%s", o.Code, srv.Live(), srv.Revoked(), o.Stderr)
		}
		if !strings.Contains(o.Stderr, "keyless: crates: revoked the publish token at "+srv.URL) {
			t.Errorf("cleanup said:\n%s", o.Stderr)
		}
		if _, err := os.Stat(filepath.Join(env["TMPDIR"], "keyless-job-1")); err == nil {
			t.Error("cleanup left the state directory")
		}
		// Nothing left to do: quiet.
		if o := keyless(t, env, "cleanup"); o.Code != 0 || o.Stderr != "" {
			t.Errorf("second cleanup: exit %d\n%s", o.Code, o.Stderr)
		}
	})
	t.Run("json", func(t *testing.T) {
		t.Parallel()
		srv := newCratesFixture(t, iss)
		env := cratesEnv(t, iss, srv, cratesMint(t, iss, srv))
		os.MkdirAll(env["TMPDIR"], 0o700)
		o := keyless(t, env, "crates", "--format", "json")
		if o.Code != 0 {
			t.Fatalf("exit %d\n%s", o.Code, o.Stderr)
		}
		var got map[string]string
		if err := json.Unmarshal([]byte(o.Stdout), &got); err != nil || !strings.HasPrefix(got["token"], "cio_tp_") || got["audience"] != srv.Audience() || got["expires_at"] == "" {
			t.Errorf("json %q: %v", o.Stdout, err)
		}
		if o := keyless(t, env, "cleanup"); o.Code != 0 || srv.Revoked() != 1 {
			t.Errorf("cleanup after json: exit %d, revoked %d\n%s", o.Code, srv.Revoked(), o.Stderr)
		}
	})
	t.Run("keyless-exec", func(t *testing.T) {
		t.Parallel()
		srv := newCratesFixture(t, iss)
		env := cratesEnv(t, iss, srv, cratesMint(t, iss, srv))
		os.MkdirAll(env["TMPDIR"], 0o700)
		env["KEYLESS_CRATES_COMPONENT"] = ".keyless-crates"
		o := keyless(t, env, "exec", "--", "sh", "-c", "test -n \"$CARGO_REGISTRY_TOKEN\"")
		if o.Code != 0 || srv.Revoked() != 1 {
			t.Fatalf("exit %d, revoked %d\n%s", o.Code, srv.Revoked(), o.Stderr)
		}
	})
	t.Run("refused", func(t *testing.T) {
		t.Parallel()
		srv := newCratesFixture(t, iss)
		srv.Configs[0].Environment = "release"
		env := cratesEnv(t, iss, srv, cratesMint(t, iss, srv))
		o := keyless(t, env, "crates")
		if o.Code != 3 {
			t.Fatalf("exit %d, want 3\n%s", o.Code, o.Stderr)
		}
		for _, want := range []string{"HTTP 400", "requires an environment", "Namespace", "keyless-ci", "Workflow filepath", "<- crates.io: does not match"} {
			if !strings.Contains(o.Stderr, want) {
				t.Errorf("stderr lacks %q:\n%s", want, o.Stderr)
			}
		}
	})
	t.Run("usage", func(t *testing.T) {
		t.Parallel()
		srv := newCratesFixture(t, iss)
		env := cratesEnv(t, iss, srv, cratesMint(t, iss, srv))
		for _, args := range [][]string{{"crates", "--registry-url", "https://crates.io/api/v1/trusted_publishing/tokens"}, {"crates", "--registry", "a b"},
			{"crates", "--format", "yaml"}, {"crates", "--registry-url", "http://crates.io"}} {
			if o := keyless(t, env, args...); o.Code != 2 || !strings.Contains(o.Stderr, args[1]) {
				t.Errorf("%v: exit %d\n%s", args, o.Code, o.Stderr)
			}
		}
		if len(srv.Requests()) != 0 {
			t.Error("a usage error sent the token")
		}
	})
	t.Run("doctor", func(t *testing.T) {
		t.Parallel()
		srv := newCratesFixture(t, iss)
		env := cratesEnv(t, iss, srv, iss.MustMint(t, oidctest.Job{Audience: []string{"crates.io"}}))
		o := keyless(t, env, "doctor")
		if !strings.Contains(o.Stdout, "FAIL  audience crates: aud is crates.io, crates expects "+srv.Audience()) || o.Code == 0 {
			t.Errorf("doctor: exit %d\n%s%s", o.Code, o.Stdout, o.Stderr)
		}
		if len(srv.Requests()) != 0 {
			t.Error("doctor sent the token")
		}
	})
	t.Run("help", func(t *testing.T) {
		t.Parallel()
		o := keyless(t, nil, "crates", "--help")
		for _, want := range []string{"--registry-url", "--registry", "CARGO_REGISTRY_TOKEN", "cargo publish", "KEYLESS_CRATES_REGISTRY_URL"} {
			if !strings.Contains(o.Stdout, want) {
				t.Errorf("help lacks %q", want)
			}
		}
	})
}

// TestCratesCanary runs every output mode and refusal of `keyless crates`
// with a real minted ID token and a canary publish token. The publish token
// may appear only on stdout (env, json) or in the command's environment
// (exec), and in the state file until keyless cleanup removes it; the ID
// token only in the exchange request. Never on stderr, in an error, in a
// --debug log or in a file left behind.
func TestCratesCanary(t *testing.T) {
	t.Parallel()
	const canary = "cio_tp_CANARYcanaryCANARYcanary0123456"
	iss := oidctest.NewServer(t)
	type mode struct {
		name    string
		faults  func(tok string) []cratestest.Fault
		args    []string
		exec    bool
		carries string // "stdout", "child" or ""
		code    int
		aud     string
		env     string // the config's environment
	}
	echo := func(status int) func(string) []cratestest.Fault {
		return func(tok string) []cratestest.Fault {
			// A careless registry quoting the token back.
			return []cratestest.Fault{{Status: status, ContentType: "application/json", Body: `{"errors":[{"detail":"Failed to decode JWT ` + tok + `"}]}`}}
		}
	}
	modes := []mode{
		{name: "env", args: []string{"crates"}, carries: "stdout"},
		{name: "json", args: []string{"crates", "--format", "json"}, carries: "stdout"},
		{name: "exec", args: []string{"crates"}, exec: true, carries: "child"},
		{name: "keyless-env", args: []string{"env"}, carries: "stdout"},
		{name: "keyless-exec", args: []string{"exec"}, exec: true, carries: "child"},
		{name: "mismatch", args: []string{"crates"}, env: "release", code: 3},
		{name: "wrong-audience", args: []string{"crates"}, aud: "crates.io", code: 3},
		{name: "decode-echo", faults: echo(400), args: []string{"crates"}, code: 3},
		{name: "server-error-echo", faults: func(tok string) []cratestest.Fault {
			return []cratestest.Fault{{Status: 500, Body: "<pre>" + tok + "</pre>", ContentType: "text/html"}, {Hang: true}}
		}, args: []string{"crates", "--timeout", "300ms"}, exec: true, code: 3},
		{name: "redirect-echo", faults: func(tok string) []cratestest.Fault {
			return []cratestest.Fault{{Status: 307, Location: "https://elsewhere.example/tokens?jwt=" + tok}}
		}, args: []string{"crates"}, code: 3},
		{name: "revoke-echo", faults: func(tok string) []cratestest.Fault {
			return []cratestest.Fault{cratestest.OK, {Status: 401, ContentType: "application/json", Body: `{"errors":[{"detail":"bad ` + canary + `"}]}`}}
		}, args: []string{"crates"}, exec: true, carries: "child"},
		{name: "usage", args: []string{"crates", "--registry", "no/slash"}, code: 2},
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			srv := newCratesFixture(t, iss)
			tok := iss.MustMint(t, oidctest.Job{Audience: []string{cmp.Or(m.aud, srv.Audience())}})
			sig := tok[strings.LastIndexByte(tok, '.')+1:]
			if m.faults != nil {
				srv.Script(m.faults(tok)...)
			}
			srv.Token = canary
			srv.Configs[0].Environment = m.env
			canaries := map[string]string{"ID token": tok, "ID token signature": sig, "ID token start": tok[:48], "publish token": canary}
			env := cratesEnv(t, iss, srv, tok)
			os.MkdirAll(env["TMPDIR"], 0o700)
			env["KEYLESS_DEBUG"] = "true"
			work := t.TempDir()
			childOut := filepath.Join(work, "child.env")
			args := m.args
			if m.exec {
				args = append(append([]string{}, args...), "--", "sh", "-c", "env > "+childOut)
			}
			o := keyless(t, env, args...)
			if o.Code != m.code {
				t.Fatalf("exit %d, want %d\nstderr: %s", o.Code, m.code, o.Stderr)
			}
			checkCanaryOutput(t, o, childOut, canaries, m.carries, "publish token", canary)
			if m.aud != "" && len(srv.Requests()) != 0 {
				t.Error("the ID token was sent for another audience")
			}
			// What env and json kept, keyless cleanup revokes and removes.
			c := keyless(t, env, "cleanup")
			checkCanaryOutput(t, c, filepath.Join(work, "none"), canaries, "", "", "")
			checkCanaryFiles(t, canaries, o.Home, env["TMPDIR"], work, env["CI_PROJECT_DIR"])
			if m.carries != "" && m.name != "revoke-echo" && srv.Live() != 0 {
				t.Errorf("%d tokens not revoked", srv.Live())
			}
		})
	}
}

// TestCratesRealClient runs cargo publish, where cargo is installed, as
// keyless crates's command against the fake registry: cargo must read the
// token from CARGO_REGISTRIES_FAKE_TOKEN, find the publish API through the
// sparse index's config.json and upload the crate; the fake accepts only
// the token it issued, and the token is revoked once cargo exits.
func TestCratesRealClient(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("cargo"); err != nil {
		t.Skip("cargo is not installed")
	}
	iss := oidctest.NewServer(t)
	srv := newCratesFixture(t, iss)
	// A fixed token, to try it again after keyless revoked it.
	srv.Token = "cio_tp_RealClientTestToken0123456789ab"
	env := cratesEnv(t, iss, srv, cratesMint(t, iss, srv))
	os.MkdirAll(env["TMPDIR"], 0o700)
	for k, v := range cargoEnv(t, srv.URL) {
		env[k] = v
	}
	dir := writeCrate(t, "keyless-demo", "0.1.0")
	o := keyless(t, env, "crates", "--quiet", "--registry", "fake", "--", "cargo", "publish", "--manifest-path", filepath.Join(dir, "Cargo.toml"),
		"--registry", "fake", "--no-verify", "--allow-dirty")
	if o.Code != 0 {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", o.Code, o.Stdout, o.Stderr)
	}
	if p := srv.Published(); len(p) != 1 || p[0].Name != "keyless-demo" || p[0].Version != "0.1.0" {
		t.Errorf("published = %+v", p)
	}
	if srv.Live() != 0 || srv.Revoked() != 1 {
		t.Errorf("live %d, revoked %d", srv.Live(), srv.Revoked())
	}
	// The token is revoked: publishing another version with it, or with
	// none, fails at the registry or in cargo.
	dir2 := writeCrate(t, "keyless-demo", "0.2.0")
	for _, tc := range []struct{ token, want string }{
		{srv.Token, "Invalid authentication token"},
		{"", "no token found"},
	} {
		cmd := exec.Command("cargo", "publish", "--manifest-path", filepath.Join(dir2, "Cargo.toml"), "--registry", "fake", "--no-verify", "--allow-dirty")
		cmd.Env = os.Environ()
		for k, v := range cargoEnv(t, srv.URL) {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
		if tc.token != "" {
			cmd.Env = append(cmd.Env, "CARGO_REGISTRIES_FAKE_TOKEN="+tc.token)
		}
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), tc.want) {
			t.Errorf("cargo publish with token %v: %v, want an error with %q:\n%s", tc.token != "", err, tc.want, out)
		}
	}
	if p := srv.Published(); len(p) != 1 {
		t.Errorf("published = %+v", p)
	}
}

// cargoEnv points cargo at the fake's sparse index as the registry
// "fake", with a CARGO_HOME of its own (no credentials.toml of the
// machine's), and rustup at the machine's toolchains.
func cargoEnv(t *testing.T, url string) map[string]string {
	home, _ := os.UserHomeDir()
	return map[string]string{
		"CARGO_HOME":                  t.TempDir(),
		"RUSTUP_HOME":                 cmp.Or(os.Getenv("RUSTUP_HOME"), filepath.Join(home, ".rustup")),
		"CARGO_REGISTRIES_FAKE_INDEX": "sparse+" + url + "/index/",
		"CARGO_TERM_COLOR":            "never",
	}
}

// writeCrate writes a library crate with no dependencies.
func writeCrate(t *testing.T, name, version string) string {
	t.Helper()
	dir := t.TempDir()
	manifest := "[package]\nname = \"" + name + "\"\nversion = \"" + version + "\"\nedition = \"2021\"\n" +
		"description = \"keyless test crate\"\nlicense = \"MIT\"\n"
	if err := os.WriteFile(filepath.Join(dir, "Cargo.toml"), []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(dir, "src"), 0o755)
	if err := os.WriteFile(filepath.Join(dir, "src", "lib.rs"), []byte("pub fn demo() {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}
