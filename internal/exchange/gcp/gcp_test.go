package gcp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/oauth2/google"

	"gitlab.com/keyless-ci/keyless/internal/exchange"
	"gitlab.com/keyless-ci/keyless/internal/exchange/exchangetest"
	"gitlab.com/keyless-ci/keyless/internal/exchange/gcp/gcptest"
	"gitlab.com/keyless-ci/keyless/internal/idtoken"
	"gitlab.com/keyless-ci/keyless/internal/oidctest"
	"gitlab.com/keyless-ci/keyless/internal/secret"
)

const (
	testProvider = "projects/123456789012/locations/global/workloadIdentityPools/gitlab/providers/gitlab-com"
	testAudience = "//iam.googleapis.com/" + testProvider
	testSA       = "deploy@my-project.iam.gserviceaccount.com"
)

func noWait(int) time.Duration { return time.Millisecond }

// job mints a token with the provider's default audience.
func job(t *testing.T, iss *oidctest.Issuer, j oidctest.Job) *idtoken.Token {
	t.Helper()
	if len(j.Audience) == 0 {
		j.Audience = []string{testAudience}
	}
	tok, err := idtoken.Decode(secret.New(iss.MustMint(t, j)))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func options(fake *gcptest.Server) Options {
	return Options{Provider: testProvider, STSEndpoint: fake.URL, IAMEndpoint: fake.URL, Seams: exchange.Seams{Backoff: noWait}}
}

func TestParseProvider(t *testing.T) {
	for _, s := range []string{testProvider, "//iam.googleapis.com/" + testProvider, "https://iam.googleapis.com/" + testProvider, " " + testProvider + "\n"} {
		p, err := ParseProvider(s)
		if err != nil {
			t.Errorf("%q: %v", s, err)
			continue
		}
		if p.Name() != testProvider || p.Audience() != testAudience {
			t.Errorf("%q: %+v", s, p)
		}
	}
	bad := map[string]string{
		"projects/123456789012/locations/global/workloadIdentityPools/gitlab":                        "names a workload identity pool, not a provider",
		"projects/my-project/locations/global/workloadIdentityPools/gitlab/providers/gitlab-com":     "project number, not its id",
		"projects/123456789012/locations/europe-west1/workloadIdentityPools/gitlab/providers/gitlab": "workload identity pools are global",
		"projects/123456789012/locations/global/workloadIdentityPools/GitLab/providers/gitlab-com":   "pool ids are 4 to 32",
		"projects/123456789012/locations/global/workloadIdentityPools/gitlab/providers/gl":           "provider ids are 4 to 32",
		"gitlab-com": "is not a workload identity pool provider",
		"projects/123456789012/providers/gitlab-com":   "is not a workload identity pool provider",
		"arn:aws:iam::123456789012:role/gitlab-deploy": "is not a workload identity pool provider",
	}
	for s, want := range bad {
		if _, err := ParseProvider(s); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: got %v, want %q", s, err, want)
		}
	}
	if got := (Provider{ProjectNumber: "123456789012", Pool: "gitlab", ID: "gitlab-com"}).Masked(); !strings.Contains(got, "projects/********9012/") {
		t.Errorf("masked: %s", got)
	}
}

func TestValidate(t *testing.T) {
	cases := map[string]Options{
		"no workload identity provider":                         {},
		"--service-account \"deploy\" is not a service account": {Provider: testProvider, ServiceAccount: "deploy"},
		"--delegates is a delegation chain":                     {Provider: testProvider, Delegates: []string{testSA}},
		"--lifetime is the impersonated token's lifetime":       {Provider: testProvider, Lifetime: time.Hour},
		"outside IAM Credentials' range":                        {Provider: testProvider, ServiceAccount: testSA, Lifetime: 13 * time.Hour},
		"--universe \"googleapis\" is not a domain":             {Provider: testProvider, Universe: "googleapis"},
		"--sts-endpoint \"sts.example\" is not an http(s) URL":  {Provider: testProvider, STSEndpoint: "sts.example"},
		"--sts-endpoint \"http://sts.example.invalid\" is plain http: the request carries the ID token": {
			Provider: testProvider, STSEndpoint: "http://sts.example.invalid"},
		"--iamcredentials-endpoint \"http://iam.example.invalid/v1\" is plain http: the request carries the federated token": {
			Provider: testProvider, ServiceAccount: testSA, IAMEndpoint: "http://iam.example.invalid/v1?key=x"},
		"--iamcredentials-endpoint \"https://iam.example.com\" carries user info": {
			Provider: testProvider, IAMEndpoint: "https://u:p@iam.example.com"},
	}
	for want, o := range cases {
		if err := o.Validate(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%+v: got %v, want %q", o, err, want)
		}
	}
	ok := Options{Provider: testProvider, ServiceAccount: "1234567890", Delegates: []string{testSA}, Lifetime: 2 * time.Hour, Universe: "example.com"}
	if err := ok.Validate(); err != nil {
		t.Error(err)
	}
	local := Options{Provider: testProvider, STSEndpoint: "http://127.0.0.1:8080", IAMEndpoint: "http://[::1]:8081/"}
	if err := local.Validate(); err != nil {
		t.Errorf("loopback endpoints: %v", err)
	}
	if got := ok.TokenURL(); got != "https://sts.example.com/v1/token" {
		t.Errorf("token URL %s", got)
	}
	if got := ok.ImpersonationURL(); got != "https://iamcredentials.example.com/v1/projects/-/serviceAccounts/1234567890:generateAccessToken" {
		t.Errorf("impersonation URL %s", got)
	}
}

func TestDirectFederation(t *testing.T) {
	iss := oidctest.NewServer(t)
	fake := gcptest.New(t)
	tok := job(t, iss, oidctest.Job{TTL: 30 * time.Minute})
	c, err := Exchange(context.Background(), tok, options(fake))
	if err != nil {
		t.Fatal(err)
	}
	if c.AccessToken.Reveal() != fake.FederatedToken || c.ServiceAccount != "" || c.Attempts != 1 {
		t.Errorf("credentials %+v", c)
	}
	// STS grants as long as the ID token lives, at most an hour.
	if left := time.Until(c.Expiration); left < 29*time.Minute || left > 30*time.Minute {
		t.Errorf("expires in %s", left)
	}
	reqs := fake.Requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests", len(reqs))
	}
	want := map[string]string{
		"grant_type":           GrantType,
		"audience":             testAudience,
		"scope":                CloudPlatformScope,
		"requested_token_type": RequestedTokenType,
		"subject_token":        tok.Raw.Reveal(),
		"subject_token_type":   SubjectTokenType,
	}
	if d := cmp.Diff(want, reqs[0].Form); d != "" {
		t.Errorf("STS form (-want +got):\n%s", d)
	}
}

func TestImpersonation(t *testing.T) {
	iss := oidctest.NewServer(t)
	fake := gcptest.New(t)
	o := options(fake)
	o.ServiceAccount = testSA
	o.Delegates = []string{"hop@my-project.iam.gserviceaccount.com"}
	o.Lifetime = 30 * time.Minute
	o.Scopes = []string{"https://www.googleapis.com/auth/devstorage.read_only"}
	c, err := Exchange(context.Background(), job(t, iss, oidctest.Job{}), o)
	if err != nil {
		t.Fatal(err)
	}
	if c.AccessToken.Reveal() != fake.AccessToken || c.ServiceAccount != testSA || c.Attempts != 2 {
		t.Errorf("credentials %+v", c)
	}
	if left := time.Until(c.Expiration); left < 29*time.Minute || left > 30*time.Minute {
		t.Errorf("expires in %s", left)
	}
	reqs := fake.Requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests", len(reqs))
	}
	// STS grants cloud-platform, which generateAccessToken needs; the
	// caller's scopes go to generateAccessToken (AIP-4117).
	if reqs[0].Form["scope"] != CloudPlatformScope {
		t.Errorf("STS scope %q", reqs[0].Form["scope"])
	}
	got := reqs[1]
	want := gcptest.Request{
		Service: gcptest.IAM, Path: "/v1/projects/-/serviceAccounts/" + testSA + ":generateAccessToken",
		ContentType: "application/json", Authorization: "Bearer " + fake.FederatedToken,
		Delegates: []string{"projects/-/serviceAccounts/hop@my-project.iam.gserviceaccount.com"},
		Scope:     o.Scopes, Lifetime: "1800s", ServiceAccount: testSA,
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("generateAccessToken request (-want +got):\n%s", d)
	}
}

// run is Exchange as the exchangetest checks drive it.
func run(tok *idtoken.Token, o Options) exchangetest.Exchange {
	return func(ctx context.Context, backoff func(int) time.Duration, progress io.Writer) error {
		o.Backoff, o.Progress = backoff, progress
		_, err := Exchange(ctx, tok, o)
		return err
	}
}

func TestRetries(t *testing.T) {
	iss := oidctest.NewServer(t)
	cases := []struct {
		name     string
		faults   []gcptest.Fault
		sa       bool
		attempts int
		kind     error
	}{
		{"sts 503 then ok", []gcptest.Fault{gcptest.STSUnavailable}, false, 2, nil},
		{"sts 429 then ok", []gcptest.Fault{gcptest.STSThrottled, gcptest.STSThrottled}, false, 3, nil},
		{"sts 500 opaque then ok", []gcptest.Fault{{Service: gcptest.STS, Status: 500}}, false, 2, nil},
		{"iam 503 then ok", []gcptest.Fault{gcptest.IAMUnavailable}, true, 3, nil},
		{"iam 429 then ok", []gcptest.Fault{gcptest.IAMThrottled}, true, 3, nil},
		{"sts 400 not retried", []gcptest.Fault{gcptest.AttributeCondition}, false, 1, ErrAttributeCondition},
		{"iam 403 not retried", []gcptest.Fault{gcptest.PermissionDenied}, true, 1, ErrPermissionDenied},
		{"invalid target not retried", []gcptest.Fault{gcptest.InvalidTarget}, false, 1, ErrNoProvider},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fake := gcptest.New(t, tc.faults...)
			o := options(fake)
			if tc.sa {
				o.ServiceAccount = testSA
			}
			c, err := Exchange(context.Background(), job(t, iss, oidctest.Job{}), o)
			if tc.kind == nil {
				if err != nil {
					t.Fatal(err)
				}
				if c.Attempts != tc.attempts {
					t.Errorf("attempts %d, want %d", c.Attempts, tc.attempts)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) || !errors.Is(err, tc.kind) {
				t.Fatalf("got %v, want %v", err, tc.kind)
			}
			// An impersonation error counts generateAccessToken's attempts.
			requests := tc.attempts
			if tc.sa {
				requests++
			}
			if e.Attempts != tc.attempts || len(fake.Requests()) != requests {
				t.Errorf("attempts %d, requests %d, want %d and %d", e.Attempts, len(fake.Requests()), tc.attempts, requests)
			}
		})
	}
	t.Run("throttled until the deadline", func(t *testing.T) {
		fake := gcptest.New(t, gcptest.STSThrottled, gcptest.STSThrottled, gcptest.STSThrottled, gcptest.STSThrottled, gcptest.Hang(gcptest.STS))
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		_, err := Exchange(ctx, job(t, iss, oidctest.Job{}), options(fake))
		// The last answer says more than the deadline.
		if !errors.Is(err, ErrThrottled) || !strings.Contains(err.Error(), "after 5 attempts") {
			t.Fatalf("got %v", err)
		}
	})
}

func TestDeadlineHoldsAgainstAServerThatNeverAnswers(t *testing.T) {
	iss := oidctest.NewServer(t)
	exchangetest.CheckDeadlineHolds(t, run(job(t, iss, oidctest.Job{}), options(gcptest.New(t, gcptest.Hang(gcptest.STS)))))
}

func TestUntrustedCertificateIsNotRetried(t *testing.T) {
	iss := oidctest.NewServer(t)
	fake, _ := gcptest.NewTLS(t)
	exchangetest.CheckUntrustedCertificateIsNotRetried(t, run(job(t, iss, oidctest.Job{}), options(fake)), "--ca-file")
	if n := len(fake.Requests()); n != 0 {
		t.Errorf("%d requests reached the fake", n)
	}
}

// TestExplanations drives each rejection through the fake, which refuses as
// Google does, and checks the explanation's key lines.
func TestExplanations(t *testing.T) {
	iss := oidctest.NewServer(t)
	long := "project_path:" + strings.Repeat("deeply/nested/", 8) + "project:ref_type:branch:ref:feature/with-a-long-name"
	cases := []struct {
		name  string
		setup func(*gcptest.Server, *Options)
		job   oidctest.Job
		kind  error
		want  []string
	}{
		{"attribute condition", func(s *gcptest.Server, o *Options) {
			s.Condition = func(c map[string]any) bool { return c["project_path"] == "other/project" }
		}, oidctest.Job{}, ErrAttributeCondition, []string{
			"HTTP 400 unauthorized_client: The given credential is rejected by the attribute condition.",
			`assertion.project_path == "keyless-ci/demo" && assertion.ref_protected == "true"`,
			"gcloud iam workload-identity-pools providers describe gitlab-com --workload-identity-pool=gitlab --location=global --format='value(attributeCondition)'",
		}},
		{"impersonation denied", func(s *gcptest.Server, o *Options) {
			o.ServiceAccount = testSA
		}, oidctest.Job{}, ErrPermissionDenied, []string{
			"gcp: IAM Credentials generateAccessToken for " + testSA + " failed: HTTP 403 PERMISSION_DENIED: Permission 'iam.serviceAccounts.getAccessToken' denied",
			"--role=roles/iam.workloadIdentityUser",
			`--member="principal://iam.googleapis.com/projects/PROJECT_NUMBER/locations/global/workloadIdentityPools/gitlab/subject/project_path:keyless-ci/demo:ref_type:branch:ref:main"`,
			`--member="principalSet://iam.googleapis.com/projects/PROJECT_NUMBER/locations/global/workloadIdentityPools/gitlab/attribute.project_path/keyless-ci/demo"`,
			"the number in --provider (********9012)",
		}},
		{"wrong audience", nil, oidctest.Job{Audience: []string{"https://gitlab.com"}}, ErrAudience, []string{
			"HTTP 400 invalid_grant: The audience in ID Token [https://gitlab.com] does not match the expected audience.",
			"//iam.googleapis.com/projects/PROJECT_NUMBER/locations/global/workloadIdentityPools/gitlab/providers/gitlab-com",
			"--allowed-audiences=https://gitlab.com",
		}},
		{"issuer trailing slash", func(s *gcptest.Server, o *Options) { s.Issuer = iss.URL + "/" }, oidctest.Job{}, ErrIssuer, []string{
			"differ only in the trailing slash",
			"--issuer-uri=" + iss.URL + "\n",
		}},
		{"issuer other", func(s *gcptest.Server, o *Options) { s.Issuer = "https://gitlab.example.com" }, oidctest.Job{}, ErrIssuer, []string{
			"The provider expects tokens from https://gitlab.example.com, but this token's iss is " + iss.URL,
		}},
		{"subject too long", nil, oidctest.Job{Subject: long}, ErrSubjectTooLong, []string{
			"exceeds the 127 bytes limit",
			fmt.Sprintf("this token's sub is %d bytes", len(long)),
			"--attribute-mapping=google.subject=assertion.project_id,attribute.project_path=assertion.project_path,attribute.ref=assertion.ref",
			"principal://iam.googleapis.com/projects/PROJECT_NUMBER/locations/global/workloadIdentityPools/gitlab/subject/4242",
		}},
		{"stale token", func(s *gcptest.Server, o *Options) { s.Now = func() time.Time { return time.Now().Add(2 * time.Hour) } },
			oidctest.Job{}, ErrTokenExpired, []string{"is stale to sign-in", "check the runner's clock"}},
		{"service account missing", func(s *gcptest.Server, o *Options) {
			o.ServiceAccount = "typo@my-project.iam.gserviceaccount.com"
			s.ServiceAccounts = []string{testSA}
		}, oidctest.Job{}, ErrNoServiceAccount, []string{
			"HTTP 404 NOT_FOUND: Not found; Gaia id not found for email typo@my-project.iam.gserviceaccount.com",
			"IAM Credentials knows no service account typo@",
		}},
		{"lifetime over an hour", func(s *gcptest.Server, o *Options) {
			o.ServiceAccount, o.Lifetime = testSA, 2*time.Hour
		}, oidctest.Job{}, ErrInvalidInput, []string{"HTTP 400 INVALID_ARGUMENT", "constraints/iam.allowServiceAccountCredentialLifetimeExtension"}},
		{"no provider", nil, oidctest.Job{}, ErrNoProvider, []string{"indicated by the \"audience\" parameters is invalid", "project number"}},
		{"issuer unreachable", nil, oidctest.Job{}, ErrUnreachable, []string{"--jwk-json-path=keys.json"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var faults []gcptest.Fault
			switch tc.name {
			case "impersonation denied":
				faults = append(faults, gcptest.PermissionDenied)
			case "no provider":
				faults = append(faults, gcptest.InvalidTarget)
			case "issuer unreachable":
				faults = append(faults, gcptest.IssuerUnreachable)
			}
			fake := gcptest.New(t, faults...)
			o := options(fake)
			if tc.setup != nil {
				tc.setup(fake, &o)
			}
			_, err := Exchange(context.Background(), job(t, iss, tc.job), o)
			if !errors.Is(err, tc.kind) {
				t.Fatalf("got %v, want %v", err, tc.kind)
			}
			msg := err.Error()
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("missing %q in:\n%s", w, msg)
				}
			}
			if strings.Contains(msg, "123456789012") {
				t.Errorf("the project number is not masked:\n%s", msg)
			}
			if !strings.Contains(msg, "The job's ID token, as Google saw it (claims only):") {
				t.Errorf("no claims:\n%s", msg)
			}
		})
	}
}

func TestIssuerMessageVariants(t *testing.T) {
	for _, msg := range []string{
		"The issuer in ID Token https://gitlab.com does not match the expected ones: https://gitlab.com/",
		"The issuer in ID Token https://gitlab.com does not match the expected one in config: https://gitlab.com/.",
	} {
		e := &Error{Failure: exchange.Failure{Kind: ErrIssuer, Message: msg}, Claims: idtoken.Claims{Issuer: "https://gitlab.com"}, Provider: Provider{"1", "gitlab", "gitlab-com"}}
		if got := e.explain(); !strings.Contains(got, "differ only in the trailing slash") || !strings.Contains(got, "--issuer-uri=https://gitlab.com\n") {
			t.Errorf("%q:\n%s", msg, got)
		}
	}
}

func TestErrorsNeverCarryTokens(t *testing.T) {
	iss := oidctest.NewServer(t)
	tok := job(t, iss, oidctest.Job{})
	fake := gcptest.New(t,
		gcptest.STSError(400, "invalid_request", "Bad subject_token "+tok.Raw.Reveal()+" and ya29.a0-some-access-token for projects/123456789012/x"),
	)
	_, err := Exchange(context.Background(), tok, options(fake))
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	sig := tok.Raw.Reveal()[strings.LastIndexByte(tok.Raw.Reveal(), '.')+1:]
	for _, leak := range []string{tok.Raw.Reveal(), sig, "ya29.a0", "123456789012"} {
		if strings.Contains(msg, leak) {
			t.Errorf("error carries %q:\n%s", leak, msg)
		}
	}
}

func TestStatic(t *testing.T) {
	c := &Credentials{AccessToken: secret.New("ya29.x"), Expiration: time.Now()}
	env := c.Static("my-project")
	got := env.Environ([]string{"GOOGLE_APPLICATION_CREDENTIALS=/key.json", "GOOGLE_CREDENTIALS={}", "CLOUDSDK_AUTH_ACCESS_TOKEN=old", "PATH=/bin"})
	want := []string{"PATH=/bin", "CLOUDSDK_AUTH_ACCESS_TOKEN=ya29.x", "GOOGLE_OAUTH_ACCESS_TOKEN=ya29.x", "CLOUDSDK_CORE_PROJECT=my-project", "GOOGLE_CLOUD_PROJECT=my-project"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("environment (-want +got):\n%s", d)
	}
	if s := strings.Join(c.Static("").Unset, " "); !strings.Contains(s, "GOOGLE_APPLICATION_CREDENTIALS") || !strings.Contains(s, "CLOUDSDK_AUTH_CREDENTIAL_FILE_OVERRIDE") || strings.Contains(s, "CLOUDSDK_AUTH_ACCESS_TOKEN ") {
		t.Errorf("unset %s", s)
	}
}

func TestSubjectWarning(t *testing.T) {
	if w := SubjectWarning(idtoken.Claims{Subject: "project_path:a/b:ref_type:branch:ref:main"}); w != "" {
		t.Errorf("short sub warned: %s", w)
	}
	w := SubjectWarning(idtoken.Claims{Subject: strings.Repeat("x", 128), ProjectID: "42"})
	if !strings.Contains(w, "128 bytes") || !strings.Contains(w, "assertion.project_id") {
		t.Errorf("warning: %s", w)
	}
}

// TestRefreshableFileWithGoogleLibrary writes the external_account file and
// has Google's own Go library (golang.org/x/oauth2/google) load it and get a
// token from the fake, which checks its requests as Google would. The
// library's requests must be the ones keyless sends itself.
func TestRefreshableFileWithGoogleLibrary(t *testing.T) {
	iss := oidctest.NewServer(t)
	for _, tc := range []struct {
		name     string
		sa       string
		lifetime time.Duration
	}{
		{"direct", "", 0},
		{"impersonation", testSA, 0},
		{"impersonation with lifetime", testSA, 20 * time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := gcptest.New(t)
			o := options(fake)
			o.ServiceAccount, o.Lifetime = tc.sa, tc.lifetime
			tok := job(t, iss, oidctest.Job{})
			if _, err := Exchange(context.Background(), tok, o); err != nil {
				t.Fatal(err)
			}
			ours := fake.Requests()

			dir := filepath.Join(t.TempDir(), "state")
			env, err := Refreshable(dir, tok.Raw, o, "my-project")
			if err != nil {
				t.Fatal(err)
			}
			cfgPath := filepath.Join(dir, CredentialsFileName)
			tokPath := filepath.Join(dir, TokenFileName)
			if d := cmp.Diff([]string{tokPath, cfgPath}, env.Files); d != "" {
				t.Errorf("files (-want +got):\n%s", d)
			}
			for _, p := range env.Files {
				fi, err := os.Stat(p)
				if err != nil || fi.Mode().Perm() != 0o600 {
					t.Errorf("%s: %v %v", p, fi.Mode(), err)
				}
			}
			names := map[string]string{}
			for _, v := range env.Vars {
				names[v.Name] = v.Value.Reveal()
			}
			if names[VarCredentials] != cfgPath || names[VarCredentialOverride] != cfgPath || names[VarProject] != "my-project" {
				t.Errorf("vars %v", names)
			}
			if b, _ := os.ReadFile(tokPath); string(b) != tok.Raw.Reveal() {
				t.Error("token file does not hold the token")
			}

			b, err := os.ReadFile(cfgPath)
			if err != nil {
				t.Fatal(err)
			}
			var file map[string]any
			if err := json.Unmarshal(b, &file); err != nil {
				t.Fatal(err)
			}
			want := map[string]any{
				"type":               "external_account",
				"audience":           testAudience,
				"subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
				"token_url":          fake.URL + "/v1/token",
				"credential_source":  map[string]any{"file": tokPath, "format": map[string]any{"type": "text"}},
				"universe_domain":    "googleapis.com",
			}
			if tc.sa != "" {
				want["service_account_impersonation_url"] = fake.URL + "/v1/projects/-/serviceAccounts/" + tc.sa + ":generateAccessToken"
			}
			if tc.lifetime != 0 {
				want["service_account_impersonation"] = map[string]any{"token_lifetime_seconds": float64(tc.lifetime / time.Second)}
			}
			if d := cmp.Diff(want, file); d != "" {
				t.Errorf("credential file (-want +got):\n%s", d)
			}

			creds, err := google.CredentialsFromJSON(context.Background(), b, CloudPlatformScope)
			if err != nil {
				t.Fatal(err)
			}
			got, err := creds.TokenSource.Token()
			if err != nil {
				t.Fatalf("Google's library: %v", err)
			}
			wantTok := fake.FederatedToken
			if tc.sa != "" {
				wantTok = fake.AccessToken
			}
			if got.AccessToken != wantTok || !got.Valid() {
				t.Errorf("library token %q valid %v, want %q", got.AccessToken, got.Valid(), wantTok)
			}
			theirs := fake.Requests()[len(ours):]
			if len(theirs) != len(ours) {
				t.Fatalf("library made %d requests, keyless %d", len(theirs), len(ours))
			}
			if d := cmp.Diff(ours[0].Form, theirs[0].Form); d != "" {
				t.Errorf("STS form (-keyless +library):\n%s", d)
			}
			if tc.sa != "" {
				o, l := ours[1], theirs[1]
				if d := cmp.Diff([]any{o.Path, o.Authorization, o.Scope, o.Delegates}, []any{l.Path, l.Authorization, l.Scope, l.Delegates}); d != "" {
					t.Errorf("generateAccessToken (-keyless +library):\n%s", d)
				}
				if tc.lifetime != 0 && o.Lifetime != l.Lifetime {
					t.Errorf("lifetime: keyless %q, library %q", o.Lifetime, l.Lifetime)
				}
			}
		})
	}
}

func TestWriteJSON(t *testing.T) {
	var b strings.Builder
	exp := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	c := &Credentials{AccessToken: secret.New("ya29.x"), Expiration: exp, ServiceAccount: testSA}
	if err := c.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	var got map[string]string
	if err := json.Unmarshal([]byte(b.String()), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"access_token": "ya29.x", "token_type": "Bearer", "expiry": "2026-06-01T12:00:00Z", "service_account": testSA}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
}
