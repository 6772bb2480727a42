// Package pypi exchanges a GitLab ID token for a short-lived, project-scoped
// PyPI API token ("trusted publishing", issue 18), and explains PyPI's
// refusals claim by claim.
//
// The protocol is warehouse's (warehouse/oidc/views.py) as PyPI documents
// it for GitLab CI/CD ("The manual way",
// https://docs.pypi.org/trusted-publishers/using-a-publisher/): GET
// INDEX/_/oidc/audience answers {"audience": "pypi"}; POST
// INDEX/_/oidc/mint-token with {"token": ID_TOKEN} answers {"success": true,
// "token": API_TOKEN, "expires": UNIX_TIME}, or 422 with {"message": "Token
// request failed", "errors": [{"code", "description"}]}.
package pypi

import (
	"cmp"
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"gitlab.com/keyless-ci/keyless/internal/exchange"
	"gitlab.com/keyless-ci/keyless/internal/idtoken"
	"gitlab.com/keyless-ci/keyless/internal/option"
	"gitlab.com/keyless-ci/keyless/internal/secret"
)

// Indexes and paths.
const (
	DefaultIndex = "https://pypi.org"
	TestIndex    = "https://test.pypi.org"
	AudiencePath = "/_/oidc/audience"
	MintPath     = "/_/oidc/mint-token"
	// Lifetime is what PyPI gives a minted token (expires_at = not_before
	// + 900 in views.py), used when the answer carries no "expires".
	Lifetime = 15 * time.Minute
)

// The options an exchange's messages name (package option).
const (
	OptIndexURL   option.Name = "index-url"
	OptRepository option.Name = "repository"
	OptCAFile     option.Name = "ca-file"
)

// Options configure one exchange.
type Options struct {
	// IndexURL is the index's base URL, https://pypi.org by default.
	IndexURL string
	// InsecureHTTP are hosts plain http may go to (KEYLESS_INSECURE_HTTP_HOSTS).
	InsecureHTTP exchange.InsecureHosts
	// Seams are the transport, retry waits, log, progress and clock.
	exchange.Seams
}

// Index is IndexURL, or DefaultIndex when empty, without a trailing '/'.
func (o Options) Index() string {
	return strings.TrimRight(cmp.Or(strings.TrimSpace(o.IndexURL), DefaultIndex), "/")
}

// Validate checks the options that do not need the network.
func (o Options) Validate() error {
	idx := o.Index()
	if err := exchange.CheckEndpoint(OptIndexURL, idx, "the ID token", o.InsecureHTTP); err != nil {
		return err
	}
	if strings.ContainsAny(idx, "?#") {
		return option.Errorf("%s %q: give the index's base URL, e.g. %s or %s, without a query or fragment", option.Ref(OptIndexURL), exchange.DisplayURL(idx), DefaultIndex, TestIndex)
	}
	if strings.HasSuffix(idx, "/legacy") || strings.HasSuffix(idx, "/simple") {
		return option.Errorf("%s %q is an upload or simple-index URL; give the index's base URL, e.g. %s", option.Ref(OptIndexURL), exchange.DisplayURL(idx), strings.TrimSuffix(strings.TrimSuffix(idx, "/legacy"), "/simple"))
	}
	return nil
}

// Credentials are what PyPI minted.
type Credentials struct {
	Token      secret.Token
	Index      string // DisplayURL of the index
	Audience   string // what the index asked for
	Expiration time.Time
	Attempts   int
}

// maxBody bounds what is read of an answer; PyPI's are small.
const maxBody = 1 << 20

// Exchange asks the index for its audience, checks that the ID token is for
// it (before the token leaves the job), and trades the token for an API
// token. The context's deadline bounds every attempt and wait.
func Exchange(ctx context.Context, tok *idtoken.Token, o Options) (*Credentials, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	idx := o.Index()
	// A redirect would carry the ID token wherever Location points.
	client := exchange.NoRedirects(o.HTTPClient, OptIndexURL)

	var aud string
	attempts, f := retry(ctx, o, "audience", func(ctx context.Context) *failure {
		var f *failure
		aud, f = getAudience(ctx, client, o, idx+AudiencePath)
		return f
	})
	if f != nil {
		f.step = stepAudience
		return nil, newError(f, o, tok, attempts)
	}
	if !slices.Contains(tok.Claims.Audience, aud) {
		return nil, newError(&failure{step: stepAudience, audience: aud}, o, tok, attempts)
	}
	body, err := json.Marshal(struct {
		Token string `json:"token"`
	}{tok.Raw.Reveal()})
	if err != nil {
		return nil, err
	}
	var creds *Credentials
	attempts, f = retry(ctx, o, "mint-token", func(ctx context.Context) *failure {
		var f *failure
		creds, f = mint(ctx, client, o, idx+MintPath, body)
		return f
	})
	if f != nil {
		f.step, f.audience = stepMint, aud
		return nil, newError(f, o, tok, attempts)
	}
	creds.Index, creds.Audience, creds.Attempts = exchange.DisplayURL(idx), aud, attempts
	if creds.Expiration.IsZero() {
		creds.Expiration = o.Clock()().Add(Lifetime).Truncate(time.Second)
	}
	return creds, nil
}

// failure is one unsuccessful attempt, as much as is safe to keep of it.
type failure struct {
	step        string
	status      int
	code        string // the first of warehouse's error codes
	description string // raw, scrubbed later
	message     string // the body's "message" (raw, scrubbed later)
	contentType string
	location    string
	badBody     string // why a 2xx answer is unusable
	audience    string // the index's audience, when known
	transport   error
}

const (
	stepAudience = "audience"
	stepMint     = "mint-token"
)

func getAudience(ctx context.Context, client *http.Client, o Options, u string) (string, *failure) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", &failure{transport: err}
	}
	b, f := do(client, o, req)
	if f != nil {
		return "", f
	}
	var r struct {
		Audience string `json:"audience"`
	}
	if json.Unmarshal(b, &r) != nil || strings.TrimSpace(r.Audience) == "" {
		return "", &failure{status: 200, badBody: "it has no audience"}
	}
	return r.Audience, nil
}

func mint(ctx context.Context, client *http.Client, o Options, u string, body []byte) (*Credentials, *failure) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(string(body)))
	if err != nil {
		return nil, &failure{transport: err}
	}
	req.Header.Set("Content-Type", "application/json")
	b, f := do(client, o, req)
	if f != nil {
		return nil, f
	}
	// Never quoted: the body holds the minted token.
	var r struct {
		Token   *string         `json:"token"`
		Expires json.RawMessage `json:"expires"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, &failure{status: 200, badBody: "its body is not the JSON object PyPI documents"}
	}
	if r.Token == nil || *r.Token == "" {
		return nil, &failure{status: 200, badBody: "it has no token"}
	}
	c := &Credentials{Token: secret.New(*r.Token)}
	if s := strings.TrimSpace(string(r.Expires)); s != "" && s != "null" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n <= 0 {
			return nil, &failure{status: 200, badBody: "its expires is not a Unix time"}
		}
		c.Expiration = time.Unix(n, 0)
	}
	return c, nil
}

// do sends req and returns the body of a 2xx answer, or the failure.
func do(client *http.Client, o Options, req *http.Request) ([]byte, *failure) {
	resp, b, err := o.Send(client, req, maxBody)
	if err != nil {
		return nil, &failure{transport: err}
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return b, nil
	}
	f := &failure{status: resp.StatusCode, contentType: resp.Header.Get("Content-Type"), location: resp.Header.Get("Location")}
	var e struct {
		Message string `json:"message"`
		Errors  []struct {
			Code        string `json:"code"`
			Description string `json:"description"`
		} `json:"errors"`
	}
	if json.Unmarshal(b, &e) == nil {
		f.message = e.Message
		if len(e.Errors) > 0 {
			f.code, f.description = e.Errors[0].Code, e.Errors[0].Description
		}
	}
	return nil, f
}

// retry runs f under the shared policy: transient failures are retried.
func retry(ctx context.Context, o Options, step string, f func(context.Context) *failure) (int, *failure) {
	return exchange.DoAttempts(ctx, o.Retry(exchange.Retry{
		Name:     "pypi: " + step,
		LogMsg:   "pypi attempt failed, retrying",
		LogAttrs: []any{"step", step},
	}), f)
}

// Error lets a failure travel through exchange.Retry; it names the class
// only, never the server's text.
func (f *failure) Error() string { return exchange.Describe(f.transport, f.status, f.code) }

func (f *failure) Transient() bool { return exchange.Transient(f.transport, f.status) }
