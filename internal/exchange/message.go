package exchange

import (
	"cmp"
	"fmt"
	"net/http"
	"strings"

	"gitlab.com/keyless-ci/keyless/internal/idtoken"
)

// Headline is the first line of a refused or failed exchange's message:
// what failed, then what the server answered and how often it was asked.
type Headline struct {
	What        string // "sts: token exchange at URL failed"
	Status      int    // the HTTP status, 0 for no answer
	Code        string // the error code, after the status
	Description string // the server's description of it
	See         string // a page the server points to (RFC 6749's error_uri)
	Message     string // the detail keyless adds
	Attempts    int
}

// Write writes the headline to b.
func (h Headline) Write(b *strings.Builder) {
	b.WriteString(h.What)
	if h.Status != 0 {
		fmt.Fprintf(b, ": HTTP %d", h.Status)
	}
	if h.Code != "" {
		fmt.Fprintf(b, " %s", h.Code)
	}
	if h.Description != "" {
		fmt.Fprintf(b, ": %s", h.Description)
	}
	if h.See != "" {
		fmt.Fprintf(b, " (see %s)", h.See)
	}
	if h.Message != "" {
		fmt.Fprintf(b, ": %s", h.Message)
	}
	if h.Attempts > 1 {
		fmt.Fprintf(b, " after %d attempts", h.Attempts)
	}
}

// Text is a failed exchange's whole message: the headline, a blank
// line, advice (what to do), then the job's token's claims as who saw
// them.
func (h Headline) Text(advice, who string, fields []idtoken.Field) string {
	var b strings.Builder
	h.Write(&b)
	b.WriteString("\n\n")
	b.WriteString(advice)
	WriteClaims(&b, who, fields)
	return strings.TrimRight(b.String(), "\n")
}

// WriteClaims ends a message with the job's token's claims, as who (the
// server) saw them: never the token itself.
func WriteClaims(b *strings.Builder, who string, fields []idtoken.Field) {
	fmt.Fprintf(b, "\nThe job's ID token, as %s saw it (claims only):\n", who)
	b.WriteString(idtoken.FormatFields("  ", fields))
}

// MaskID masks an identifier (a client id, an account or project number)
// to its last four characters for logs and messages: ************ploy.
func MaskID(s string) string {
	if len(s) <= 4 {
		return s
	}
	return strings.Repeat("*", len(s)-4) + s[len(s)-4:]
}

// Printable keeps the printable text of what a server answered, so that
// an answer cannot write terminal escapes into the job log, cut after
// limit bytes (with an ellipsis).
func Printable(s string, limit int) string {
	var b strings.Builder
	for _, r := range s {
		if b.Len() >= limit {
			b.WriteString("…")
			break
		}
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			r = ' '
		}
		b.WriteRune(r)
	}
	return strings.TrimSpace(b.String())
}

// Transient judges a failed HTTP attempt as the providers that speak HTTP
// themselves do: without an answer (transport), what ClassifyNet finds
// transient (a refused connection, not an untrusted certificate or a
// refused redirect); with one, a 5xx other than 501, or a 429.
func Transient(transport error, status int) bool {
	if transport != nil {
		return ClassifyNet(transport).Kind == NetTransient
	}
	return (status >= 500 && status != http.StatusNotImplemented) || status == http.StatusTooManyRequests
}

// StatusKind judges an answer by its status alone, as every provider that
// speaks HTTP itself does (and as Transient retries it): 429 is
// ErrThrottled, 501 (no such method there) the provider's notEndpoint,
// another 5xx ErrUnavailable; nil leaves the answer to the provider.
func StatusKind(status int, notEndpoint error) error {
	switch {
	case status == http.StatusTooManyRequests:
		return ErrThrottled
	case status == http.StatusNotImplemented:
		return notEndpoint
	case status >= 500:
		return ErrUnavailable
	}
	return nil
}

// Describe names a failed attempt for a log or retry line without its
// text: the transport failure's reason when there was no answer, else
// the answer's status and error code.
func Describe(transport error, status int, code string) string {
	switch {
	case transport != nil:
		return cmp.Or(ClassifyNet(transport).Reason, "error")
	case code != "":
		return fmt.Sprintf("HTTP %d %s", status, Printable(code, 64))
	}
	return fmt.Sprintf("HTTP %d", status)
}
