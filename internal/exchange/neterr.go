package exchange

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"syscall"

	"gitlab.com/keyless-ci/keyless/internal/option"
)

// NetKind sorts an error from an HTTP call by what a retry can do about it.
type NetKind int

const (
	// NetNone is no transport failure: nil, the end of the context, or an
	// error that is not the transport's (an answer, which the provider
	// judges).
	NetNone NetKind = iota
	// NetTransient is a connection failure that can heal: refused or reset
	// connections, temporary DNS failures, timeouts, a TLS handshake
	// timeout, a connection closed before or during the answer.
	NetTransient
	// NetCertificate is a certificate the client does not trust: retrying
	// cannot help, a CA bundle (--ca-file) can.
	NetCertificate
	// NetRedirect is a redirect the redirect policy refused (RedirectError).
	NetRedirect
	// NetPermanent is any other transport failure, which retrying cannot
	// mend: a host name that does not resolve, a TLS handshake the server
	// refused, a URL the transport cannot use.
	NetPermanent
)

// NetFailure is ClassifyNet's answer.
type NetFailure struct {
	Kind NetKind
	// Reason names the failure in a few words for log lines and
	// explanations, e.g. "connection refused"; it never quotes the URL.
	Reason string
}

// ClassifyNet is the one classifier of transport errors, which every
// provider's retry decision and explanations use (issue 13): it looks
// through the wrapping of net/http (url.Error), smithy (RequestSendError)
// and vault/api for the cause. An error with none of the transport's types
// in it is NetNone, so the provider judges it as an answer.
func ClassifyNet(err error) NetFailure {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return NetFailure{}
	}
	// An error that carries an answer's status is the answer's, whatever it
	// wraps: smithy's ResponseError of a 307 with an empty body wraps the
	// io.EOF its decoder met. A failed send has status 0.
	var answer interface{ HTTPStatusCode() int }
	if errors.As(err, &answer) && answer.HTTPStatusCode() != 0 {
		return NetFailure{}
	}
	var re *RedirectError
	if errors.As(err, &re) {
		return NetFailure{NetRedirect, "redirect refused"}
	}
	if untrustedCertificate(err) {
		return NetFailure{NetCertificate, "certificate not trusted"}
	}
	var dns *net.DNSError
	if errors.As(err, &dns) {
		switch {
		case dns.IsTimeout:
			return NetFailure{NetTransient, "DNS lookup timed out"}
		case dns.IsTemporary:
			return NetFailure{NetTransient, "DNS lookup failed temporarily"}
		case dns.IsNotFound:
			return NetFailure{NetPermanent, "no such host"}
		}
		return NetFailure{NetPermanent, "DNS lookup failed"}
	}
	for _, c := range []struct {
		err    error
		reason string
	}{
		{syscall.ECONNREFUSED, "connection refused"},
		{syscall.ECONNRESET, "connection reset"},
		{syscall.ECONNABORTED, "connection aborted"},
		{syscall.EPIPE, "connection closed while sending"},
		{syscall.ETIMEDOUT, "connection timed out"},
		{syscall.EHOSTUNREACH, "host unreachable"},
		{syscall.ENETUNREACH, "network unreachable"},
		{syscall.ENETDOWN, "network down"},
		{io.ErrUnexpectedEOF, "connection closed mid-answer"},
	} {
		if errors.Is(err, c.err) {
			return NetFailure{NetTransient, c.reason}
		}
	}
	// A write on a connection the client itself closed: net/http's read
	// side saw the server reset or close it while the request was still
	// being sent, closed it, and reports the write that failed after
	// ("HTTP/1.x transport connection broken: write …: use of closed
	// network connection", mapRoundTripError in net/http/transport.go).
	var wop *net.OpError
	if errors.As(err, &wop) && wop.Op == "write" && errors.Is(err, net.ErrClosed) {
		return NetFailure{NetTransient, "connection closed while sending"}
	}
	// io.EOF is a connection closed before the answer only when the client
	// says so (url.Error); a decoder's EOF is an empty answer.
	var ue *url.Error
	if errors.As(err, &ue) && errors.Is(err, io.EOF) {
		return NetFailure{NetTransient, "connection closed before an answer"}
	}
	var alert tls.AlertError
	var record tls.RecordHeaderError
	if errors.As(err, &alert) || errors.As(err, &record) {
		return NetFailure{NetPermanent, "TLS handshake failed"}
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		if strings.Contains(err.Error(), "TLS handshake timeout") {
			return NetFailure{NetTransient, "TLS handshake timeout"}
		}
		return NetFailure{NetTransient, "timeout"}
	}
	// A dial, read or write that failed otherwise is still a connection
	// failure (on Windows the errno is WSAECONNREFUSED, which the table
	// above does not name).
	var op *net.OpError
	if errors.As(err, &op) && (op.Op == "dial" || op.Op == "read" || op.Op == "write") {
		return NetFailure{NetTransient, "connection failed"}
	}
	// net/http's bundled HTTP/2 has no exported error types; a server that
	// ends the connection (GOAWAY) or resets the stream can answer next time.
	if s := err.Error(); strings.Contains(s, "http2: server sent GOAWAY") || strings.Contains(s, "stream error:") {
		return NetFailure{NetTransient, "HTTP/2 connection ended by the server"}
	}
	if errors.As(err, &ue) || errors.As(err, &op) {
		return NetFailure{NetPermanent, "transport error"}
	}
	return NetFailure{}
}

// untrustedCertificate reports a certificate the client does not trust.
func untrustedCertificate(err error) bool {
	var cv *tls.CertificateVerificationError
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	var ci x509.CertificateInvalidError
	var sr x509.SystemRootsError
	return errors.As(err, &cv) || errors.As(err, &ua) || errors.As(err, &hn) || errors.As(err, &ci) || errors.As(err, &sr)
}

// IsTLS reports a certificate the client does not trust or a TLS
// handshake the server refused: retrying cannot help, TLS settings can.
func IsTLS(err error) bool {
	var alert tls.AlertError
	var record tls.RecordHeaderError
	return untrustedCertificate(err) || errors.As(err, &alert) || errors.As(err, &record) || strings.Contains(err.Error(), "tls: ")
}

// Advice explains a call to where (a URL, or the service's name) that got
// no answer after attempts: what failed, whether keyless retried, and what
// to check, which check names (option.Ref(aws.OptSTSEndpoint)). It never
// claims retries that were not made. Its options are references
// (package option).
func (f NetFailure) Advice(where, check string, attempts int) string {
	reason := f.Reason
	if reason == "" {
		reason = "no answer"
	}
	network := "the network path from the runner (HTTPS_PROXY, NO_PROXY)"
	timeout := option.Ref(OptTimeout)
	switch {
	case f.Kind == NetTransient && attempts > 1:
		return fmt.Sprintf("keyless could not connect to %s (%s) in %d attempts before the deadline (%s).\n"+
			"Check %s, and %s, or raise %s.\n", where, reason, attempts, timeout, check, network, timeout)
	case f.Kind == NetTransient:
		return fmt.Sprintf("keyless could not connect to %s (%s), and the deadline (%s) left no time to retry.\n"+
			"Check %s, and %s, or raise %s.\n", where, reason, timeout, check, network, timeout)
	}
	return fmt.Sprintf("keyless could not connect to %s (%s), which retrying cannot mend.\n"+
		"Check %s, and %s.\n", where, reason, check, network)
}

// TimeoutAdvice explains a call to where that the deadline ended before
// an answer (ErrTimeout). Its options are references (package option).
func TimeoutAdvice(where string) string {
	timeout := option.Ref(OptTimeout)
	return fmt.Sprintf("%s did not answer before the deadline (%s). Check the network path from the runner\n"+
		"(HTTPS_PROXY, NO_PROXY), or raise %s.\n", where, timeout, timeout)
}

// ThrottledAdvice is what to do when who throttled a request that was
// retried attempts times (RetryOutcome).
func ThrottledAdvice(who string, attempts int) string {
	return fmt.Sprintf("%s throttled the request %s. Raise %s, or retry the job later.\n", who, RetryOutcome(attempts), option.Ref(OptTimeout))
}

// TLSAdvice is what to do when the TLS certificate of what (the
// registry, the index) is not trusted: caFile names the option that adds
// a CA bundle.
func TLSAdvice(what string, caFile option.Name) string {
	return "The " + what + "'s TLS certificate (or a TLS-inspecting proxy's) is not trusted. Pass the CA bundle with " +
		option.RefSources(caFile) + "; keyless never turns certificate checks off.\n"
}

// LastAdvice explains a failure of a call to where that a provider has no
// words of its own for: Net's Advice when no answer came (status 0), else
// a failure that lasted. check names the option that sets where
// (option.Ref).
func (f *Failure) LastAdvice(status int, where, check string) string {
	if status == 0 && f.Net.Kind != NetNone {
		return f.Net.Advice(where, check, f.Attempts)
	}
	return fmt.Sprintf("%s failed %s; try again, or raise %s.\n", where, RetryOutcome(f.Attempts), option.Ref(OptTimeout))
}

// RedirectAdvice explains an answer that would have moved a request
// carrying a token elsewhere: the redirect the policy refused
// (RedirectError.Advice), or a 3xx the server answered with (status,
// location). what names the endpoint ("registry"), check the option that
// sets it (option.Ref). ok is false when the answer was no redirect.
func (f *Failure) RedirectAdvice(status int, location, what, check string) (advice string, ok bool) {
	if f.Redirect != nil {
		return f.Redirect.Advice(), true
	}
	if location == "" && (status < 300 || status >= 400) {
		return "", false
	}
	if location == "" {
		location = "another URL"
	}
	return fmt.Sprintf("The %s redirected the request to %s. keyless does not follow redirects, which would carry\n"+
		"the ID token elsewhere: pass the final URL as %s.\n", what, location, check), true
}

// Cause is err without the URL a url.Error quotes, query and all: what a
// message may say of a call that got no answer.
func Cause(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
