package cli

import (
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"gitlab.com/keyless-ci/keyless/internal/exchange/exchangetest"
	"gitlab.com/keyless-ci/keyless/internal/exchange/sts/ststest"
	"gitlab.com/keyless-ci/keyless/internal/oidctest"
)

// stsAud is the ID token audience the fake token server trusts.
const stsAud = "https://sso.example.com"

// stsFixture is an issuer and a fake RFC 8693 server that trusts it.
type stsFixture struct {
	iss *oidctest.Issuer
	srv *ststest.Server
}

func newSTSFixture(t *testing.T, iss *oidctest.Issuer, faults ...ststest.Fault) stsFixture {
	t.Helper()
	srv := ststest.New(t, faults...)
	srv.Verify = exchangetest.TrustIssuer(iss.URL, stsAud)
	return stsFixture{iss: iss, srv: srv}
}

// golden compares o with testdata/cli/NAME.golden, the token server's
// address written TOKEN_SERVER.
func (f stsFixture) golden(t *testing.T, name string, o outcome) {
	t.Helper()
	golden(t, name, fixture{iss: f.iss}, o.rewrite(func(s string) string {
		return strings.ReplaceAll(s, f.srv.URL, "TOKEN_SERVER")
	}))
}

func TestSTSGolden(t *testing.T) {
	t.Parallel()
	iss := oidctest.NewServer(t)
	tok := iss.MustMint(t, oidctest.Job{Audience: []string{stsAud}})
	other := iss.MustMint(t, oidctest.Job{Audience: []string{"sts.amazonaws.com"}})
	// The same issuer URL, signed with a key it does not publish.
	impostor, err := oidctest.New()
	if err != nil {
		t.Fatal(err)
	}
	impostor.URL = iss.URL
	untrusted := impostor.MustMint(t, oidctest.Job{Audience: []string{stsAud}})
	const secretVar, secretValue = "STS_CLIENT_SECRET", "golden-client-secret-value"
	basic := func(s *ststest.Server) { s.ClientID, s.ClientSecret = "gitlab-ci", secretValue }
	cases := []struct {
		name   string
		server func(*ststest.Server)
		faults []ststest.Fault
		env    map[string]string
		args   []string
	}{
		{name: "sts-help", args: []string{"sts", "--help"}},
		{name: "sts-env", args: []string{"sts", "--audience", "deploy-api", "--resource", "https://api.example.com", "--scope", "deploy read"}},
		{name: "sts-json", args: []string{"sts", "--format", "json", "--requested-token-type", "jwt"}},
		{name: "sts-exec-exit-code", server: basic, env: map[string]string{secretVar: secretValue},
			args: []string{"sts", "--client-id", "gitlab-ci", "--client-secret-env", secretVar, "--",
				"sh", "-c", `test -n "$KEYLESS_STS_TOKEN" && test -z "$STS_CLIENT_SECRET" && echo "token set, secret gone"; exit 7`}},
		{name: "sts-env-custom-name", server: basic, env: map[string]string{secretVar: secretValue},
			args: []string{"sts", "--client-id", "gitlab-ci", "--client-secret-env", secretVar, "--env", "VAULT_TOKEN"}},
		{name: "sts-keyless-env", env: map[string]string{
			"KEYLESS_ID_TOKEN": "", "KEYLESS_STS_ID_TOKEN": tok, "KEYLESS_STS_TOKEN_VAR": "KEYLESS_STS_ID_TOKEN", "KEYLESS_STS_EXPECTED_AUD": stsAud,
			// A component's empty inputs.
			"KEYLESS_STS_AUDIENCE": "", "KEYLESS_STS_RESOURCE": "", "KEYLESS_STS_SCOPE": "", "KEYLESS_STS_REQUESTED_TOKEN_TYPE": "",
			"KEYLESS_STS_SUBJECT_TOKEN_TYPE": "", "KEYLESS_STS_CLIENT_ID": "", "KEYLESS_STS_CLIENT_SECRET_ENV": "",
			"KEYLESS_STS_CLIENT_ASSERTION_TYPE": "", "KEYLESS_STS_ENV": "",
		}, args: []string{"env"}},
		{name: "sts-token-component-var", env: map[string]string{"KEYLESS_ID_TOKEN": "", "KEYLESS_STS_ID_TOKEN": tok, "KEYLESS_STS_TOKEN_VAR": "KEYLESS_STS_ID_TOKEN"}, args: []string{"token"}},
		{name: "sts-lifetime-warning", env: map[string]string{"CI_JOB_STARTED_AT": iss.Now().UTC().Format(time.RFC3339), "CI_JOB_TIMEOUT": "10800"}, args: []string{"sts", "--format", "json"}},
		{name: "sts-no-token-url", env: map[string]string{"KEYLESS_STS_TOKEN_URL": ""}, args: []string{"sts"}},
		{name: "sts-http-url", args: []string{"sts", "--token-url", "http://sso.example.com/token"}},
		{name: "sts-bad-env-name", args: []string{"sts", "--env", "PATH"}},
		{name: "sts-secret-env-unset", args: []string{"sts", "--client-id", "gitlab-ci", "--client-secret-env", "NOT_SET_ANYWHERE"}},
		{name: "sts-secret-and-assertion", env: map[string]string{secretVar: secretValue}, args: []string{"sts", "--client-secret-env", secretVar, "--client-assertion-type", "jwt-bearer"}},
		{name: "sts-bad-assertion-type", args: []string{"sts", "--client-assertion-type", "saml2-bearer"}},
		{name: "sts-format-and-command", args: []string{"sts", "--format", "json", "--", "true"}},
		{name: "sts-wrong-audience", env: map[string]string{"KEYLESS_ID_TOKEN": other}, args: []string{"sts", "--expected-aud", stsAud}},
		{name: "sts-invalid-request", env: map[string]string{"KEYLESS_ID_TOKEN": untrusted}, args: []string{"sts"}},
		{name: "sts-invalid-grant", server: func(s *ststest.Server) { s.SubjectError = "invalid_grant" }, env: map[string]string{"KEYLESS_ID_TOKEN": untrusted}, args: []string{"sts"}},
		{name: "sts-invalid-target", server: func(s *ststest.Server) { s.Audiences = []string{"deploy-api"} }, args: []string{"sts", "--audience", "billing-api"}},
		{name: "sts-invalid-scope", server: func(s *ststest.Server) { s.Scopes = []string{"read"} }, args: []string{"sts", "--scope", "read admin"}},
		{name: "sts-invalid-client", server: basic, args: []string{"sts"}},
		{name: "sts-invalid-client-basic", server: basic, env: map[string]string{secretVar: "an-old-secret"}, args: []string{"sts", "--client-id", "gitlab-ci", "--client-secret-env", secretVar}},
		{name: "sts-unauthorized-client", faults: []ststest.Fault{ststest.UnauthorizedClient}, args: []string{"sts", "--client-id", "gitlab-ci"}},
		{name: "sts-unsupported-grant-type", faults: []ststest.Fault{ststest.UnsupportedGrantType}, args: []string{"sts"}},
		{name: "sts-not-found", env: map[string]string{"KEYLESS_STS_TOKEN_URL": "WRONG_PATH"}, args: []string{"sts"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newSTSFixture(t, iss, tc.faults...)
			if tc.server != nil {
				tc.server(f.srv)
			}
			env := map[string]string{"KEYLESS_ID_TOKEN": tok, "KEYLESS_STS_TOKEN_URL": f.srv.TokenURL()}
			for k, v := range tc.env {
				env[k] = v
			}
			if env["KEYLESS_STS_TOKEN_URL"] == "WRONG_PATH" {
				env["KEYLESS_STS_TOKEN_URL"] = f.srv.URL + "/token"
			}
			f.golden(t, tc.name, keyless(t, env, tc.args...))
		})
	}
}

// A component's variables reach the server as the request RFC 8693 §2.1
// describes, with empty inputs sending nothing.
func TestSTSComponentRequest(t *testing.T) {
	t.Parallel()
	iss := oidctest.NewServer(t)
	f := newSTSFixture(t, iss)
	f.srv.ClientID, f.srv.ClientSecret = "gitlab ci", "s3cret:+/"
	tok := iss.MustMint(t, oidctest.Job{Audience: []string{stsAud}})
	env := map[string]string{
		"KEYLESS_STS_ID_TOKEN": tok, "KEYLESS_STS_TOKEN_VAR": "KEYLESS_STS_ID_TOKEN", "KEYLESS_STS_EXPECTED_AUD": stsAud,
		"KEYLESS_STS_TOKEN_URL": f.srv.TokenURL(), "KEYLESS_STS_AUDIENCE": "deploy-api, audit-api", "KEYLESS_STS_RESOURCE": "",
		"KEYLESS_STS_SCOPE": "deploy", "KEYLESS_STS_REQUESTED_TOKEN_TYPE": "access_token", "KEYLESS_STS_SUBJECT_TOKEN_TYPE": "id_token",
		"KEYLESS_STS_CLIENT_ID": "gitlab ci", "KEYLESS_STS_CLIENT_SECRET_ENV": "DEPLOY_SECRET", "DEPLOY_SECRET": "s3cret:+/",
		"KEYLESS_STS_CLIENT_ASSERTION_TYPE": "", "KEYLESS_STS_ENV": "API_TOKEN",
	}
	o := keyless(t, env, "env", "--format", "json")
	if o.Code != 0 {
		t.Fatalf("exit %d\n%s", o.Code, o.Stderr)
	}
	if !strings.Contains(o.Stdout, `"API_TOKEN": "`+f.srv.AccessToken+`"`) {
		t.Errorf("stdout: %s", o.Stdout)
	}
	reqs := f.srv.Requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests", len(reqs))
	}
	want := url.Values{
		"grant_type":           {"urn:ietf:params:oauth:grant-type:token-exchange"},
		"subject_token":        {tok},
		"subject_token_type":   {"urn:ietf:params:oauth:token-type:id_token"},
		"audience":             {"deploy-api", "audit-api"},
		"scope":                {"deploy"},
		"requested_token_type": {"urn:ietf:params:oauth:token-type:access_token"},
	}
	if diff := cmp.Diff(want, reqs[0].Form); diff != "" {
		t.Errorf("form (-want +got):\n%s", diff)
	}
	if reqs[0].Authorization == "" || !strings.Contains(reqs[0].Authorization, "Basic ") {
		t.Errorf("no HTTP Basic client authentication: %q", reqs[0].Authorization)
	}
	if strings.Contains(o.Stderr, "s3cret") {
		t.Errorf("stderr: %s", o.Stderr)
	}
}

func TestSTSCAFile(t *testing.T) {
	t.Parallel()
	srv, cert := ststest.NewTLS(t)
	iss := oidctest.NewServer(t)
	env := map[string]string{"KEYLESS_ID_TOKEN": iss.MustMint(t, oidctest.Job{}), "KEYLESS_STS_TOKEN_URL": srv.TokenURL()}
	checkCAFile(t, env, cert, func() int { return len(srv.Requests()) }, srv.AccessToken, "sts")
	// The variable, as a component sets it.
	env["KEYLESS_STS_CA_FILE"] = filepath.Join(t.TempDir(), "missing.pem")
	if o := keyless(t, env, "sts"); o.Code != ExitUsage {
		t.Errorf("missing CA file: exit %d\n%s", o.Code, o.Stderr)
	}
}
