// Package exchangetest has the network doubles every provider's tests
// share: a server that redirects, a server no request may reach, and a TCP
// proxy that refuses, resets or drops connections before it forwards them
// to a provider's fake. The failures are the kernel's and net/http's own,
// not errors made up to look like them.
package exchangetest

import (
	"bufio"
	"context"
	"encoding/pem"
	"errors"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"gitlab.com/keyless-ci/keyless/internal/exchange"
	"gitlab.com/keyless-ci/keyless/internal/idtoken"
	"gitlab.com/keyless-ci/keyless/internal/secret"
)

// Serve starts fake on loopback for the length of the test and returns
// its URL.
func Serve(t testing.TB, fake http.Handler) string {
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	return srv.URL
}

// ServeTLS starts fake behind TLS with a self-signed certificate for the
// length of the test, and returns its URL and that certificate in PEM, for
// --ca-file tests.
func ServeTLS(t testing.TB, fake http.Handler) (string, []byte) {
	srv := httptest.NewTLSServer(fake)
	t.Cleanup(srv.Close)
	return srv.URL, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
}

// LeakyQuery is put in every Location the redirector sends: a message that
// shows it quotes the Location's query, which can hold a signature.
const LeakyQuery = "X-Signature=do-not-print-me"

// Redirector starts a server that answers every request with status and a
// Location of to, the request's path and LeakyQuery, as a Vault standby
// (307 to the active node's api_addr) or a misconfigured proxy would
// (RFC 9110 §15.4); with tls it serves https and returns a client that
// trusts it. The client is nil without tls.
func Redirector(t testing.TB, status int, to string, tls bool) (string, *http.Client) {
	t.Helper()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", strings.TrimSuffix(to, "/")+r.URL.Path+"?"+LeakyQuery)
		w.WriteHeader(status)
	})
	if !tls {
		return Serve(t, h), nil
	}
	srv := httptest.NewTLSServer(h)
	t.Cleanup(srv.Close)
	return srv.URL, srv.Client()
}

// Trap is a server that no request may reach, the target of a redirect
// that must not be followed. A request that arrives fails the test, and
// says whether it carried the secret.
type Trap struct {
	URL string

	mu   sync.Mutex
	hits int
}

// NewTrap starts a trap for the length of the test; secret is the value
// (the ID token) it looks for in what arrives.
func NewTrap(t testing.TB, secret string) *Trap {
	t.Helper()
	tr := &Trap{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		tr.mu.Lock()
		tr.hits++
		tr.mu.Unlock()
		carried := secret != "" && (strings.Contains(string(b), secret) || strings.Contains(r.Header.Get("Authorization"), secret) ||
			strings.Contains(r.URL.RawQuery, secret))
		t.Errorf("a redirect was followed: %s %s reached another server (token carried: %t)", r.Method, r.URL.Path, carried)
		http.Error(w, "trap", http.StatusTeapot)
	}))
	t.Cleanup(srv.Close)
	tr.URL = srv.URL
	return tr
}

// Hits is the number of requests that reached the trap.
func (tr *Trap) Hits() int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.hits
}

// ConnFault is what a Proxy does with one connection.
type ConnFault int

const (
	// Forward passes the connection on to the target.
	Forward ConnFault = iota
	// Drop reads the request and closes the connection without an answer:
	// the client reads EOF.
	Drop
	// Reset accepts the connection and resets it (SO_LINGER 0): the
	// client sees "connection reset by peer".
	Reset
)

// Proxy is a TCP proxy on loopback in front of a fake. Each new
// connection takes the next fault; once they are spent, it forwards. Down
// and Up stop and resume listening on the same address, so that a client
// meanwhile gets "connection refused".
type Proxy struct {
	// URL is http://ADDR of the proxy.
	URL string

	t      testing.TB
	addr   string
	target string
	mu     sync.Mutex
	faults []ConnFault
	ln     net.Listener
	conns  int
}

// NewProxy starts a proxy to the host of target (a URL) for the length of
// the test.
func NewProxy(t testing.TB, target string, faults ...ConnFault) *Proxy {
	t.Helper()
	host := strings.TrimPrefix(strings.TrimPrefix(target, "http://"), "https://")
	host, _, _ = strings.Cut(host, "/")
	p := &Proxy{t: t, target: host, faults: faults}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = ln.Addr().String()
	p.URL = "http://" + p.addr
	p.serve(ln)
	t.Cleanup(p.Down)
	return p
}

// Down closes the listener: connections are refused until Up.
func (p *Proxy) Down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
}

// Up listens again on the same address.
func (p *Proxy) Up() {
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		p.t.Errorf("proxy: listen again on %s: %v", p.addr, err)
		return
	}
	p.serve(ln)
}

// Connections is the number of connections accepted so far.
func (p *Proxy) Connections() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.conns
}

func (p *Proxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			p.conns++
			f := Forward
			if len(p.faults) > 0 {
				f, p.faults = p.faults[0], p.faults[1:]
			}
			p.mu.Unlock()
			go p.handle(c.(*net.TCPConn), f)
		}
	}()
}

func (p *Proxy) handle(c *net.TCPConn, f ConnFault) {
	switch f {
	case Reset:
		c.SetLinger(0)
		c.Close()
	case Drop:
		// Read the whole request first: closing with unread data would
		// reset the connection instead.
		if req, err := http.ReadRequest(bufio.NewReader(c)); err == nil {
			io.Copy(io.Discard, req.Body)
		}
		c.Close()
	default:
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			return
		}
		go func() {
			io.Copy(up, c)
			up.(*net.TCPConn).CloseWrite()
		}()
		io.Copy(c, up)
		c.Close()
		up.Close()
	}
}

// RedirectCase is one redirect an exchange must refuse.
type RedirectCase struct {
	Name   string
	Status int
	TLS    bool // served over https, redirecting to plain http
}

// RedirectCases are the redirects every exchange refuses: to another
// server, with each status that re-sends the request body, and from https
// to plain http.
var RedirectCases = []RedirectCase{
	{"307 to another server", http.StatusTemporaryRedirect, false},
	{"308 to another server", http.StatusPermanentRedirect, false},
	{"https to http", http.StatusTemporaryRedirect, true},
}

// RedirectRun runs one exchange against from, a Redirector's URL,
// through client (nil for the default), telling retries on progress.
type RedirectRun func(ctx context.Context, from string, client *http.Client, progress io.Writer) error

// CheckRedirectRefused puts a Redirector for c in front of a Trap that
// holds secret, runs the exchange with a 10 s deadline and checks its
// refusal with CheckRefused: kind, and wants(from, to), the texts its
// message holds for the redirect's source and target. It returns the
// error for the checks a provider adds.
func CheckRedirectRefused(t *testing.T, c RedirectCase, secret string, kind error, run RedirectRun, wants func(from, to string) []string) error {
	t.Helper()
	trap := NewTrap(t, secret)
	from, client := Redirector(t, c.Status, trap.URL, c.TLS)
	var progress strings.Builder
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := run(ctx, from, client, &progress)
	CheckRefused(t, c, err, kind, trap, secret, progress.String(), wants(from, trap.URL)...)
	return err
}

// CheckRefused asserts what every refused redirect shows: err is one
// (errors.Is kind, and a *exchange.RedirectError), nothing reached trap,
// the message holds wants, names the https downgrade exactly when c.TLS,
// and quotes neither the Location's query nor secret; progress (the retry
// lines) is empty, since a refusal is not retried.
func CheckRefused(t testing.TB, c RedirectCase, err, kind error, trap *Trap, secret, progress string, wants ...string) {
	t.Helper()
	var re *exchange.RedirectError
	if !errors.Is(err, kind) || !errors.As(err, &re) {
		t.Fatalf("err = %v, want a refused redirect", err)
	}
	if trap.Hits() != 0 {
		t.Fatal("a token went to the redirect's target")
	}
	msg := err.Error()
	for _, want := range wants {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q:\n%s", want, msg)
		}
	}
	if c.TLS != strings.Contains(msg, "drops https") {
		t.Errorf("downgrade named: %t:\n%s", !c.TLS, msg)
	}
	if strings.Contains(msg, LeakyQuery) || strings.Contains(msg, secret) || progress != "" {
		t.Errorf("quoted the query or the token, or retried:\n%s\n%s", msg, progress)
	}
}

// Audiences is a decoded JWT's aud claim as a list: a string or an array
// of strings (RFC 7519 §4.1.3).
func Audiences(aud any) []string {
	switch a := aud.(type) {
	case string:
		return []string{a}
	case []any:
		var out []string
		for _, x := range a {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// TrustIssuer returns a fake's Verify function: it accepts only tokens
// signed by issuer's published keys for audience, as a server that trusts
// the issuer does.
func TrustIssuer(issuer, audience string) func(string) error {
	return func(raw string) error {
		tok, err := idtoken.Decode(secret.New(raw))
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return idtoken.Verifier{Issuer: issuer, Audience: audience, Client: http.DefaultClient}.Verify(ctx, tok)
	}
}

// Sample returns testdata/name.json of a fake's embedded samples (the
// vendor's bodies, each with its source), trimmed; it panics on a name
// that is not there.
func Sample(samples fs.FS, name string) string {
	b, err := fs.ReadFile(samples, "testdata/"+name+".json")
	if err != nil {
		panic(err)
	}
	return strings.TrimSpace(string(b))
}
