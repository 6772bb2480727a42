package sts_test

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"gitlab.com/keyless-ci/keyless/internal/exchange"
	"gitlab.com/keyless-ci/keyless/internal/exchange/exchangetest"
	"gitlab.com/keyless-ci/keyless/internal/exchange/sts"
	"gitlab.com/keyless-ci/keyless/internal/exchange/sts/ststest"
	"gitlab.com/keyless-ci/keyless/internal/idtoken"
	"gitlab.com/keyless-ci/keyless/internal/oidctest"
	"gitlab.com/keyless-ci/keyless/internal/secret"
)

// issuer signs the tests' tokens; one key for the package, as generating
// one takes longer than most tests.
var issuer = sync.OnceValues(func() (*oidctest.Issuer, error) {
	iss, err := oidctest.New()
	if err == nil {
		iss.URL = "https://gitlab.example.com"
	}
	return iss, err
})

func token(t testing.TB) *idtoken.Token {
	t.Helper()
	iss, err := issuer()
	if err != nil {
		t.Fatal(err)
	}
	return decode(t, iss.MustMint(t, oidctest.Job{Audience: []string{"https://sso.example.com"}}))
}

func decode(t testing.TB, raw string) *idtoken.Token {
	t.Helper()
	tok, err := idtoken.Decode(secret.New(raw))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// bounded is a context for one exchange: a test whose retries never end
// fails at this deadline instead of hanging.
func bounded(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func opts(s *ststest.Server) sts.Options {
	return sts.Options{
		TokenURL: s.TokenURL(),
		Seams:    exchange.Seams{HTTPClient: http.DefaultClient, Backoff: func(int) time.Duration { return time.Millisecond }},
	}
}

func TestExchangeSendsTheDocumentedRequest(t *testing.T) {
	s := ststest.New(t)
	tok := token(t)
	o := opts(s)
	o.Audiences = []string{"deploy-api", "audit-api"}
	o.Resources = []string{"https://api.example.com/deploy", "https://api.example.com/audit?x=1"}
	o.Scope = "  deploy   read "
	o.RequestedTokenType = "jwt"
	o.ClientID = "gitlab-ci"
	o.UserAgent = "keyless/test"
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	o.Now = func() time.Time { return now }
	c, err := sts.Exchange(bounded(t), tok, o)
	if err != nil {
		t.Fatal(err)
	}
	reqs := s.Requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want 1", len(reqs))
	}
	got := reqs[0]
	want := url.Values{
		"grant_type":           {"urn:ietf:params:oauth:grant-type:token-exchange"},
		"subject_token":        {tok.Raw.Reveal()},
		"subject_token_type":   {"urn:ietf:params:oauth:token-type:jwt"},
		"audience":             {"deploy-api", "audit-api"},
		"resource":             {"https://api.example.com/deploy", "https://api.example.com/audit?x=1"},
		"scope":                {"deploy read"},
		"requested_token_type": {"urn:ietf:params:oauth:token-type:jwt"},
		"client_id":            {"gitlab-ci"},
	}
	if diff := cmp.Diff(want, got.Form); diff != "" {
		t.Errorf("form (-want +got):\n%s", diff)
	}
	if got.Method != "POST" || got.ContentType != "application/x-www-form-urlencoded" || got.Authorization != "" {
		t.Errorf("request: %s %q, Authorization %q", got.Method, got.ContentType, got.Authorization)
	}
	if c.AccessToken.Reveal() != s.AccessToken || c.IssuedTokenType != "urn:ietf:params:oauth:token-type:jwt" ||
		c.TokenType != "N_A" || c.Scope != "deploy read" || c.ExpiresIn != time.Hour || c.Attempts != 1 {
		t.Errorf("credentials not parsed: %+v", c)
	}
	if !c.Expiration.Equal(now.Add(time.Hour)) {
		t.Errorf("expiration %s", c.Expiration)
	}
}

func TestBasicAuthFormEncodesIDAndSecretFirst(t *testing.T) {
	s := ststest.New(t)
	s.ClientID, s.ClientSecret = "ci client:1", "s3cr:t+/ü% x"
	o := opts(s)
	o.Auth, o.ClientID, o.ClientSecret, o.SecretSource = sts.AuthBasic, s.ClientID, secret.New(s.ClientSecret), "$STS_SECRET"
	if _, err := sts.Exchange(bounded(t), token(t), o); err != nil {
		t.Fatal(err)
	}
	r := s.Requests()[0]
	// RFC 6749 §2.3.1: each part application/x-www-form-urlencoded, then base64.
	want := "Basic " + base64.StdEncoding.EncodeToString([]byte("ci+client%3A1:s3cr%3At%2B%2F%C3%BC%25+x"))
	if r.Authorization != want {
		t.Errorf("Authorization = %q, want %q", r.Authorization, want)
	}
	if r.Form.Has("client_secret") || r.Form.Has("client_id") {
		t.Errorf("client credentials in the body too: %v", r.Form)
	}

	// The wrong secret: a 401, explained, and the secret nowhere in it.
	o.ClientSecret = secret.New("wrong-secret-value")
	_, err := sts.Exchange(bounded(t), token(t), o)
	var e *sts.Error
	if !errors.Is(err, sts.ErrInvalidClient) || !errors.As(err, &e) || e.Status != 401 {
		t.Fatalf("err = %v", err)
	}
	for _, want := range []string{"client_id *******nt:1 with the secret from $STS_SECRET", "HTTP Basic"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("explanation lacks %q:\n%s", want, err)
		}
	}
	if strings.Contains(err.Error(), "wrong-secret-value") {
		t.Error("the secret is in the error")
	}
}

func TestClientAssertionIsTheIDToken(t *testing.T) {
	iss := oidctest.NewServer(t)
	raw := iss.MustMint(t, oidctest.Job{Audience: []string{"https://sso.example.com"}})
	s := ststest.New(t)
	s.RequireAssertion = true
	s.Verify = exchangetest.TrustIssuer(iss.URL, "https://sso.example.com")
	o := opts(s)
	o.Auth, o.ClientID = sts.AuthJWTBearer, "gitlab-ci"
	if _, err := sts.Exchange(bounded(t), decode(t, raw), o); err != nil {
		t.Fatal(err)
	}
	f := s.Requests()[0].Form
	if f.Get("client_assertion") != raw || f.Get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" || f.Get("client_id") != "gitlab-ci" {
		t.Errorf("form: %v", f)
	}

	// Without an assertion the server wants the client to authenticate.
	o.Auth = sts.AuthNone
	_, err := sts.Exchange(bounded(t), decode(t, raw), o)
	if !errors.Is(err, sts.ErrInvalidClient) || !strings.Contains(err.Error(), "--client-secret-env") {
		t.Errorf("err = %v", err)
	}
}

func TestRejectedSubjectTokenIsExplainedWithItsClaims(t *testing.T) {
	trusted := oidctest.NewServer(t)
	other := oidctest.NewServer(t) // another issuer: its keys are not trusted
	raw := other.MustMint(t, oidctest.Job{Audience: []string{"https://sso.example.com"}, Environment: "production"})
	for _, tc := range []struct {
		serverSays string
		kind       error
	}{
		{"", sts.ErrInvalidRequest}, // RFC 8693 §2.2.2
		{"invalid_grant", sts.ErrInvalidGrant},
	} {
		s := ststest.New(t)
		s.Verify = exchangetest.TrustIssuer(trusted.URL, "https://sso.example.com")
		s.SubjectError = tc.serverSays
		_, err := sts.Exchange(bounded(t), decode(t, raw), opts(s))
		if !errors.Is(err, tc.kind) {
			t.Fatalf("%q: err = %v, want %v", tc.serverSays, err, tc.kind)
		}
		msg := err.Error()
		for _, want := range []string{
			"trusts tokens of the issuer " + other.URL, other.URL + "/.well-known/openid-configuration",
			`audience "https://sso.example.com"`, "subject_token_type urn:ietf:params:oauth:token-type:jwt (--subject-token-type)",
			`subject "project_path:keyless-ci/demo:ref_type:branch:ref:main"`, "environment      production",
			"Subject token [REDACTED] rejected",
		} {
			if !strings.Contains(msg, want) {
				t.Errorf("%q: explanation lacks %q:\n%s", tc.serverSays, want, msg)
			}
		}
		if strings.Contains(msg, raw) || strings.Contains(msg, raw[strings.LastIndexByte(raw, '.')+1:]) {
			t.Errorf("%q: the token is in the error", tc.serverSays)
		}
	}
}

func TestRFCErrorsFailAtOnceAndExplain(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fault ststest.Fault
		kind  error
		says  []string
	}{
		{"invalid_request", ststest.InvalidRequest, sts.ErrInvalidRequest, []string{"HTTP 400 invalid_request: The subject token is invalid or unacceptable", "RFC 8693 §2.2.2", "--subject-token-type"}},
		{"invalid_client", ststest.InvalidClient, sts.ErrInvalidClient, []string{"HTTP 401 invalid_client", "--client-id and --client-secret-env NAME", "jwt-bearer"}},
		{"invalid_grant", ststest.InvalidGrant, sts.ErrInvalidGrant, []string{"rejected the job's ID token", "https://gitlab.example.com/.well-known/openid-configuration"}},
		{"unauthorized_client", ststest.UnauthorizedClient, sts.ErrUnauthorizedClient, []string{"not allowed to use the token-exchange grant", "urn:ietf:params:oauth:grant-type:token-exchange"}},
		{"unsupported_grant_type", ststest.UnsupportedGrantType, sts.ErrUnsupportedGrant, []string{"does not accept the token-exchange grant", "implements RFC 8693"}},
		{"invalid_scope", ststest.InvalidScope, sts.ErrInvalidScope, []string{`refused the scope "deploy"`, "--scope"}},
		{"invalid_target", ststest.InvalidTarget, sts.ErrInvalidTarget, []string{"(audience \"deploy-api\",\nresource none)", "(see https://sts.example/errors#invalid_target)", `sub "project_path:keyless-ci/demo:ref_type:branch:ref:main"`, "audience              deploy-api"}},
		{"access_denied", ststest.Fault{Status: 403, Error: "access_denied", Description: "Client not allowed to exchange"}, sts.ErrAccessDenied, []string{"policy does not allow this exchange"}},
		{"403 bare", ststest.Fault{Status: 403, Body: "Forbidden"}, sts.ErrAccessDenied, []string{"HTTP 403"}},
		{"401 bare", ststest.Fault{Status: 401, Body: "Unauthorized"}, sts.ErrInvalidClient, []string{"HTTP 401", "requires the client to authenticate"}},
		{"other code", ststest.Fault{Status: 400, Error: "consent_required", Description: "nope"}, sts.ErrRejected, []string{"consent_required: nope"}},
		{"not found", ststest.NotFound, sts.ErrBadEndpoint, []string{"HTTP 404", "does not answer like an OAuth token endpoint", "token_endpoint"}},
		{"redirect", ststest.Fault{Status: 307, Location: "https://elsewhere.example/token?q=1"}, sts.ErrBadEndpoint, []string{"answered HTTP 307, a redirect to https://elsewhere.example\n", "follows no redirect", "pass its URL with --token-url"}},
		{"501", ststest.Fault{Status: 501, Body: "not implemented"}, sts.ErrBadEndpoint, []string{"HTTP 501"}},
		{"200 without a token", ststest.Fault{Status: 200, Body: `{"token_type":"Bearer"}`, ContentType: "application/json"}, sts.ErrBadResponse, []string{"it has no access_token (RFC 8693 §2.2.1)"}},
		{"200 html", ststest.Fault{Status: 200, Body: "<html>login</html>", ContentType: "text/html"}, sts.ErrBadResponse, []string{"its body is not a JSON object"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := ststest.New(t, tc.fault, tc.fault, tc.fault)
			o := opts(s)
			o.Audiences, o.Scope = []string{"deploy-api"}, "deploy"
			start := time.Now()
			_, err := sts.Exchange(bounded(t), token(t), o)
			if !errors.Is(err, tc.kind) {
				t.Fatalf("err = %v, want %v", err, tc.kind)
			}
			if n := len(s.Requests()); n != 1 {
				t.Errorf("%d requests, want 1", n)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %s", d)
			}
			for _, want := range append(tc.says, "The job's ID token, as the token server saw it (claims only):\n  iss") {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("explanation lacks %q:\n%s", want, err)
				}
			}
		})
	}
}

func TestServerPolicyRejections(t *testing.T) {
	s := ststest.New(t)
	s.Audiences, s.Resources, s.Scopes = []string{"deploy-api"}, []string{"https://api.example.com"}, []string{"read"}
	for _, tc := range []struct {
		mod  func(*sts.Options)
		kind error
		says string
	}{
		{func(o *sts.Options) { o.Audiences = []string{"billing-api"} }, sts.ErrInvalidTarget, "Audience billing-api is not allowed"},
		{func(o *sts.Options) { o.Resources = []string{"https://billing.example.com"} }, sts.ErrInvalidTarget, `resource "https://billing.example.com"`},
		{func(o *sts.Options) { o.Scope = "read write" }, sts.ErrInvalidScope, `refused the scope "read write"`},
		{func(o *sts.Options) { o.SubjectTokenType = "saml2" }, sts.ErrInvalidRequest, "Unsupported subject_token_type urn:ietf:params:oauth:token-type:saml2"},
		{func(o *sts.Options) {}, nil, ""},
		{func(o *sts.Options) {
			o.Audiences, o.Resources, o.Scope, o.SubjectTokenType = []string{"deploy-api"}, []string{"https://api.example.com"}, "read", "id_token"
		}, nil, ""},
	} {
		o := opts(s)
		tc.mod(&o)
		_, err := sts.Exchange(bounded(t), token(t), o)
		if tc.kind == nil {
			if err != nil {
				t.Errorf("%+v: %v", o, err)
			}
			continue
		}
		if !errors.Is(err, tc.kind) || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("err = %v, want %v saying %q", err, tc.kind, tc.says)
		}
	}
}

// run is sts.Exchange as the exchangetest checks drive it.
func run(tok *idtoken.Token, o sts.Options) exchangetest.Exchange {
	return func(ctx context.Context, backoff func(int) time.Duration, progress io.Writer) error {
		o.Backoff, o.Progress = backoff, progress
		_, err := sts.Exchange(ctx, tok, o)
		return err
	}
}

func TestTransientFaultsAreRetried(t *testing.T) {
	exchangetest.CheckTransientRetried(t, 1, [][]ststest.Fault{
		{ststest.Unavailable, ststest.Throttled, {Status: 502}},
		{{Status: 500, Error: "server_error", Description: "x"}},
		{{Status: 400, Error: "temporarily_unavailable"}},
		{{Status: 429}},
	}, func(faults []ststest.Fault) (int, int, error) {
		s := ststest.New(t, faults...)
		c, err := sts.Exchange(bounded(t), token(t), opts(s))
		if err != nil {
			return 0, 0, err
		}
		return c.Attempts, len(s.Requests()), nil
	})
}

// Connections that fail without an answer are retried, each retry told
// with its wait, and the exchange succeeds once the server answers: the
// refused, reset and dropped connections are the kernel's own, from a
// proxy in front of the fake.
func TestConnectionFailuresAreRetriedAndTold(t *testing.T) {
	for _, tc := range exchangetest.ConnCases {
		t.Run(tc.Name, func(t *testing.T) {
			s := ststest.New(t)
			tok := token(t)
			exchangetest.CheckConnectionFailuresAreRetried(t, tc, s.URL, "sts: PROXY"+ststest.TokenPath, func() int { return len(s.Requests()) },
				func(endpoint string) exchangetest.Exchange {
					o := opts(s)
					o.TokenURL = endpoint + ststest.TokenPath
					o.HTTPClient = &http.Client{Transport: &http.Transport{}}
					return run(tok, o)
				})
		})
	}
}

func TestRetryAfterIsHonoured(t *testing.T) {
	exchangetest.CheckRetryAfterIsHonoured(t, run(token(t), opts(ststest.New(t, ststest.Fault{Status: 429, RetryAfter: "1"}))))

	// A wait past the deadline fails at once, saying so.
	s := ststest.New(t, ststest.Fault{Status: 429, RetryAfter: "120"})
	exchangetest.CheckRetryAfterBeyondTheDeadline(t, run(token(t), opts(s)), func() int { return len(s.Requests()) },
		"asked to retry after 2m0s, beyond the deadline")
}

func TestDeadlineHoldsAgainstAServerThatNeverAnswers(t *testing.T) {
	exchangetest.CheckDeadlineHolds(t, run(token(t), opts(ststest.New(t, ststest.Fault{Hang: true}))))
}

func TestRetriesStopAtTheDeadline(t *testing.T) {
	s := ststest.New(t, exchangetest.Repeat(ststest.Unavailable, 1000)...)
	exchangetest.CheckRetriesStopAtTheDeadline(t, run(token(t), opts(s)), func() int { return len(s.Requests()) }, sts.ErrUnavailable, "HTTP 503")
}

func TestUntrustedCertificateIsNotRetried(t *testing.T) {
	s, _ := ststest.NewTLS(t)
	exchangetest.CheckUntrustedCertificateIsNotRetried(t, run(token(t), opts(s)), "--ca-file")
}

func TestRedirectIsNotFollowed(t *testing.T) {
	elsewhere := ststest.New(t)
	s := ststest.New(t, ststest.Fault{Status: 307, Location: elsewhere.TokenURL()})
	_, err := sts.Exchange(bounded(t), token(t), opts(s))
	if !errors.Is(err, sts.ErrBadEndpoint) {
		t.Fatalf("err = %v", err)
	}
	if n := len(elsewhere.Requests()); n != 0 {
		t.Errorf("the redirect was followed: %d requests carried the token elsewhere", n)
	}
}

func TestResponseShapes(t *testing.T) {
	for _, tc := range []struct {
		body string
		want sts.Credentials
		bad  string
	}{
		{body: `{"access_token":"t","issued_token_type":"urn:ietf:params:oauth:token-type:access_token","token_type":"Bearer","expires_in":"600"}`,
			want: sts.Credentials{AccessToken: secret.New("t"), IssuedTokenType: "urn:ietf:params:oauth:token-type:access_token", TokenType: "Bearer", ExpiresIn: 10 * time.Minute}},
		// Lenient where RFC 8693 is strict but nothing depends on it.
		{body: `{"access_token":"t","token_type":"bearer"}`, want: sts.Credentials{AccessToken: secret.New("t"), TokenType: "bearer"}},
		{body: `{"access_token":"t","expires_in":null,"refresh_token":"r"}`, want: sts.Credentials{AccessToken: secret.New("t")}},
		{body: `{"access_token":"t","expires_in":"soon"}`, bad: "its expires_in is not a number of seconds"},
		{body: `{"access_token":42}`, bad: "its access_token is not a string"},
		{body: `{"access_token":""}`, bad: "it has no access_token"},
		{body: `access_token=t&token_type=bearer`, bad: "its body is not a JSON object"},
	} {
		s := ststest.New(t, ststest.Fault{Status: 200, Body: tc.body, ContentType: "application/json"})
		c, err := sts.Exchange(bounded(t), token(t), opts(s))
		if tc.bad != "" {
			if !errors.Is(err, sts.ErrBadResponse) || !strings.Contains(err.Error(), tc.bad) {
				t.Errorf("%s: err = %v, want %q", tc.body, err, tc.bad)
			}
			if err != nil && strings.Contains(err.Error(), `"t"`) {
				t.Errorf("%s: the error quotes the body", tc.body)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.body, err)
			continue
		}
		c.Attempts, c.Expiration = 0, time.Time{}
		if diff := cmp.Diff(tc.want, *c, cmp.Comparer(func(a, b secret.Token) bool { return a.Reveal() == b.Reveal() })); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.body, diff)
		}
	}
}

func TestErrorsAreScrubbedAndSanitized(t *testing.T) {
	tok := token(t)
	raw := tok.Raw.Reveal()
	const sec = "client-secret-canary-0123"
	sig := raw[strings.LastIndexByte(raw, '.')+1:]
	desc := "bad token " + raw + " / " + url.QueryEscape(raw) + " secret " + sec + " other eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln \x1b[31mred\x1b[0m\r\nnext signature " + sig
	s := ststest.New(t, ststest.Fault{Status: 400, Error: "invalid_grant", Description: desc, URI: "https://x.example/?t=" + raw})
	s.ClientID, s.ClientSecret = "id", sec
	o := opts(s)
	o.Auth, o.ClientID, o.ClientSecret = sts.AuthBasic, "id", secret.New(sec)
	_, err := sts.Exchange(bounded(t), tok, o)
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	for name, leak := range map[string]string{"token": raw, "escaped token": url.QueryEscape(raw), "secret": sec, "other JWT": "eyJhbGciOiJSUzI1NiJ9", "escape": "\x1b", "CR": "\r", "signature": sig} {
		if strings.Contains(msg, leak) {
			t.Errorf("the %s is in the error:\n%q", name, msg)
		}
	}
	if !strings.Contains(msg, "bad token [REDACTED] / [REDACTED] secret [REDACTED] other [REDACTED]") {
		t.Errorf("message: %q", msg)
	}
}

func TestValidate(t *testing.T) {
	good := sts.Options{TokenURL: "https://sso.example.com/token"}
	for _, tc := range []struct {
		mod  func(*sts.Options)
		want string // substring of the error; "" means valid
	}{
		{func(o *sts.Options) {}, ""},
		{func(o *sts.Options) { o.TokenURL = "http://127.0.0.1:8080/token" }, ""},
		{func(o *sts.Options) { o.TokenURL = "http://localhost/token" }, ""},
		{func(o *sts.Options) { o.TokenURL = "http://[::1]:9/token" }, ""},
		{func(o *sts.Options) { o.TokenURL = "https://sso.example.com/token?tenant=x" }, ""},
		{func(o *sts.Options) { o.TokenURL = "" }, "--token-url"},
		{func(o *sts.Options) { o.TokenURL = "http://sso.example.com/token" }, "plain http"},
		{func(o *sts.Options) { o.TokenURL = "sso.example.com/token" }, "not an http(s) URL"},
		{func(o *sts.Options) { o.TokenURL = "ftp://sso.example.com/token" }, "not an http(s) URL"},
		{func(o *sts.Options) { o.TokenURL = "https://id:pw@sso.example.com/token" }, "carries user info: keyless never sends credentials in an endpoint URL; remove the user:password@ part; pass the client id with --client-id"},
		{func(o *sts.Options) { o.TokenURL = "http://127.0.0.2:8080/token" }, ""},
		{func(o *sts.Options) { o.TokenURL = "http://sso.example.com/token?client_secret=x" }, `"http://sso.example.com/token" is plain http`},
		{func(o *sts.Options) { o.TokenURL = "https://sso.example.com/token#x" }, "fragment"},
		{func(o *sts.Options) { o.Resources = []string{"https://api.example.com/x"} }, ""},
		{func(o *sts.Options) { o.Resources = []string{"api.example.com"} }, "absolute URI"},
		{func(o *sts.Options) { o.Resources = []string{"https://api.example.com/#frag"} }, "absolute URI"},
		{func(o *sts.Options) { o.Audiences = []string{" "} }, "--audience is empty"},
		{func(o *sts.Options) { o.Scope = `read "write"` }, "RFC 6749 §3.3"},
		{func(o *sts.Options) { o.SubjectTokenType = "id_token"; o.RequestedTokenType = "urn:example:custom" }, ""},
		{func(o *sts.Options) { o.SubjectTokenType = "gitlab" }, "--subject-token-type"},
		{func(o *sts.Options) { o.RequestedTokenType = "a token" }, "--requested-token-type"},
		{func(o *sts.Options) { o.Auth = sts.AuthBasic; o.ClientSecret = secret.New("x") }, "needs --client-id"},
		{func(o *sts.Options) { o.Auth, o.ClientID, o.SecretSource = sts.AuthBasic, "ci", "$SECRET" }, "the variable it names is empty or not set"},
		{func(o *sts.Options) { o.Auth, o.ClientID, o.ClientSecret = sts.AuthBasic, "ci", secret.New("x") }, ""},
		{func(o *sts.Options) { o.Auth = "mtls" }, `"mtls"`},
	} {
		o := good
		tc.mod(&o)
		err := o.Validate()
		if tc.want == "" {
			if err != nil {
				t.Errorf("%+v: %v", o, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: err = %v, want %q", o, err, tc.want)
		}
	}
}

func TestCheckEnvName(t *testing.T) {
	for name, ok := range map[string]bool{
		"KEYLESS_STS_TOKEN": true, "VAULT_TOKEN": true, "my_token": true, "_T": true,
		"PATH": false, "HOME": false, "LD_PRELOAD": false, "CI_JOB_TOKEN": false, "GITLAB_TOKEN": false,
		"KEYLESS_ID_TOKEN": false, "KEYLESS_STS_TOKEN_URL": false, "https_proxy": false, "BASH_ENV": false,
		"": false, "1TOKEN": false, "A-B": false, "A B": false, "A=B": false,
	} {
		if err := sts.CheckEnvName(name); (err == nil) != ok {
			t.Errorf("CheckEnvName(%q) = %v, want ok=%v", name, err, ok)
		}
	}
}

func TestOutputs(t *testing.T) {
	c := &sts.Credentials{AccessToken: secret.New("tok'en"), IssuedTokenType: "urn:ietf:params:oauth:token-type:access_token",
		TokenType: "Bearer", ExpiresIn: time.Hour, Expiration: time.Date(2026, 6, 1, 13, 0, 0, 0, time.UTC), Scope: "read"}
	env := c.Env("VAULT_TOKEN", "STS_SECRET", "")
	if diff := cmp.Diff([]string{"PATH=/bin", "VAULT_TOKEN=tok'en"}, env.Environ([]string{"PATH=/bin", "STS_SECRET=s", "VAULT_TOKEN=old"})); diff != "" {
		t.Errorf("environ (-want +got):\n%s", diff)
	}
	var b strings.Builder
	if err := c.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	want := `{
  "access_token": "tok'en",
  "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
  "token_type": "Bearer",
  "expires_in": 3600,
  "expires_at": "2026-06-01T13:00:00Z",
  "scope": "read"
}
`
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("json (-want +got):\n%s", diff)
	}
}

func TestDisplayAndMask(t *testing.T) {
	for in, want := range map[string]string{
		"https://sso.example.com/realms/ci/protocol/openid-connect/token?x=secret": "https://sso.example.com/realms/ci/protocol/openid-connect/token",
		"https://u:p@sso.example.com/t":                                            "https://sso.example.com/t",
		"not a url":                                                                "the token endpoint",
	} {
		if got := sts.DisplayURL(in); got != want {
			t.Errorf("DisplayURL(%q) = %q, want %q", in, got, want)
		}
	}
	if got := exchange.MaskID("gitlab-ci-deploy"); got != "************ploy" {
		t.Errorf("MaskID = %q", got)
	}
	if got := sts.ExpandTokenType("access_token"); got != "urn:ietf:params:oauth:token-type:access_token" {
		t.Errorf("ExpandTokenType = %q", got)
	}
}
