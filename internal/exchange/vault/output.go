package vault

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"time"

	"gitlab.com/keyless-ci/keyless/internal/exchange"
	"gitlab.com/keyless-ci/keyless/internal/secret"
)

// competing are the variables that would take precedence over the token
// --export-token hands the job.
var competing = []string{"VAULT_AGENT_ADDR", "BAO_ADDR", "BAO_AGENT_ADDR", "BAO_NAMESPACE", "BAO_TOKEN"}

func plain(name, value string) exchange.Var {
	return exchange.Var{Name: name, Value: secret.New(value)}
}

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
		vars = append(vars, plain("VAULT_ADDR", c.Addr), exchange.Var{Name: "VAULT_TOKEN", Value: c.Token})
		if c.Namespace != "" {
			vars = append(vars, plain("VAULT_NAMESPACE", c.Namespace))
		} else {
			unset = append(unset, "VAULT_NAMESPACE")
		}
		unset = append(unset, competing...)
		sort.Strings(unset)
	}
	return &exchange.Credentials{Provider: "vault", Vars: vars, Unset: unset, Expiration: c.Expiration, Files: append([]string(nil), c.Files...)}
}

// WriteFiles writes each --secret-file value to its file, mode 0600 in a
// 0700 directory, atomically and never through a symlink, and lists the
// files in c.Files. The caller checks where the files may go.
func (c *Credentials) WriteFiles() error {
	for _, v := range c.Values {
		if v.Ref.File == "" {
			continue
		}
		if err := exchange.WriteSecretFile(v.Ref.File, []byte(v.Value.Reveal())); err != nil {
			return err
		}
		c.Files = append(c.Files, v.Ref.File)
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
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// State is what `keyless vault revoke` needs when env mode did not hand
// the token to the job: where the token is valid, the token, and the files
// to delete. It lives in a 0600 file in the job's state directory, which
// `keyless cleanup` removes.
type State struct {
	Addr       string
	Namespace  string
	TLS        TLS
	Token      secret.Token
	Accessor   string
	Expiration time.Time
	Files      []string
}

// State returns the state of c.
func (c *Credentials) State() State {
	return State{Addr: c.Addr, Namespace: c.Namespace, TLS: c.TLS, Token: c.Token, Accessor: c.Accessor,
		Expiration: c.Expiration, Files: append([]string(nil), c.Files...)}
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
}

// StatePattern matches the state files in a state directory.
const StatePattern = "vault-token-*.json"

// SaveState writes s to a new file in dir (one per login, so several
// logins in one job are all revoked) and returns its path.
func SaveState(dir string, s State) (string, error) {
	b, err := json.Marshal(stateFile{Addr: s.Addr, Namespace: s.Namespace, TLS: s.TLS, Token: s.Token.Reveal(),
		Accessor: s.Accessor, Expiration: s.Expiration, Files: s.Files})
	if err != nil {
		return "", err
	}
	var id [6]byte
	rand.Read(id[:])
	p := filepath.Join(dir, "vault-token-"+hex.EncodeToString(id[:])+".json")
	if err := exchange.WriteSecretFile(p, b); err != nil {
		return "", err
	}
	return p, nil
}

// SavedState is a state file found in a state directory.
type SavedState struct {
	Path  string
	State State
}

// LoadStates reads every state file in dir, oldest first; a missing dir has
// none.
func LoadStates(dir string) ([]SavedState, error) {
	paths, err := filepath.Glob(filepath.Join(dir, StatePattern))
	if err != nil {
		return nil, err
	}
	type found struct {
		SavedState
		mod time.Time
	}
	var all []found
	var errs []error
	for _, p := range paths {
		fi, err := os.Lstat(p)
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		var f stateFile
		if err := json.Unmarshal(b, &f); err != nil || f.Token == "" {
			errs = append(errs, fmt.Errorf("state file %q is not keyless's; remove it", p))
			continue
		}
		all = append(all, found{SavedState{Path: p, State: State{Addr: f.Addr, Namespace: f.Namespace, TLS: f.TLS,
			Token: secret.New(f.Token), Accessor: f.Accessor, Expiration: f.Expiration, Files: f.Files}}, fi.ModTime()})
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].mod.Before(all[j].mod) })
	out := make([]SavedState, len(all))
	for i, f := range all {
		out[i] = f.SavedState
	}
	return out, errors.Join(errs...)
}
