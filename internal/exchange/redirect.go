package exchange

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"gitlab.com/keyless-ci/keyless/internal/option"
)

// RedirectError is a redirect that an exchange refused to follow (issue 13).
// A 307 or 308 re-sends the request, body and all, to its Location (RFC 9110
// §15.4.8, §15.4.9), so following one would hand the ID token (or the token
// bought with it) to whichever server the Location names, possibly over
// plain http. It names the endpoint and the target's scheme and host only:
// never a path, query or user info.
type RedirectError struct {
	// Option is the endpoint's setting, e.g. aws.OptSTSEndpoint.
	Option option.Name
	// Endpoint is the DisplayURL of the request that was redirected.
	Endpoint string
	// Status is the redirect's HTTP status.
	Status int
	// Target is the Location's scheme and host, e.g. "http://other:8080".
	Target string
	// SameOrigin is set under SameOriginRedirects: redirects within the
	// endpoint's scheme and host are followed, this one left them.
	SameOrigin bool
}

func (e *RedirectError) Error() string {
	return fmt.Sprintf("%s answered HTTP %d, a redirect to %s", e.Endpoint, e.Status, e.Target)
}

// Advice says why keyless did not follow the redirect and what to do. It
// names the option with a reference (package option).
func (e *RedirectError) Advice() string {
	var b strings.Builder
	if e.SameOrigin {
		fmt.Fprintf(&b, "keyless follows redirects only within %s: a redirect re-sends the request, and the token in\n"+
			"it, to its target, and %s is another host or scheme. Point %s at the server that answers.\n",
			origin(e.Endpoint), e.Target, option.Ref(e.Option))
	} else {
		fmt.Fprintf(&b, "keyless follows no redirect from an endpoint it sends a token to: a 307 or 308 re-sends the request,\n"+
			"token included, to the target. If %s is the right endpoint, pass its URL with %s; if not,\n"+
			"find what redirects between the runner and the endpoint (a proxy, a captive portal).\n", e.Target, option.Ref(e.Option))
	}
	if strings.HasPrefix(e.Endpoint, "https://") && strings.HasPrefix(e.Target, "http://") {
		b.WriteString("The redirect also drops https, which would carry the token across the network unencrypted.\n")
	}
	return b.String()
}

// origin is the scheme and host of a URL written scheme://host/path.
func origin(u string) string {
	scheme, rest, ok := strings.Cut(u, "://")
	if !ok {
		return u
	}
	host, _, _ := strings.Cut(rest, "/")
	return scheme + "://" + host
}

// NoRedirects returns a copy of c (http.DefaultClient when nil) that
// follows no redirect and fails with a *RedirectError instead: the one
// redirect policy of the exchanges that POST a token (aws, gcp, azure,
// sts). It refuses in the transport, before net/http decides whether it
// could follow: a 307 whose request body cannot be replayed (the AWS SDK's)
// is otherwise handed back as an answer. opt is the endpoint's setting,
// for the error's advice.
func NoRedirects(c *http.Client, opt option.Name) *http.Client {
	cc := withRedirectPolicy(c, opt, false)
	cc.Transport = refuseRedirects{next: cc.Transport, option: opt}
	return cc
}

// SameOriginRedirects returns a copy of c (http.DefaultClient when nil)
// that follows redirects within the first request's scheme and host, up to
// ten, and fails with a *RedirectError on any other: Vault's policy, whose
// nodes may redirect (a 307) to the same address, but never to another host
// or from https to http. Its transport stays c's, which vault/api
// configures.
func SameOriginRedirects(c *http.Client, opt option.Name) *http.Client {
	return withRedirectPolicy(c, opt, true)
}

// maxRedirects is net/http's own limit.
const maxRedirects = 10

func withRedirectPolicy(c *http.Client, opt option.Name, sameOrigin bool) *http.Client {
	if c == nil {
		c = http.DefaultClient
	}
	cc := *c
	cc.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		first := via[0].URL
		if sameOrigin && strings.EqualFold(req.URL.Scheme, first.Scheme) && strings.EqualFold(req.URL.Host, first.Host) {
			if len(via) >= maxRedirects {
				return errors.New("stopped after 10 redirects")
			}
			return nil
		}
		status := 0
		if req.Response != nil {
			status = req.Response.StatusCode
		}
		return refusal(opt, first, req.URL, status, sameOrigin)
	}
	return &cc
}

func refusal(opt option.Name, from, to *url.URL, status int, sameOrigin bool) *RedirectError {
	return &RedirectError{
		Option:     opt,
		Endpoint:   DisplayURL(from.String()),
		Status:     status,
		Target:     to.Scheme + "://" + to.Host,
		SameOrigin: sameOrigin,
	}
}

// refuseRedirects turns every redirect with a Location into a
// *RedirectError.
type refuseRedirects struct {
	next   http.RoundTripper
	option option.Name
}

func (r refuseRedirects) RoundTrip(req *http.Request) (*http.Response, error) {
	next := r.next
	if next == nil {
		next = http.DefaultTransport
	}
	resp, err := next.RoundTrip(req)
	if err != nil || resp.StatusCode < 300 || resp.StatusCode > 399 {
		return resp, err
	}
	to, err := resp.Location()
	if err != nil {
		return resp, nil // no Location (a 304, a 300): nothing to follow
	}
	resp.Body.Close()
	return nil, refusal(r.option, req.URL, to, resp.StatusCode, false)
}
