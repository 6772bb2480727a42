package pypi_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"gitlab.com/keyless-ci/keyless/internal/exchange"
	"gitlab.com/keyless-ci/keyless/internal/exchange/exchangetest"
	"gitlab.com/keyless-ci/keyless/internal/exchange/pypi"
	"gitlab.com/keyless-ci/keyless/internal/exchange/pypi/pypitest"
	"gitlab.com/keyless-ci/keyless/internal/idtoken"
	"gitlab.com/keyless-ci/keyless/internal/oidctest"
	"gitlab.com/keyless-ci/keyless/internal/secret"
)

var demo = pypitest.Publisher{Namespace: "keyless-ci", Project: "demo", WorkflowFilepath: ".gitlab-ci.yml"}

type fixture struct {
	iss *oidctest.Issuer
	srv *pypitest.Server
}

func newFixture(t *testing.T, faults ...pypitest.Fault) fixture {
	t.Helper()
	iss := oidctest.NewServer(t)
	srv := pypitest.New(t, faults...)
	srv.Verify = exchangetest.TrustIssuer(iss.URL, "pypi")
	srv.Publishers = []pypitest.Publisher{demo}
	return fixture{iss: iss, srv: srv}
}

func (f fixture) token(t *testing.T, j oidctest.Job) *idtoken.Token {
	t.Helper()
	if len(j.Audience) == 0 {
		j.Audience = []string{"pypi"}
	}
	tok, err := idtoken.Decode(secret.New(f.iss.MustMint(t, j)))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func (f fixture) run(t *testing.T, tok *idtoken.Token) (*pypi.Credentials, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return pypi.Exchange(ctx, tok, pypi.Options{IndexURL: f.srv.URL,
		Seams: exchange.Seams{Backoff: func(int) time.Duration { return time.Millisecond }}})
}

func TestPyPIExchange(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	tok := f.token(t, oidctest.Job{})
	creds, err := f.run(t, tok)
	if err != nil {
		t.Fatal(err)
	}
	if creds.Token.Reveal() != f.srv.Token || creds.Audience != "pypi" {
		t.Errorf("creds = %+v", creds)
	}
	if d := time.Until(creds.Expiration); d < 14*time.Minute || d > 16*time.Minute {
		t.Errorf("expires in %v, want PyPI's 15 minutes", d)
	}
	reqs := f.srv.Requests()
	if len(reqs) != 2 || reqs[0].Method != "GET" || reqs[0].Path != pypitest.AudiencePath || reqs[1].Method != "POST" || reqs[1].Path != pypitest.MintPath {
		t.Fatalf("requests = %+v", reqs)
	}
	// The documented body: {"token": ID_TOKEN}, JSON.
	var body map[string]string
	if err := json.Unmarshal([]byte(reqs[1].Body), &body); err != nil || len(body) != 1 || body["token"] != tok.Raw.Reveal() || reqs[1].ContentType != "application/json" {
		t.Errorf("mint request %q (%s)", reqs[1].Body, reqs[1].ContentType)
	}
	// One ID token, one mint (jti): a second exchange is refused.
	if _, err := f.run(t, tok); !errors.Is(err, pypi.ErrReusedToken) {
		t.Errorf("second exchange: %v", err)
	}
}

func TestPyPIEnv(t *testing.T) {
	t.Parallel()
	c := &pypi.Credentials{Token: secret.New("T")}
	vars := func(e *exchange.Credentials) map[string]string {
		m := map[string]string{}
		for _, v := range e.Vars {
			m[v.Name] = v.Value.Reveal()
		}
		return m
	}
	got := vars(c.Env(pypi.DefaultIndex, "pypi"))
	want := map[string]string{"TWINE_USERNAME": "__token__", "TWINE_PASSWORD": "T", "UV_PUBLISH_TOKEN": "T", "POETRY_PYPI_TOKEN_PYPI": "T"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("PyPI (-want +got):\n%s", d)
	}
	got = vars(c.Env(pypi.TestIndex, pypi.DefaultRepository(pypi.TestIndex)))
	want = map[string]string{"TWINE_USERNAME": "__token__", "TWINE_PASSWORD": "T", "UV_PUBLISH_TOKEN": "T", "POETRY_PYPI_TOKEN_TESTPYPI": "T",
		"TWINE_REPOSITORY_URL": "https://test.pypi.org/legacy/", "UV_PUBLISH_URL": "https://test.pypi.org/legacy/",
		"POETRY_REPOSITORIES_TESTPYPI_URL": "https://test.pypi.org/legacy/"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("TestPyPI (-want +got):\n%s", d)
	}
	if got := vars(c.Env(pypi.DefaultIndex, "my-repo")); got["POETRY_PYPI_TOKEN_MY_REPO"] != "T" {
		t.Errorf("repository my-repo: %v", got)
	}
}

// A token for another audience never leaves the job.
func TestPyPIAudienceCheckedBeforeSending(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.srv.Audience = "testpypi"
	_, err := f.run(t, f.token(t, oidctest.Job{}))
	if !errors.Is(err, pypi.ErrAudience) {
		t.Fatalf("err = %v", err)
	}
	for _, r := range f.srv.Requests() {
		if r.Path == pypitest.MintPath {
			t.Error("the ID token was sent to mint-token")
		}
	}
	for _, want := range []string{`does not include "testpypi"`, "aud: testpypi", "the token was not sent"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message lacks %q:\n%s", want, err)
		}
	}
}

// invalid-publisher is explained field by field, from the token's claims,
// marking the field warehouse named.
func TestPyPIInvalidPublisherExplained(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		publisher pypitest.Publisher
		job       oidctest.Job
		wants     []string
	}{
		{"other-project", pypitest.Publisher{Namespace: "keyless-ci", Project: "other", WorkflowFilepath: ".gitlab-ci.yml"}, oidctest.Job{},
			[]string{"Publisher with matching claims was not found", "Namespace", "keyless-ci", "Project name", "demo",
				"Top-level pipeline file path", ".gitlab-ci.yml", "(none: the job has no environment:", "keyless policy pypi --project keyless-ci/demo"}},
		{"environment", pypitest.Publisher{Namespace: "keyless-ci", Project: "demo", WorkflowFilepath: ".gitlab-ci.yml", Environment: "release"},
			oidctest.Job{Environment: "staging"}, []string{"Environment name", "staging"}},
		// A prefix of the file matches the lookup, then the exact check fails.
		{"ci-file", pypitest.Publisher{Namespace: "keyless-ci", Project: "demo", WorkflowFilepath: ".gitlab-ci"}, oidctest.Job{},
			[]string{"The ci_config_ref_uri claim does not match", ".gitlab-ci.yml   <- PyPI: does not match"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			f.srv.Publishers = []pypitest.Publisher{tc.publisher}
			tok := f.token(t, tc.job)
			_, err := f.run(t, tok)
			if !errors.Is(err, pypi.ErrInvalidPublisher) {
				t.Fatalf("err = %v", err)
			}
			for _, want := range tc.wants {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("message lacks %q:\n%s", want, err)
				}
			}
			if strings.Contains(err.Error(), tok.Raw.Reveal()) {
				t.Error("the message holds the ID token")
			}
		})
	}
}

func TestPyPIRefusals(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		faults []pypitest.Fault
		kind   error
		wants  []string
	}{
		{"disabled", []pypitest.Fault{pypitest.Disabled}, pypi.ErrNotEnabled, []string{"HTTP 403", "Trusted publishing functionality not enabled"}},
		{"not-enabled", []pypitest.Fault{pypitest.OK, pypitest.NotEnabled}, pypi.ErrNotEnabled, []string{"not-enabled", "switched off"}},
		{"unknown-issuer", []pypitest.Fault{pypitest.OK, pypitest.BadIssuer}, pypi.ErrInvalidPayload, []string{"unknown trusted publishing issuer", "custom issuer"}},
		{"pending", []pypitest.Fault{pypitest.OK, pypitest.Pending}, pypi.ErrPendingPublisher, []string{"project already exists", "existing project"}},
		{"not-an-index", []pypitest.Fault{pypitest.NotFound}, pypi.ErrBadEndpoint, []string{"HTTP 404", "--index-url"}},
		{"redirect", []pypitest.Fault{{Status: 302, Location: "https://elsewhere.example/x?token=1"}}, pypi.ErrBadEndpoint, []string{"redirect"}},
		{"throttled", []pypitest.Fault{pypitest.Throttled, pypitest.Throttled, pypitest.Throttled, pypitest.Throttled, pypitest.Throttled,
			pypitest.Throttled, pypitest.Throttled, pypitest.Throttled, pypitest.Throttled, pypitest.Throttled, {Hang: true}}, pypi.ErrThrottled, []string{"throttled"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, tc.faults...)
			tok := f.token(t, oidctest.Job{})
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			defer cancel()
			_, err := pypi.Exchange(ctx, tok, pypi.Options{IndexURL: f.srv.URL,
				Seams: exchange.Seams{Backoff: func(int) time.Duration { return time.Millisecond }}})
			if !errors.Is(err, tc.kind) {
				t.Fatalf("err = %v, want %v", err, tc.kind)
			}
			for _, want := range tc.wants {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("message lacks %q:\n%s", want, err)
				}
			}
			if strings.Contains(err.Error(), tok.Raw.Reveal()) || strings.Contains(err.Error(), "token=1") {
				t.Error("the message holds a secret")
			}
		})
	}
}

// Transient failures are retried; the exchange then succeeds.
func TestPyPITransientRetried(t *testing.T) {
	t.Parallel()
	f := newFixture(t, pypitest.Unavailable, pypitest.OK, pypitest.Unavailable)
	creds, err := f.run(t, f.token(t, oidctest.Job{}))
	if err != nil {
		t.Fatal(err)
	}
	if creds.Attempts != 2 || len(f.srv.Requests()) != 4 {
		t.Errorf("attempts %d, requests %d", creds.Attempts, len(f.srv.Requests()))
	}
}

func TestPyPIValidate(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{"http://pypi.org", "https://pypi.org/legacy/", "https://user:pw@pypi.org", "https://pypi.org?x=1", "ftp://pypi.org"} {
		err := pypi.Options{IndexURL: bad}.Validate()
		if err == nil {
			t.Errorf("%s: no error", bad)
		} else if strings.Contains(err.Error(), "pw") {
			t.Errorf("%s: message quotes the password: %v", bad, err)
		}
	}
	for _, good := range []string{"", "https://pypi.org", "https://test.pypi.org/", "http://127.0.0.1:8080"} {
		if err := (pypi.Options{IndexURL: good}).Validate(); err != nil {
			t.Errorf("%s: %v", good, err)
		}
	}
}
