package exchange_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	"gitlab.com/keyless-ci/keyless/internal/exchange"
	"gitlab.com/keyless-ci/keyless/internal/exchange/exchangetest"
	"gitlab.com/keyless-ci/keyless/internal/option"
)

// post sends one request the way the providers do and returns the error
// of the call, or of reading the answer.
func post(t *testing.T, c *http.Client, url string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader("subject_token=x"))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, err = io.ReadAll(resp.Body)
	return err
}

func ok(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "{}") }

// timeoutError is a net.Error that timed out, as a dialer's is.
type timeoutError struct{}

func (timeoutError) Error() string   { return "i/o timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

func TestClassifyNet(t *testing.T) {
	fake := httptest.NewServer(http.HandlerFunc(ok))
	t.Cleanup(fake.Close)
	tlsFake := httptest.NewUnstartedServer(http.HandlerFunc(ok))
	tlsFake.Config.ErrorLog = log.New(io.Discard, "", 0) // the handshake the client refuses
	tlsFake.StartTLS()
	t.Cleanup(tlsFake.Close)

	// A server that announces 100 bytes and sends three.
	short := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, buf, _ := w.(http.Hijacker).Hijack()
		buf.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc")
		buf.Flush()
		c.Close()
	}))
	t.Cleanup(short.Close)

	// A listener that accepts and never speaks TLS.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { silent.Close() })
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()
	impatient := &http.Client{Transport: &http.Transport{TLSHandshakeTimeout: 50 * time.Millisecond}}
	// Closed last: a server started after it could be given its port and
	// answer the dial that must be refused (it did: "closed mid-answer").
	closed := httptest.NewServer(http.HandlerFunc(ok))
	closed.Close()

	for _, tc := range []struct {
		name   string
		err    func(t *testing.T) error
		kind   exchange.NetKind
		reason string
	}{
		{"connection refused", func(t *testing.T) error { return post(t, http.DefaultClient, closed.URL) }, exchange.NetTransient, "connection refused"},
		{"connection reset", func(t *testing.T) error {
			return post(t, &http.Client{Transport: &http.Transport{}}, exchangetest.NewProxy(t, fake.URL, exchangetest.Reset).URL)
		}, exchange.NetTransient, "connection reset"},
		{"closed before an answer", func(t *testing.T) error {
			return post(t, &http.Client{Transport: &http.Transport{}}, exchangetest.NewProxy(t, fake.URL, exchangetest.Drop).URL)
		}, exchange.NetTransient, "connection closed before an answer"},
		{"closed by the client while sending", func(*testing.T) error {
			// The shape net/http's mapRoundTripError returns when its read
			// side closed the connection on a reset during the write.
			return &url.Error{Op: "Post", URL: "http://sts.example", Err: fmt.Errorf("net/http: HTTP/1.x transport connection broken: %w",
				&net.OpError{Op: "write", Net: "tcp", Err: net.ErrClosed})}
		}, exchange.NetTransient, "connection closed while sending"},
		{"closed mid-answer", func(t *testing.T) error { return post(t, http.DefaultClient, short.URL) }, exchange.NetTransient, "connection closed mid-answer"},
		{"TLS handshake timeout", func(t *testing.T) error { return post(t, impatient, "https://"+silent.Addr().String()) }, exchange.NetTransient, "TLS handshake timeout"},
		{"dial timeout", func(*testing.T) error {
			return &net.OpError{Op: "dial", Net: "tcp", Err: timeoutError{}}
		}, exchange.NetTransient, "timeout"},
		{"DNS temporary", func(*testing.T) error {
			return fmt.Errorf("post: %w", &net.OpError{Op: "dial", Err: &net.DNSError{Err: "server misbehaving", Name: "sts.example", IsTemporary: true}})
		}, exchange.NetTransient, "DNS lookup failed temporarily"},
		{"DNS timeout", func(*testing.T) error { return &net.DNSError{Err: "i/o timeout", Name: "sts.example", IsTimeout: true} }, exchange.NetTransient, "DNS lookup timed out"},
		{"no such host", func(*testing.T) error {
			return &net.OpError{Op: "dial", Err: &net.DNSError{Err: "no such host", Name: "sts.example", IsNotFound: true}}
		}, exchange.NetPermanent, "no such host"},
		{"untrusted certificate", func(t *testing.T) error { return post(t, http.DefaultClient, tlsFake.URL) }, exchange.NetCertificate, "certificate not trusted"},
		{"plain http server for https", func(t *testing.T) error {
			return post(t, http.DefaultClient, strings.Replace(fake.URL, "http:", "https:", 1))
		}, exchange.NetPermanent, "transport error"},
		{"refused redirect", func(t *testing.T) error {
			to, _ := exchangetest.Redirector(t, 307, fake.URL, false)
			return post(t, exchange.NoRedirects(nil, "endpoint"), to)
		}, exchange.NetRedirect, "redirect refused"},
		{"deadline", func(*testing.T) error { return fmt.Errorf("post: %w", context.DeadlineExceeded) }, exchange.NetNone, ""},
		{"an answer", func(*testing.T) error { return errors.New("HTTP 503") }, exchange.NetNone, ""},
		{"nil", func(*testing.T) error { return nil }, exchange.NetNone, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.err(t)
			got := exchange.ClassifyNet(err)
			if got.Kind != tc.kind || got.Reason != tc.reason {
				t.Errorf("ClassifyNet(%v) = %+v, want kind %d, %q", err, got, tc.kind, tc.reason)
			}
		})
	}
}

func TestNetAdviceClaimsOnlyTheRetriesMade(t *testing.T) {
	refused := exchange.NetFailure{Kind: exchange.NetTransient, Reason: "connection refused"}
	for _, tc := range []struct {
		f        exchange.NetFailure
		attempts int
		says     string
	}{
		{refused, 7, "could not connect to https://sts.example (connection refused) in 7 attempts before the deadline (--timeout)"},
		{refused, 1, "and the deadline (--timeout) left no time to retry"},
		{exchange.NetFailure{Kind: exchange.NetPermanent, Reason: "no such host"}, 1, "(no such host), which retrying cannot mend"},
	} {
		got := option.Plain(tc.f.Advice("https://sts.example", "--sts-endpoint", tc.attempts))
		if !strings.Contains(got, tc.says) || !strings.Contains(got, "--sts-endpoint") || strings.Contains(got, "ran out") {
			t.Errorf("%+v after %d attempts:\n%s\nwant %q", tc.f, tc.attempts, got, tc.says)
		}
	}
}

// The advice every provider without words of its own gives: a deadline
// that passed, a call without an answer, a failure that lasted.
func TestSharedAdvice(t *testing.T) {
	if got, want := option.Plain(exchange.TimeoutAdvice("https://pypi.org")),
		"https://pypi.org did not answer before the deadline (--timeout). Check the network path from the runner\n"+
			"(HTTPS_PROXY, NO_PROXY), or raise --timeout.\n"; got != want {
		t.Errorf("TimeoutAdvice:\n%s\nwant:\n%s", got, want)
	}
	refused := &url.Error{Op: "Post", URL: "https://pypi.org", Err: syscall.ECONNREFUSED}
	f := exchange.NewFailure(refused, 3)
	if got, want := f.LastAdvice(0, "https://pypi.org", "--index-url"), f.Net.Advice("https://pypi.org", "--index-url", 3); got != want {
		t.Errorf("LastAdvice without an answer:\n%s\nwant Net.Advice's:\n%s", got, want)
	}
	f = exchange.NewFailure(nil, 3)
	if got, want := option.Plain(f.LastAdvice(503, "https://pypi.org", "--index-url")),
		"https://pypi.org failed 3 times before the deadline (--timeout); try again, or raise --timeout.\n"; got != want {
		t.Errorf("LastAdvice after answers:\n%s\nwant:\n%s", got, want)
	}
	if got, want := option.Plain(exchange.ThrottledAdvice("PyPI", 3)),
		"PyPI throttled the request 3 times before the deadline (--timeout). Raise --timeout, or retry the job later.\n"; got != want {
		t.Errorf("ThrottledAdvice:\n%s\nwant:\n%s", got, want)
	}
	if got, want := option.Plain(exchange.TLSAdvice("index", "ca-file")),
		"The index's TLS certificate (or a TLS-inspecting proxy's) is not trusted. Pass the CA bundle with --ca-file; keyless never turns certificate checks off.\n"; got != want {
		t.Errorf("TLSAdvice:\n%s\nwant:\n%s", got, want)
	}
	f = exchange.NewFailure(nil, 1)
	if got, want := redirectAdvice(f, 302, "https://mirror.example/legacy/"),
		"The index redirected the request to https://mirror.example/legacy/. keyless does not follow redirects, which would carry\n"+
			"the ID token elsewhere: pass the final URL as --index-url.\n"; got != want {
		t.Errorf("RedirectAdvice of a 302:\n%s\nwant:\n%s", got, want)
	}
	if got, ok := f.RedirectAdvice(404, "", "index", "--index-url"); ok {
		t.Errorf("RedirectAdvice of a 404 = %q, want none", got)
	}
	f.Redirect = &exchange.RedirectError{Endpoint: "https://pypi.org", Status: 307, Target: "http://other"}
	if got := redirectAdvice(f, 0, ""); got != f.Redirect.Advice() {
		t.Errorf("RedirectAdvice of a refused redirect = %q, want RedirectError.Advice's", got)
	}
}

func redirectAdvice(f exchange.Failure, status int, location string) string {
	a, _ := f.RedirectAdvice(status, location, "index", "--index-url")
	return a
}
