package cli

import (
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"gitlab.com/keyless-ci/keyless/internal/exchange/aws/awstest"
	"gitlab.com/keyless-ci/keyless/internal/oidctest"
)

// TestCanary runs every output mode and every error path with recognisable
// canary credentials and checks that the token and the credentials appear
// only in the output whose job is to carry them: never on stderr, in an
// error, in a debug log, or in a file that is not meant to hold them.
func TestCanary(t *testing.T) {
	t.Parallel()
	const (
		canaryKey     = "ASIACANARYKEY0000001"
		canarySecret  = "CANARY-secret-access-key-0123456789abcdef"
		canarySession = "CANARY-session-token-0123456789abcdef"
	)
	type mode struct {
		name   string
		faults []awstest.Fault
		env    map[string]string
		args   []string
		// where the credentials may appear: "stdout", "child", "profile",
		// "tokenfile"; nowhere else.
		carries string
		code    int
	}
	child := func(out string) []string {
		// The child writes its environment to a file the test reads: the
		// one place exec mode's credentials are meant to go.
		return []string{"--", "sh", "-c", "env > " + out}
	}
	modes := []mode{
		{name: "env", args: []string{"aws"}, carries: "stdout"},
		{name: "json", args: []string{"aws", "--format", "json"}, carries: "stdout"},
		{name: "credential-process", args: []string{"aws", "--format", "credential-process"}, carries: "stdout"},
		{name: "exec", carries: "child"},
		{name: "exec-refreshable", carries: "child", args: []string{"aws", "--refreshable"}},
		{name: "env-refreshable", args: []string{"aws", "--refreshable"}, carries: "tokenfile"},
		{name: "profile", args: []string{"aws", "--profile", "ci"}, carries: "profile"},
		{name: "keyless-env", args: []string{"env"}, env: map[string]string{"KEYLESS_AWS_ROLE_ARN": role}, carries: "stdout"},
		{name: "keyless-exec", env: map[string]string{"KEYLESS_AWS_ROLE_ARN": role}, carries: "child"},
		{name: "token", args: []string{"token", "--verify"}, carries: ""},
		{name: "token-json", args: []string{"token", "--format", "json"}, carries: ""},
		{name: "access-denied", faults: []awstest.Fault{awstest.AccessDenied}, args: []string{"aws"}, code: 3},
		{name: "no-provider", faults: []awstest.Fault{awstest.NoProvider}, args: []string{"aws", "--format", "json"}, code: 3},
		{name: "expired-at-sts", faults: []awstest.Fault{awstest.Expired}, args: []string{"aws", "--format", "credential-process"}, code: 3},
		// STS quoting the request back must not leak the token either.
		{name: "validation-echo", faults: []awstest.Fault{{Status: 400, Code: "ValidationError", Message: "Value 'TOKEN' at 'webIdentityToken' failed to satisfy constraint"}}, args: []string{"aws"}, code: 3},
		{name: "throttled-then-timeout", faults: []awstest.Fault{awstest.Throttling, {Hang: true}}, args: []string{"aws", "--timeout", "200ms"}, code: 3},
		{name: "usage", args: []string{"aws", "--duration", "x"}, code: 2},
		{name: "wrong-audience", args: []string{"aws", "--audience", "other"}, code: 3},
		{name: "chain-denied", faults: []awstest.Fault{awstest.OK, awstest.AccessDenied}, args: []string{"aws", "--chain-role-arn", "arn:aws:iam::210987654321:role/t"}, code: 3},
	}
	// One issuer for every mode: its key takes a 2048-bit RSA generation,
	// and no mode changes it.
	iss := oidctest.NewServer(t)
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			faults := m.faults
			for i, f := range faults {
				if f.Code == "ValidationError" {
					faults = append([]awstest.Fault(nil), faults...)
					faults[i].Message = "" // filled below, once the token exists
				}
			}
			f := fixture{iss: iss, sts: awstest.New(t, faults...)}
			f.sts.AccessKeyID, f.sts.SecretAccessKey, f.sts.SessionToken = canaryKey, canarySecret, canarySession
			tok := f.iss.MustMint(t, oidctest.Job{})
			sig := tok[strings.LastIndexByte(tok, '.')+1:]
			if m.name == "validation-echo" {
				f = fixture{iss: iss, sts: awstest.New(t, awstest.Fault{Status: 400, Code: "ValidationError", Message: "Value '" + tok + "' at 'webIdentityToken' failed to satisfy constraint"})}
				f.sts.AccessKeyID, f.sts.SecretAccessKey, f.sts.SessionToken = canaryKey, canarySecret, canarySession
			}
			canaries := map[string]string{"token": tok, "signature": sig, "secret": canarySecret, "session": canarySession}

			work := t.TempDir()
			childOut := filepath.Join(work, "child.env")
			env := map[string]string{
				"KEYLESS_ID_TOKEN": tok, "KEYLESS_AWS_STS_ENDPOINT": f.sts.URL, "KEYLESS_AWS_ROLE_ARN": role,
				"KEYLESS_DEBUG": "true", "CI_SERVER_URL": f.iss.URL, "CI_JOB_ID": "1", "CI_PROJECT_DIR": filepath.Join(work, "project"),
			}
			for k, v := range m.env {
				env[k] = v
			}
			args := m.args
			switch m.name {
			case "exec", "keyless-exec":
				if m.name == "exec" {
					args = append([]string{"aws"}, child(childOut)...)
				} else {
					args = append([]string{"exec"}, child(childOut)...)
				}
			case "exec-refreshable":
				args = append(append([]string{}, args...), child(childOut)...)
			}
			o := keyless(t, env, args...)
			if o.Code != m.code {
				t.Fatalf("exit %d, want %d\nstderr: %s", o.Code, m.code, o.Stderr)
			}
			home, tmp := o.Home, o.TmpDir

			check := canaryCheck(t, canaries)
			check("stderr", o.Stderr)
			if m.carries != "stdout" {
				check("stdout", o.Stdout)
			} else if !strings.Contains(o.Stdout, canarySecret) {
				t.Errorf("stdout does not carry the credentials:\n%s", o.Stdout)
			}
			if m.carries == "child" {
				b, err := os.ReadFile(childOut)
				if err != nil {
					t.Fatal(err)
				}
				if m.name == "exec-refreshable" {
					if !strings.Contains(string(b), "AWS_WEB_IDENTITY_TOKEN_FILE=") || strings.Contains(string(b), canarySecret) {
						t.Errorf("refreshable child env: want the token file, not keys")
					}
				} else if !strings.Contains(string(b), "AWS_SECRET_ACCESS_KEY="+canarySecret) {
					t.Errorf("child did not get the credentials")
				}
				os.Remove(childOut)
			}
			// Every file keyless left behind, anywhere it could write.
			var meant []string
			leftBehind([]string{home, tmp, work}, func(p string, b []byte, perm fs.FileMode) {
				switch {
				case m.carries == "profile" && filepath.Base(p) == "credentials":
					meant = append(meant, p)
					if perm != 0o600 || !strings.Contains(string(b), canarySecret) {
						t.Errorf("profile file %s: mode %v", p, perm)
					}
					return
				case m.carries == "tokenfile" && filepath.Base(p) == "aws-web-identity-token":
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
			if (m.carries == "profile" || m.carries == "tokenfile") && len(meant) == 0 {
				t.Errorf("no %s written", m.carries)
			}
			if m.name == "exec-refreshable" {
				// The token file lives only as long as the command.
				if _, err := os.Stat(filepath.Join(tmp, "keyless-job-1", "aws-web-identity-token")); err == nil {
					t.Error("exec mode left the token file behind")
				}
			}
		})
	}
	_ = time.Second
}

// checkCanaryOutput checks what a run of an exchange command let out: no
// canary (name to value) in its stderr, nor in its stdout or in the
// environment its command got (the file childOut) unless the mode hands
// it on there. carries is "stdout", "child" or "" (the mode hands on
// nothing: the command must not have run); carried names the canary it
// hands on, and want is the line that must hold it.
func checkCanaryOutput(t *testing.T, o outcome, childOut string, canaries map[string]string, carries, carried, want string) {
	t.Helper()
	check := canaryCheck(t, canaries)
	check("stderr", o.Stderr)
	if carries == "stdout" {
		check("stdout", o.Stdout, carried)
		if !strings.Contains(o.Stdout, canaries[carried]) {
			t.Errorf("stdout does not carry the %s:\n%s", carried, o.Stdout)
		}
	} else {
		check("stdout", o.Stdout)
	}
	if carries != "child" {
		if _, err := os.Stat(childOut); err == nil {
			t.Error("the command ran although the exchange failed")
		}
		return
	}
	b, err := os.ReadFile(childOut)
	if err != nil {
		t.Fatal(err)
	}
	check("the command's environment", string(b), carried)
	if !strings.Contains(string(b), want) {
		t.Errorf("the command did not get the %s", carried)
	}
	os.Remove(childOut)
}

// checkCanaryFiles checks every file below roots for canaries.
func checkCanaryFiles(t *testing.T, canaries map[string]string, roots ...string) {
	t.Helper()
	leftBehind(roots, func(p string, b []byte, _ fs.FileMode) {
		for name, c := range canaries {
			if strings.Contains(string(b), c) {
				t.Errorf("the %s appears in file %s", name, p)
			}
		}
	})
}

// canaryCheck returns check, which fails t when a canary other than those
// named in allowed appears in text, the content of where.
func canaryCheck(t *testing.T, canaries map[string]string) func(where, text string, allowed ...string) {
	return func(where, text string, allowed ...string) {
		t.Helper()
		for name, c := range canaries {
			if strings.Contains(text, c) && !slices.Contains(allowed, name) {
				t.Errorf("the %s appears in %s", name, where)
			}
		}
	}
}

// leftBehind calls visit with every regular file below roots, its content
// and permissions: what keyless left anywhere it could write.
func leftBehind(roots []string, visit func(path string, b []byte, perm fs.FileMode)) {
	for _, root := range roots {
		filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return nil
			}
			b, _ := os.ReadFile(p)
			fi, _ := d.Info()
			visit(p, b, fi.Mode().Perm())
			return nil
		})
	}
}
