// Package npm exchanges a GitLab ID token for a short-lived npm publish
// token ("trusted publishing", issue 18), for the clients that do not
// exchange by themselves (npm before 11.5.1, yarn, pnpm), and explains the
// registry's refusals claim by claim.
//
// The exchange is the npm CLI's (lib/utils/oidc.js): POST, with no body and
// the ID token as the bearer token, to
// /-/npm/v1/oidc/token/exchange/package/NAME on the registry's host; the
// answer is {"token": TOKEN}, a refusal {"message": "..."}. The ID token's
// audience is npm:HOST (https://docs.npmjs.com/trusted-publishers).
package npm

import (
	"cmp"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"gitlab.com/keyless-ci/keyless/internal/exchange"
	"gitlab.com/keyless-ci/keyless/internal/idtoken"
	"gitlab.com/keyless-ci/keyless/internal/lazyre"
	"gitlab.com/keyless-ci/keyless/internal/option"
	"gitlab.com/keyless-ci/keyless/internal/secret"
)

// DefaultRegistry is npm's public registry.
const DefaultRegistry = "https://registry.npmjs.org/"

// ExchangePath is where the registry exchanges ID tokens, the package's
// escaped name appended.
const ExchangePath = "/-/npm/v1/oidc/token/exchange/package/"

// The options an exchange's messages name (package option).
const (
	OptRegistry option.Name = "registry"
	OptPackage  option.Name = "package"
	OptCAFile   option.Name = "ca-file"
)

// Options configure one exchange.
type Options struct {
	Registry string // DefaultRegistry when empty
	Package  string // the package to publish, @scope/name or name
	// InsecureHTTP are hosts plain http may go to (KEYLESS_INSECURE_HTTP_HOSTS).
	InsecureHTTP exchange.InsecureHosts
	exchange.Seams
}

// RegistryURL is Registry, or DefaultRegistry, with a trailing '/' as npm
// writes registry URLs.
func (o Options) RegistryURL() string {
	r := cmp.Or(strings.TrimSpace(o.Registry), DefaultRegistry)
	if !strings.HasSuffix(r, "/") {
		r += "/"
	}
	return r
}

// Audience is the aud the registry expects: npm:HOSTNAME (oidc.js).
func (o Options) Audience() string {
	u, err := url.Parse(o.RegistryURL())
	if err != nil {
		return ""
	}
	return "npm:" + u.Hostname()
}

// ExchangeURL is the exchange endpoint for the package. As in oidc.js, the
// path is absolute: it replaces the registry URL's own path.
func (o Options) ExchangeURL() string {
	u, err := url.Parse(o.RegistryURL())
	if err != nil {
		return ""
	}
	return u.Scheme + "://" + u.Host + ExchangePath + EscapedName(o.Package)
}

// ClientUserAgent starts the User-Agent of the exchange: npm 11.5.1 is
// the first npm that exchanges an ID token itself.
const ClientUserAgent = "npm/11.5.1"

// EscapedName is npm-package-arg's escapedName: a scoped name's '/' as
// %2f, so the name is one path segment.
func EscapedName(name string) string {
	return strings.Replace(name, "/", "%2f", 1)
}

// validName follows validate-npm-package-name for new packages: lower
// case, URL-safe, an optional @scope/, at most 214 characters.
var validName = lazyre.New(`^(@[a-z0-9][a-z0-9._~-]*/)?[a-z0-9][a-z0-9._~-]*$`)

// Validate checks the options that do not need the network.
func (o Options) Validate() error {
	if strings.TrimSpace(o.Package) == "" {
		return option.Errorf("no package: pass %s, the name in package.json (e.g. @my-org/my-lib)", option.RefOrSet(OptPackage))
	}
	if len(o.Package) > 214 || !validName().MatchString(o.Package) {
		return option.Invalid(OptPackage, o.Package, "an npm package name is lower case, URL-safe, at most 214 characters, with an optional @scope/")
	}
	r := o.RegistryURL()
	if err := exchange.CheckEndpoint(OptRegistry, r, "the ID token", o.InsecureHTTP); err != nil {
		return err
	}
	if strings.ContainsAny(r, "?#") {
		return option.Errorf("%s %q: give the registry URL as npm's registry setting takes it, e.g. %s", option.Ref(OptRegistry), exchange.DisplayURL(r), DefaultRegistry)
	}
	return nil
}

// Credentials are what the registry issued.
type Credentials struct {
	Token    secret.Token
	Registry string // RegistryURL
	Package  string
	Attempts int
}

const maxBody = 1 << 20

// Exchange checks that the ID token is for the registry (before it leaves
// the job) and trades it for a publish token for the package.
func Exchange(ctx context.Context, tok *idtoken.Token, o Options) (*Credentials, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	aud := o.Audience()
	if !slices.Contains(tok.Claims.Audience, aud) {
		return nil, newError(&failure{audience: true}, o, tok, 0)
	}
	client := exchange.NoRedirects(o.HTTPClient, OptRegistry)
	var creds *Credentials
	retry := o.Retry(exchange.Retry{Name: "npm: token exchange", LogMsg: "npm exchange attempt failed, retrying"})
	n, f := exchange.DoAttempts(ctx, retry, func(ctx context.Context) (f *failure) {
		creds, f = attempt(ctx, client, o, tok)
		return f
	})
	if f != nil {
		return nil, newError(f, o, tok, n)
	}
	creds.Registry, creds.Package, creds.Attempts = o.RegistryURL(), o.Package, n
	return creds, nil
}

type failure struct {
	status    int
	message   string
	location  string
	badBody   string
	audience  bool
	transport error
}

func (f *failure) Error() string   { return exchange.Describe(f.transport, f.status, "") }
func (f *failure) Transient() bool { return exchange.Transient(f.transport, f.status) }

func attempt(ctx context.Context, client *http.Client, o Options, tok *idtoken.Token) (*Credentials, *failure) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, o.ExchangeURL(), nil)
	if err != nil {
		return nil, &failure{transport: err}
	}
	req.Header.Set("Authorization", "Bearer "+tok.Raw.Reveal())
	// The envelope npm's own exchange sends (lib/utils/oidc.js through
	// npm-registry-fetch; recorded in npmtest/testdata/README.md): the
	// registry has refused an exchange whose User-Agent is not npm's and
	// that names no npm-command (gjsify/gjsify#512, June 2026), so keyless
	// speaks as the first npm that exchanges, and names itself after it.
	o.UserAgent = strings.TrimSpace(ClientUserAgent + " " + o.UserAgent)
	req.Header.Set("npm-command", "publish")
	req.Header.Set("npm-auth-type", "web")
	resp, b, err := o.Send(client, req, maxBody)
	if err != nil {
		return nil, &failure{transport: err}
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		// Never quoted: the body holds the token.
		var r struct {
			Token *string `json:"token"`
		}
		if json.Unmarshal(b, &r) != nil {
			return nil, &failure{status: resp.StatusCode, badBody: "its body is not a JSON object"}
		}
		if r.Token == nil || *r.Token == "" {
			return nil, &failure{status: resp.StatusCode, badBody: "it has no token"}
		}
		return &Credentials{Token: secret.New(*r.Token)}, nil
	}
	f := &failure{status: resp.StatusCode, location: resp.Header.Get("Location")}
	var e struct {
		Message string `json:"message"`
		Error   string `json:"error"`
	}
	if json.Unmarshal(b, &e) == nil {
		f.message = cmp.Or(e.Message, e.Error)
	}
	return nil, f
}
