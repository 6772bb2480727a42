package exchange_test

import (
	"errors"
	"strings"
	"testing"

	"gitlab.com/keyless-ci/keyless/internal/exchange"
)

func TestCheckEndpoint(t *testing.T) {
	const (
		ok       = ""
		notURL   = "is not an http(s) URL"
		userInfo = "carries user info"
		insecure = "is plain http"
	)
	for _, tc := range []struct {
		raw  string
		want string // substring of the error; "" means accepted
	}{
		{"https://sts.example.com", ok},
		{"https://sts.example.com:8443/v1/token?x=1", ok},
		{"HTTPS://STS.EXAMPLE.COM/", ok},
		{"http://localhost:8080/token", ok},
		{"http://LOCALHOST/", ok},
		{"http://127.0.0.1:9000", ok},
		{"http://127.0.0.2/", ok},
		{"http://127.255.255.254:1/", ok},
		{"http://[::1]:8080/token", ok},
		{"http://[::ffff:127.0.0.1]/", ok},

		{"http://sts.example.invalid", insecure},
		{"http://sts.example.com:80/v1/token", insecure},
		{"http://minio:9000", insecure},
		{"http://10.0.0.1/", insecure},
		{"http://128.0.0.1/", insecure},
		{"http://[::2]/", insecure},
		{"http://0.0.0.0:8080/", ""}, // the unspecified address is this host
		{"http://localhost.example.com/", insecure},
		{"http://localhost./", insecure},
		{"http://foo.localhost/", insecure},
		{"http://127.1/", insecure}, // not an IP to net.ParseIP: a name, looked up in DNS

		{"https://id:pw@sts.example.com/token", userInfo},
		{"http://id@127.0.0.1/token", userInfo},

		{"", notURL},
		{"sts.example.com", notURL},
		{"/v1/token", notURL},
		{"//sts.example.com/v1/token", notURL},
		{"sts.example.com:443", notURL},
		{"ftp://sts.example.com/", notURL},
		{"http:sts.example.com", notURL},
		{"http://:8080/", notURL},
		{"https://", notURL},
		{"https://sts.example.com/%zz", notURL},
		{"not a url at all", notURL},
	} {
		err := exchange.CheckEndpoint("sts-endpoint", tc.raw, "the ID token", nil)
		switch {
		case tc.want == ok && err != nil:
			t.Errorf("%q: %v", tc.raw, err)
		case tc.want == ok:
		case err == nil || !strings.Contains(err.Error(), tc.want):
			t.Errorf("%q: err = %v, want %q", tc.raw, err, tc.want)
		case !strings.HasPrefix(err.Error(), "--sts-endpoint "):
			t.Errorf("%q: the error does not start with the option: %v", tc.raw, err)
		}
		var ie *exchange.InsecureEndpointError
		if got := errors.As(err, &ie); got != (tc.want == insecure) {
			t.Errorf("%q: errors.As(*InsecureEndpointError) = %v", tc.raw, got)
		}
		if got := errors.Is(err, exchange.ErrUserInfo); got != (tc.want == userInfo) {
			t.Errorf("%q: errors.Is(ErrUserInfo) = %v", tc.raw, got)
		}
	}
}

func TestInsecureEndpointErrorNamesTheRiskAndTheFix(t *testing.T) {
	err := exchange.CheckEndpoint("sts-endpoint", "http://sts.example.invalid/v1/token?key=s3cr3t-query-value#frag", "the ID token", nil)
	var ie *exchange.InsecureEndpointError
	if !errors.As(err, &ie) {
		t.Fatalf("err = %v, want an *InsecureEndpointError", err)
	}
	if ie.Option != "sts-endpoint" || ie.URL != "http://sts.example.invalid/v1/token" || ie.Carries != "the ID token" {
		t.Errorf("%+v", ie)
	}
	want := `--sts-endpoint "http://sts.example.invalid/v1/token" is plain http: the request carries the ID token, ` +
		`so keyless sends it only over https (RFC 6749 §3.2); use an https URL, or, for a local test server, ` +
		`http to a loopback address (localhost, 127.0.0.0/8, [::1]); for a test service on the runner's own network, ` +
		`list its host in KEYLESS_INSECURE_HTTP_HOSTS`
	if err.Error() != want {
		t.Errorf("message:\n got %s\nwant %s", err, want)
	}
}

// No message quotes a query value, a fragment or a password, whatever is
// wrong with the URL: they can hold keys.
func TestCheckEndpointNeverQuotesSecrets(t *testing.T) {
	const q, pw = "s3cr3t-query-value", "s3cr3t-password"
	for _, raw := range []string{
		"http://sts.example.invalid/token?key=" + q,
		"http://sts.example.invalid/token?key=" + q + "#" + q,
		"http://sts.example.invalid/token#" + q,
		"https://user:" + pw + "@sts.example.com/token?key=" + q,
		"http://user:" + pw + "@sts.example.invalid/token",
		"ftp://user:" + pw + "@sts.example.com/?key=" + q,
		"https://sts.example.com/%zz?key=" + q,
		"https://user:" + pw + "@sts.example.com/%zz?key=" + q,
		"sts.example.com/token?key=" + q,
		"user:" + pw + "@sts.example.com",
		"not a url?key=" + q,
	} {
		err := exchange.CheckEndpoint("token-url", raw, "the ID token", nil)
		if err == nil {
			t.Errorf("%q: accepted", raw)
			continue
		}
		if msg := err.Error(); strings.Contains(msg, q) || strings.Contains(msg, pw) {
			t.Errorf("%q: the message quotes a secret: %s", raw, msg)
		}
	}
}

func TestLoopback(t *testing.T) {
	for host, want := range map[string]bool{
		"localhost": true, "LocalHost": true, "127.0.0.1": true, "127.0.0.2": true, "127.8.9.10": true, "::1": true,
		"": false, "[::1]": false, "localhost.": false, "a.localhost": false, "example.com": false,
		"10.0.0.1": false, "0.0.0.0": true, "::": true, "169.254.169.254": false, "127.1": false,
	} {
		if got := exchange.Loopback(host); got != want {
			t.Errorf("Loopback(%q) = %v, want %v", host, got, want)
		}
	}
}

func TestDisplayURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://sts.example.com/v1/token":            "https://sts.example.com/v1/token",
		"https://u:p@sts.example.com/t?key=v#f":       "https://sts.example.com/t",
		"http://[::1]:8080/token?x=1":                 "http://[::1]:8080/token",
		"sts.example.com/token?x=1":                   "sts.example.com/token",
		"https://u:p@sts.example.com/%zz?key=v":       "https://sts.example.com/%zz",
		"https://sts.example.com/a%zz#frag?not-query": "https://sts.example.com/a%zz",
		"user:pw@sts.example.com":                     "user:",
		"sts.example.com:443?x":                       "sts.example.com:443",
		"":                                            "",
	} {
		if got := exchange.DisplayURL(in); got != want {
			t.Errorf("DisplayURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestInsecureHostsAllows(t *testing.T) {
	h := exchange.InsecureHosts{"minio:9000", "Vault"}
	for raw, want := range map[string]bool{
		"http://minio:9000/":      true,
		"http://minio:9001/":      false, // another port of a host listed with one
		"http://minio/":           false,
		"http://vault:8200":       true,  // a host listed without a port, any port
		"https://vault:8200":      false, // https needs no exception
		"http://vault.evil:8200":  false,
		"http://user@minio:9000/": true,
		"minio:9000":              false,
	} {
		if got := h.Allows(raw); got != want {
			t.Errorf("Allows(%q) = %v, want %v", raw, got, want)
		}
	}
	if err := exchange.CheckEndpoint("sts-endpoint", "http://minio:9000", "the ID token", h); err != nil {
		t.Errorf("a listed host: %v", err)
	}
	if err := exchange.CheckEndpoint("sts-endpoint", "http://user:pw@minio:9000", "the ID token", h); err == nil {
		t.Error("user info in a listed host's URL was accepted")
	}
}
