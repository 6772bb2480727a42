// Package exchange is the provider-neutral contract between a credential
// exchange and the job: the variables a provider hands to the job's command,
// and the output modes that deliver them (exec, env, files).
package exchange

import (
	"context"
	"errors"
	"sort"
	"time"

	"gitlab.com/keyless-ci/keyless/internal/option"
	"gitlab.com/keyless-ci/keyless/internal/secret"
)

// OptTimeout is an exchange's deadline, retries included, which the
// advice of every provider asks to raise (package option).
const OptTimeout option.Name = "timeout"

// Var is one environment variable a provider sets for the job's command.
type Var struct {
	Name  string
	Value secret.Token
}

// Plain is a variable whose value is no secret (a region, a file's path).
func Plain(name, value string) Var {
	return Var{Name: name, Value: secret.New(value)}
}

// UnsetExcept is the names in competing that vars does not set: the
// inherited variables a provider's credentials remove.
func UnsetExcept(competing []string, vars []Var) []string {
	set := map[string]bool{}
	for _, v := range vars {
		set[v.Name] = true
	}
	var out []string
	for _, n := range competing {
		if !set[n] {
			out = append(out, n)
		}
	}
	return out
}

// Credentials is what a provider hands to the job.
type Credentials struct {
	// Provider names the provider, e.g. "aws".
	Provider string
	// Vars are set in the command's environment.
	Vars []Var
	// Unset are inherited variables that would compete with Vars (another
	// credential source the SDKs would prefer or mix in); they are removed.
	Unset []string
	// Expiration is when the credentials stop working; zero if unknown.
	Expiration time.Time
	// Files lists files written for the job (token files, profiles) that
	// hold secrets; Cleanup removes them.
	Files []string
	// Dirs lists the directories keyless created for Files, parents
	// first; Cleanup removes them once empty, and no other (issue 13).
	Dirs []string
	// Close, when set, ends the credentials at their issuer (it revokes a
	// Vault token). keyless exec calls it once the command has exited; in
	// env mode the component's after_script does that job instead.
	Close func(context.Context) error
}

// CloseAll calls Close, if any, and Cleanup, and joins their errors.
func (c *Credentials) CloseAll(ctx context.Context) error {
	var err error
	if c.Close != nil {
		err = c.Close(ctx)
	}
	return errors.Join(err, c.Cleanup())
}

// Merge combines the credentials of several providers. A variable set by a
// later provider wins; a name one provider sets is never unset by another.
func Merge(all ...*Credentials) *Credentials {
	out := &Credentials{Provider: "merged"}
	var closers []func(context.Context) error
	set := map[string]int{}
	unset := map[string]bool{}
	for _, c := range all {
		if c == nil {
			continue
		}
		for _, v := range c.Vars {
			if i, ok := set[v.Name]; ok {
				out.Vars[i] = v
				continue
			}
			set[v.Name] = len(out.Vars)
			out.Vars = append(out.Vars, v)
		}
		for _, u := range c.Unset {
			unset[u] = true
		}
		if !c.Expiration.IsZero() && (out.Expiration.IsZero() || c.Expiration.Before(out.Expiration)) {
			out.Expiration = c.Expiration
		}
		out.Files = append(out.Files, c.Files...)
		out.Dirs = append(out.Dirs, c.Dirs...)
		if c.Close != nil {
			closers = append(closers, c.Close)
		}
	}
	if len(closers) > 0 {
		out.Close = func(ctx context.Context) error {
			var errs []error
			for _, f := range closers {
				errs = append(errs, f(ctx))
			}
			return errors.Join(errs...)
		}
	}
	for u := range unset {
		if _, ok := set[u]; !ok {
			out.Unset = append(out.Unset, u)
		}
	}
	sort.Strings(out.Unset)
	if len(all) == 1 && all[0] != nil {
		out.Provider = all[0].Provider
	}
	return out
}

// Environ returns base with c's Unset and Vars removed and c's Vars
// appended: the environment of the job's command.
func (c *Credentials) Environ(base []string) []string {
	drop := map[string]bool{}
	for _, u := range c.Unset {
		drop[u] = true
	}
	for _, v := range c.Vars {
		drop[v.Name] = true
	}
	out := make([]string, 0, len(base)+len(c.Vars))
	for _, kv := range base {
		name := kv
		for i := 0; i < len(kv); i++ {
			if kv[i] == '=' {
				name = kv[:i]
				break
			}
		}
		if !drop[name] {
			out = append(out, kv)
		}
	}
	for _, v := range c.Vars {
		out = append(out, v.Name+"="+v.Value.Reveal())
	}
	return out
}
