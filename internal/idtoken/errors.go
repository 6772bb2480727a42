package idtoken

import (
	"fmt"
	"strings"
	"time"

	"gitlab.com/keyless-ci/keyless/internal/option"
)

// The options the errors' advice names (package option): the CLI says them
// in the words the user typed.
const (
	OptTokenVar option.Name = "token-var"
	OptIssuer   option.Name = "issuer"
)

// NoTokenError means the job has no ID token where keyless looked.
type NoTokenError struct {
	Var      string // variable that was read, if any
	File     string // file that was read, if any
	Audience string // audience the caller expects, used in the hint
}

func (e *NoTokenError) Error() string { return option.Plain(e.Text()) }

// Text is the message with its option as a reference (package option).
func (e *NoTokenError) Text() string {
	aud := e.Audience
	if aud == "" {
		aud = "<audience your cloud expects>"
	}
	name := e.Var
	if name == "" {
		name = "KEYLESS_ID_TOKEN"
	}
	where := fmt.Sprintf("variable $%s is not set", name)
	if e.File != "" {
		where = fmt.Sprintf("token file %q is empty", e.File)
	}
	return fmt.Sprintf("no ID token: %s\n"+
		"Ask GitLab for one in the job (or extend a keyless component, which does this for you):\n\n"+
		"  id_tokens:\n    %s:\n      aud: %s\n\n"+
		"or point keyless at another variable with %s", where, name, aud, option.Ref(OptTokenVar))
}

// MalformedError means the value is not a decodable JWT. It never contains
// any part of the value.
type MalformedError struct {
	Reason string
	// Claim names the claim whose JSON type could not be read, if that is
	// the problem.
	Claim string
}

func (e *MalformedError) Error() string {
	if e.Claim != "" {
		return "malformed ID token: " + e.Reason + "\n" +
			"keyless reads the claims GitLab documents (https://docs.gitlab.com/ci/secrets/id_token_authentication/#token-payload) " +
			"in the types GitLab sends; check that the variable holds the token GitLab issued, and if your GitLab version sends this claim in another type, " +
			"report the claim's name, its type and your GitLab version at https://gitlab.com/keyless-ci/keyless/-/issues"
	}
	return "malformed ID token: " + e.Reason + "\n" +
		"The variable must hold the JWT that GitLab puts in an id_tokens variable; " +
		"check that nothing in the job overwrites it (a CI/CD variable of the same name takes precedence)"
}

// ExpiredError means the token's exp is in the past (or nbf in the future).
type ExpiredError struct {
	ExpiresAt time.Time
	NotBefore time.Time
	Now       time.Time
}

func (e *ExpiredError) Error() string {
	if !e.NotBefore.IsZero() && e.Now.Before(e.NotBefore) {
		return fmt.Sprintf("ID token is not valid yet: nbf is %s, %s from now\n"+
			"The runner's clock is behind GitLab's; fix the runner's time synchronisation (NTP)",
			e.NotBefore.Format(time.RFC3339), roundDur(e.NotBefore.Sub(e.Now)))
	}
	return fmt.Sprintf("ID token expired %s ago (exp %s)\n"+
		"GitLab issues ID tokens that live as long as the job's timeout (at least 5 minutes); "+
		"exchange the token early in the job, or raise the job's timeout, and check the runner's clock",
		roundDur(e.Now.Sub(e.ExpiresAt)), e.ExpiresAt.Format(time.RFC3339))
}

// AudienceError means the token was minted for another audience.
type AudienceError struct {
	Want string
	Got  []string
	Var  string
}

func (e *AudienceError) Error() string {
	name := e.Var
	if name == "" {
		name = "KEYLESS_ID_TOKEN"
	}
	return fmt.Sprintf("ID token audience mismatch: the token's aud is %q, the exchange expects %q\n"+
		"Set the audience in the job's id_tokens (or the component's aud input):\n\n"+
		"  id_tokens:\n    %s:\n      aud: %s",
		strings.Join(e.Got, ","), e.Want, name, e.Want)
}

// VerifyError means the signature or issuer could not be verified.
type VerifyError struct {
	Issuer string
	Err    error
}

func (e *VerifyError) Error() string { return option.Plain(e.Text()) }

// Text is the message with its option as a reference (package option).
func (e *VerifyError) Text() string {
	return fmt.Sprintf("verify ID token against issuer %q: %v\n"+
		"The issuer's discovery document (%s/.well-known/openid-configuration) and keys must be reachable "+
		"and its issuer must equal the token's iss; on self-managed GitLab pass %s with the "+
		"instance's public URL", e.Issuer, e.Err, strings.TrimSuffix(e.Issuer, "/"), option.Ref(OptIssuer))
}

func (e *VerifyError) Unwrap() error { return e.Err }

func roundDur(d time.Duration) time.Duration {
	if d < 0 {
		d = -d
	}
	return d.Round(time.Second)
}
