package exchange_test

import (
	"strings"
	"testing"

	"gitlab.com/keyless-ci/keyless/internal/exchange"
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
