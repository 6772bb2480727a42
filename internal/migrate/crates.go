package migrate

import (
	"os"
	"path/filepath"
	"slices"
	"strings"

	"gitlab.com/keyless-ci/keyless/internal/lazyre"
	"gitlab.com/keyless-ci/keyless/internal/pipeline"
)

// The crates component (issue 18) exports the token crates.io issues as
// CARGO_REGISTRY_TOKEN, which cargo publish reads for crates.io
// (https://doc.rust-lang.org/cargo/reference/config.html#registrytoken),
// and exchanges with https://crates.io by default (templates/crates.yml,
// registry_url). migrate moves a job that publishes there: it removes
// cargo login with the stored token and the --token argument of cargo
// publish; a job that publishes to another registry, or writes a token
// into cargo's credentials file or CARGO_REGISTRY_TOKEN itself, is
// refused.

var (
	// cargoLoginRe is cargo login with a stored token as its argument or
	// on its standard input, for crates.io.
	cargoLoginRe = lazyre.New(`^(?:(?:echo(?:\s+-n)?|printf\s+(?:'%s'|"%s"|'%s\\n'|"%s\\n"))\s+` + refRe + `\s*\|\s*)?cargo\s+login(?:\s+--registry[= ]crates-io)?(?:\s+--)?(?:\s+` + refRe + `)?\s*$`)
	// cargoTokenRe is the --token argument of a cargo publish line, with
	// the blanks before it: what migrate takes out.
	cargoTokenRe = lazyre.New(`\s+--token(?:=|\s+)` + refRe + `(?:\s|$)`)
	// cargoCredentialsRe names cargo's credentials file
	// (https://doc.rust-lang.org/cargo/reference/config.html#credentials).
	cargoCredentialsRe = lazyre.New(`(?:\.cargo|CARGO_HOME\}?)/credentials(?:\.toml)?\b`)
	// cargoTokenSetRe sets CARGO_REGISTRY_TOKEN: the component's export
	// would be replaced.
	cargoTokenSetRe = lazyre.New(`(?:^|[\s;&|(])(?:export\s+)?CARGO_REGISTRY_TOKEN=`)
	// cargoDefaultRe is the default registry set in a cargo config file,
	// as registry.default or default in the [registry] table.
	cargoDefaultRe = lazyre.New(`(?m)^\s*(?:registry\.)?default\s*=\s*["']([^"']*)["']`)
)

// cratesIO is cargo's name for crates.io (--registry crates-io).
const cratesIO = "crates-io"

// cratesLogin removes cargo login with a stored token, and the --token
// argument of a cargo publish line that is one simple command: cargo
// reads the component's CARGO_REGISTRY_TOKEN itself. A --token elsewhere
// is refused by cratesCheck.
func cratesLogin(line string, _ map[string]bool) ([]string, bool) {
	if m := cargoLoginRe().FindStringSubmatch(line); m != nil && (m[1] != "") != (m[2] != "") {
		return storedRefs(m[1] + m[2]), true
	}
	f := strings.Fields(line)
	if len(f) < 3 || f[0] != "cargo" || f[1] != "publish" || !cratesEditable(line) {
		return nil, false
	}
	ms := cargoTokenRe().FindAllStringSubmatch(line, -1)
	if len(ms) != 1 || strings.Count(line, "--token") != 1 {
		return nil, false
	}
	return storedRefs(ms[0][1]), true
}

// storedRefs is ref, unless it is CARGO_REGISTRY_TOKEN: that one is the
// stored variable only when no variables: entry maps another into it,
// and classify then names it.
func storedRefs(ref string) []string {
	if ref == "" || ref == "CARGO_REGISTRY_TOKEN" {
		return nil
	}
	return []string{ref}
}

// cratesEditable reports whether a line is one simple command migrate
// can edit: no pipes, lists, redirections or substitutions.
func cratesEditable(line string) bool {
	return !strings.ContainsAny(line, ";&|<>`\n") && !strings.Contains(line, "$(")
}

// cratesReplace is what takes a removed line's place: cargo publish
// without its --token argument; nothing for cargo login.
func cratesReplace(line string) string {
	if !strings.HasPrefix(line, "cargo publish") {
		return ""
	}
	// The match ends at the blank after the value, or at the end.
	loc := cargoTokenRe().FindStringIndex(line)
	if rest := line[loc[1]:]; rest != "" {
		return line[:loc[0]] + " " + rest
	}
	return line[:loc[0]]
}

// cratesCheck refuses a crates.io job migrate cannot move safely: it
// publishes to a registry other than crates.io, passes --token where
// migrate does not edit it, or writes a token where cargo reads it
// before the component's (cargo's credentials file, CARGO_REGISTRY_TOKEN).
func (m *migrator) cratesCheck(u *use, v *pipeline.JobView, removed map[*pipeline.Node]bool) *Refusal {
	for _, vr := range v.Variables {
		if vr.Name == "CARGO_REGISTRY_DEFAULT" {
			if name := strings.Trim(strings.TrimSpace(vr.Value.Value), `"'`); name != "" && name != cratesIO {
				return m.refuseRegistry(u, vr.KeyPos, "variables: CARGO_REGISTRY_DEFAULT makes "+name+" the registry cargo publish publishes to")
			}
		}
	}
	for _, f := range []string{".cargo/config.toml", ".cargo/config"} {
		b, err := os.ReadFile(filepath.Join(m.p.Root, filepath.FromSlash(f)))
		if err != nil {
			continue
		}
		if mm := cargoDefaultRe().FindSubmatch(b); mm != nil && string(mm[1]) != cratesIO {
			return m.refuseRegistry(u, pipeline.Pos{File: f}, f+" makes "+string(mm[1])+" the default registry cargo publish publishes to")
		}
	}
	for _, l := range v.Lines {
		for _, cmd := range shellCommands(l.Value) {
			f := strings.Fields(cmd)
			if len(f) < 2 || f[0] != "cargo" || f[1] != "publish" {
				continue
			}
			for i, w := range f[2:] {
				name := ""
				switch {
				case w == "--registry" && i+3 < len(f):
					name = f[i+3]
				case strings.HasPrefix(w, "--registry="):
					name = strings.TrimPrefix(w, "--registry=")
				case w == "--index" || strings.HasPrefix(w, "--index="):
					return m.refuseRegistry(u, l.Pos, "cargo publish --index publishes to the registry of that index, not crates.io")
				}
				if name = strings.Trim(name, `"'`); name != "" && name != cratesIO {
					return m.refuseRegistry(u, l.Pos, "cargo publish --registry "+name+" publishes to a registry other than crates.io")
				}
			}
			if strings.Contains(cmd, "--token") && !removed[l] {
				return m.refuse(u, ReasonDynamic, l.Pos,
					"cargo publish passes --token on a line migrate does not edit (a list, pipe or substitution, a block of lines, or a value that is not one variable)",
					"take --token and its value out of that cargo publish by hand (cargo reads the CARGO_REGISTRY_TOKEN the component exports), then run keyless migrate again")
			}
		}
	}
	for _, l := range v.Lines {
		if removed[l] {
			continue
		}
		if cargoCredentialsRe().MatchString(l.Value) {
			return m.refuse(u, ReasonDynamic, l.Pos,
				"a script line writes or reads cargo's credentials file, where a token the job builds would stay in use",
				"remove the lines that write ~/.cargo/credentials.toml (the component exports CARGO_REGISTRY_TOKEN, which cargo reads instead), then run keyless migrate again")
		}
		if cargoTokenSetRe().MatchString(l.Value) {
			return m.refuse(u, ReasonDynamic, l.Pos,
				"a script line sets CARGO_REGISTRY_TOKEN itself, which would replace the token the component exports",
				"remove that line (the component exports CARGO_REGISTRY_TOKEN), then run keyless migrate again")
		}
	}
	// A variables: entry that maps a stored token into one of the names
	// the job passes to --token: the stored one is the mapped variable.
	var mapped []string
	for _, r := range u.removals {
		if name, ok := strings.CutPrefix(r.what, "variables: "); ok {
			mapped = append(mapped, name)
		}
	}
	u.refs = slices.DeleteFunc(u.refs, func(ref string) bool { return slices.Contains(mapped, ref) })
	return nil
}

// refuseRegistry refuses a job that publishes to a registry other than
// crates.io: the component exchanges with crates.io unless its
// registry_url names a registry that implements crates.io's trusted
// publishing, which migrate cannot tell.
func (m *migrator) refuseRegistry(u *use, pos pipeline.Pos, msg string) *Refusal {
	return m.refuse(u, ReasonRegistry, pos, msg,
		"keep that registry's token, or, if it implements crates.io's trusted publishing, include the crates component with registry: NAME and registry_url: its URL and extend .keyless-crates by hand")
}
