package cli

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"gitlab.com/keyless-ci/keyless/internal/exchange/azure"
	"gitlab.com/keyless-ci/keyless/internal/exchange/azure/azuretest"
	"gitlab.com/keyless-ci/keyless/internal/oidctest"
)

const azureSubject = "project_path:keyless-ci/demo:ref_type:branch:ref:main"

// azureFixture is an issuer and a fake Entra ID that trusts the issuer's
// tokens of keyless-ci/demo's main branch.
type azureFixture struct {
	iss   *oidctest.Issuer
	entra *azuretest.Entra
}

func newAzureFixture(t *testing.T, faults ...azuretest.Fault) azureFixture {
	t.Helper()
	f := azureFixture{iss: oidctest.NewServer(t), entra: azuretest.New(t, faults...)}
	f.entra.Trust(azuretest.FederatedCredential{Issuer: f.iss.URL, Subject: azureSubject})
	return f
}

// mint is a token for Entra's audience unless j names one.
func (f azureFixture) mint(t *testing.T, j oidctest.Job) string {
	t.Helper()
	if len(j.Audience) == 0 {
		j.Audience = []string{azure.DefaultAudience}
	}
	return f.iss.MustMint(t, j)
}

// env is the environment of a job that reaches the fake, as the component
// sets it.
func (f azureFixture) env(tok string, kv ...string) map[string]string {
	m := map[string]string{
		"KEYLESS_AZURE_ID_TOKEN":       tok,
		"KEYLESS_AZURE_TOKEN_VAR":      "KEYLESS_AZURE_ID_TOKEN",
		"KEYLESS_AZURE_CLIENT_ID":      azuretest.ClientID,
		"KEYLESS_AZURE_TENANT_ID":      azuretest.TenantID,
		"KEYLESS_AZURE_AUTHORITY_HOST": f.entra.URL,
	}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

var (
	azureIDs       = regexp.MustCompile(`(trace id|correlation id|Trace ID:|Correlation ID:) [0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
	azureTimes     = regexp.MustCompile(`\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:\.\d+)?Z`)
	azureStateDir  = regexp.MustCompile(`/[^\s'"]*/keyless-(?:uid-\d+|job-\d+)`)
	azureGoldenTok = regexp.MustCompile(`eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+`)
	azureUnixTime  = regexp.MustCompile(`"expires_on": \d+`)
)

// golden compares o with testdata/cli/NAME.golden, the fake's address
// written ENTRA, the state directory STATE, and Entra's ids UUID.
func (f azureFixture) golden(t *testing.T, name string, o outcome) {
	t.Helper()
	golden(t, name, fixture{iss: f.iss}, o.rewrite(func(s string) string {
		s = strings.ReplaceAll(s, f.entra.URL, "ENTRA")
		s = azureStateDir.ReplaceAllString(s, "STATE")
		s = azureIDs.ReplaceAllString(s, "$1 UUID")
		s = azureTimes.ReplaceAllString(s, "TIME")
		s = azureGoldenTok.ReplaceAllString(s, "JWT")
		return azureUnixTime.ReplaceAllString(s, `"expires_on": UNIX`)
	}))
}

func TestAzureGolden(t *testing.T) {
	t.Parallel()
	f := newAzureFixture(t)
	tok := f.mint(t, oidctest.Job{Environment: "production"})
	other := f.mint(t, oidctest.Job{Audience: []string{"https://gitlab.com"}})
	expired := f.mint(t, oidctest.Job{IssuedAt: f.iss.Now().Add(-3 * time.Hour)})
	feature := f.mint(t, oidctest.Job{Ref: "feature-x"})
	upper := f.mint(t, oidctest.Job{ProjectPath: "Keyless-CI/demo"})
	env := f.env(tok)
	with := func(kv ...string) map[string]string { return f.env(tok, kv...) }
	child := `test -n "$AZURE_ACCESS_TOKEN" && test -z "${AZURE_CLIENT_SECRET+set}" && echo "token set, secret unset"; exit 7`
	// The command gets the token in the file, not the job's variable
	// (issue 13); WANT_TOKEN is the test's copy to compare with.
	refreshChild := `test "$(cat "$AZURE_FEDERATED_TOKEN_FILE")" = "$WANT_TOKEN" && test -z "${KEYLESS_AZURE_ID_TOKEN+set}" && ` +
		`test "$ARM_OIDC_TOKEN_FILE_PATH" = "$AZURE_FEDERATED_TOKEN_FILE" && ` +
		`test -z "${AZURE_ACCESS_TOKEN+set}" && echo "$ARM_USE_OIDC $AZURE_AUTHORITY_HOST"`
	cases := []struct {
		name string
		env  map[string]string
		args []string
	}{
		{"azure-help", nil, []string{"azure", "--help"}},
		{"azure-env", env, []string{"azure"}},
		{"azure-json", env, []string{"azure", "--format", "json"}},
		{"azure-refreshable", env, []string{"azure", "--refreshable"}},
		{"azure-az-login", env, []string{"azure", "--format", "az-login"}},
		{"azure-exec-exit-code", with("AZURE_CLIENT_SECRET", "stored-secret"), []string{"azure", "--", "sh", "-c", child}},
		{"azure-exec-refreshable", with("WANT_TOKEN", tok), []string{"azure", "--refreshable", "-q", "--", "sh", "-c", refreshChild}},
		{"azure-keyless-env", with("KEYLESS_AZURE_AUTHORITY_HOST", "", "KEYLESS_AZURE_SCOPE", "", "AZURE_AUTHORITY_HOST", f.entra.URL, "KEYLESS_AZURE_REFRESHABLE", "true"), []string{"env"}},
		{"azure-no-client-id", with("KEYLESS_AZURE_CLIENT_ID", ""), []string{"azure"}},
		{"azure-bad-client-id", env, []string{"azure", "--client-id", "gitlab-deploy"}},
		{"azure-bad-tenant", env, []string{"azure", "--tenant-id", "common"}},
		{"azure-bad-scope", env, []string{"azure", "--scope", "https://management.azure.com/user_impersonation"}},
		{"azure-bad-authority", env, []string{"azure", "--authority-host", "http://login.example.com/"}},
		{"azure-bad-format", env, []string{"azure", "--format", "yaml"}},
		{"azure-format-and-command", env, []string{"azure", "--format", "json", "--", "true"}},
		{"azure-refreshable-json", env, []string{"azure", "--refreshable", "--format", "json"}},
		{"azure-wrong-audience", with("KEYLESS_AZURE_ID_TOKEN", other), []string{"azure"}},
		{"azure-expired", with("KEYLESS_AZURE_ID_TOKEN", expired), []string{"azure"}},
		{"azure-no-token", with("KEYLESS_AZURE_ID_TOKEN", ""), []string{"azure"}},
		{"azure-no-match-subject", with("KEYLESS_AZURE_ID_TOKEN", feature), []string{"azure", "--", "true"}},
		{"azure-subject-case", with("KEYLESS_AZURE_ID_TOKEN", upper), []string{"azure"}},
		{"azure-lifetime-warning", with("CI_JOB_STARTED_AT", f.iss.Now().UTC().Format(time.RFC3339), "CI_JOB_TIMEOUT", "10800"), []string{"azure", "--format", "json"}},
		{"azure-token-component-var", env, []string{"token"}},
	}
	// None of the refusals before the exchange reached Entra: once every
	// case has run, the fake saw only the exchanges that succeed or that it
	// refused itself.
	t.Cleanup(func() {
		if n := len(f.entra.TokenRequests()); n != 10 {
			t.Errorf("%d token requests, want 10", n)
		}
	})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f.golden(t, tc.name, keyless(t, tc.env, tc.args...))
		})
	}
}

// Entra's own refusals, each from a fake set up to give it.
func TestAzureGoldenRefusals(t *testing.T) {
	t.Parallel()
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, f *azureFixture)
		fault *azuretest.Fault
		args  []string
	}{
		{name: "azure-no-match-audience", setup: func(t *testing.T, f *azureFixture) {
			f.entra = azuretest.New(t)
			f.entra.Trust(azuretest.FederatedCredential{Issuer: f.iss.URL, Subject: azureSubject, Audiences: []string{"https://gitlab.com"}})
		}},
		{name: "azure-no-match-classic", fault: &azuretest.NoMatch},
		{name: "azure-token-time", setup: func(t *testing.T, f *azureFixture) {
			f.entra.Now = func() time.Time { return time.Now().Add(2 * time.Hour) }
		}},
		{name: "azure-locked", fault: &azuretest.Locked},
		{name: "azure-issuer-unreachable", setup: func(t *testing.T, f *azureFixture) {
			f.iss.URL = closed.URL
			f.entra.Trust(azuretest.FederatedCredential{Issuer: closed.URL, Subject: azureSubject})
		}},
		{name: "azure-unknown-app", args: []string{"--client-id", "99999999-2222-3333-4444-000000000000"}},
		{name: "azure-unknown-tenant", args: []string{"--tenant-id", "nope.onmicrosoft.com"}},
		{name: "azure-retries-exhausted", fault: &azuretest.Unavailable, args: []string{"--timeout", "300ms"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var faults []azuretest.Fault
			if tc.fault != nil {
				faults = []azuretest.Fault{*tc.fault}
				if tc.fault.Status >= 500 {
					for range 200 {
						faults = append(faults, *tc.fault)
					}
				}
			}
			f := newAzureFixture(t, faults...)
			if tc.setup != nil {
				tc.setup(t, &f)
			}
			o := keyless(t, f.env(f.mint(t, oidctest.Job{})), append([]string{"azure"}, tc.args...)...)
			if tc.name == "azure-retries-exhausted" {
				// The number of attempts before the deadline varies from run to run.
				o.Stderr = regexp.MustCompile(`after \d+ attempts`).ReplaceAllString(o.Stderr, "after N attempts")
			}
			f.golden(t, tc.name, o)
		})
	}
}

// The Azure variables are later fallbacks: a job that sets AZURE_CLIENT_ID,
// AZURE_TENANT_ID and AZURE_AUTHORITY_HOST needs no KEYLESS_AZURE_* ones.
func TestAzureStandardVariablesAreFallbacks(t *testing.T) {
	t.Parallel()
	f := newAzureFixture(t)
	o := keyless(t, map[string]string{
		"KEYLESS_ID_TOKEN": f.mint(t, oidctest.Job{}), "AZURE_CLIENT_ID": azuretest.ClientID,
		"AZURE_TENANT_ID": azuretest.TenantDomain, "AZURE_AUTHORITY_HOST": f.entra.URL,
	}, "azure", "--format", "json")
	if o.Code != 0 || !strings.Contains(o.Stdout, f.entra.AccessToken) {
		t.Fatalf("exit %d\n%s", o.Code, o.Stderr)
	}
	if p := f.entra.TokenRequests()[0].Path; p != "/"+azuretest.TenantDomain+"/oauth2/v2.0/token" {
		t.Errorf("path %s", p)
	}
}

// parseExports reads the export lines of --format env; keyless quotes every
// value in single quotes.
func parseExports(t *testing.T, out string) map[string]string {
	t.Helper()
	m := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), "export ")
		if !ok {
			continue
		}
		name, v, _ := strings.Cut(line, "=")
		m[name] = strings.ReplaceAll(strings.Trim(v, "'"), `'\''`, "'")
	}
	return m
}

// The refreshable environment is what the Azure SDKs read: azidentity's
// WorkloadIdentityCredential, given nothing but that environment (client,
// tenant, token file and authority host), gets a token from the fake over
// TLS through MSAL's discovery and token request.
func TestAzureRefreshableEnvWorksWithAzidentity(t *testing.T) {
	clearProcessEnv(t, "AZURE_", "ARM_", "IDENTITY_")
	iss := oidctest.NewServer(t)
	entra, cert := azuretest.NewTLS(t)
	entra.Trust(azuretest.FederatedCredential{Issuer: iss.URL, Subject: azureSubject})
	entra.AccessToken = "access-token-from-the-fake-for-azidentity"
	ca := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(ca, cert, 0o644)
	tok := iss.MustMint(t, oidctest.Job{Audience: []string{azure.DefaultAudience}})
	o := keyless(t, map[string]string{
		"KEYLESS_ID_TOKEN": tok, "CI_JOB_ID": "77",
		"KEYLESS_AZURE_CLIENT_ID": azuretest.ClientID, "KEYLESS_AZURE_TENANT_ID": azuretest.TenantID,
		"KEYLESS_AZURE_AUTHORITY_HOST": entra.URL, "KEYLESS_AZURE_CA_FILE": ca,
	}, "azure", "--refreshable")
	if o.Code != 0 {
		t.Fatalf("exit %d\n%s", o.Code, o.Stderr)
	}
	vars := parseExports(t, o.Stdout)
	for _, name := range []string{"AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_FEDERATED_TOKEN_FILE", "AZURE_AUTHORITY_HOST"} {
		if vars[name] == "" {
			t.Fatalf("%s not exported:\n%s", name, o.Stdout)
		}
		t.Setenv(name, vars[name])
	}
	if strings.Contains(o.Stdout, entra.AccessToken) {
		t.Error("refreshable mode printed an access token")
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(cert)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	before := len(entra.TokenRequests())
	cred, err := azidentity.NewWorkloadIdentityCredential(&azidentity.WorkloadIdentityCredentialOptions{
		ClientOptions:            azcore.ClientOptions{Transport: client},
		DisableInstanceDiscovery: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	at, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{azure.DefaultScope}})
	if err != nil {
		t.Fatalf("azidentity: %v", err)
	}
	if at.Token != entra.AccessToken {
		t.Errorf("azidentity got %q", at.Token)
	}
	if d := time.Until(at.ExpiresOn); d < 50*time.Minute || d > 61*time.Minute {
		t.Errorf("expires in %s", d)
	}
	reqs := entra.Requests()
	var discovery bool
	for _, r := range reqs {
		discovery = discovery || r.Path == "/"+azuretest.TenantID+"/v2.0/.well-known/openid-configuration"
	}
	tr := entra.TokenRequests()
	if !discovery || len(tr) != before+1 {
		t.Fatalf("azidentity did not discover and request a token: %+v", reqs)
	}
	last := tr[len(tr)-1]
	if last.Form["client_assertion"] != tok || last.Form["client_id"] != azuretest.ClientID {
		t.Errorf("azidentity did not send the token file's assertion for the client: %v", last.Form["client_id"])
	}
}

func TestAzureCAFile(t *testing.T) {
	t.Parallel()
	iss := oidctest.NewServer(t)
	entra, cert := azuretest.NewTLS(t)
	entra.Trust(azuretest.FederatedCredential{Issuer: iss.URL, Subject: azureSubject})
	env := map[string]string{
		"KEYLESS_ID_TOKEN":        iss.MustMint(t, oidctest.Job{Audience: []string{azure.DefaultAudience}}),
		"KEYLESS_AZURE_CLIENT_ID": azuretest.ClientID, "KEYLESS_AZURE_TENANT_ID": azuretest.TenantID, "KEYLESS_AZURE_AUTHORITY_HOST": entra.URL,
	}
	checkCAFile(t, env, cert, func() int { return len(entra.TokenRequests()) }, entra.AccessToken, "azure")
}

func TestAzureTokenFileStaysOutOfTheProjectDir(t *testing.T) {
	t.Parallel()
	f := newAzureFixture(t)
	proj := t.TempDir()
	for _, args := range [][]string{{"azure", "--refreshable"}, {"azure", "--format", "az-login"}} {
		o := keyless(t, f.env(f.mint(t, oidctest.Job{}), "CI_PROJECT_DIR", proj, "KEYLESS_STATE_DIR", filepath.Join(proj, "state")), args...)
		if o.Code != ExitFailure || !strings.Contains(o.Stderr, "inside the project directory") || o.Stdout != "" {
			t.Fatalf("%v: exit %d\n%s", args, o.Code, o.Stderr)
		}
		if _, err := os.Stat(filepath.Join(proj, "state")); !os.IsNotExist(err) {
			t.Errorf("%v wrote into the project dir: %v", args, err)
		}
	}
}

// keyless azure --format az-login prints an az login that keeps the ID
// token off every command line (no token text, no $(cat) of its file: az
// reads --federated-token @FILE itself), and the job's log says what the
// command exposes and where the token stays. Issue 13, item 4.
func TestAzureAzLoginKeepsTheTokenOffCommandLines(t *testing.T) {
	t.Parallel()
	f := newAzureFixture(t)
	tok := f.mint(t, oidctest.Job{})
	state := filepath.Join(t.TempDir(), "state")
	o := keyless(t, f.env(tok, "KEYLESS_STATE_DIR", state), "azure", "--format", "az-login")
	if o.Code != 0 {
		t.Fatalf("exit %d\n%s", o.Code, o.Stderr)
	}
	for _, bad := range []string{tok, "$(cat", "`cat", "$(<"} {
		if strings.Contains(o.Stdout, bad) {
			t.Errorf("the printed command carries the token (%.12q): %s", bad, o.Stdout)
		}
	}
	m := regexp.MustCompile(` --federated-token '@([^']+)'\n$`).FindStringSubmatch(o.Stdout)
	if m == nil {
		t.Fatalf("the printed command does not read a token file: %s", o.Stdout)
	}
	if b, err := os.ReadFile(m[1]); err != nil || string(b) != tok {
		t.Errorf("%s does not hold the token: %v", m[1], err)
	}
	for _, want := range []string{"--federated-token @FILE", "holds only the path", "other users of this machine", "$AZURE_CONFIG_DIR", "until az logout"} {
		if !strings.Contains(o.Stderr, want) {
			t.Errorf("the log does not say what the command exposes (%q): %s", want, o.Stderr)
		}
	}
	if strings.Contains(o.Stderr, tok) {
		t.Error("the log carries the token")
	}
}
