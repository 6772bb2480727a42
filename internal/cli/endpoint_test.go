package cli

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"gitlab.com/keyless-ci/keyless/internal/exchange"
	"gitlab.com/keyless-ci/keyless/internal/exchange/aws/awstest"
	"gitlab.com/keyless-ci/keyless/internal/exchange/azure/azuretest"
	"gitlab.com/keyless-ci/keyless/internal/exchange/vault/vaulttest"
	"gitlab.com/keyless-ci/keyless/internal/oidctest"
)

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// tripwire proves that nothing went out: the client keyless is given
// refuses every request and counts it, and the server the other endpoints
// point at (so that they are valid) fails the test if anything reaches it.
type tripwire struct {
	URL    string
	client *http.Client
	sent   atomic.Int32
}

func newTripwire(t *testing.T) *tripwire {
	t.Helper()
	tw := &tripwire{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("a request reached the test server: %s %s", r.Method, r.URL.Path)
		http.Error(w, "no request may reach this server", http.StatusTeapot)
	}))
	t.Cleanup(srv.Close)
	tw.URL = srv.URL
	tw.client = &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		tw.sent.Add(1)
		return nil, errors.New("tripwire: no request may be sent")
	})}
	return tw
}

// Every flag that names where a token goes refuses plain http to a host
// other than loopback (exchange.CheckEndpoint) as a usage error, before the
// token is loaded and before any request, whether the URL comes from the
// flag or from its environment fallback.
func TestPlainHTTPEndpointIsRefusedBeforeAnyRequest(t *testing.T) {
	t.Parallel()
	iss := oidctest.NewServer(t)
	tw := newTripwire(t)
	// A query value that must never be shown.
	const secretQuery = "s3cr3t-query-value"
	gcpArgs := []string{"gcp", "--provider", gcpProviderName, "--service-account", gcpSA}
	azureArgs := []string{"azure", "--client-id", azuretest.ClientID, "--tenant-id", azuretest.TenantID}
	cases := []struct {
		name    string // a golden file's name, or a description
		golden  bool
		token   string // the ID token's audience
		env     map[string]string
		args    []string
		flag    string
		carries string
	}{
		{name: "aws-http-endpoint", golden: true, token: "sts.amazonaws.com",
			args: []string{"aws", "--role-arn", role, "--sts-endpoint", "http://sts.example.invalid"},
			flag: "--sts-endpoint", carries: "the ID token"},
		{name: "aws KEYLESS_AWS_STS_ENDPOINT", token: "sts.amazonaws.com",
			env:  map[string]string{"KEYLESS_AWS_ROLE_ARN": role, "KEYLESS_AWS_STS_ENDPOINT": "http://sts.example.invalid/?X-Amz-Credential=" + secretQuery},
			args: []string{"aws", "--format", "json"},
			flag: "--sts-endpoint", carries: "the ID token"},
		{name: "gcp-http-endpoint", golden: true, token: gcpAud,
			env:  map[string]string{"KEYLESS_GCP_IAMCREDENTIALS_ENDPOINT": tw.URL},
			args: append(gcpArgs, "--sts-endpoint", "http://sts.example.invalid"),
			flag: "--sts-endpoint", carries: "the ID token"},
		{name: "gcp-http-iamcredentials-endpoint", golden: true, token: gcpAud,
			env:  map[string]string{"KEYLESS_GCP_STS_ENDPOINT": tw.URL},
			args: append(gcpArgs, "--iamcredentials-endpoint", "http://iamcredentials.example.invalid"),
			flag: "--iamcredentials-endpoint", carries: "the federated token STS issued for the ID token"},
		{name: "gcp KEYLESS_GCP_STS_ENDPOINT", token: gcpAud,
			env:  map[string]string{"KEYLESS_GCP_STS_ENDPOINT": "http://sts.example.invalid?key=" + secretQuery, "KEYLESS_GCP_IAMCREDENTIALS_ENDPOINT": tw.URL},
			args: gcpArgs,
			flag: "--sts-endpoint", carries: "the ID token"},
		{name: "azure --authority-host", token: "api://AzureADTokenExchange",
			args: append(azureArgs, "--authority-host", "http://login.example.invalid/"),
			flag: "--authority-host", carries: "the ID token"},
		{name: "azure AZURE_AUTHORITY_HOST", token: "api://AzureADTokenExchange",
			// A component's empty input, then the job's own variable.
			env:  map[string]string{"KEYLESS_AZURE_AUTHORITY_HOST": "", "AZURE_AUTHORITY_HOST": "http://login.example.invalid/"},
			args: azureArgs,
			flag: "--authority-host", carries: "the ID token"},
		{name: "sts --token-url", token: stsAud,
			args: []string{"sts", "--token-url", "http://sso.example.invalid/token?client_secret=" + secretQuery},
			flag: "--token-url", carries: "the ID token"},
		{name: "env with KEYLESS_GCP_STS_ENDPOINT", token: gcpAud,
			env: map[string]string{"KEYLESS_GCP_PROVIDER": gcpProviderName, "KEYLESS_GCP_SERVICE_ACCOUNT": gcpSA,
				"KEYLESS_GCP_STS_ENDPOINT": "http://sts.example.invalid", "KEYLESS_GCP_IAMCREDENTIALS_ENDPOINT": tw.URL},
			// keyless env takes no flags: the message names the variable (issue 13).
			args: []string{"env"},
			flag: "KEYLESS_GCP_STS_ENDPOINT", carries: "the ID token"},
		{name: "exec with KEYLESS_AWS_STS_ENDPOINT", token: "sts.amazonaws.com",
			env:  map[string]string{"KEYLESS_AWS_ROLE_ARN": role, "KEYLESS_AWS_STS_ENDPOINT": "http://sts.example.invalid"},
			args: []string{"exec", "--", "sh", "-c", "echo the command ran; exit 9"},
			flag: "KEYLESS_AWS_STS_ENDPOINT", carries: "the ID token"},
	}
	// Once every case has run.
	t.Cleanup(func() {
		if n := iss.Hits("/.well-known/openid-configuration") + iss.Hits("/oauth/discovery/keys"); n != 0 {
			t.Errorf("the issuer was asked %d times", n)
		}
	})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// With a valid token, which a missing check would send; and with
			// none, which a check made after loading the token would report
			// instead (exit 3).
			tok := iss.MustMint(t, oidctest.Job{Audience: []string{tc.token}})
			for _, id := range []string{tok, ""} {
				env := map[string]string{"KEYLESS_ID_TOKEN": id}
				for k, v := range tc.env {
					env[k] = v
				}
				o := keylessWith(t, tw.client, env, tc.args...)
				if o.Code != ExitUsage {
					t.Errorf("token %v: exit %d, want %d (usage)\n%s", id != "", o.Code, ExitUsage, o.Stderr)
				}
				for _, want := range []string{"keyless: " + tc.flag + ` "http://`, "is plain http: the request carries " + tc.carries,
					"use an https URL, or, for a local test server, http to a loopback address"} {
					if !strings.Contains(o.Stderr, want) {
						t.Errorf("token %v: stderr lacks %q:\n%s", id != "", want, o.Stderr)
					}
				}
				if o.Stdout != "" {
					t.Errorf("stdout: %q", o.Stdout)
				}
				if strings.Contains(o.Stderr, secretQuery) || (id != "" && strings.Contains(o.Stderr, id)) {
					t.Errorf("stderr shows the query or the token:\n%s", o.Stderr)
				}
				if tc.golden && id != "" {
					golden(t, tc.name, fixture{iss: iss, sts: &awstest.STS{URL: tw.URL}}, o)
				}
			}
			if n := tw.sent.Load(); n != 0 {
				t.Errorf("%d requests sent", n)
			}
		})
	}
}

// Vault's address is warned about, not refused, when it is plain http to
// another host: `vault server -dev` listens on plain http.
func TestVaultWarnsOnPlainHTTP(t *testing.T) {
	t.Parallel()
	const warning = `keyless: vault: warning: --addr "http://vault.example.invalid:8200" is plain http: ` +
		`the ID token and the Vault token it returns cross the network unencrypted; use https (VAULT_ADDR=https://...)` + "\n"
	iss := oidctest.NewServer(t)
	tok := iss.MustMint(t, oidctest.Job{Audience: []string{vaulttest.DefaultAudience}})
	var sent atomic.Int32
	// The host does not resolve; no request leaves the test either way.
	offline := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		sent.Add(1)
		return nil, errors.New("offline")
	})}
	for _, extra := range [][]string{nil, {"--quiet"}} {
		args := append([]string{"vault", "--role", "deploy", "--export-token", "--timeout", "2s"}, extra...)
		o := keylessWith(t, offline, map[string]string{"KEYLESS_ID_TOKEN": tok, "VAULT_ADDR": "http://vault.example.invalid:8200?x=1",
			"KEYLESS_STATE_DIR": t.TempDir()}, args...)
		if !strings.HasPrefix(o.Stderr, warning) || strings.Count(o.Stderr, "plain http") != 1 {
			t.Errorf("%v: exit %d; stderr does not start with the one warning:\n%s", extra, o.Code, o.Stderr)
		}
		if o.Code == ExitUsage || o.Code == ExitOK {
			t.Errorf("%v: exit %d: plain http is warned about, and the login then fails offline", extra, o.Code)
		}
	}
	if sent.Load() == 0 {
		t.Error("no login was attempted: plain http to Vault must not be refused")
	}

	// Loopback (the fake) and https: no warning.
	f := newVaultFixture(t)
	o := keyless(t, f.env(f.mint(t, oidctest.Job{})), "vault", "--role", "deploy", "--secret", "DB_PASSWORD=secret/ci/db#password")
	if o.Code != 0 || strings.Contains(o.Stderr, "warning") || strings.Contains(o.Stderr, "plain http") {
		t.Errorf("loopback %s: exit %d\n%s", f.v.URL, o.Code, o.Stderr)
	}
	o = keylessWith(t, offline, map[string]string{"KEYLESS_ID_TOKEN": tok, "VAULT_ADDR": "https://vault.example.invalid:8200"},
		"vault", "--role", "deploy", "--export-token", "--timeout", "1s")
	if strings.Contains(o.Stderr, "warning") || strings.Contains(o.Stderr, "plain http") {
		t.Errorf("https: exit %d\n%s", o.Code, o.Stderr)
	}
}

// The rule lives in one place: the message every provider shows is
// exchange.InsecureEndpointError's.
func TestPlainHTTPMessageIsExchanges(t *testing.T) {
	t.Parallel()
	err := exchange.CheckEndpoint("sts-endpoint", "http://sts.example.invalid", "the ID token", nil)
	tw := newTripwire(t)
	o := keylessWith(t, tw.client, nil, "gcp", "--provider", gcpProviderName, "--sts-endpoint", "http://sts.example.invalid")
	if want := "keyless: " + err.Error() + "\n"; !strings.HasPrefix(o.Stderr, want) {
		t.Errorf("stderr:\n%s\nwant it to start with:\n%s", o.Stderr, want)
	}
}

// KEYLESS_INSECURE_HTTP_HOSTS lets plain http reach a listed host (a test
// service on the runner's network, such as a job's MinIO), with a warning;
// any other host is still refused.
func TestInsecureHTTPHostsAllowsListedHostsWithAWarning(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	fake := strings.TrimPrefix(f.sts.URL, "http://")
	client := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		r = r.Clone(r.Context())
		r.URL.Host, r.Host = fake, fake // "minio:9000" is the fake here
		return http.DefaultTransport.RoundTrip(r)
	})}
	tok := f.iss.MustMint(t, oidctest.Job{})
	env := map[string]string{"KEYLESS_ID_TOKEN": tok, "KEYLESS_AWS_STS_ENDPOINT": "http://minio:9000", "KEYLESS_INSECURE_HTTP_HOSTS": "vault, minio:9000"}
	o := keylessWith(t, client, env, "aws", "--role-arn", role, "--format", "json", "-q")
	if o.Code != 0 || !strings.Contains(o.Stderr, `--sts-endpoint "http://minio:9000" is plain http, allowed by KEYLESS_INSECURE_HTTP_HOSTS`) {
		t.Errorf("a listed host: exit %d, want 0 and a warning\n%s", o.Code, o.Stderr)
	}
	noSecretsIn(t, o, tok)
	env["KEYLESS_INSECURE_HTTP_HOSTS"] = "minio:9001,other"
	o = keylessWith(t, client, env, "aws", "--role-arn", role, "--format", "json")
	if o.Code != ExitUsage || !strings.Contains(o.Stderr, "KEYLESS_INSECURE_HTTP_HOSTS") {
		t.Errorf("an unlisted host: exit %d, want %d naming the variable\n%s", o.Code, ExitUsage, o.Stderr)
	}
}
