// Package secret holds values that must never be printed: ID tokens, access
// keys, session tokens. A Token redacts itself in every formatting path the
// standard library offers (fmt verbs, JSON, text marshalling, slog), so a
// stray log line or error wrap cannot leak it. Reveal is the one way out and
// is called only where the value leaves the process on purpose.
package secret

import (
	"fmt"
	"log/slog"
)

// Redacted is what a Token prints as.
const Redacted = "[REDACTED]"

// Token is a secret string. Its zero value is the empty secret.
type Token struct {
	// v is unexported so reflection-based encoders (encoding/json,
	// fmt's %+v on a containing struct) cannot reach it.
	v string
}

// New wraps s.
func New(s string) Token { return Token{v: s} }

// Reveal returns the secret value. Call it only where the value leaves the
// process on purpose: an HTTP request body, a child's environment, the
// stdout of a mode whose job is to print credentials.
func (t Token) Reveal() string { return t.v }

// IsZero reports whether the secret is empty.
func (t Token) IsZero() bool { return t.v == "" }

// Len returns the length of the secret, which is safe to report.
func (t Token) Len() int { return len(t.v) }

// String implements fmt.Stringer.
func (t Token) String() string { return Redacted }

// GoString implements fmt.GoStringer (%#v).
func (t Token) GoString() string { return "secret.Token(" + Redacted + ")" }

// Format implements fmt.Formatter so that every verb (%s, %q, %x, %v, %d…)
// prints the redaction, never the value.
func (t Token) Format(f fmt.State, verb rune) {
	switch verb {
	case 'q':
		fmt.Fprintf(f, "%q", Redacted)
	case 'v':
		if f.Flag('#') {
			fmt.Fprint(f, t.GoString())
			return
		}
		fmt.Fprint(f, Redacted)
	default:
		fmt.Fprint(f, Redacted)
	}
}

// MarshalJSON implements json.Marshaler.
func (t Token) MarshalJSON() ([]byte, error) { return []byte(`"` + Redacted + `"`), nil }

// MarshalText implements encoding.TextMarshaler (used by YAML, XML, map keys).
func (t Token) MarshalText() ([]byte, error) { return []byte(Redacted), nil }

// LogValue implements slog.LogValuer.
func (t Token) LogValue() slog.Value { return slog.StringValue(Redacted) }
