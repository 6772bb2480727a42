package aws_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"gitlab.com/keyless-ci/keyless/internal/exchange"
	"gitlab.com/keyless-ci/keyless/internal/exchange/aws"
	"gitlab.com/keyless-ci/keyless/internal/exchange/aws/awstest"
	"gitlab.com/keyless-ci/keyless/internal/exchange/exchangetest"
	"gitlab.com/keyless-ci/keyless/internal/idtoken"
	"gitlab.com/keyless-ci/keyless/internal/oidctest"
	"gitlab.com/keyless-ci/keyless/internal/secret"
)

const role = "arn:aws:iam::123456789012:role/gitlab-deploy"

func token(t testing.TB) *idtoken.Token {
	t.Helper()
	iss, err := oidctest.New()
	if err != nil {
		t.Fatal(err)
	}
	iss.URL = "https://gitlab.example.com"
	tok, err := idtoken.Decode(secret.New(iss.MustMint(t, oidctest.Job{})))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func opts(sts *awstest.STS) aws.Options {
	return aws.Options{
		RoleARN:     role,
		STSEndpoint: sts.URL,
		SessionName: "gitlab-4242-9001",
		Seams:       exchange.Seams{HTTPClient: http.DefaultClient, Backoff: noWait},
	}
}

func noWait(int) time.Duration { return time.Millisecond }

func TestExchangeSendsTheDocumentedRequest(t *testing.T) {
	sts := awstest.New(t)
	tok := token(t)
	o := opts(sts)
	o.Duration = 900 * time.Second
	o.Policy = `{"Version":"2012-10-17"}`
	o.PolicyARNs = []string{"arn:aws:iam::aws:policy/ReadOnlyAccess"}
	c, err := aws.Exchange(context.Background(), tok, o)
	if err != nil {
		t.Fatal(err)
	}
	reqs := sts.Requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want 1", len(reqs))
	}
	got := reqs[0]
	want := map[string]string{
		"Action": "AssumeRoleWithWebIdentity", "Version": "2011-06-15", "RoleArn": role,
		"RoleSessionName": "gitlab-4242-9001", "WebIdentityToken": tok.Raw.Reveal(), "DurationSeconds": "900",
		"Policy": `{"Version":"2012-10-17"}`, "PolicyArns.member.1.arn": "arn:aws:iam::aws:policy/ReadOnlyAccess",
	}
	if diff := cmp.Diff(want, got.Form); diff != "" {
		t.Errorf("form (-want +got):\n%s", diff)
	}
	if got.Authorization != "" {
		t.Errorf("AssumeRoleWithWebIdentity was signed: %q", got.Authorization)
	}
	if c.AccessKeyID.Reveal() != sts.AccessKeyID || c.SessionToken.Reveal() != sts.SessionToken || c.Attempts != 1 {
		t.Errorf("credentials not parsed: %+v", c)
	}
	if c.AssumedRoleARN != "arn:aws:sts::123456789012:assumed-role/gitlab-deploy/gitlab-4242-9001" {
		t.Errorf("assumed role = %q", c.AssumedRoleARN)
	}
	if d := time.Until(c.Expiration); d < 59*time.Minute || d > 61*time.Minute {
		t.Errorf("expiration in %s", d)
	}
}

// run is aws.Exchange as the exchangetest checks drive it.
func run(tok *idtoken.Token, o aws.Options) exchangetest.Exchange {
	return func(ctx context.Context, backoff func(int) time.Duration, progress io.Writer) error {
		o.Backoff, o.Progress = backoff, progress
		_, err := aws.Exchange(ctx, tok, o)
		return err
	}
}

func TestTransientFaultsAreRetried(t *testing.T) {
	exchangetest.CheckTransientRetried(t, 1, [][]awstest.Fault{
		{awstest.Unavailable, awstest.Throttling, awstest.IDPComm},
		{{Status: 502}, {Status: 500, Code: "InternalFailure", Message: "x"}},
		{{Status: 400, Code: "InvalidIdentityToken", Message: "Couldn't retrieve verification key from your identity provider"}},
		{{Status: 429}},
	}, func(faults []awstest.Fault) (int, int, error) {
		sts := awstest.New(t, faults...)
		c, err := aws.Exchange(context.Background(), token(t), opts(sts))
		if err != nil {
			return 0, 0, err
		}
		return c.Attempts, len(sts.Requests()), nil
	})
}

func TestPermanentErrorsFailAtOnceAndExplain(t *testing.T) {
	for _, tc := range []struct {
		fault awstest.Fault
		kind  error
		says  []string
	}{
		{awstest.AccessDenied, aws.ErrAccessDenied, []string{
			"AccessDenied", "trust policy", `"gitlab.example.com:aud": "sts.amazonaws.com"`,
			`"gitlab.example.com:sub": "project_path:keyless-ci/demo:ref_type:branch:ref:main"`,
			"oidc-provider/gitlab.example.com", "keyless-ci/demo\n"}},
		{awstest.NoProvider, aws.ErrNoProvider, []string{"create-open-id-connect-provider --url https://gitlab.example.com --client-id-list sts.amazonaws.com"}},
		{awstest.BadAudience, aws.ErrAudience, []string{`audience "sts.amazonaws.com"`, "add-client-id-to-open-id-connect-provider"}},
		{awstest.Expired, aws.ErrTokenExpired, []string{"expired", "clock"}},
		{awstest.Fault{Status: 400, Code: "ValidationError", Message: "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."}, aws.ErrInvalidInput, []string{"MaxSessionDuration", "--duration"}},
		{awstest.Fault{Status: 400, Code: "InvalidIdentityToken", Message: "some other reason"}, aws.ErrInvalidToken, []string{"rejected the ID token"}},
	} {
		sts := awstest.New(t, tc.fault, tc.fault, tc.fault)
		start := time.Now()
		_, err := aws.Exchange(context.Background(), token(t), opts(sts))
		if !errors.Is(err, tc.kind) {
			t.Errorf("%s: err = %v, want %v", tc.fault.Code, err, tc.kind)
			continue
		}
		if n := len(sts.Requests()); n != 1 {
			t.Errorf("%s: %d requests, want 1", tc.fault.Code, n)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("%s: took %s", tc.fault.Code, d)
		}
		for _, s := range tc.says {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("%s: explanation lacks %q:\n%s", tc.fault.Code, s, err)
			}
		}
	}
}

func TestErrorsNeverQuoteAPartOfTheToken(t *testing.T) {
	tok := token(t)
	sig := tok.Raw.Reveal()[strings.LastIndexByte(tok.Raw.Reveal(), '.')+1:]
	sts := awstest.New(t, awstest.Fault{Status: 400, Code: "ValidationError", Message: "bad signature " + sig})
	_, err := aws.Exchange(context.Background(), tok, opts(sts))
	if err == nil || strings.Contains(err.Error(), sig) {
		t.Fatalf("the signature reached the error: %v", err)
	}
}

func TestDeadlineHoldsAgainstAServerThatNeverAnswers(t *testing.T) {
	exchangetest.CheckDeadlineHolds(t, run(token(t), opts(awstest.New(t, awstest.Fault{Hang: true}))))
}

func TestUnreachableIssuerExplainsTheSelfManagedCase(t *testing.T) {
	sts := awstest.New(t, exchangetest.Repeat(awstest.IDPComm, 100)...)
	tok := token(t)
	o := opts(sts)
	o.Backoff = func(int) time.Duration { return 10 * time.Millisecond }
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	_, err := aws.Exchange(ctx, tok, o)
	if !errors.Is(err, aws.ErrUnreachable) {
		t.Fatalf("err = %v, want ErrUnreachable", err)
	}
	for _, s := range []string{"IDPCommunicationError", "https://gitlab.example.com/.well-known/openid-configuration", "ci_id_tokens_issuer_url", "attempts"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("explanation lacks %q:\n%s", s, err)
		}
	}
}

func TestRetriesStopAtTheDeadline(t *testing.T) {
	sts := awstest.New(t, exchangetest.Repeat(awstest.Throttling, 1000)...)
	exchangetest.CheckRetriesStopAtTheDeadline(t, run(token(t), opts(sts)), func() int { return len(sts.Requests()) }, aws.ErrThrottled)
}

func TestChainingSignsTheSecondCall(t *testing.T) {
	sts := awstest.New(t)
	o := opts(sts)
	o.ChainRoleARN = "arn:aws:iam::210987654321:role/target"
	o.ChainExternalID = "ext-123"
	o.Duration = 2 * time.Hour
	c, err := aws.Exchange(context.Background(), token(t), o)
	if err != nil {
		t.Fatal(err)
	}
	reqs := sts.Requests()
	if len(reqs) != 2 || reqs[1].Action != "AssumeRole" {
		t.Fatalf("requests: %+v", reqs)
	}
	second := reqs[1]
	if !strings.HasPrefix(second.Authorization, "AWS4-HMAC-SHA256 Credential="+sts.AccessKeyID+"/") {
		t.Errorf("AssumeRole not signed with the first role's key: %q", second.Authorization)
	}
	if second.Form["ExternalId"] != "ext-123" || second.Form["RoleArn"] != o.ChainRoleARN || second.Form["DurationSeconds"] != "3600" {
		t.Errorf("AssumeRole form: %v", second.Form)
	}
	if c.AssumedRoleARN != "arn:aws:sts::123456789012:assumed-role/target/gitlab-4242-9001" || c.Attempts != 2 {
		t.Errorf("chained credentials: %+v", c)
	}
}

func TestChainDeniedIsExplainedAsChaining(t *testing.T) {
	sts := awstest.New(t, awstest.OK, awstest.AccessDenied)
	o := opts(sts)
	o.ChainRoleARN = "arn:aws:iam::210987654321:role/target"
	_, err := aws.Exchange(context.Background(), token(t), o)
	if !errors.Is(err, aws.ErrAccessDenied) {
		t.Fatalf("err = %v", err)
	}
	for _, s := range []string{"AssumeRole (role chaining) for arn:aws:iam::********4321:role/target", "sts:AssumeRole on the chained role"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("explanation lacks %q:\n%s", s, err)
		}
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		o    aws.Options
		want string // substring of the error; "" means valid
		rgn  string
	}{
		{aws.Options{RoleARN: role}, "", "us-east-1"},
		{aws.Options{RoleARN: role, Region: "eu-west-1"}, "", "eu-west-1"},
		{aws.Options{RoleARN: "arn:aws-cn:iam::123456789012:role/x"}, "", "cn-north-1"},
		{aws.Options{RoleARN: "arn:aws-us-gov:iam::123456789012:role/x"}, "", "us-gov-west-1"},
		{aws.Options{RoleARN: "arn:aws-cn:iam::123456789012:role/x", Region: "us-east-1"}, `region "us-east-1" is not in partition "aws-cn"`, ""},
		{aws.Options{RoleARN: role, Region: "cn-north-1"}, `not in partition "aws"`, ""},
		{aws.Options{}, "--role-arn", ""},
		{aws.Options{RoleARN: "gitlab-deploy"}, "is not an ARN", ""},
		{aws.Options{RoleARN: "arn:aws:iam::1234:role/x"}, "not an IAM role ARN", ""},
		{aws.Options{RoleARN: "arn:aws:s3:::bucket/x"}, "not an IAM role ARN", ""},
		{aws.Options{RoleARN: "arn:minio:iam:::role/abc", STSEndpoint: "http://127.0.0.1:9000"}, "", "us-east-1"},
		{aws.Options{RoleARN: "arn:minio:iam:::role/abc"}, `partition "minio"`, ""},
		{aws.Options{RoleARN: role, STSEndpoint: "https://sts.eu-west-1.amazonaws.com"}, "", "us-east-1"},
		{aws.Options{RoleARN: "arn:minio:iam:::role/abc", STSEndpoint: "http://minio:9000"}, `--sts-endpoint "http://minio:9000" is plain http`, ""},
		{aws.Options{RoleARN: role, STSEndpoint: "sts.amazonaws.com"}, "is not an http(s) URL", ""},
		{aws.Options{RoleARN: role, STSEndpoint: "https://AKIA:secret@sts.amazonaws.com"}, "carries user info", ""},
		{aws.Options{RoleARN: role, Duration: 5 * time.Minute}, "15m to 12h", ""},
		{aws.Options{RoleARN: role, ChainExternalID: "x"}, "needs --chain-role-arn", ""},
	} {
		err := tc.o.Validate()
		if tc.want == "" {
			if err != nil {
				t.Errorf("%+v: %v", tc.o, err)
				continue
			}
			if r, _ := tc.o.ResolvedRegion(); r != tc.rgn {
				t.Errorf("%+v: region %q, want %q", tc.o, r, tc.rgn)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: err = %v, want %q", tc.o, err, tc.want)
		}
	}
}

func TestMaskARN(t *testing.T) {
	for in, want := range map[string]string{
		role: "arn:aws:iam::********9012:role/gitlab-deploy",
		"arn:aws:sts::123456789012:assumed-role/r/s": "arn:aws:sts::********9012:assumed-role/r/s",
		"arn:minio:iam:::role/abc":                   "arn:minio:iam:::role/abc",
		"not an arn":                                 "not an arn",
	} {
		if got := aws.MaskARN(in); got != want {
			t.Errorf("MaskARN(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSanitizeSessionName(t *testing.T) {
	for in, want := range map[string]string{
		"gitlab-42-1001":        "gitlab-42-1001",
		"gitlab-42-":            "gitlab-42-",
		"a":                     "a-",
		"":                      "--",
		"proj/with spaces:ü":    "proj-with-spaces--",
		strings.Repeat("x", 80): strings.Repeat("x", 64),
		"ok_+=,.@-":             "ok_+=,.@-",
	} {
		if got := aws.SanitizeSessionName(in); got != want {
			t.Errorf("SanitizeSessionName(%q) = %q, want %q", in, got, want)
		}
	}
}

func creds() *aws.Credentials {
	return &aws.Credentials{
		AccessKeyID:     secret.New("ASIAEXAMPLE"),
		SecretAccessKey: secret.New("sec'ret"),
		SessionToken:    secret.New("sess"),
		Expiration:      time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC),
		Region:          "eu-west-1",
	}
}

func TestCredentialProcessContract(t *testing.T) {
	var b strings.Builder
	if err := creds().WriteCredentialProcess(&b); err != nil {
		t.Fatal(err)
	}
	want := `{"Version":1,"AccessKeyId":"ASIAEXAMPLE","SecretAccessKey":"sec'ret","SessionToken":"sess","Expiration":"2026-11-28T10:00:00Z"}` + "\n"
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestStaticEnvScrubsCompetingVariables(t *testing.T) {
	c := creds().Static()
	env := c.Environ([]string{"PATH=/bin", "AWS_PROFILE=prod", "AWS_ACCESS_KEY_ID=AKIAOLD", "AWS_SECRET_ACCESS_KEY=old", "AWS_WEB_IDENTITY_TOKEN_FILE=/x", "HOME=/h"})
	want := []string{"PATH=/bin", "HOME=/h", "AWS_ACCESS_KEY_ID=ASIAEXAMPLE", "AWS_SECRET_ACCESS_KEY=sec'ret", "AWS_SESSION_TOKEN=sess",
		"AWS_CREDENTIAL_EXPIRATION=2026-11-28T10:00:00Z", "AWS_REGION=eu-west-1", "AWS_DEFAULT_REGION=eu-west-1"}
	if diff := cmp.Diff(want, env); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	var b strings.Builder
	if err := exchange.WriteEnv(&b, c); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"unset AWS_PROFILE\n", "export AWS_SECRET_ACCESS_KEY='sec'\\''ret'\n", "unset AWS_WEB_IDENTITY_TOKEN_FILE\n"} {
		if !strings.Contains(b.String(), s) {
			t.Errorf("env output lacks %q:\n%s", s, b.String())
		}
	}
	if strings.Contains(b.String(), "unset AWS_ACCESS_KEY_ID") {
		t.Error("env output unsets a variable it sets")
	}
}

func TestRefreshableWritesA0600TokenFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	o := aws.Options{RoleARN: role, SessionName: "s1", STSEndpoint: "http://sts.local"}
	c, err := aws.Refreshable(dir, secret.New("the.id.token"), o, "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "aws-web-identity-token")
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file: %v %v", fi, err)
	}
	if di, _ := os.Stat(dir); di.Mode().Perm() != 0o700 {
		t.Errorf("dir mode %v", di.Mode().Perm())
	}
	env := strings.Join(c.Environ(nil), "\n")
	for _, s := range []string{"AWS_ROLE_ARN=" + role, "AWS_WEB_IDENTITY_TOKEN_FILE=" + path, "AWS_ROLE_SESSION_NAME=s1", "AWS_ENDPOINT_URL_STS=http://sts.local"} {
		if !strings.Contains(env, s) {
			t.Errorf("env lacks %q", s)
		}
	}
	if strings.Contains(env, "AWS_ACCESS_KEY_ID") {
		t.Error("refreshable mode must not set static keys: SDKs would prefer them and never refresh")
	}
	if err := c.Cleanup(); err != nil {
		t.Fatal(err)
	}
	// The state directory itself is keyless cleanup's to remove.
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("cleanup left %s", path)
	}
}

func TestWriteProfileKeepsOtherProfiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), ".aws")
	files := aws.ProfileFiles{Config: filepath.Join(dir, "config"), Credentials: filepath.Join(dir, "credentials")}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(files.Credentials, []byte("[other]\naws_access_key_id = KEEP\n\n[ci]\naws_access_key_id = OLD\n"), 0o644)
	if _, err := creds().WriteProfile(files, "ci"); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(files.Credentials)
	want := "[other]\naws_access_key_id = KEEP\n\n[ci]\naws_access_key_id = ASIAEXAMPLE\naws_secret_access_key = sec'ret\naws_session_token = sess\n"
	if diff := cmp.Diff(want, string(b)); diff != "" {
		t.Errorf("credentials (-want +got):\n%s", diff)
	}
	cfg, _ := os.ReadFile(files.Config)
	if string(cfg) != "[profile ci]\nregion = eu-west-1\n" {
		t.Errorf("config = %q", cfg)
	}
	for _, f := range []string{files.Config, files.Credentials} {
		if fi, _ := os.Stat(f); fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v", f, fi.Mode().Perm())
		}
	}
	// keyless did not create ~/.aws: its mode is not keyless's to change
	// (issue 13).
	if di, _ := os.Stat(dir); di.Mode().Perm() != 0o755 {
		t.Errorf("dir mode %v, want the 0755 it had", di.Mode().Perm())
	}
	// A symlinked credentials file is refused and left alone.
	target := filepath.Join(t.TempDir(), "elsewhere")
	os.WriteFile(target, []byte("x"), 0o600)
	os.Remove(files.Credentials)
	os.Symlink(target, files.Credentials)
	var se *exchange.SymlinkError
	if _, err := creds().WriteProfile(files, "ci"); !errors.As(err, &se) {
		t.Errorf("symlink: err = %v", err)
	}
	if b, _ := os.ReadFile(target); string(b) != "x" {
		t.Error("wrote through the symlink")
	}
}

// hostRecorder answers every request with a connection error after noting
// which host the SDK resolved.
type hostRecorder struct{ hosts []string }

func (h *hostRecorder) RoundTrip(r *http.Request) (*http.Response, error) {
	h.hosts = append(h.hosts, r.URL.Scheme+"://"+r.URL.Host)
	return nil, errors.New("recorded")
}

func TestEndpointFollowsRegionAndPartition(t *testing.T) {
	for _, tc := range []struct{ arn, region, host string }{
		{role, "", "https://sts.us-east-1.amazonaws.com"},
		{role, "eu-west-1", "https://sts.eu-west-1.amazonaws.com"},
		{"arn:aws-cn:iam::123456789012:role/x", "", "https://sts.cn-north-1.amazonaws.com.cn"},
		{"arn:aws-cn:iam::123456789012:role/x", "cn-northwest-1", "https://sts.cn-northwest-1.amazonaws.com.cn"},
		{"arn:aws-us-gov:iam::123456789012:role/x", "", "https://sts.us-gov-west-1.amazonaws.com"},
	} {
		rec := &hostRecorder{}
		tok := token(t)
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		aws.Exchange(ctx, tok, aws.Options{RoleARN: tc.arn, Region: tc.region, SessionName: "s1",
			Seams: exchange.Seams{HTTPClient: &http.Client{Transport: rec}, Backoff: func(int) time.Duration { return time.Hour }}})
		cancel()
		if len(rec.hosts) == 0 || rec.hosts[0] != tc.host {
			t.Errorf("%s in %q: called %v, want %s", tc.arn, tc.region, rec.hosts, tc.host)
		}
	}
}
