package sts

import (
	"io"
	"strings"
	"time"

	"gitlab.com/keyless-ci/keyless/internal/exchange"
	"gitlab.com/keyless-ci/keyless/internal/lazyre"
	"gitlab.com/keyless-ci/keyless/internal/option"
)

// DefaultEnv is the variable that receives the issued token.
const DefaultEnv = "KEYLESS_STS_TOKEN"

var envName = lazyre.New(`^[A-Za-z_][A-Za-z0-9_]*$`)

// reserved are variables the job, its shell or the programs it runs depend
// on; a token in their place would break the job or change what runs.
var reserved = map[string]bool{
	"PATH": true, "HOME": true, "SHELL": true, "USER": true, "LOGNAME": true, "PWD": true, "OLDPWD": true,
	"IFS": true, "ENV": true, "BASH_ENV": true, "CDPATH": true, "PS1": true, "PS2": true, "PS4": true,
	"TERM": true, "TMPDIR": true, "TZ": true, "LANG": true, "HOSTNAME": true, "SSL_CERT_FILE": true, "SSL_CERT_DIR": true,
	"HTTP_PROXY": true, "HTTPS_PROXY": true, "NO_PROXY": true, "ALL_PROXY": true,
	"http_proxy": true, "https_proxy": true, "no_proxy": true, "all_proxy": true,
}

// reservedPrefixes: the dynamic loader's, the locale's, GitLab's predefined
// variables and keyless's own configuration.
var reservedPrefixes = []string{"LD_", "DYLD_", "LC_", "BASH_FUNC_", "CI_", "GITLAB_", "KEYLESS_"}

// CheckEnvName returns an error unless name can receive the issued token: a
// portable variable name that nothing else in the job depends on.
func CheckEnvName(name string) error {
	if !envName().MatchString(name) {
		return option.Errorf("%s %q is not a variable name: use letters, digits and '_', not starting with a digit", option.Ref(OptEnv), name)
	}
	if name == DefaultEnv {
		return nil
	}
	bad := reserved[name]
	for _, p := range reservedPrefixes {
		bad = bad || strings.HasPrefix(name, p)
	}
	if bad {
		return option.Errorf("%s %s would put the issued token in place of a variable the job, its shell or keyless depends on; "+
			"choose another name, such as %s or the one your tool reads (VAULT_TOKEN, …)", option.Ref(OptEnv), name, DefaultEnv)
	}
	return nil
}

// Env returns the token as the variable name, for exec and env modes. unset
// names variables to remove from the command's environment (the client
// secret's, which the command does not need).
func (c *Credentials) Env(name string, unset ...string) *exchange.Credentials {
	var u []string
	for _, n := range unset {
		if n != "" && n != name {
			u = append(u, n)
		}
	}
	return &exchange.Credentials{
		Provider:   "sts",
		Vars:       []exchange.Var{{Name: name, Value: c.AccessToken}},
		Unset:      u,
		Expiration: c.Expiration,
	}
}

// WriteJSON prints the issued token with the fields of RFC 8693 §2.2.1 that
// describe it, and its expiration as a time. A refresh token is never
// printed: keyless does not keep it.
func (c *Credentials) WriteJSON(w io.Writer) error {
	out := struct {
		AccessToken     string `json:"access_token"`
		IssuedTokenType string `json:"issued_token_type,omitempty"`
		TokenType       string `json:"token_type,omitempty"`
		ExpiresIn       int64  `json:"expires_in,omitempty"`
		ExpiresAt       string `json:"expires_at,omitempty"`
		Scope           string `json:"scope,omitempty"`
	}{
		AccessToken:     c.AccessToken.Reveal(),
		IssuedTokenType: c.IssuedTokenType,
		TokenType:       c.TokenType,
		ExpiresIn:       int64(c.ExpiresIn / time.Second),
		Scope:           c.Scope,
	}
	if !c.Expiration.IsZero() {
		out.ExpiresAt = c.Expiration.UTC().Format(time.RFC3339)
	}
	return exchange.WriteJSON(w, out)
}
