package azure_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"gitlab.com/keyless-ci/keyless/internal/exchange"
	"gitlab.com/keyless-ci/keyless/internal/exchange/azure"
	"gitlab.com/keyless-ci/keyless/internal/exchange/azure/azuretest"
	"gitlab.com/keyless-ci/keyless/internal/exchange/exchangetest"
	"gitlab.com/keyless-ci/keyless/internal/idtoken"
	"gitlab.com/keyless-ci/keyless/internal/oidctest"
	"gitlab.com/keyless-ci/keyless/internal/secret"
)

const subject = "project_path:keyless-ci/demo:ref_type:branch:ref:main"

var job = oidctest.Job{Audience: []string{azuretest.Audience}}

// setup starts an issuer and a fake Entra that trusts the issuer's tokens
// for subject, and mints a token for j.
func setup(t *testing.T, j oidctest.Job, faults ...azuretest.Fault) (*oidctest.Issuer, *azuretest.Entra, *idtoken.Token) {
	t.Helper()
	iss := oidctest.NewServer(t)
	entra := azuretest.New(t, faults...)
	entra.Trust(azuretest.FederatedCredential{Issuer: iss.URL, Subject: subject})
	return iss, entra, mint(t, iss, j)
}

func mint(t *testing.T, iss *oidctest.Issuer, j oidctest.Job) *idtoken.Token {
	t.Helper()
	if len(j.Audience) == 0 {
		j.Audience = job.Audience
	}
	tok, err := idtoken.Decode(secret.New(iss.MustMint(t, j)))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func opts(entra *azuretest.Entra) azure.Options {
	return azure.Options{
		ClientID:      azuretest.ClientID,
		TenantID:      azuretest.TenantID,
		AuthorityHost: entra.URL,
		Scope:         azure.DefaultScope,
		Seams: exchange.Seams{HTTPClient: http.DefaultClient, UserAgent: "keyless/test",
			Backoff: func(int) time.Duration { return time.Millisecond }},
	}
}

func TestExchangeSendsTheDocumentedRequest(t *testing.T) {
	_, entra, tok := setup(t, job)
	c, err := azure.Exchange(context.Background(), tok, opts(entra))
	if err != nil {
		t.Fatal(err)
	}
	reqs := entra.TokenRequests()
	if len(reqs) != 1 {
		t.Fatalf("%d token requests, want 1", len(reqs))
	}
	got := reqs[0]
	if got.Method != "POST" || got.Path != "/"+azuretest.TenantID+"/oauth2/v2.0/token" {
		t.Errorf("request %s %s", got.Method, got.Path)
	}
	want := map[string]string{
		"client_id":             azuretest.ClientID,
		"scope":                 "https://management.azure.com/.default",
		"grant_type":            "client_credentials",
		"client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
		"client_assertion":      tok.Raw.Reveal(),
	}
	if diff := cmp.Diff(want, got.Form); diff != "" {
		t.Errorf("form (-want +got):\n%s", diff)
	}
	for h, v := range map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json", "User-Agent": "keyless/test"} {
		if got.Header.Get(h) != v {
			t.Errorf("header %s = %q, want %q", h, got.Header.Get(h), v)
		}
	}
	if !azure.IsGUID(got.Header.Get("client-request-id")) {
		t.Errorf("client-request-id %q is not a UUID", got.Header.Get("client-request-id"))
	}
	if c.AccessToken.Reveal() != entra.AccessToken || c.TokenType != "Bearer" || c.Attempts != 1 {
		t.Errorf("credentials not parsed: %+v", c)
	}
	if d := time.Until(c.ExpiresOn); d < 59*time.Minute || d > 61*time.Minute {
		t.Errorf("expires in %s", d)
	}
	if c.AuthorityHost != entra.URL+"/" || c.Scope != azure.DefaultScope || c.ClientID != azuretest.ClientID {
		t.Errorf("credentials lack their context: %+v", c)
	}
}

func TestTenantDomainAndAuthorityWithPath(t *testing.T) {
	_, entra, tok := setup(t, job)
	o := opts(entra)
	o.TenantID = azuretest.TenantDomain
	o.AuthorityHost = entra.URL + "/"
	if _, err := azure.Exchange(context.Background(), tok, o); err != nil {
		t.Fatal(err)
	}
	if p := entra.TokenRequests()[0].Path; p != "/"+azuretest.TenantDomain+"/oauth2/v2.0/token" {
		t.Errorf("path %q", p)
	}
}

func TestRejectionsFailAtOnceAndExplain(t *testing.T) {
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()
	for _, tc := range []struct {
		name   string
		job    oidctest.Job
		cred   *azuretest.FederatedCredential // replaces the default one
		fault  *azuretest.Fault
		mutate func(*azure.Options)
		issuer string // the token's issuer, when not the test issuer
		signer bool   // sign with a key the issuer does not publish
		kind   error
		code   string
		says   []string
	}{
		{name: "issuer", cred: &azuretest.FederatedCredential{Issuer: "https://gitlab.com", Subject: subject},
			kind: azure.ErrNoMatch, code: "AADSTS700211", says: []string{"names this token's issuer", "issuer:    ISSUER\n", "no trailing slash"}},
		{name: "subject", job: oidctest.Job{Ref: "feature-x"},
			kind: azure.ErrNoMatch, code: "AADSTS700213", says: []string{
				"subject:   project_path:keyless-ci/demo:ref_type:branch:ref:feature-x\n", "audience:  api://AzureADTokenExchange\n",
				"az ad app federated-credential create --id CLIENT_ID --parameters credential.json",
				`"subject": "project_path:keyless-ci/demo:ref_type:branch:ref:feature-x"`, `"issuer": "ISSUER"`, `"audiences": ["api://AzureADTokenExchange"]`,
				"az identity federated-credential create --name gitlab-keyless-ci-demo-feature-x --identity-name IDENTITY",
				"--subject 'project_path:keyless-ci/demo:ref_type:branch:ref:feature-x' --audiences api://AzureADTokenExchange",
				"keyless policy azure --project keyless-ci/demo --project-id 4242 --ref '*'", "case-sensitively"}},
		{name: "subject case", job: oidctest.Job{ProjectPath: "Keyless-CI/Demo"},
			kind: azure.ErrNoMatch, code: "AADSTS7002138", says: []string{"only if case is ignored", "project_path:Keyless-CI/Demo:ref_type:branch:ref:main"}},
		{name: "audience", cred: &azuretest.FederatedCredential{Subject: subject, Audiences: []string{"https://gitlab.com"}},
			kind: azure.ErrNoMatch, code: "AADSTS700212", says: []string{"not the token's audience", "aud input"}},
		{name: "classic", fault: &azuretest.NoMatch,
			kind: azure.ErrNoMatch, code: "AADSTS70021", says: []string{"Assertion Issuer: 'ISSUER'. Assertion Subject: '" + subject + "'", "(error invalid_request, trace id "}},
		{name: "expired", job: oidctest.Job{IssuedAt: time.Now().Add(-2 * time.Hour)},
			kind: azure.ErrTokenTime, code: "AADSTS700024", says: []string{"not within its valid time range", "runner's", "clock"}},
		{name: "issuer unreachable", issuer: closedURL,
			kind: azure.ErrIssuer, code: "AADSTS501661", says: []string{"ISSUER/.well-known/openid-configuration", "/oauth/discovery/keys", "ci_id_tokens_issuer_url"}},
		{name: "foreign signature", signer: true,
			kind: azure.ErrInvalidToken, code: "AADSTS700027", says: []string{"keyless token --verify"}},
		{name: "unknown app", mutate: func(o *azure.Options) { o.ClientID = "99999999-2222-3333-4444-555555555555" },
			kind: azure.ErrNoApp, code: "AADSTS700016", says: []string{"not the object ID", "Application with identifier '********-****-****-****-********5555'"}},
		{name: "unknown tenant", mutate: func(o *azure.Options) { o.TenantID = "nope.onmicrosoft.com" },
			kind: azure.ErrTenant, code: "AADSTS90002", says: []string{"Tenant '****.***********.com' not found", "--authority-host"}},
		{name: "resource", fault: &azuretest.Fault{Status: 400, Error: "invalid_resource", Code: 500011, Message: "The resource principal named https://nope was not found in the tenant."},
			kind: azure.ErrScope, code: "AADSTS500011", says: []string{"--scope", "https://graph.microsoft.com/.default"}},
		{name: "locked", fault: &azuretest.Locked,
			kind: azure.ErrBlocked, code: "AADSTS50053", says: []string{"did not\nretry", "Sign-in logs"}},
		{name: "conditional access", fault: &azuretest.Fault{Status: 400, Error: "invalid_grant", Code: 53003, Message: "Access has been blocked by Conditional Access policies."},
			kind: azure.ErrBlocked, code: "AADSTS53003", says: []string{"Conditional Access"}},
		{name: "other", fault: &azuretest.Fault{Status: 400, Error: "invalid_request", Code: 90023, Message: "The authentication service request isn't valid."},
			kind: azure.ErrRejected, code: "AADSTS90023", says: []string{"error?code=90023"}},
		{name: "proxy page", fault: &azuretest.Fault{Status: 403, Body: "<html>denied by proxy</html>"},
			kind: azure.ErrEndpoint, code: "HTTP 403", says: []string{"did not answer like Entra ID's token endpoint"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			iss := oidctest.NewServer(t)
			if tc.issuer != "" {
				iss.URL = tc.issuer
			}
			var faults []azuretest.Fault
			if tc.fault != nil {
				faults = []azuretest.Fault{*tc.fault, *tc.fault, *tc.fault}
			}
			entra := azuretest.New(t, faults...)
			cred := azuretest.FederatedCredential{Issuer: iss.URL, Subject: subject}
			if tc.cred != nil {
				cred = *tc.cred
				if cred.Issuer == "" {
					cred.Issuer = iss.URL
				}
			}
			entra.Trust(cred)
			o := opts(entra)
			if tc.mutate != nil {
				tc.mutate(&o)
			}
			signer := iss
			if tc.signer {
				other, err := oidctest.New()
				if err != nil {
					t.Fatal(err)
				}
				other.URL = iss.URL
				signer = other
			}
			tok := mint(t, signer, tc.job)
			start := time.Now()
			_, err := azure.Exchange(context.Background(), tok, o)
			if !errors.Is(err, tc.kind) {
				t.Fatalf("err = %v, want %v", err, tc.kind)
			}
			if n := len(entra.TokenRequests()); n != 1 {
				t.Errorf("%d requests, want 1", n)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %s", d)
			}
			msg := strings.ReplaceAll(err.Error(), iss.URL, "ISSUER")
			for _, s := range append([]string{tc.code, "claims only", "sub              " + tok.Claims.Subject}, tc.says...) {
				if !strings.Contains(msg, s) {
					t.Errorf("explanation lacks %q:\n%s", s, msg)
				}
			}
			if strings.Contains(msg, azuretest.ClientID) {
				t.Errorf("client id not masked:\n%s", msg)
			}
		})
	}
}

// run is azure.Exchange as the exchangetest checks drive it.
func run(tok *idtoken.Token, o azure.Options) exchangetest.Exchange {
	return func(ctx context.Context, backoff func(int) time.Duration, progress io.Writer) error {
		o.Backoff, o.Progress = backoff, progress
		_, err := azure.Exchange(ctx, tok, o)
		return err
	}
}

func TestTransientFaultsAreRetried(t *testing.T) {
	noWait := azuretest.Throttled
	noWait.RetryAfter = ""
	exchangetest.CheckTransientRetried(t, 1, [][]azuretest.Fault{
		{azuretest.Unavailable, noWait},
		{{Status: 502, Body: "bad gateway"}, {Status: 500, Error: "server_error", Code: 90033, Message: "x"}},
		{{Status: 400, Error: "temporarily_unavailable", Code: 90033, Message: "x"}},
	}, func(faults []azuretest.Fault) (int, int, error) {
		_, entra, tok := setup(t, job, faults...)
		c, err := azure.Exchange(context.Background(), tok, opts(entra))
		if err != nil {
			return 0, 0, err
		}
		return c.Attempts, len(entra.TokenRequests()), nil
	})
}

func TestRetryAfterIsHonoured(t *testing.T) {
	_, entra, tok := setup(t, job, azuretest.Throttled)
	exchangetest.CheckRetryAfterIsHonoured(t, run(tok, opts(entra)))
}

func TestRetryAfterBeyondTheDeadlineGivesUpAtOnce(t *testing.T) {
	_, entra, tok := setup(t, job, azuretest.Fault{Status: 429, Error: "temporarily_unavailable", Code: 90055, Message: "slow down", RetryAfter: "120"})
	exchangetest.CheckRetryAfterBeyondTheDeadline(t, run(tok, opts(entra)), func() int { return len(entra.TokenRequests()) }, "asked to wait 2m0s")
}

func TestDeadlineHoldsAgainstAServerThatNeverAnswers(t *testing.T) {
	_, entra, tok := setup(t, job, azuretest.Fault{Hang: true})
	exchangetest.CheckDeadlineHolds(t, run(tok, opts(entra)))
}

func TestRetriesStopAtTheDeadline(t *testing.T) {
	_, entra, tok := setup(t, job, exchangetest.Repeat(azuretest.Unavailable, 1000)...)
	exchangetest.CheckRetriesStopAtTheDeadline(t, run(tok, opts(entra)), func() int { return len(entra.TokenRequests()) }, azure.ErrUnavailable)
}

func TestTheTokenNeverAppearsInAnError(t *testing.T) {
	echo := azuretest.Fault{Status: 400, Error: "invalid_request", Code: 50027, Message: "Invalid JWT token '{assertion}' for client " + azuretest.ClientID}
	_, entra, tok := setup(t, job, echo)
	_, err := azure.Exchange(context.Background(), tok, opts(entra))
	if err == nil {
		t.Fatal("no error")
	}
	raw := tok.Raw.Reveal()
	sig := raw[strings.LastIndexByte(raw, '.')+1:]
	for name, s := range map[string]string{"token": raw, "signature": sig, "client id": azuretest.ClientID} {
		if strings.Contains(err.Error(), s) {
			t.Errorf("the error carries the %s", name)
		}
	}
	if !strings.Contains(err.Error(), "Invalid JWT token '[REDACTED]'") {
		t.Errorf("the token is not replaced by [REDACTED]")
	}
}

func TestValidate(t *testing.T) {
	ok := azure.Options{ClientID: azuretest.ClientID, TenantID: azuretest.TenantID, Scope: azure.DefaultScope}
	with := func(f func(*azure.Options)) azure.Options { o := ok; f(&o); return o }
	for _, tc := range []struct {
		o    azure.Options
		want string // substring of the error; "" means valid
	}{
		{ok, ""},
		{with(func(o *azure.Options) { o.TenantID = "contoso.onmicrosoft.com" }), ""},
		{with(func(o *azure.Options) { o.AuthorityHost = "https://login.microsoftonline.us" }), ""},
		{with(func(o *azure.Options) { o.AuthorityHost = "http://127.0.0.1:8080" }), ""},
		{with(func(o *azure.Options) { o.Scope = "https://graph.microsoft.com/.default" }), ""},
		{with(func(o *azure.Options) { o.ClientID = "" }), "--client-id"},
		{with(func(o *azure.Options) { o.ClientID = "gitlab-deploy" }), `--client-id "gitlab-deploy" is not a GUID`},
		{with(func(o *azure.Options) { o.ClientID = "11111111-2222-3333-4444-55555555555" }), "is not a GUID"},
		{with(func(o *azure.Options) { o.TenantID = "" }), "--tenant-id"},
		{with(func(o *azure.Options) { o.TenantID = "common" }), "names no tenant"},
		{with(func(o *azure.Options) { o.TenantID = "Organizations" }), "names no tenant"},
		{with(func(o *azure.Options) { o.TenantID = "not a tenant" }), "neither a GUID nor a domain"},
		{with(func(o *azure.Options) { o.TenantID = "contoso" }), "neither a GUID nor a domain"},
		{with(func(o *azure.Options) { o.AuthorityHost = "http://login.microsoftonline.com/" }), "is plain http"},
		{with(func(o *azure.Options) { o.AuthorityHost = "ftp://login.microsoftonline.com/" }), "not an http(s) URL"},
		{with(func(o *azure.Options) { o.AuthorityHost = "https://u:p@login.microsoftonline.com/" }), "user info"},
		{with(func(o *azure.Options) { o.AuthorityHost = "http://[::1]:8080/" }), ""},
		{with(func(o *azure.Options) { o.AuthorityHost = "login.microsoftonline.com" }), "not a URL"},
		{with(func(o *azure.Options) { o.AuthorityHost = "https://login.microsoftonline.com/?x=1" }), "not a URL"},
		{with(func(o *azure.Options) { o.Scope = "" }), "--scope"},
		{with(func(o *azure.Options) { o.Scope = "https://management.azure.com/user_impersonation" }), "does not end in /.default"},
		{with(func(o *azure.Options) {
			o.Scope = "https://management.azure.com/.default https://graph.microsoft.com/.default"
		}), "several scopes"},
	} {
		err := tc.o.Validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%+v: %v", tc.o, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%+v: err = %v, want %q", tc.o, err, tc.want)
		}
	}
}

func TestTokenURLAndSovereignDefaults(t *testing.T) {
	o := azure.Options{TenantID: "contoso.onmicrosoft.com"}
	if u := o.TokenURL(); u != "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token" {
		t.Errorf("TokenURL = %q", u)
	}
	for host, scope := range map[string]string{
		"https://login.microsoftonline.com/": "https://management.azure.com/.default",
		"https://login.microsoftonline.us":   "https://management.core.usgovcloudapi.net/.default",
		"https://login.chinacloudapi.cn/":    "https://management.core.chinacloudapi.cn/.default",
		"https://login.example.internal/":    "https://management.azure.com/.default",
	} {
		if got := azure.DefaultScopeFor(host); got != scope {
			t.Errorf("DefaultScopeFor(%q) = %q, want %q", host, got, scope)
		}
	}
}

func TestMaskID(t *testing.T) {
	for in, want := range map[string]string{
		azuretest.ClientID:        "********-****-****-****-********5555",
		"contoso.onmicrosoft.com": "*******.***********.com",
		"abcd":                    "abcd",
	} {
		if got := azure.MaskID(in); got != want {
			t.Errorf("MaskID(%q) = %q, want %q", in, got, want)
		}
	}
}

func creds() *azure.Credentials {
	return &azure.Credentials{
		AccessToken:   secret.New("acc'ess"),
		TokenType:     "Bearer",
		ExpiresOn:     time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC),
		ClientID:      azuretest.ClientID,
		TenantID:      azuretest.TenantID,
		AuthorityHost: azure.DefaultAuthorityHost,
		Scope:         azure.DefaultScope,
	}
}

func TestStaticEnvScrubsCompetingVariables(t *testing.T) {
	c := creds().Static()
	env := c.Environ([]string{"PATH=/bin", "AZURE_CLIENT_SECRET=old", "ARM_CLIENT_SECRET=old", "AZURE_CLIENT_ID=keep", "AZURE_ACCESS_TOKEN=stale", "HOME=/h"})
	want := []string{"PATH=/bin", "AZURE_CLIENT_ID=keep", "HOME=/h", "AZURE_ACCESS_TOKEN=acc'ess"}
	if diff := cmp.Diff(want, env); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if !c.Expiration.Equal(creds().ExpiresOn) {
		t.Errorf("expiration %v", c.Expiration)
	}
}

func TestRefreshableWritesA0600TokenFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	o := azure.Options{ClientID: azuretest.ClientID, TenantID: azuretest.TenantID}
	c, err := azure.Refreshable(dir, secret.New("the.id.token"), o)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, azure.TokenFileName)
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file: %v %v", fi, err)
	}
	if b, _ := os.ReadFile(path); string(b) != "the.id.token" {
		t.Errorf("token file holds %q", b)
	}
	if di, _ := os.Stat(dir); di.Mode().Perm() != 0o700 {
		t.Errorf("dir mode %v", di.Mode().Perm())
	}
	env := c.Environ([]string{"AZURE_CLIENT_SECRET=old", "ARM_CLIENT_CERTIFICATE_PATH=/old.pfx", "AZURE_ACCESS_TOKEN=stale"})
	want := []string{
		"AZURE_CLIENT_ID=" + azuretest.ClientID, "AZURE_TENANT_ID=" + azuretest.TenantID,
		"AZURE_FEDERATED_TOKEN_FILE=" + path, "AZURE_AUTHORITY_HOST=https://login.microsoftonline.com/",
		"ARM_USE_OIDC=true", "ARM_CLIENT_ID=" + azuretest.ClientID, "ARM_TENANT_ID=" + azuretest.TenantID,
		"ARM_OIDC_TOKEN_FILE_PATH=" + path,
	}
	if diff := cmp.Diff(want, env); diff != "" {
		t.Errorf("refreshable env (-want +got):\n%s", diff)
	}
	if err := c.Cleanup(); err != nil {
		t.Fatal(err)
	}
	// The state directory itself is keyless cleanup's to remove.
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("cleanup left %s", path)
	}
	// A sovereign cloud names its environment for azurerm.
	o.AuthorityHost = "https://login.microsoftonline.us"
	c, err = azure.Refreshable(dir, secret.New("t"), o)
	if err != nil {
		t.Fatal(err)
	}
	env = c.Environ(nil)
	if !strings.Contains(strings.Join(env, "\n"), "AZURE_AUTHORITY_HOST=https://login.microsoftonline.us/\n") ||
		env[len(env)-1] != "ARM_ENVIRONMENT=usgovernment" {
		t.Errorf("sovereign env: %v", env)
	}
}

func TestWriteJSON(t *testing.T) {
	var b strings.Builder
	if err := creds().WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	want := `{
  "access_token": "acc'ess",
  "token_type": "Bearer",
  "expires_on": 1795860000,
  "expiration": "2026-11-28T10:00:00Z",
  "scope": "https://management.azure.com/.default",
  "client_id": "11111111-2222-3333-4444-555555555555",
  "tenant_id": "aaaabbbb-0000-cccc-1111-dddd2222eeee"
}
`
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// stubAz is an az that expands its arguments as the Azure CLI does before
// it parses them: an argument "@FILE" (or "--name=@FILE") is the file's
// content without its trailing newline, or stays as written when the file
// cannot be read (_expand_file_prefixed_files in azure-cli-core's
// azure/cli/core/commands/__init__.py). It logs its own arguments, what
// /proc/PID/cmdline shows, to $AZ_ARGV and the expanded ones to $AZ_LOG.
const stubAz = `#!/bin/sh
printf '%s\n' "$*" >> "$AZ_ARGV"
for a do
  shift
  case $a in
  @?*) f=${a#@}; if [ -r "$f" ]; then a=$(cat "$f"); fi ;;
  esac
  set -- "$@" "$a"
done
printf '%s\n' "$*" >> "$AZ_LOG"
`

// The printed az login hands az the token through its file, never on a
// command line: neither the printed text nor az's own arguments hold the
// token or a $(cat) of the file, and az, reading @FILE as the Azure CLI
// does, gets the token as --federated-token. Issue 13, item 4.
func TestAzLoginReadsTheTokenFromTheFile(t *testing.T) {
	dir := t.TempDir()
	file, err := azure.WriteTokenFile(filepath.Join(dir, "state dir"), secret.New("the.id.token"))
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "bin")
	os.MkdirAll(bin, 0o755)
	os.WriteFile(filepath.Join(bin, "az"), []byte(stubAz), 0o755)
	for _, tc := range []struct {
		host, want string
	}{
		{"", "login --service-principal -u " + azuretest.ClientID + " --tenant " + azuretest.TenantID + " --federated-token the.id.token\n"},
		{"https://login.chinacloudapi.cn/", "cloud set --name AzureChinaCloud\nlogin --service-principal -u " + azuretest.ClientID + " --tenant " + azuretest.TenantID + " --federated-token the.id.token\n"},
	} {
		var b strings.Builder
		o := azure.Options{ClientID: azuretest.ClientID, TenantID: azuretest.TenantID, AuthorityHost: tc.host}
		if err := azure.WriteAzLogin(&b, o, file); err != nil {
			t.Fatal(err)
		}
		for _, bad := range []string{"the.id.token", "$(cat", "`cat", "$(<"} {
			if strings.Contains(b.String(), bad) {
				t.Fatalf("the command line carries the token (%q): %s", bad, b.String())
			}
		}
		argv, log := filepath.Join(dir, "az.argv"), filepath.Join(dir, "az.log")
		os.Remove(argv)
		os.Remove(log)
		var out strings.Builder
		cmd := exchange.Command{Args: []string{"sh", "-c", b.String()}, Env: []string{"PATH=" + bin + ":" + os.Getenv("PATH"), "AZ_ARGV=" + argv, "AZ_LOG=" + log}, Stdout: &out, Stderr: &out}
		if err := exchange.Exec(context.Background(), cmd, &exchange.Credentials{}); err != nil {
			t.Fatalf("%v: %s", err, out.String())
		}
		args, _ := os.ReadFile(argv)
		if strings.Contains(string(args), "the.id.token") || !strings.Contains(string(args), "--federated-token @"+file+"\n") {
			t.Errorf("az's command line: %s", args)
		}
		got, _ := os.ReadFile(log)
		if diff := cmp.Diff(tc.want, string(got)); diff != "" {
			t.Errorf("az got (-want +got):\n%s", diff)
		}
	}
	// The Azure CLI would read a path with "=" from after the "=".
	if err := azure.WriteAzLogin(&strings.Builder{}, azure.Options{ClientID: azuretest.ClientID, TenantID: azuretest.TenantID}, "/tmp/a=b/token"); err == nil || !strings.Contains(err.Error(), "KEYLESS_STATE_DIR") {
		t.Errorf("path with =: %v", err)
	}
}
