package exchange

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"

	"gitlab.com/keyless-ci/keyless/internal/option"
)

// ErrUserInfo is an endpoint URL with user info (user:password@), which
// would put a credential where logs, proxies and process listings see it.
var ErrUserInfo = errors.New("keyless never sends credentials in an endpoint URL; remove the user:password@ part")

// InsecureEndpointError is a plain http endpoint on a host other than
// loopback: the request would carry a token across the network in the
// clear.
type InsecureEndpointError struct {
	// Option is the endpoint's setting, e.g. aws.OptSTSEndpoint.
	Option option.Name
	// URL is the endpoint's DisplayURL: no user info, query or fragment.
	URL string
	// Carries names what the request sends, e.g. "the ID token".
	Carries string
}

func (e *InsecureEndpointError) Error() string { return option.Plain(e.Text()) }

// Text is the message with the option as a reference (package option).
func (e *InsecureEndpointError) Text() string {
	return fmt.Sprintf("%s %q is plain http: the request carries %s, so keyless sends it only over https (RFC 6749 §3.2); "+
		"use an https URL, or, for a local test server, http to a loopback address (localhost, 127.0.0.0/8, [::1]); "+
		"for a test service on the runner's own network, list its host in KEYLESS_INSECURE_HTTP_HOSTS",
		option.Ref(e.Option), e.URL, e.Carries)
}

// CheckEndpoint is the one rule for a URL keyless sends a token to: an
// absolute http(s) URL with a host, no user info, and https unless the host
// is loopback. opt is the setting that gave the URL, for messages;
// carries says what the request sends ("the ID token"). Plain http
// is refused with an *InsecureEndpointError. Messages never quote the
// URL's user info, query or fragment.
//
// RFC 6749 §3.2 requires TLS at a token endpoint; the same holds for every
// endpoint here, as each request carries a bearer token.
//
// allow lists hosts the user accepts plain http to anyway
// (KEYLESS_INSECURE_HTTP_HOSTS): a test service on the runner's own network,
// such as a job's MinIO service reached by its alias.
func CheckEndpoint(opt option.Name, raw, carries string, allow InsecureHosts) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Hostname() == "":
		return option.Errorf("%s %q is not an http(s) URL: give an absolute URL such as https://HOST[:PORT][/PATH]", option.Ref(opt), DisplayURL(raw))
	case u.User != nil:
		return option.Errorf("%s %q carries user info: %w", option.Ref(opt), DisplayURL(raw), ErrUserInfo)
	case u.Scheme == "http" && !Loopback(u.Hostname()) && !allow.Allows(raw):
		return &InsecureEndpointError{Option: opt, URL: DisplayURL(raw), Carries: carries}
	}
	return nil
}

// InsecureHosts are the hosts, as a URL writes them (host or host:port),
// to which the user accepts plain http despite the risk.
type InsecureHosts []string

// Allows reports whether raw is a plain http URL whose host, with or
// without its port, is listed.
func (h InsecureHosts) Allows(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		return false
	}
	for _, x := range h {
		if strings.EqualFold(x, u.Host) || strings.EqualFold(x, u.Hostname()) {
			return true
		}
	}
	return false
}

// Loopback reports whether host, a URL's Hostname (no port, no brackets),
// is this machine: localhost, 127.0.0.0/8 or ::1, and 0.0.0.0 or ::, which
// a client reaches on its own host (`vault server -dev` listens there, and
// examples write VAULT_ADDR=http://0.0.0.0:8200). Other names may resolve
// anywhere, so they are not loopback. keyless lint uses the same test.
func Loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && (ip.IsLoopback() || ip.IsUnspecified())
}

// DisplayURL is raw without user info, query or fragment: what messages and
// logs may show of an endpoint, whose query can hold a key and whose user
// info a password. Text that does not parse keeps only what precedes any
// '?' or '#', without anything up to an '@'.
func DisplayURL(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		d := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}
		if !strings.Contains(u.Opaque, "@") {
			d.Opaque = u.Opaque // "host:443" parses as scheme and opaque
		}
		return d.String()
	}
	s, _, _ := strings.Cut(raw, "?")
	s, _, _ = strings.Cut(s, "#")
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		rest = s
	}
	if i := strings.LastIndex(rest, "@"); i >= 0 {
		rest = rest[i+1:]
	}
	if ok {
		return scheme + "://" + rest
	}
	return rest
}
