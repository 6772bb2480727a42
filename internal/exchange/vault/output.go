package vault

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"time"

	"gitlab.com/keyless-ci/keyless/internal/exchange"
	"gitlab.com/keyless-ci/keyless/internal/secret"
)

// competing are the variables that would take precedence over the token
// --export-token hands the job.
var competing = []string{"VAULT_AGENT_ADDR", "BAO_ADDR", "BAO_AGENT_ADDR", "BAO_NAMESPACE", "BAO_TOKEN"}

// Env returns what the job's command gets: each --secret in its variable
// and, with exportToken, the token as the vault CLI and the SDKs read it
// (VAULT_ADDR, VAULT_TOKEN, VAULT_NAMESPACE). Variables that would win
// over them are then unset: VAULT_AGENT_ADDR (the CLI and SDKs would send
// the token to that agent instead of VAULT_ADDR) and OpenBao's BAO_*, which
// the bao CLI prefers to VAULT_*. Files lists the --secret-file files
// written.
// https://developer.hashicorp.com/vault/docs/commands#configure-environment-variables
func (c *Credentials) Env(exportToken bool) *exchange.Credentials {
	var vars []exchange.Var
	for _, v := range c.Values {
		if v.Ref.Env != "" {
			vars = append(vars, exchange.Var{Name: v.Ref.Env, Value: v.Value})
		}
	}
	var unset []string
	if exportToken {
		vars = append(vars, exchange.Plain("VAULT_ADDR", c.Addr), exchange.Var{Name: "VAULT_TOKEN", Value: c.Token})
		if c.Namespace != "" {
			vars = append(vars, exchange.Plain("VAULT_NAMESPACE", c.Namespace))
		} else {
			unset = append(unset, "VAULT_NAMESPACE")
		}
		unset = append(unset, competing...)
		sort.Strings(unset)
	}
	return &exchange.Credentials{Provider: "vault", Vars: vars, Unset: unset, Expiration: c.Expiration,
		Files: append([]string(nil), c.Files...), Dirs: append([]string(nil), c.Dirs...)}
}

// WriteFiles writes each --secret-file value to its file, mode 0600,
// atomically, never through a symlink and never in a directory another
// user can write to (exchange.WriteSecretFile), and lists the files in
// c.Files and the directories it created for them in c.Dirs. The caller
// checks where the files may go.
func (c *Credentials) WriteFiles() error {
	for _, v := range c.Values {
		if v.Ref.File == "" {
			continue
		}
		created, err := exchange.WriteSecretFile(v.Ref.File, []byte(v.Value.Reveal()))
		if err != nil {
			return err
		}
		c.Files = append(c.Files, v.Ref.File)
		c.Dirs = append(c.Dirs, created...)
	}
	return nil
}

// WriteJSON prints the variables Env sets, name to value, with the files
// written and the token's lifetime and policies.
func (c *Credentials) WriteJSON(w io.Writer, exportToken bool) error {
	env := map[string]string{}
	for _, v := range c.Env(exportToken).Vars {
		env[v.Name] = v.Value.Reveal()
	}
	out := struct {
		Env        map[string]string `json:"env"`
		Files      []string          `json:"files,omitempty"`
		Expiration string            `json:"expiration,omitempty"`
		Policies   []string          `json:"policies"`
		Renewable  bool              `json:"renewable"`
	}{Env: env, Files: c.Files, Policies: c.Policies, Renewable: c.Renewable}
	if !c.Expiration.IsZero() {
		out.Expiration = c.Expiration.UTC().Format(time.RFC3339)
	}
	return exchange.WriteJSON(w, out)
}

// State is what `keyless vault revoke` needs when env mode did not hand
// the token to the job: where the token is valid, the token, and the files
// to delete with the directories keyless created for them. It lives in a
// 0600 file in the job's state directory, which `keyless cleanup` removes;
// only such a file of this user's is believed (exchange.ReadStateFiles).
type State struct {
	Addr       string
	Namespace  string
	TLS        TLS
	Token      secret.Token
	Accessor   string
	Expiration time.Time
	Files      []string
	Dirs       []string
}

// State returns the state of c.
func (c *Credentials) State() State {
	return State{Addr: c.Addr, Namespace: c.Namespace, TLS: c.TLS, Token: c.Token, Accessor: c.Accessor,
		Expiration: c.Expiration, Files: append([]string(nil), c.Files...), Dirs: append([]string(nil), c.Dirs...)}
}

// stateFile is State on disk; the token leaves the process here, into a
// file only the job's user can read.
type stateFile struct {
	Addr       string    `json:"addr"`
	Namespace  string    `json:"namespace,omitempty"`
	TLS        TLS       `json:"tls,omitzero"`
	Token      string    `json:"token"`
	Accessor   string    `json:"accessor,omitempty"`
	Expiration time.Time `json:"expiration,omitzero"`
	Files      []string  `json:"files,omitempty"`
	Dirs       []string  `json:"dirs,omitempty"`
}

// StatePattern matches the state files in a state directory.
const StatePattern = "vault-token-*.json"

// SaveState writes s to a new file in dir (one per login, so several
// logins in one job are all revoked) and returns its path.
func SaveState(dir string, s State) (string, error) {
	b, err := json.Marshal(stateFile{Addr: s.Addr, Namespace: s.Namespace, TLS: s.TLS, Token: s.Token.Reveal(),
		Accessor: s.Accessor, Expiration: s.Expiration, Files: s.Files, Dirs: s.Dirs})
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

// LoadStates reads every state file in dir, oldest first; a missing dir has
// none. Only files that are this user's and private count: the address a
// token is sent to, and the files deleted, come from nowhere else
// (exchange.ReadStateFiles).
func LoadStates(dir string) ([]SavedState, error) {
	files, err := exchange.ReadStateFiles(dir, StatePattern)
	errs := []error{err}
	var out []SavedState
	for _, sf := range files {
		var f stateFile
		if err := json.Unmarshal(sf.Data, &f); err != nil || f.Token == "" {
			errs = append(errs, fmt.Errorf("state file %q is not keyless's; remove it", sf.Path))
			continue
		}
		out = append(out, SavedState{Path: sf.Path, State: State{Addr: f.Addr, Namespace: f.Namespace, TLS: f.TLS,
			Token: secret.New(f.Token), Accessor: f.Accessor, Expiration: f.Expiration, Files: f.Files, Dirs: f.Dirs}})
	}
	return out, errors.Join(errs...)
}
