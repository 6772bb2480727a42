// Package option lets a domain package name a setting of keyless without
// knowing how the user gave it: on a terminal a flag (--sts-endpoint), in a
// job that a catalog component configures the component's input
// (sts_endpoint) or a KEYLESS_* variable. Those words are the CLI's; it
// renders a reference late, when it knows who reads (STYLE.md habit 22,
// issue 14).
//
// A domain package declares the options it speaks of as Names
// (aws.OptDuration) and writes Ref(aws.OptDuration) where a message names
// one. Such text goes to the CLI: an error's Text keeps the references for
// it to render, and the error's Error renders each one as --name, so that a
// message read anywhere else (a test, keyless doctor) still reads well.
// Text that is not an error (a warning, advice) is rendered by whoever
// prints it.
package option

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Name is an option as a domain package knows it, e.g. "duration". It is
// no flag: the CLI maps it to the flag of the command that reads it, and
// its default rendering is --name.
type Name string

// Form is how much a reference says about its option.
type Form byte

// The forms of a reference. A component's job reads every form as the
// one word the job set (sts_endpoint, KEYLESS_CA_FILE).
const (
	// Bare is the option alone: --sts-endpoint.
	Bare Form = 'b'
	// Sources adds the variable, and the component input, that also set
	// the option, for a remedy: --ca-file (KEYLESS_AWS_CA_FILE).
	Sources Form = 's'
	// OrSet asks for an option that is missing, with the variables that
	// set it too: --role-arn (or set KEYLESS_AWS_ROLE_ARN).
	OrSet Form = 'o'
)

// A reference is open, the form, the name, close. The two control
// characters appear in no message of keyless's, and %q escapes them, so
// a quoted value cannot forge a reference.
const (
	refOpen  = '\x1e'
	refClose = '\x1f'
)

// Ref names option n in a message: --sts-endpoint on a terminal.
func Ref(n Name) string { return ref(n, Bare) }

// RefSources names option n with the other ways to set it, for a remedy.
func RefSources(n Name) string { return ref(n, Sources) }

// RefOrSet names option n where it is missing and asked for.
func RefOrSet(n Name) string { return ref(n, OrSet) }

func ref(n Name, f Form) string { return string(refOpen) + string(f) + string(n) + string(refClose) }

// Render replaces each reference in s with word(name, form). It is the one
// place a reference becomes words. Anything else is left as it is, also
// control characters that form no reference (a server's message may hold
// them).
func Render(s string, word func(Name, Form) string) string {
	if !strings.ContainsRune(s, refOpen) {
		return s
	}
	var b strings.Builder
	for {
		i := strings.IndexRune(s, refOpen)
		if i < 0 {
			break
		}
		n, f, size := parse(s[i:])
		if size == 0 {
			b.WriteString(s[:i+1])
			s = s[i+1:]
			continue
		}
		b.WriteString(s[:i])
		b.WriteString(word(n, f))
		s = s[i+size:]
	}
	b.WriteString(s)
	return b.String()
}

// parse reads the reference s starts with: its name, its form and its
// length; size is 0 when s starts with none.
func parse(s string) (n Name, f Form, size int) {
	j := strings.IndexRune(s, refClose)
	if j < 3 {
		return "", 0, 0
	}
	f, name := Form(s[1]), s[2:j]
	if f != Bare && f != Sources && f != OrSet || strings.Trim(name, "abcdefghijklmnopqrstuvwxyz0123456789-") != "" {
		return "", 0, 0
	}
	return Name(name), f, j + 1
}

// Flag is the default word for an option: --name, whatever the form.
func Flag(n Name, _ Form) string { return "--" + string(n) }

// Plain is s for a reader without the CLI: each option as --name.
func Plain(s string) string { return Render(s, Flag) }

// HasRef reports whether s holds a reference that was not rendered.
func HasRef(s string) bool {
	return strings.ContainsRune(s, refOpen) || strings.ContainsRune(s, refClose)
}

// Text is err's message with its references, for the CLI to render: the
// Text of err when it has that method, else err.Error(). A wrapper that
// adds words and wants its references kept must have a Text too, as those
// made with Errorf do.
func Text(err error) string {
	if t, ok := err.(interface{ Text() string }); ok {
		return t.Text()
	}
	return err.Error()
}

// Errorf is fmt.Errorf for a message that names options with Ref. Its
// Error renders them as --name; its Text keeps them, along with those of
// the errors among a, which it wraps as fmt.Errorf does.
func Errorf(format string, a ...any) error {
	args := make([]any, len(a))
	for i, x := range a {
		if err, ok := x.(error); ok {
			x = &texted{err}
		}
		args[i] = x
	}
	w := fmt.Errorf(format, args...)
	m := &message{text: w.Error()}
	switch u := w.(type) {
	case interface{ Unwrap() error }:
		m.wrapped = []error{u.Unwrap()}
	case interface{ Unwrap() []error }:
		m.wrapped = append(m.wrapped, u.Unwrap()...)
	}
	for i, err := range m.wrapped {
		if t, ok := err.(*texted); ok {
			m.wrapped[i] = t.err
		}
	}
	return m
}

// texted is an argument of Errorf: it formats as the Text of err.
type texted struct{ err error }

func (t *texted) Error() string { return Text(t.err) }
func (t *texted) Unwrap() error { return t.err }

// message is an error made by Errorf.
type message struct {
	text    string
	wrapped []error
}

func (m *message) Error() string   { return Plain(m.text) }
func (m *message) Text() string    { return m.text }
func (m *message) Unwrap() []error { return m.wrapped }

// Error is a value given to an option, refused: which option, the value,
// and why. Its message reads `--mount "auth/jwt": why`.
type Error struct {
	Option Name
	// Value is the value as given, never a secret; empty when Err already
	// shows it (`--provider: why`).
	Value string
	Err   error // what is wrong, and what to give instead
}

func (e *Error) Error() string { return Plain(e.Text()) }

// Text is the message with the option as a reference.
func (e *Error) Text() string {
	s := Ref(e.Option)
	if e.Value != "" {
		s += " " + strconv.Quote(e.Value)
	}
	return s + ": " + Text(e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Invalid is an *Error: value given to n, refused for why.
func Invalid(n Name, value, why string) error {
	return &Error{Option: n, Value: value, Err: errors.New(why)}
}
