package crates

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"gitlab.com/keyless-ci/keyless/internal/exchange"
	"gitlab.com/keyless-ci/keyless/internal/secret"
)

// TokenVar is the variable cargo reads the token of a registry from:
// CARGO_REGISTRY_TOKEN for crates.io, CARGO_REGISTRIES_<NAME>_TOKEN for the
// registry NAME, upper case with '-' as '_'
// (https://doc.rust-lang.org/cargo/reference/config.html#registriesnametoken,
// #registrytoken).
func TokenVar(registry string) string {
	if registry == "" {
		return "CARGO_REGISTRY_TOKEN"
	}
	return "CARGO_REGISTRIES_" + strings.ToUpper(strings.ReplaceAll(registry, "-", "_")) + "_TOKEN"
}

// Env returns the token as cargo reads it for registry ("" is crates.io).
// It unsets CARGO_REGISTRY_CREDENTIAL_PROVIDER (or the named registry's),
// which would have cargo ask a credential provider instead of reading the
// token (https://doc.rust-lang.org/cargo/reference/registry-authentication.html).
func (c *Credentials) Env(registry string) *exchange.Credentials {
	provider := "CARGO_REGISTRY_CREDENTIAL_PROVIDER"
	if registry != "" {
		provider = strings.TrimSuffix(TokenVar(registry), "_TOKEN") + "_CREDENTIAL_PROVIDER"
	}
	return &exchange.Credentials{
		Provider:   "crates",
		Vars:       []exchange.Var{{Name: TokenVar(registry), Value: c.Token}},
		Unset:      []string{provider},
		Expiration: c.Expiration,
	}
}

// WriteJSON prints the token with the registry and its expiry.
func (c *Credentials) WriteJSON(w io.Writer) error {
	out := struct {
		Token     string `json:"token"`
		Registry  string `json:"registry"`
		Audience  string `json:"audience"`
		ExpiresAt string `json:"expires_at,omitempty"`
	}{Token: c.Token.Reveal(), Registry: c.Registry, Audience: c.Audience}
	if !c.Expiration.IsZero() {
		out.ExpiresAt = c.Expiration.UTC().Format(time.RFC3339)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// State is what `keyless cleanup` needs to revoke a token env or json mode
// handed to the job: the registry and the token. It lives in a 0600 file of
// the job's state directory; only such a file of this user's is believed
// (exchange.ReadStateFiles), since it says where the token is sent.
type State struct {
	Registry   string // the registry's base URL
	Token      secret.Token
	Expiration time.Time
}

type stateFile struct {
	Registry   string    `json:"registry"`
	Token      string    `json:"token"`
	Expiration time.Time `json:"expiration,omitzero"`
}

// StatePattern matches the state files in a state directory.
const StatePattern = "crates-token-*.json"

// SaveState writes s to a new file in dir and returns its path.
func SaveState(dir string, s State) (string, error) {
	b, err := json.Marshal(stateFile{Registry: s.Registry, Token: s.Token.Reveal(), Expiration: s.Expiration})
	if err != nil {
		return "", err
	}
	return exchange.NewStateFile(dir, StatePattern, b)
}

// SavedState is a state file found in a state directory.
type SavedState struct {
	Path  string
	State State
}

// LoadStates reads every state file in dir, oldest first; a missing dir
// has none.
func LoadStates(dir string) ([]SavedState, error) {
	files, err := exchange.ReadStateFiles(dir, StatePattern)
	errs := []error{err}
	var out []SavedState
	for _, sf := range files {
		var f stateFile
		if err := json.Unmarshal(sf.Data, &f); err != nil || f.Token == "" || f.Registry == "" {
			errs = append(errs, fmt.Errorf("state file %q is not keyless's; remove it", sf.Path))
			continue
		}
		out = append(out, SavedState{Path: sf.Path, State: State{Registry: f.Registry, Token: secret.New(f.Token), Expiration: f.Expiration}})
	}
	return out, errors.Join(errs...)
}
