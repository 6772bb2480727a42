package cli

import (
	"archive/zip"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"gitlab.com/keyless-ci/keyless/internal/exchange/exchangetest"
	"gitlab.com/keyless-ci/keyless/internal/exchange/pypi/pypitest"
	"gitlab.com/keyless-ci/keyless/internal/oidctest"
)

func newPyPIFixture(t *testing.T, iss *oidctest.Issuer, faults ...pypitest.Fault) *pypitest.Server {
	t.Helper()
	srv := pypitest.New(t, faults...)
	srv.Verify = exchangetest.TrustIssuer(iss.URL, "pypi")
	srv.Publishers = []pypitest.Publisher{{Namespace: "keyless-ci", Project: "demo", WorkflowFilepath: ".gitlab-ci.yml"}}
	return srv
}

func pypiEnv(t *testing.T, iss *oidctest.Issuer, srv *pypitest.Server, tok string) map[string]string {
	work := t.TempDir()
	return map[string]string{"KEYLESS_ID_TOKEN": tok, "KEYLESS_PYPI_INDEX_URL": srv.URL, "CI_SERVER_URL": iss.URL,
		"CI_JOB_ID": "1", "CI_PROJECT_DIR": filepath.Join(work, "project")}
}

func TestPyPICommand(t *testing.T) {
	t.Parallel()
	iss := oidctest.NewServer(t)
	t.Run("exec", func(t *testing.T) {
		t.Parallel()
		srv := newPyPIFixture(t, iss)
		env := pypiEnv(t, iss, srv, iss.MustMint(t, oidctest.Job{Audience: []string{"pypi"}}))
		out := filepath.Join(t.TempDir(), "child.env")
		o := keyless(t, env, "pypi", "--", "sh", "-c", "env > "+out)
		if o.Code != 0 {
			t.Fatalf("exit %d\n%s", o.Code, o.Stderr)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"TWINE_USERNAME=__token__\n", "TWINE_PASSWORD=" + srv.Token + "\n", "UV_PUBLISH_TOKEN=" + srv.Token + "\n",
			"POETRY_PYPI_TOKEN_PYPI=" + srv.Token + "\n"} {
			if !strings.Contains(string(b), want) {
				t.Errorf("the command's environment lacks %q", want)
			}
		}
		if strings.Contains(string(b), "KEYLESS_ID_TOKEN=") {
			t.Error("the command got the ID token")
		}
		if !strings.Contains(o.Stderr, "keyless: pypi: ") || !strings.Contains(o.Stderr, "set TWINE_USERNAME TWINE_PASSWORD UV_PUBLISH_TOKEN POETRY_PYPI_TOKEN_PYPI") {
			t.Errorf("summary:\n%s", o.Stderr)
		}
	})
	t.Run("json", func(t *testing.T) {
		t.Parallel()
		srv := newPyPIFixture(t, iss)
		env := pypiEnv(t, iss, srv, iss.MustMint(t, oidctest.Job{Audience: []string{"pypi"}}))
		o := keyless(t, env, "pypi", "--format", "json", "--repository", "internal")
		if o.Code != 0 {
			t.Fatalf("exit %d\n%s", o.Code, o.Stderr)
		}
		var got map[string]string
		if err := json.Unmarshal([]byte(o.Stdout), &got); err != nil || got["token"] != srv.Token || got["username"] != "__token__" || got["audience"] != "pypi" || got["expires_at"] == "" {
			t.Errorf("json %q: %v", o.Stdout, err)
		}
	})
	t.Run("testpypi-env", func(t *testing.T) {
		t.Parallel()
		srv := newPyPIFixture(t, iss)
		srv.Audience = "testpypi"
		srv.Verify = exchangetest.TrustIssuer(iss.URL, "testpypi")
		env := pypiEnv(t, iss, srv, iss.MustMint(t, oidctest.Job{Audience: []string{"testpypi"}}))
		o := keyless(t, env, "pypi", "--repository", "testpypi")
		if o.Code != 0 {
			t.Fatalf("exit %d\n%s", o.Code, o.Stderr)
		}
		for _, want := range []string{"export POETRY_PYPI_TOKEN_TESTPYPI='" + srv.Token + "'", "export TWINE_REPOSITORY_URL='" + srv.URL + "/legacy/'",
			"export POETRY_REPOSITORIES_TESTPYPI_URL=", "unset UV_PUBLISH_PASSWORD"} {
			if !strings.Contains(o.Stdout, want) {
				t.Errorf("stdout lacks %q:\n%s", want, o.Stdout)
			}
		}
	})
	t.Run("invalid-publisher", func(t *testing.T) {
		t.Parallel()
		srv := newPyPIFixture(t, iss)
		srv.Publishers[0].Environment = "release"
		env := pypiEnv(t, iss, srv, iss.MustMint(t, oidctest.Job{Audience: []string{"pypi"}}))
		o := keyless(t, env, "pypi")
		if o.Code != 3 {
			t.Fatalf("exit %d, want 3\n%s", o.Code, o.Stderr)
		}
		for _, want := range []string{"invalid-publisher", "Namespace", "keyless-ci", "Environment name", "so the publisher must have none"} {
			if !strings.Contains(o.Stderr, want) {
				t.Errorf("stderr lacks %q:\n%s", want, o.Stderr)
			}
		}
	})
	t.Run("usage", func(t *testing.T) {
		t.Parallel()
		srv := newPyPIFixture(t, iss)
		env := pypiEnv(t, iss, srv, iss.MustMint(t, oidctest.Job{Audience: []string{"pypi"}}))
		for _, args := range [][]string{{"pypi", "--index-url", "https://pypi.org/legacy/"}, {"pypi", "--repository", "a b"}, {"pypi", "--format", "yaml"}} {
			if o := keyless(t, env, args...); o.Code != 2 || !strings.Contains(o.Stderr, "--"+strings.TrimPrefix(args[1], "--")) {
				t.Errorf("%v: exit %d\n%s", args, o.Code, o.Stderr)
			}
		}
	})
	t.Run("help", func(t *testing.T) {
		t.Parallel()
		o := keyless(t, nil, "pypi", "--help")
		for _, want := range []string{"--index-url", "--repository", "TWINE_PASSWORD", "twine upload dist/*", "KEYLESS_PYPI_INDEX_URL"} {
			if !strings.Contains(o.Stdout, want) {
				t.Errorf("help lacks %q", want)
			}
		}
	})
}

// TestPyPICanary runs every output mode and refusal of `keyless pypi` with
// a real minted ID token and a canary minted token. The minted token may
// appear only on stdout (env, json) or in the command's environment
// (exec); the ID token only in the mint request. Never on stderr, in an
// error, in a --debug log or in a file.
func TestPyPICanary(t *testing.T) {
	t.Parallel()
	const canary = "pypi-CANARY-minted-token-0123456789abcdef"
	iss := oidctest.NewServer(t)
	type mode struct {
		name    string
		faults  func(tok string) []pypitest.Fault
		env     map[string]string
		args    []string
		exec    bool
		carries string // "stdout", "child" or ""
		code    int
		aud     string
		pub     string // the publisher's environment
	}
	echo := func(status int, code string) func(string) []pypitest.Fault {
		return func(tok string) []pypitest.Fault {
			// A careless index quoting the token back.
			return []pypitest.Fault{pypitest.OK, {Status: status, ContentType: "application/json",
				Body: `{"message": "Token request failed", "errors": [{"code": "` + code + `", "description": "bad token ` + tok + `"}]}`}}
		}
	}
	modes := []mode{
		{name: "env", args: []string{"pypi"}, carries: "stdout"},
		{name: "json", args: []string{"pypi", "--format", "json"}, carries: "stdout"},
		{name: "exec", args: []string{"pypi"}, exec: true, carries: "child"},
		{name: "keyless-env", args: []string{"env"}, carries: "stdout"},
		{name: "keyless-exec", args: []string{"exec"}, exec: true, carries: "child"},
		{name: "invalid-publisher", args: []string{"pypi"}, pub: "release", code: 3},
		{name: "wrong-audience", args: []string{"pypi"}, aud: "testpypi", code: 3},
		{name: "invalid-token-echo", faults: echo(422, "invalid-token"), args: []string{"pypi"}, code: 3},
		{name: "other-code-echo", faults: echo(422, "something-new"), args: []string{"pypi", "--format", "json"}, code: 3},
		{name: "server-error-echo", faults: func(tok string) []pypitest.Fault {
			return []pypitest.Fault{pypitest.OK, {Status: 500, Body: "<pre>" + tok + "</pre>", ContentType: "text/html"}, {Hang: true}}
		}, args: []string{"pypi", "--timeout", "300ms"}, exec: true, code: 3},
		{name: "redirect-echo", faults: func(tok string) []pypitest.Fault {
			return []pypitest.Fault{pypitest.OK, {Status: 307, Location: "https://elsewhere.example/mint?token=" + tok}}
		}, args: []string{"pypi"}, code: 3},
		{name: "bad-success", faults: func(string) []pypitest.Fault {
			return []pypitest.Fault{pypitest.OK, {Status: 200, ContentType: "application/json", Body: `{"success": true, "token": "` + canary + `", "expires": "` + canary + `"}`}}
		}, args: []string{"pypi"}, code: 3},
		{name: "usage", args: []string{"pypi", "--repository", "no/slash"}, code: 2},
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			tok := iss.MustMint(t, oidctest.Job{Audience: []string{"pypi"}})
			sig := tok[strings.LastIndexByte(tok, '.')+1:]
			var faults []pypitest.Fault
			if m.faults != nil {
				faults = m.faults(tok)
			}
			srv := newPyPIFixture(t, iss, faults...)
			srv.Token = canary
			if m.aud != "" {
				srv.Audience = m.aud
			}
			srv.Publishers[0].Environment = m.pub
			canaries := map[string]string{"ID token": tok, "ID token signature": sig, "ID token start": tok[:48], "minted token": canary}
			env := pypiEnv(t, iss, srv, tok)
			env["KEYLESS_DEBUG"] = "true"
			for k, v := range m.env {
				env[k] = v
			}
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
			checkCanaryOutput(t, o, childOut, canaries, m.carries, "minted token", "TWINE_PASSWORD="+canary+"\n")
			// The ID token went only into the mint request's body.
			for _, r := range srv.Requests() {
				if r.Path == pypitest.AudiencePath && r.Body != "" {
					t.Error("the audience request has a body")
				}
				if m.aud != "" && r.Path == pypitest.MintPath {
					t.Error("the ID token was sent for another audience")
				}
			}
			checkCanaryFiles(t, canaries, o.Home, o.TmpDir, work, env["CI_PROJECT_DIR"])
		})
	}
}

// TestPyPIRealClient runs twine, where it is installed, as keyless pypi's
// command against the fake index: twine must upload with the minted token
// from TWINE_USERNAME and TWINE_PASSWORD, to the upload URL keyless gives
// it for an index other than PyPI (TWINE_REPOSITORY_URL).
func TestPyPIRealClient(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("twine"); err != nil {
		t.Skip("twine is not installed (Debian: apt-get install twine; scripts/install-peers.sh installs it)")
	}
	iss := oidctest.NewServer(t)
	srv := newPyPIFixture(t, iss)
	wheel := filepath.Join(t.TempDir(), "keyless_demo-0.1.0-py3-none-any.whl")
	writeWheel(t, wheel, "keyless_demo", "0.1.0")
	env := pypiEnv(t, iss, srv, iss.MustMint(t, oidctest.Job{Audience: []string{"pypi"}}))
	o := keyless(t, env, "pypi", "--quiet", "--", "twine", "upload", "--non-interactive", "--disable-progress-bar", wheel)
	if o.Code != 0 {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", o.Code, o.Stdout, o.Stderr)
	}
	up := srv.Uploads()
	if len(up) != 1 || up[0].Name != "keyless-demo" || up[0].Version != "0.1.0" || up[0].Filename != filepath.Base(wheel) {
		t.Errorf("uploads = %+v", up)
	}
	if strings.Contains(o.Stdout+o.Stderr, srv.Token) {
		t.Error("twine's output shows the token")
	}
}

// writeWheel writes the smallest wheel twine reads (PEP 427: the
// .dist-info's METADATA, WHEEL and RECORD).
func writeWheel(t *testing.T, path, name, version string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	info := name + "-" + version + ".dist-info/"
	files := []struct{ name, body string }{
		{name + "/__init__.py", ""},
		{info + "METADATA", "Metadata-Version: 2.1\nName: " + name + "\nVersion: " + version + "\nSummary: keyless test package\n"},
		{info + "WHEEL", "Wheel-Version: 1.0\nGenerator: keyless-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"},
		{info + "RECORD", ""},
	}
	for _, x := range files {
		w, err := zw.Create(x.name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(x.body))
	}
	if err := errors.Join(zw.Close(), f.Close()); err != nil {
		t.Fatal(err)
	}
}
