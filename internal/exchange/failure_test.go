package exchange

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"syscall"
	"testing"
)

// providerError is a provider's Error in miniature: Failure embedded.
type providerError struct{ Failure }

func (e *providerError) Error() string { return "provider: failed" }

// Transport judges the failures every provider judges alike, and leaves
// the rest (an answer, a connection failure) to the provider.
func TestFailureTransport(t *testing.T) {
	redirect := &RedirectError{Option: "--sts-endpoint", Endpoint: "https://sts.example.com", Status: 307, Target: "https://elsewhere.example.com"}
	cert := &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}
	for _, tc := range []struct {
		name    string
		err     error
		judged  bool
		kind    error
		unwraps error
		message string
	}{
		{"deadline", fmt.Errorf("post: %w", context.DeadlineExceeded), true, ErrTimeout, context.DeadlineExceeded, ""},
		{"cancelled", context.Canceled, true, ErrTimeout, context.Canceled, ""},
		{"redirect", &url.Error{Op: "Post", URL: "https://sts.example.com", Err: redirect}, true, ErrRedirect, redirect, redirect.Error()},
		{"certificate", &url.Error{Op: "Post", URL: "https://sts.example.com", Err: cert}, true, ErrTLS, nil, cert.Err.Error()},
		{"refused", &url.Error{Op: "Post", URL: "https://sts.example.com", Err: syscall.ECONNREFUSED}, false, ErrUnavailable, nil, ""},
		{"answer", errors.New("HTTP 403"), false, ErrUnavailable, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := &providerError{NewFailure(tc.err, 2)}
			f := &e.Failure
			if got := f.Transport(tc.err); got != tc.judged {
				t.Fatalf("Transport = %v, want %v", got, tc.judged)
			}
			if f.Kind != tc.kind || !errors.Is(e, tc.kind) || f.Attempts != 2 || f.Message != tc.message {
				t.Errorf("got kind %v, attempts %d, message %q; want %v, 2, %q", f.Kind, f.Attempts, f.Message, tc.kind, tc.message)
			}
			if tc.unwraps != nil && !errors.Is(e, tc.unwraps) {
				t.Errorf("errors.Is(failure, %v) = false", tc.unwraps)
			}
			if got := f.Unwrap(); tc.unwraps == nil && got != nil {
				t.Errorf("Unwrap = %v, want nil: the transport's own error may quote the request", got)
			}
		})
	}
}

// NoAnswer keeps the cause of a failure without an answer, never the URL a
// url.Error quotes (its query may hold a secret), scrubbed and printable.
func TestFailureNoAnswer(t *testing.T) {
	const jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
	refused := &url.Error{Op: "Post", URL: "https://registry.example.com/?token=" + jwt, Err: fmt.Errorf("dial: %w\x1b[2J %s", syscall.ECONNREFUSED, jwt)}
	f := NewFailure(refused, 1)
	f.NoAnswer(refused)
	if f.Kind != ErrUnavailable || strings.Contains(f.Message, "registry.example.com") || strings.Contains(f.Message, jwt) || strings.ContainsRune(f.Message, 0x1b) {
		t.Errorf("kind %v, message %q: want ErrUnavailable and the cause alone, scrubbed", f.Kind, f.Message)
	}
	f = NewFailure(context.DeadlineExceeded, 3)
	if f.NoAnswer(context.DeadlineExceeded); f.Kind != ErrTimeout || f.Message != "" {
		t.Errorf("deadline: kind %v, message %q", f.Kind, f.Message)
	}
	if got := Cause(errors.New("plain")); got.Error() != "plain" {
		t.Errorf("Cause of an error that is no url.Error: %v", got)
	}
}
