package exchange

import "errors"

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
