package crates_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"gitlab.com/keyless-ci/keyless/internal/exchange"
	"gitlab.com/keyless-ci/keyless/internal/exchange/crates"
	"gitlab.com/keyless-ci/keyless/internal/exchange/crates/cratestest"
	"gitlab.com/keyless-ci/keyless/internal/exchange/exchangetest"
	"gitlab.com/keyless-ci/keyless/internal/idtoken"
	"gitlab.com/keyless-ci/keyless/internal/oidctest"
	"gitlab.com/keyless-ci/keyless/internal/secret"
)

var demo = cratestest.Config{Crate: "keyless-demo", Namespace: "keyless-ci", Project: "demo", WorkflowFilepath: ".gitlab-ci.yml"}

type fixture struct {
	iss *oidctest.Issuer
	srv *cratestest.Server
}

func newFixture(t *testing.T, faults ...cratestest.Fault) fixture {
	t.Helper()
	iss := oidctest.NewServer(t)
	srv := cratestest.New(t, faults...)
	srv.Issuer = iss.URL
	srv.Verify = exchangetest.TrustIssuer(iss.URL, srv.Audience())
	srv.Configs = []cratestest.Config{demo}
	return fixture{iss: iss, srv: srv}
}

func (f fixture) token(t *testing.T, j oidctest.Job) *idtoken.Token {
	t.Helper()
	if len(j.Audience) == 0 {
		j.Audience = []string{f.srv.Audience()}
	}
	tok, err := idtoken.Decode(secret.New(f.iss.MustMint(t, j)))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func (f fixture) opts() crates.Options {
	return crates.Options{RegistryURL: f.srv.URL, Seams: exchange.Seams{Backoff: func(int) time.Duration { return time.Millisecond }}}
}

func (f fixture) run(t *testing.T, tok *idtoken.Token) (*crates.Credentials, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return crates.Exchange(ctx, tok, f.opts())
}

func TestExchange(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	tok := f.token(t, oidctest.Job{})
	creds, err := f.run(t, tok)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(creds.Token.Reveal(), "cio_tp_") || creds.Audience != f.srv.Audience() {
		t.Errorf("creds = %+v", creds)
	}
	if d := time.Until(creds.Expiration); d < 29*time.Minute || d > 31*time.Minute {
		t.Errorf("expires in %v, want crates.io's 30 minutes", d)
	}
	reqs := f.srv.Requests()
	if len(reqs) != 1 || reqs[0].Method != "POST" || reqs[0].Path != cratestest.TokensPath || reqs[0].Auth {
		t.Fatalf("requests = %+v", reqs)
	}
	// The documented body: {"jwt": ID_TOKEN}, JSON.
	var body map[string]string
	if err := json.Unmarshal([]byte(reqs[0].Body), &body); err != nil || len(body) != 1 || body["jwt"] != tok.Raw.Reveal() || reqs[0].ContentType != "application/json" {
		t.Errorf("exchange request %q (%s)", reqs[0].Body, reqs[0].ContentType)
	}
	// Revoke: DELETE with the bearer; the token is gone.
	if f.srv.Live() != 1 {
		t.Fatalf("live tokens = %d", f.srv.Live())
	}
	if err := crates.Revoke(context.Background(), creds.Token, f.opts()); err != nil {
		t.Fatal(err)
	}
	if f.srv.Live() != 0 || f.srv.Revoked() != 1 {
		t.Errorf("after revoke: live %d, revoked %d", f.srv.Live(), f.srv.Revoked())
	}
	// crates.io answers 204 for a token it no longer knows.
	if err := crates.Revoke(context.Background(), creds.Token, f.opts()); err != nil {
		t.Errorf("second revoke: %v", err)
	}
}

func TestExchangeRefusals(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		config func(*cratestest.Config)
		job    oidctest.Job
		faults []cratestest.Fault
		kind   error
		want   []string
		sent   bool
	}{
		{name: "no-config", config: func(c *cratestest.Config) { c.Project = "other" }, kind: crates.ErrNoConfig, sent: true,
			want: []string{"HTTP 400", "No Trusted Publishing config found for repository `keyless-ci/demo`.", "Project            demo   <- crates.io: does not match"}},
		{name: "workflow", config: func(c *cratestest.Config) { c.WorkflowFilepath = "ci/release.yml" }, kind: crates.ErrMismatch, sent: true,
			want: []string{"does not match the workflow filepath `.gitlab-ci.yml`", "Workflow filepath  .gitlab-ci.yml   <- crates.io: does not match"}},
		{name: "environment-missing", config: func(c *cratestest.Config) { c.Environment = "release" }, kind: crates.ErrMismatch, sent: true,
			want: []string{"requires an environment, but the JWT does not specify one", "so the config must have none)   <- crates.io: does not match"}},
		{name: "environment-mismatch", config: func(c *cratestest.Config) { c.Environment = "release" }, job: oidctest.Job{Environment: "staging"}, kind: crates.ErrMismatch, sent: true,
			want: []string{"does not match the environment `staging`", "Environment        staging   <- crates.io: does not match"}},
		{name: "namespace-id", config: func(c *cratestest.Config) { c.NamespaceID = "999" }, kind: crates.ErrMismatch, sent: true,
			want: []string{"namespace ID (77)", "Delete the config on crates.io and add it again"}},
		{name: "audience", job: oidctest.Job{Audience: []string{"crates.io"}}, kind: crates.ErrAudience,
			want: []string{"does not include", "the token was not sent", "aud: 127.0.0.1:"}},
		{name: "issuer", faults: []cratestest.Fault{cratestest.BadIssuer}, kind: crates.ErrIssuer, sent: true, want: []string{"GitLab.com only"}},
		{name: "reused", faults: []cratestest.Fault{cratestest.Reused}, kind: crates.ErrReusedToken, sent: true, want: []string{"one exchange"}},
		{name: "not-found", faults: []cratestest.Fault{cratestest.NotFound}, kind: crates.ErrBadEndpoint, sent: true, want: []string{"does not answer like a registry"}},
		{name: "throttled", faults: append(slices.Repeat([]cratestest.Fault{cratestest.Throttled}, 10), cratestest.Fault{Hang: true}),
			kind: crates.ErrThrottled, sent: true, want: []string{"throttled"}},
		{name: "redirect", faults: []cratestest.Fault{{Status: 307, Location: "https://elsewhere.example/x"}}, kind: crates.ErrBadEndpoint, sent: true, want: []string{"redirect"}},
		{name: "bad-success", faults: []cratestest.Fault{{Status: 200, ContentType: "application/json", Body: `{"tok": "x"}`}}, kind: crates.ErrBadResponse, sent: true, want: []string{"it has no token"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, tc.faults...)
			if tc.config != nil {
				tc.config(&f.srv.Configs[0])
			}
			tok := f.token(t, tc.job)
			_, err := f.run(t, tok)
			if !errors.Is(err, tc.kind) {
				t.Fatalf("error %v, want %v", err, tc.kind)
			}
			msg := err.Error()
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("message lacks %q:\n%s", w, msg)
				}
			}
			if strings.Contains(msg, tok.Raw.Reveal()) {
				t.Error("the message holds the ID token")
			}
			if sent := len(f.srv.Requests()) > 0; sent != tc.sent {
				t.Errorf("sent = %v, want %v", sent, tc.sent)
			}
		})
	}
}

// A transient failure is retried; a refused exchange does not use the jti
// up, and a successful one does (insert_jti inside the transaction).
func TestExchangeRetriesAndReuse(t *testing.T) {
	t.Parallel()
	f := newFixture(t, cratestest.Unavailable)
	tok := f.token(t, oidctest.Job{})
	creds, err := f.run(t, tok)
	if err != nil || creds.Attempts != 2 {
		t.Fatalf("creds %+v, err %v", creds, err)
	}
	if _, err := f.run(t, tok); !errors.Is(err, crates.ErrReusedToken) {
		t.Errorf("second exchange: %v, want ErrReusedToken", err)
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	for _, u := range []string{"http://crates.io", "https://crates.io/api/v1/trusted_publishing/tokens", "https://crates.io/?x=1", "ftp://crates.io"} {
		if err := (crates.Options{RegistryURL: u}).Validate(); err == nil {
			t.Errorf("%s: no error", u)
		}
	}
	if a := (crates.Options{}).Audience(); a != "crates.io" {
		t.Errorf("default audience %q, want crates.io", a)
	}
	for _, n := range []string{"a b", "", "-x"} {
		if crates.CheckRegistry(n) == nil {
			t.Errorf("registry %q accepted", n)
		}
	}
	if v := crates.TokenVar("my-reg"); v != "CARGO_REGISTRIES_MY_REG_TOKEN" {
		t.Errorf("TokenVar = %s", v)
	}
}

// WorkflowFilepath follows crates.io's own cases (workflows.rs tests).
func TestWorkflowFilepath(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"gitlab.com/foo/bar//notnested.yml@/some/ref":            "notnested.yml",
		"gitlab.com/foo/bar//too//many//slashes.yml@/some/ref":   "too//many//slashes.yml",
		"gitlab.com/foo/bar//foo.yml@bar.yml@/some/ref":          "foo.yml@bar.yml",
		"gitlab.com/foo/bar//.gitlab-ci.yaml@refs/heads/main":    ".gitlab-ci.yaml",
		"gitlab.com/foo/bar//notnested.wrongsuffix@/some/ref":    "",
		"gitlab.com/foo/bar//somedir/.yaml@/some/ref":            "",
		"gitlab.com/foo/bar//@/some/ref":                         "",
		"gitlab.example.com/my-group/my-project//a/b.yml@refs/x": "a/b.yml",
	} {
		if got := crates.WorkflowFilepath(in); got != want {
			t.Errorf("WorkflowFilepath(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRevokeFailure(t *testing.T) {
	t.Parallel()
	f := newFixture(t, cratestest.Fault{Status: 401, Sample: "error-revoke-unparsable"})
	tok := secret.New("cio_tp_not-a-real-token-for-tests")
	err := crates.Revoke(context.Background(), tok, f.opts())
	if !errors.Is(err, crates.ErrRevoke) || strings.Contains(err.Error(), tok.Reveal()) || !strings.Contains(err.Error(), "Failed to parse token") {
		t.Errorf("err = %v", err)
	}
}
