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

// Retry is r, the shared policy, with the seams' backoff, progress and
// log: what every provider sets alike.
func (s Seams) Retry(r Retry) Retry {
	r.Backoff, r.Progress, r.Log = s.Backoff, s.Progress, s.Log
	return r
}

// Send sends req with the headers every provider's request carries
// (Accept: application/json, and UserAgent when set) on client (HTTPClient
// with the provider's redirect policy), and reads at most limit bytes of
// the answer. An error is the transport's: no whole answer came.
func (s Seams) Send(client *http.Client, req *http.Request, limit int64) (*http.Response, []byte, error) {
	req.Header.Set("Accept", "application/json")
	if s.UserAgent != "" {
		req.Header.Set("User-Agent", s.UserAgent)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit))
	if err != nil {
		return nil, nil, err
	}
	return resp, b, nil
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
