package secret

import (
	"net/url"
	"sort"
	"strings"

	"gitlab.com/keyless-ci/keyless/internal/lazyre"
)

// jwtShape is the one redaction rule for JWT-shaped text (issue 14): a
// base64url JSON header ("eyJ" is `{"`) and what follows it up to two dots.
// It finds tokens the caller did not hand over, such as an assertion a
// server echoes or one of a previous exchange.
var jwtShape = lazyre.New(`eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*\.?[A-Za-z0-9_-]*`)

const (
	// minSecret is the shortest secret replaced wherever it occurs: a
	// shorter value (a KV field of "1") would garble every message without
	// hiding anything worth hiding.
	minSecret = 4
	// minPart is the shortest part of a dotted secret (a JWT's signature)
	// replaced on its own, and the shortest secret matched across line
	// breaks: long enough never to be ordinary words.
	minPart = 16
)

// ScrubString is the one scrubber of text a library or a server wrote
// before keyless shows it (issue 14), used by idtoken and every exchange. It replaces with Redacted each
// of secrets, as given, as a form value encodes it, broken across lines,
// and each dot-separated part of at least 16 characters (a server may quote
// a JWT's signature alone); then anything shaped like a JWT. Providers mask
// their own credential shapes (a Google access token, a Vault token) after
// it.
func ScrubString(msg string, secrets ...Token) string {
	var vals []string
	for _, s := range secrets {
		v := s.Reveal()
		if len(v) < minSecret {
			continue
		}
		vals = append(vals, v)
		if q := url.QueryEscape(v); q != v {
			vals = append(vals, q)
		}
		if strings.Contains(v, ".") {
			for _, part := range strings.Split(v, ".") {
				if len(part) >= minPart {
					vals = append(vals, part)
				}
			}
		}
	}
	// Longest first: a secret that contains another is replaced whole.
	sort.SliceStable(vals, func(i, j int) bool { return len(vals[i]) > len(vals[j]) })
	for _, v := range vals {
		msg = strings.ReplaceAll(msg, v, Redacted)
		if len(v) >= minPart {
			msg = redactAcrossLines(msg, v)
		}
	}
	return jwtShape().ReplaceAllString(msg, Redacted)
}

// Scrub is ScrubString for an error: an error with the scrubbed text, which
// wraps nothing (the original may quote the request), or nil for nil.
func Scrub(err error, secrets ...Token) error {
	if err == nil {
		return nil
	}
	return scrubbed(ScrubString(err.Error(), secrets...))
}

type scrubbed string

func (s scrubbed) Error() string { return string(s) }

// redactAcrossLines replaces v where msg holds it with line breaks or
// spaces between its characters, as a server that wraps long lines, or a
// log that folds them, writes it.
func redactAcrossLines(msg, v string) string {
	if !strings.ContainsAny(msg, " \t\r\n") {
		return msg
	}
	compact := make([]byte, 0, len(msg))
	at := make([]int, 0, len(msg)) // at[i] is compact[i]'s offset in msg
	for i := 0; i < len(msg); i++ {
		switch msg[i] {
		case ' ', '\t', '\r', '\n':
			continue
		}
		compact = append(compact, msg[i])
		at = append(at, i)
	}
	var b strings.Builder
	last, from := 0, 0
	for {
		i := strings.Index(string(compact[from:]), v)
		if i < 0 {
			break
		}
		start, end := at[from+i], at[from+i+len(v)-1]+1
		b.WriteString(msg[last:start])
		b.WriteString(Redacted)
		last, from = end, from+i+len(v)
	}
	if last == 0 {
		return msg
	}
	b.WriteString(msg[last:])
	return b.String()
}
