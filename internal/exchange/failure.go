package exchange

import (
	"context"
	"crypto/tls"
	"errors"

	"gitlab.com/keyless-ci/keyless/internal/secret"
)

// The failures every provider shares, defined once (issue 14); test with
// errors.Is. A provider's Error carries one of these or one of its own
// refusals, and explains it in the provider's words.
var (
	// ErrThrottled is a rate limit that outlasted the retries (HTTP 429,
	// Throttling, slow_down).
	ErrThrottled = errors.New("throttled")
	// ErrTimeout is the deadline (--timeout) passing, or the command being
	// cancelled, before an answer.
	ErrTimeout = errors.New("no answer in time")
	// ErrUnavailable is a server that failed to serve (5xx, "temporarily
	// unavailable").
	ErrUnavailable = errors.New("service unavailable")
	// ErrTLS is a certificate the client does not trust: --ca-file, not a
	// retry, helps.
	ErrTLS = errors.New("certificate not trusted")
	// ErrConnection is a request that got no answer: ClassifyNet found a
	// transport failure.
	ErrConnection = errors.New("could not connect")
	// ErrRedirect is a redirect the redirect policy refused; the error
	// also wraps the *RedirectError.
	ErrRedirect = errors.New("endpoint redirected")
)

// Failure is what every provider's Error shares (issue 14): the kind a
// caller tests with errors.Is, the attempts made, the detail to show, and
// for a call without an answer what the transport said. A provider's Error
// embeds it and adds only its own fields, codes and explanations.
type Failure struct {
	Kind     error // one of the provider's sentinels or the shared ones above
	Attempts int
	Message  string // the detail, scrubbed of secrets
	// Net is the class of a failure without an answer (ClassifyNet).
	Net NetFailure
	// Redirect is a redirect the redirect policy refused.
	Redirect *RedirectError
	ctxErr   error // the deadline or cancellation that ended the call
}

// NewFailure starts the Error of a call that failed with err after
// attempts: ErrUnavailable until the provider judges it, err's transport
// class in Net.
func NewFailure(err error, attempts int) Failure {
	return Failure{Kind: ErrUnavailable, Attempts: attempts, Net: ClassifyNet(err)}
}

// Is reports whether target is the failure's kind.
func (f *Failure) Is(target error) bool { return target == f.Kind }

// Unwrap exposes a context error so callers see deadline and cancellation,
// and a refused redirect; the transport's or the SDK's own error is not
// kept, as it may quote the request.
func (f *Failure) Unwrap() error {
	if f.Redirect != nil {
		return f.Redirect
	}
	return f.ctxErr
}

// NoAnswer judges err, the failure of a call that got no answer, as
// Transport does, or else keeps the text of its Cause; Message is then
// scrubbed of secrets and kept printable.
func (f *Failure) NoAnswer(err error, secrets ...secret.Token) {
	if !f.Transport(err) {
		f.Message = Cause(err).Error()
	}
	f.Message = Printable(secret.ScrubString(f.Message, secrets...), 300)
}

// Transport judges err where every provider judges it alike and reports
// whether it did: the deadline or a cancellation is ErrTimeout, a refused
// redirect ErrRedirect, an untrusted certificate ErrTLS (Message is what
// the verifier said, when it said it).
func (f *Failure) Transport(err error) bool {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		f.Kind, f.ctxErr = ErrTimeout, context.DeadlineExceeded
	case errors.Is(err, context.Canceled):
		f.Kind, f.ctxErr = ErrTimeout, context.Canceled
	case f.Net.Kind == NetRedirect:
		errors.As(err, &f.Redirect)
		f.Kind, f.Message = ErrRedirect, f.Redirect.Error()
	case f.Net.Kind == NetCertificate:
		f.Kind = ErrTLS
		var ce *tls.CertificateVerificationError
		if errors.As(err, &ce) {
			f.Message = ce.Err.Error()
		}
	default:
		return false
	}
	return true
}
