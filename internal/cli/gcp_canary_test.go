package cli

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gitlab.com/keyless-ci/keyless/internal/exchange/gcp"
	"gitlab.com/keyless-ci/keyless/internal/exchange/gcp/gcptest"
	"gitlab.com/keyless-ci/keyless/internal/oidctest"
)

// TestGCPCanary runs every gcp output mode and error path with recognisable
// canary tokens and checks that the ID token, the federated token and the
// service account's token appear only where a mode's job is to carry them:
// never on stderr, in an error, in a debug log, or in a file not meant to
// hold them. With impersonation the federated token is an intermediate
// that nothing may carry.
func TestGCPCanary(t *testing.T) {
	t.Parallel()
	const (
		canaryFederated = "ya29.d.CANARY-federated-token-0123456789abcdef"
		canarySA        = "ya29.c.CANARY-service-account-token-0123456789abcdef"
	)
	type mode struct {
		name   string
		faults []gcptest.Fault
		setup  func(*gcptest.Server)
		job    oidctest.Job
		env    map[string]string
		args   []string
		// carries is where the access token may appear: "stdout", "child",
		// "tokenfile" (the ID token in gcp-id-token); nowhere else.
		carries string
		sa      bool // impersonate: the service account's token is the output
		code    int
	}
	impersonate := []string{"--service-account", gcpSA}
	modes := []mode{
		{name: "env", args: []string{"gcp"}, carries: "stdout"},
		{name: "env-impersonation", args: append([]string{"gcp"}, impersonate...), carries: "stdout", sa: true},
		{name: "json", args: append([]string{"gcp", "--format", "json"}, impersonate...), carries: "stdout", sa: true},
		{name: "exec", args: []string{"gcp"}, carries: "child"},
		{name: "exec-impersonation", args: append([]string{"gcp"}, impersonate...), carries: "child", sa: true},
		{name: "exec-refreshable", args: []string{"gcp", "--refreshable"}, carries: "child-file"},
		{name: "env-refreshable", args: append([]string{"gcp", "--refreshable"}, impersonate...), carries: "tokenfile"},
		{name: "keyless-env", args: []string{"env"}, env: map[string]string{"KEYLESS_GCP_PROVIDER": gcpProviderName, "KEYLESS_GCP_SERVICE_ACCOUNT": gcpSA}, carries: "stdout", sa: true},
		{name: "keyless-exec", args: []string{"exec"}, env: map[string]string{"KEYLESS_GCP_PROVIDER": gcpProviderName}, carries: "child"},
		{name: "attribute-condition", faults: []gcptest.Fault{gcptest.AttributeCondition}, args: []string{"gcp"}, code: 3},
		{name: "impersonation-denied", faults: []gcptest.Fault{gcptest.PermissionDenied}, args: append([]string{"gcp"}, impersonate...), code: 3},
		{name: "wrong-audience-at-sts", setup: func(s *gcptest.Server) { s.AllowedAudiences = []string{"other"} }, args: []string{"gcp"}, code: 3},
		{name: "subject-too-long", job: oidctest.Job{Subject: strings.Repeat("s", 130)}, args: []string{"gcp"}, code: 3},
		{name: "throttled-then-timeout", faults: []gcptest.Fault{gcptest.STSThrottled, gcptest.Hang(gcptest.STS)}, args: []string{"gcp", "--timeout", "200ms"}, code: 3},
		{name: "usage", args: []string{"gcp", "--lifetime", "x"}, code: 2},
		{name: "wrong-audience", args: []string{"gcp", "--audience", "other"}, code: 3},
	}
	// One issuer for every mode: its key takes a 2048-bit RSA generation,
	// and no mode changes it.
	iss := oidctest.NewServer(t)
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			f := gcpFixture{iss: iss, fake: gcptest.New(t, m.faults...)}
			f.fake.FederatedToken, f.fake.AccessToken = canaryFederated, canarySA
			if m.setup != nil {
				m.setup(f.fake)
			}
			tok := f.mint(t, m.job)
			sig := tok[strings.LastIndexByte(tok, '.')+1:]
			canaries := map[string]string{"ID token": tok, "signature": sig, "federated token": canaryFederated, "service account token": canarySA}
			output := canaryFederated
			if m.sa {
				output = canarySA
			}

			work := t.TempDir()
			childOut := filepath.Join(work, "child.env")
			env := f.env(tok, "KEYLESS_GCP_PROVIDER", gcpProviderName, "KEYLESS_DEBUG", "true", "CI_SERVER_URL", f.iss.URL,
				"CI_JOB_ID", "1", "CI_PROJECT_DIR", filepath.Join(work, "project"))
			for k, v := range m.env {
				env[k] = v
			}
			args := m.args
			if strings.HasPrefix(m.carries, "child") {
				// The child writes its environment (and the credential file)
				// where the test reads it: the one place exec mode's token
				// is meant to go.
				script := "env > " + childOut
				if m.carries == "child-file" {
					script += `; cat "$GOOGLE_APPLICATION_CREDENTIALS" "$(dirname "$GOOGLE_APPLICATION_CREDENTIALS")/` + gcp.TokenFileName + `" >> ` + childOut
				}
				args = append(append([]string{}, args...), "--", "sh", "-c", script)
			}
			o := keyless(t, env, args...)
			if o.Code != m.code {
				t.Fatalf("exit %d, want %d\nstderr: %s", o.Code, m.code, o.Stderr)
			}
			home, tmp := o.Home, o.TmpDir

			check := func(where, text string, allowed ...string) {
				t.Helper()
				for name, c := range canaries {
					if strings.Contains(text, c) && !gcpHas(allowed, c) {
						t.Errorf("the %s appears in %s", name, where)
					}
				}
			}
			check("stderr", o.Stderr)
			if m.carries == "stdout" {
				check("stdout", o.Stdout, output)
				if !strings.Contains(o.Stdout, output) {
					t.Errorf("stdout does not carry the access token:\n%s", o.Stdout)
				}
			} else {
				check("stdout", o.Stdout)
			}
			if strings.HasPrefix(m.carries, "child") {
				b, err := os.ReadFile(childOut)
				if err != nil {
					t.Fatal(err)
				}
				// The job's own variables (KEYLESS_ID_TOKEN) reach the child
				// as they would without keyless; the access token is new.
				child := string(b)
				if m.carries == "child-file" {
					check("the child's environment", child, tok, sig)
					if !strings.Contains(child, `"type": "external_account"`) {
						t.Errorf("child got no credential file")
					}
				} else {
					check("the child's environment", child, tok, sig, output)
					if !strings.Contains(child, "CLOUDSDK_AUTH_ACCESS_TOKEN="+output) {
						t.Errorf("child did not get the access token")
					}
				}
				os.Remove(childOut)
			}
			// Every file keyless left behind, anywhere it could write.
			var meant []string
			leftBehind([]string{home, tmp, work}, func(p string, b []byte, perm fs.FileMode) {
				if m.carries == "tokenfile" && (filepath.Base(p) == gcp.TokenFileName || filepath.Base(p) == gcp.CredentialsFileName) {
					meant = append(meant, p)
					if perm != 0o600 {
						t.Errorf("%s: mode %v", p, perm)
					}
					if strings.HasPrefix(p, env["CI_PROJECT_DIR"]) {
						t.Errorf("%s is inside the project dir", p)
					}
					if filepath.Base(p) == gcp.TokenFileName {
						if string(b) != tok {
							t.Errorf("token file does not hold the token")
						}
						return
					}
				}
				check("file "+p, string(b))
			})
			if m.carries == "tokenfile" && len(meant) != 2 {
				t.Errorf("files written: %v", meant)
			}
			if m.name == "exec-refreshable" {
				// Exec mode ends what it began: the state directory it made is gone.
				if entries, err := os.ReadDir(filepath.Join(tmp, "keyless-job-1")); !os.IsNotExist(err) {
					t.Errorf("exec mode left %v behind", entries)
				}
			}
		})
	}
}

func gcpHas(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}
