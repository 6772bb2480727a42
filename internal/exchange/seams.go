package exchange

import (
	"io"
	"log/slog"
	"net/http"
	"time"
)

// Seams are what every provider's exchange takes from the path that runs it
// (the transport, the retry waits, where it reports, the clock) rather than
// from its flags. Each provider's Options embeds them; a nil field has the
// default its comment names.
type Seams struct {
	// HTTPClient supplies the transport (proxy settings, the CA file); nil
	// uses a default one. It is copied, never changed: each provider sets
	// its own redirect policy on the copy (vault clones the transport too).
	HTTPClient *http.Client
	// UserAgent is sent with every request; "" sends the library's own.
	// aws gives it to the SDK as the app ID, which the SDK puts in the
	// User-Agent.
	UserAgent string
	// Backoff returns the wait before retry n (1-based); jittered
	// exponential (Jittered) when nil. A server's Retry-After (azure, sts)
	// is waited out if longer.
	Backoff func(n int) time.Duration
	// Log receives one debug line per failed attempt (its status and error
	// code, never its text; vault also one per step, with names, never
	// values); nil logs nothing.
	Log *slog.Logger
	// Progress receives one line per retry with its wait (the job's
	// stderr); nil writes nothing.
	Progress io.Writer
	// Now is the clock for the credentials' expiration (and for azure's
	// Retry-After dates, vault's explanations of the ID token); time.Now
	// when nil. aws takes the expiration from STS and does not read it.
	Now func() time.Time
}

// Clock is Now, or time.Now when Now is nil.
func (s Seams) Clock() func() time.Time {
	if s.Now != nil {
		return s.Now
	}
	return time.Now
}

// Logger is Log, or a logger that discards everything when Log is nil.
func (s Seams) Logger() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.New(slog.DiscardHandler)
}
