package option

import (
	"errors"
	"fmt"
	"io/fs"
	"testing"
)

const duration Name = "duration"

func TestRender(t *testing.T) {
	s := "pass " + RefOrSet("role-arn") + ", or raise " + Ref(duration) + " with " + RefSources("ca-file")
	got := Render(s, func(n Name, f Form) string { return fmt.Sprintf("<%s %c>", n, f) })
	if want := "pass <role-arn o>, or raise <duration b> with <ca-file s>"; got != want {
		t.Errorf("Render:\n got %q\nwant %q", got, want)
	}
	if got, want := Plain(s), "pass --role-arn, or raise --duration with --ca-file"; got != want {
		t.Errorf("Plain:\n got %q\nwant %q", got, want)
	}
	// Whatever forms no reference is left as it is, and the references
	// after it are rendered.
	if got, want := Plain("a\x1e\x1ebx y\x1f "+Ref(duration)), "a\x1e\x1ebx y\x1f --duration"; got != want {
		t.Errorf("Plain:\n got %q\nwant %q", got, want)
	}
	for _, s := range []string{"no reference", "", "--flag text", "\x1e", "a\x1eb", "\x1eb\x1f", "\x1ezname\x1f"} {
		if got := Plain(s); got != s {
			t.Errorf("Plain(%q) = %q, want it unchanged", s, got)
		}
	}
	if !HasRef(s) || HasRef(Plain(s)) {
		t.Errorf("HasRef: %v before rendering, %v after", HasRef(s), HasRef(Plain(s)))
	}
}

// A quoted value cannot pass for a reference.
func TestQuotedValueIsNoReference(t *testing.T) {
	forged := fmt.Sprintf("%q", Ref("token-var"))
	if HasRef(forged) || Plain(forged) != forged {
		t.Errorf("%q renders as %q", forged, Plain(forged))
	}
}

// Error renders every reference as --name, also through wrapping; Text
// keeps them, and errors.Is and errors.As still see what was wrapped.
func TestErrorf(t *testing.T) {
	inner := &Error{Option: "mount", Value: "auth/jwt", Err: fs.ErrNotExist}
	err := Errorf("%s: %w; raise %s", "vault", inner, Ref(duration))
	if got, want := err.Error(), `vault: --mount "auth/jwt": file does not exist; raise --duration`; got != want {
		t.Errorf("Error:\n got %q\nwant %q", got, want)
	}
	if got, want := Text(err), "vault: "+Ref("mount")+` "auth/jwt": file does not exist; raise `+Ref(duration); got != want {
		t.Errorf("Text:\n got %q\nwant %q", got, want)
	}
	var oe *Error
	if !errors.Is(err, fs.ErrNotExist) || !errors.As(err, &oe) || oe.Option != "mount" {
		t.Errorf("errors.Is %v, errors.As %v", errors.Is(err, fs.ErrNotExist), oe)
	}
	// %v keeps the references of an error, too.
	if got := Text(Errorf("x: %v", inner)); got != "x: "+inner.Text() {
		t.Errorf("Text of %%v: %q", got)
	}
	// An error of the standard library is its Error.
	if got := Text(fs.ErrNotExist); got != fs.ErrNotExist.Error() {
		t.Errorf("Text(fs.ErrNotExist) = %q", got)
	}
	if got := Invalid(duration, "", "out of range").Error(); got != "--duration: out of range" {
		t.Errorf("Invalid without a value: %q", got)
	}
}
