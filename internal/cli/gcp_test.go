package cli

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2/google"

	"gitlab.com/keyless-ci/keyless/internal/exchange/gcp"
	"gitlab.com/keyless-ci/keyless/internal/exchange/gcp/gcptest"
	"gitlab.com/keyless-ci/keyless/internal/oidctest"
)

const (
	gcpProviderName = "projects/123456789012/locations/global/workloadIdentityPools/gitlab/providers/gitlab-com"
	gcpAud          = "//iam.googleapis.com/" + gcpProviderName
	gcpSA           = "deploy@my-project.iam.gserviceaccount.com"
)

// gcpFixture is an issuer and a fake STS and IAM Credentials.
type gcpFixture struct {
	iss  *oidctest.Issuer
	fake *gcptest.Server
}

func newGCPFixture(t *testing.T, faults ...gcptest.Fault) gcpFixture {
	t.Helper()
	return gcpFixture{iss: oidctest.NewServer(t), fake: gcptest.New(t, faults...)}
}

// mint is a token for the provider's default audience unless j names one.
func (f gcpFixture) mint(t *testing.T, j oidctest.Job) string {
	t.Helper()
	if len(j.Audience) == 0 {
		j.Audience = []string{gcpAud}
	}
	return f.iss.MustMint(t, j)
}

// env is the environment of a job that reaches the fake.
func (f gcpFixture) env(tok string, kv ...string) map[string]string {
	m := map[string]string{
		"KEYLESS_ID_TOKEN":                    tok,
		"KEYLESS_GCP_STS_ENDPOINT":            f.fake.URL,
		"KEYLESS_GCP_IAMCREDENTIALS_ENDPOINT": f.fake.URL,
	}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

var gcpStateDir = regexp.MustCompile(`/[^\s']*/keyless-(?:uid-\d+|job-\d+)`)

// golden compares o with testdata/cli/NAME.golden, the fake's address
// written GCP and the state directory STATE.
func (f gcpFixture) golden(t *testing.T, name string, o outcome) {
	t.Helper()
	golden(t, name, fixture{iss: f.iss}, o.rewrite(func(s string) string {
		return gcpStateDir.ReplaceAllString(strings.ReplaceAll(s, f.fake.URL, "GCP"), "STATE")
	}))
}

func TestGCPGolden(t *testing.T) {
	t.Parallel()
	f := newGCPFixture(t)
	tok := f.mint(t, oidctest.Job{Environment: "production"})
	other := f.mint(t, oidctest.Job{Audience: []string{"https://gitlab.com"}})
	p := []string{"gcp", "--provider", gcpProviderName}
	args := func(extra ...string) []string { return append(append([]string{}, p...), extra...) }
	started := f.iss.Now().UTC().Format(time.RFC3339)
	cases := []struct {
		name string
		env  map[string]string
		args []string
	}{
		{"gcp-help", nil, []string{"gcp", "--help"}},
		{"gcp-env", f.env(tok), args("--project", "my-project")},
		{"gcp-env-impersonation", f.env(tok), args("--service-account", gcpSA, "--lifetime", "30m")},
		{"gcp-json", f.env(tok), args("--service-account", gcpSA, "--format", "json")},
		{"gcp-exec", f.env(tok, "GOOGLE_APPLICATION_CREDENTIALS", "/secrets/sa-key.json"), args("--project", "my-project", "--",
			"sh", "-c", `test -n "$CLOUDSDK_AUTH_ACCESS_TOKEN" && test -z "$GOOGLE_APPLICATION_CREDENTIALS" && echo "project=$CLOUDSDK_CORE_PROJECT"; exit 7`)},
		{"gcp-refreshable", f.env(tok, "CI_JOB_ID", "77"), args("--service-account", gcpSA, "--refreshable")},
		{"gcp-no-provider", f.env(tok), []string{"gcp"}},
		{"gcp-project-id", f.env(tok), []string{"gcp", "--provider", "projects/my-project/locations/global/workloadIdentityPools/gitlab/providers/gitlab-com"}},
		{"gcp-pool-not-provider", f.env(tok), []string{"gcp", "--provider", "projects/123456789012/locations/global/workloadIdentityPools/gitlab"}},
		{"gcp-lifetime-without-sa", f.env(tok), args("--lifetime", "2h")},
		{"gcp-refreshable-delegates", f.env(tok), args("--service-account", gcpSA, "--delegates", "hop@my-project.iam.gserviceaccount.com", "--refreshable")},
		{"gcp-bad-format", f.env(tok), args("--format", "credential-process")},
		{"gcp-wrong-audience", f.env(other), args()},
		{"gcp-lifetime-warning", f.env(tok, "CI_JOB_STARTED_AT", started, "CI_JOB_TIMEOUT", "10800"), args("--format", "json")},
		{"env-gcp", f.env(tok, "KEYLESS_GCP_PROVIDER", gcpProviderName, "KEYLESS_GCP_SERVICE_ACCOUNT", gcpSA, "KEYLESS_GCP_PROJECT", "my-project",
			"KEYLESS_GCP_LIFETIME", "", "KEYLESS_GCP_SCOPES", ""), []string{"env"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f.golden(t, tc.name, keyless(t, tc.env, tc.args...))
		})
	}
}

// TestGCPGoldenRefusals are Google's refusals, explained.
func TestGCPGoldenRefusals(t *testing.T) {
	t.Parallel()
	long := "project_path:" + strings.Repeat("platform/", 12) + "service:ref_type:branch:ref:feature/a-branch-name"
	cases := []struct {
		name   string
		faults []gcptest.Fault
		setup  func(f gcpFixture)
		job    oidctest.Job
		args   []string
	}{
		{name: "gcp-attribute-condition", faults: []gcptest.Fault{gcptest.AttributeCondition}},
		{name: "gcp-permission-denied", faults: []gcptest.Fault{gcptest.PermissionDenied}, args: []string{"--service-account", gcpSA}},
		{name: "gcp-issuer-slash", setup: func(f gcpFixture) { f.fake.Issuer = f.iss.URL + "/" }},
		{name: "gcp-subject-too-long", job: oidctest.Job{Subject: long}},
		{name: "gcp-sa-not-found", setup: func(f gcpFixture) { f.fake.ServiceAccounts = []string{"other@my-project.iam.gserviceaccount.com"} },
			args: []string{"--service-account", gcpSA}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newGCPFixture(t, tc.faults...)
			if tc.setup != nil {
				tc.setup(f)
			}
			args := append([]string{"gcp", "--provider", gcpProviderName}, tc.args...)
			o := keyless(t, f.env(f.mint(t, tc.job)), append(args, "--", "true")...)
			f.golden(t, tc.name, o)
		})
	}
}

// TestGCPAudienceForms: Google accepts the provider's name with or without
// https:, so the default client-side check does too; an explicit --audience
// is exact.
func TestGCPAudienceForms(t *testing.T) {
	t.Parallel()
	f := newGCPFixture(t)
	tok := f.mint(t, oidctest.Job{Audience: []string{"https://iam.googleapis.com/" + gcpProviderName}})
	o := keyless(t, f.env(tok), "gcp", "--provider", gcpProviderName, "--format", "json")
	if o.Code != 0 || !strings.Contains(o.Stdout, f.fake.FederatedToken) {
		t.Fatalf("https: audience: exit %d\n%s", o.Code, o.Stderr)
	}
	o = keyless(t, f.env(tok), "gcp", "--provider", gcpProviderName, "--audience", gcpAud)
	if o.Code != ExitFailure || !strings.Contains(o.Stderr, "audience mismatch") || f.fake.Count(gcptest.STS) != 1 {
		t.Fatalf("explicit audience: exit %d, %d STS calls\n%s", o.Code, f.fake.Count(gcptest.STS), o.Stderr)
	}
}

// TestGCPRefreshableWithGoogleLibrary follows `eval "$(keyless gcp
// --refreshable)"` with Google's own Go library: it loads the credential
// file the exports name and gets a token from the fake.
func TestGCPRefreshableWithGoogleLibrary(t *testing.T) {
	clearProcessEnv(t, "GOOGLE_", "CLOUDSDK_", "GCLOUD_")
	f := newGCPFixture(t)
	proj := t.TempDir()
	o := keyless(t, f.env(f.mint(t, oidctest.Job{}), "CI_JOB_ID", "42", "CI_PROJECT_DIR", proj),
		"gcp", "--provider", gcpProviderName, "--service-account", gcpSA, "--lifetime", "15m", "--refreshable")
	if o.Code != 0 {
		t.Fatalf("exit %d\n%s", o.Code, o.Stderr)
	}
	m := regexp.MustCompile(`export GOOGLE_APPLICATION_CREDENTIALS='([^']+)'`).FindStringSubmatch(o.Stdout)
	if m == nil || !strings.Contains(o.Stdout, "export CLOUDSDK_AUTH_CREDENTIAL_FILE_OVERRIDE='"+m[1]+"'") {
		t.Fatalf("stdout:\n%s", o.Stdout)
	}
	for _, u := range []string{"unset CLOUDSDK_AUTH_ACCESS_TOKEN\n", "unset GOOGLE_OAUTH_ACCESS_TOKEN\n", "unset GOOGLE_CREDENTIALS\n"} {
		if !strings.Contains(o.Stdout, u) {
			t.Errorf("no %q", u)
		}
	}
	path := m[1]
	if strings.HasPrefix(path, proj) {
		t.Errorf("credential file %s inside the project dir", path)
	}
	for _, p := range []string{path, filepath.Join(filepath.Dir(path), gcp.TokenFileName)} {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v", p, err)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	creds, err := google.CredentialsFromJSON(context.Background(), b, gcp.CloudPlatformScope)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := creds.TokenSource.Token()
	if err != nil {
		t.Fatalf("Google's library: %v", err)
	}
	if tok.AccessToken != f.fake.AccessToken {
		t.Errorf("library token %q", tok.AccessToken)
	}
	reqs := f.fake.Requests()
	if last := reqs[len(reqs)-1]; last.Lifetime != "900s" {
		t.Errorf("the library asked for lifetime %q, want the file's 900s", last.Lifetime)
	}
	// keyless cleanup removes what --refreshable wrote.
	if o := keyless(t, map[string]string{"CI_JOB_ID": "42", "TMPDIR": o.TmpDir}, "cleanup"); o.Code != 0 {
		t.Fatalf("cleanup: exit %d\n%s", o.Code, o.Stderr)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("cleanup left %s: %v", path, err)
	}
}

// TestGCPRefreshableExec: the command gets the credential file, which is
// gone when it exits; the file never lands in the project directory.
func TestGCPRefreshableExec(t *testing.T) {
	t.Parallel()
	f := newGCPFixture(t)
	work := t.TempDir()
	out := filepath.Join(work, "child")
	env := f.env(f.mint(t, oidctest.Job{}), "CI_JOB_ID", "5", "CI_PROJECT_DIR", filepath.Join(work, "project"),
		"GOOGLE_OAUTH_ACCESS_TOKEN", "inherited-token")
	o := keyless(t, env, "gcp", "--provider", gcpProviderName, "--refreshable", "-q", "--",
		"sh", "-c", `cat "$GOOGLE_APPLICATION_CREDENTIALS" > `+out+`; echo "oauth=${GOOGLE_OAUTH_ACCESS_TOKEN:-none} override=$CLOUDSDK_AUTH_CREDENTIAL_FILE_OVERRIDE"`)
	if o.Code != 0 || o.Stderr != "" {
		t.Fatalf("exit %d\n%s", o.Code, o.Stderr)
	}
	if !strings.Contains(o.Stdout, "oauth=none override=/") {
		t.Errorf("child saw %s", o.Stdout)
	}
	b, err := os.ReadFile(out)
	if err != nil || !strings.Contains(string(b), `"type": "external_account"`) || strings.Contains(string(b), "service_account_impersonation_url") {
		t.Fatalf("credential file: %v\n%s", err, b)
	}
	// Exec mode ends what it began: the state directory it made is gone.
	if entries, err := os.ReadDir(filepath.Join(o.TmpDir, "keyless-job-5")); !os.IsNotExist(err) {
		t.Errorf("exec mode left %v", entries)
	}

	env["KEYLESS_STATE_DIR"] = filepath.Join(work, "project", "state")
	o = keyless(t, env, "gcp", "--provider", gcpProviderName, "--refreshable", "--", "true")
	if o.Code != ExitFailure || !strings.Contains(o.Stderr, "inside the project directory") {
		t.Fatalf("state dir in the project: exit %d\n%s", o.Code, o.Stderr)
	}
	if _, err := os.Stat(env["KEYLESS_STATE_DIR"]); !os.IsNotExist(err) {
		t.Errorf("wrote into the project dir: %v", err)
	}
}

func TestGCPCAFile(t *testing.T) {
	t.Parallel()
	fake, cert := gcptest.NewTLS(t)
	f := gcpFixture{iss: oidctest.NewServer(t), fake: fake}
	checkCAFile(t, f.env(f.mint(t, oidctest.Job{})), cert, func() int { return len(fake.Requests()) }, fake.FederatedToken,
		"gcp", "--provider", gcpProviderName)
}

// TestGCPRetries: what can heal is retried under --timeout; a refusal is
// not.
func TestGCPRetries(t *testing.T) {
	t.Parallel()
	f := newGCPFixture(t, gcptest.STSUnavailable, gcptest.STSThrottled, gcptest.IAMUnavailable)
	o := keyless(t, f.env(f.mint(t, oidctest.Job{})), "gcp", "--provider", gcpProviderName, "--service-account", gcpSA, "--format", "json")
	if o.Code != 0 || f.fake.Count(gcptest.STS) != 3 || f.fake.Count(gcptest.IAM) != 2 {
		t.Fatalf("exit %d, %d STS and %d IAM calls\n%s", o.Code, f.fake.Count(gcptest.STS), f.fake.Count(gcptest.IAM), o.Stderr)
	}
	f = newGCPFixture(t, gcptest.STSThrottled, gcptest.Hang(gcptest.STS))
	// The hang ends at --timeout (were it not bounded, the test would hang
	// until go test's own timeout); no wall-clock assertion here.
	o = keyless(t, f.env(f.mint(t, oidctest.Job{})), "gcp", "--provider", gcpProviderName, "--timeout", "300ms")
	if o.Code != ExitFailure || !strings.Contains(o.Stderr, "quota_exceeded") {
		t.Fatalf("throttled then hang: exit %d\n%s", o.Code, o.Stderr)
	}
}

// TestGCPComponentVariables is `keyless env` as the component runs it: the
// token in the component's variable, every optional input empty.
func TestGCPComponentVariables(t *testing.T) {
	t.Parallel()
	f := newGCPFixture(t)
	env := f.env("", "KEYLESS_GCP_ID_TOKEN", f.mint(t, oidctest.Job{}), "KEYLESS_GCP_TOKEN_VAR", "KEYLESS_GCP_ID_TOKEN",
		"KEYLESS_GCP_PROVIDER", gcpProviderName, "KEYLESS_GCP_SERVICE_ACCOUNT", "", "KEYLESS_GCP_PROJECT", "",
		"KEYLESS_GCP_LIFETIME", "", "KEYLESS_GCP_SCOPES", "", "KEYLESS_GCP_UNIVERSE", "")
	o := keyless(t, env, "env")
	if o.Code != 0 {
		t.Fatalf("exit %d\n%s", o.Code, o.Stderr)
	}
	if !strings.Contains(o.Stdout, "export CLOUDSDK_AUTH_ACCESS_TOKEN='"+f.fake.FederatedToken+"'") || strings.Contains(o.Stdout, "PROJECT") {
		t.Errorf("stdout:\n%s", o.Stdout)
	}
	if got := f.fake.Requests()[0].Form["scope"]; got != gcp.CloudPlatformScope {
		t.Errorf("scope %q", got)
	}
	// keyless token shows the component's token.
	if o := keyless(t, env, "token"); o.Code != 0 || !strings.Contains(o.Stdout, "$KEYLESS_GCP_ID_TOKEN") {
		t.Errorf("token: exit %d\n%s%s", o.Code, o.Stdout, o.Stderr)
	}
}
