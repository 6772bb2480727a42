package exchange_test

import (
	"errors"
	"net/url"
	"strings"
	"syscall"
	"testing"

	"gitlab.com/keyless-ci/keyless/internal/exchange"
	"gitlab.com/keyless-ci/keyless/internal/idtoken"
)

// An answer cannot write terminal escapes into the job log, nor fill it.
func TestPrintable(t *testing.T) {
	for _, tc := range []struct {
		in    string
		limit int
		want  string
	}{
		{"invalid_grant", 64, "invalid_grant"},
		{"bad \x1b[31mred\x1b[0m\r\nline", 64, "bad  [31mred [0m  line"},
		{"\u009b2J cleared", 64, "2J cleared"},
		{"  padded\t", 64, "padded"},
		{strings.Repeat("a", 20), 10, strings.Repeat("a", 10) + "…"},
	} {
		if got := exchange.Printable(tc.in, tc.limit); got != tc.want {
			t.Errorf("Printable(%q, %d) = %q, want %q", tc.in, tc.limit, got, tc.want)
		}
	}
}

// Transient retries what can succeed on a retry: a refused connection, a
// 5xx other than 501, a 429; never a 4xx, an untrusted certificate or a
// refused redirect.
func TestTransient(t *testing.T) {
	refused := &url.Error{Op: "Post", URL: "https://registry.example.com", Err: syscall.ECONNREFUSED}
	redirect := &url.Error{Op: "Post", URL: "https://registry.example.com", Err: &exchange.RedirectError{Status: 307, Target: "https://elsewhere.example.com"}}
	for _, tc := range []struct {
		transport error
		status    int
		want      bool
	}{
		{refused, 0, true},
		{redirect, 0, false},
		{nil, 500, true},
		{nil, 503, true},
		{nil, 501, false},
		{nil, 429, true},
		{nil, 404, false},
		{nil, 403, false},
	} {
		if got := exchange.Transient(tc.transport, tc.status); got != tc.want {
			t.Errorf("Transient(%v, %d) = %v, want %v", tc.transport, tc.status, got, tc.want)
		}
	}
}

// Text lays out every failed exchange's message alike: headline, blank
// line, advice, the claims as the server saw them, no trailing newline.
func TestHeadlineText(t *testing.T) {
	h := exchange.Headline{What: "npm: token exchange for pkg at https://registry.npmjs.org/ failed", Status: 404, Attempts: 2}
	got := h.Text("Publish the first version by hand.\n", "the registry", []idtoken.Field{{Name: "sub", Value: "project_path:g/p:ref_type:branch:ref:main"}})
	want := "npm: token exchange for pkg at https://registry.npmjs.org/ failed: HTTP 404 after 2 attempts\n\n" +
		"Publish the first version by hand.\n" +
		"\nThe job's ID token, as the registry saw it (claims only):\n" +
		idtoken.FormatFields("  ", []idtoken.Field{{Name: "sub", Value: "project_path:g/p:ref_type:branch:ref:main"}})
	if want = strings.TrimRight(want, "\n"); got != want {
		t.Errorf("Text:\n%s\nwant:\n%s", got, want)
	}
}

// StatusKind judges by the status only what every HTTP provider judges
// alike, and leaves the rest to the provider.
func TestStatusKind(t *testing.T) {
	notEndpoint := errors.New("not an endpoint")
	for status, want := range map[int]error{429: exchange.ErrThrottled, 501: notEndpoint, 500: exchange.ErrUnavailable,
		503: exchange.ErrUnavailable, 400: nil, 401: nil, 404: nil, 307: nil} {
		if got := exchange.StatusKind(status, notEndpoint); got != want {
			t.Errorf("StatusKind(%d) = %v, want %v", status, got, want)
		}
	}
}
