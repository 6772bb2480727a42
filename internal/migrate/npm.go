package migrate

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"gitlab.com/keyless-ci/keyless/internal/lazyre"
	"gitlab.com/keyless-ci/keyless/internal/pipeline"
)

// The npm component needs the name of the package the job publishes
// (its package input: npm issues the token for that package only). It is
// the "name" of the package.json npm publish reads: the one in the
// directory the job publishes from (issue 18).

var (
	// npmrcWriteRe is a line that writes the stored token into an npmrc
	// for registry.npmjs.org, the component's registry.
	npmrcWriteRe = lazyre.New(`^(?:echo(?:\s+-[neE]+)?|printf\s+(?:'%s\\n'|"%s\\n"|'%s'|"%s"))\s+["']?//registry\.npmjs\.org/:_authToken=\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?["']?\s*>>?\s*("?[^\s;&|"]*\.npmrc"?)$`)
	// npmConfigRe is npm config set of the registry's _authToken.
	npmConfigRe = lazyre.New(`^(?:npm|pnpm)\s+config\s+set\s+["']?//registry\.npmjs\.org/:_authToken["']?(?:=|\s+)["']?\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?["']?(?:\s+--location[= ](?:user|project))?\s*$`)
	// npmPublishRe is a command that publishes the package.json of its
	// working directory.
	npmPublishRe = lazyre.New(`^(?:npm|pnpm|yarn)\s+publish\b|^yarn\s+npm\s+publish\b`)
	// projectDirRe is $CI_PROJECT_DIR at the start of a cd's directory.
	projectDirRe = lazyre.New(`^"?\$\{?CI_PROJECT_DIR\}?"?(?:/|$)`)
)

// npmLogin removes the lines that write the stored token into an npmrc:
// the component writes its own, which reads the exchanged token.
func npmLogin(line string, _ map[string]bool) ([]string, bool) {
	if m := npmrcWriteRe().FindStringSubmatch(line); m != nil {
		return []string{m[1]}, true
	}
	if m := npmConfigRe().FindStringSubmatch(line); m != nil {
		return []string{m[1]}, true
	}
	return nil, false
}

// npmIdentity is the npm identity of a job: the inputs the mapping or
// --npm-package give (base, when found), with the package the job's
// package.json names; or, when that cannot be read, the package the
// mapping or flag names; else the job is refused.
func (m *migrator) npmIdentity(u *use, v *pipeline.JobView, base Identity, found bool) (Identity, *Refusal) {
	id := Identity{Cloud: "npm", As: base.As, Inputs: map[string]string{}}
	for k, val := range base.Inputs {
		id.Inputs[k] = val
	}
	name, pos, why := m.npmPackage(v)
	if name != "" && why != "" {
		return id, m.refuse(u, ReasonDynamic, pos,
			why+" sets the registry's _authToken, which overrides the npmrc the component writes",
			"remove the _authToken line from "+why+", then run keyless migrate again")
	}
	if name != "" {
		id.Inputs["package"] = name
		return id, nil
	}
	if found && strings.TrimSpace(base.Inputs["package"]) != "" {
		return id, nil
	}
	return id, m.refuse(u, ReasonNpmPackage, pos, why,
		"pass --npm-package NAME (the \"name\" of the package.json the job publishes), or map "+u.refs[0]+" with package: NAME in a --map file, then run keyless migrate again")
}

// npmPackage reads the name of the package the job publishes: the
// package.json of the directory its first publish command runs in (the
// project directory, or where cd lines before it go). It returns why not
// when it cannot, and where.
func (m *migrator) npmPackage(v *pipeline.JobView) (name string, at pipeline.Pos, why string) {
	dir := "."
	for _, l := range v.Lines {
		for _, cmd := range shellCommands(l.Value) {
			f := strings.Fields(cmd)
			if len(f) == 0 {
				continue
			}
			switch {
			case f[0] == "cd" || f[0] == "pushd":
				if len(f) != 2 {
					return "", l.Pos, "the job changes directory with " + describe(cmd) + " before it publishes, to a directory migrate cannot tell"
				}
				d := f[1]
				if loc := projectDirRe().FindStringIndex(d); loc != nil {
					d = "/" + strings.TrimPrefix(d[loc[1]:], "/")
				}
				d = strings.Trim(d, `"'`)
				if strings.ContainsAny(d, "$`~*?") || d == "-" {
					return "", l.Pos, "the job publishes from a directory it names with a variable (cd " + d + "), which migrate does not resolve"
				}
				if strings.HasPrefix(d, "/") {
					dir = path.Clean("." + d)
				} else {
					dir = path.Join(dir, d)
				}
				if dir == ".." || strings.HasPrefix(dir, "../") {
					return "", l.Pos, "the job publishes from " + d + ", outside the project directory"
				}
			case npmPublishRe().MatchString(cmd):
				args := f[1:]
				for len(args) > 0 && args[0] != "publish" {
					args = args[1:]
				}
				for i := 1; i < len(args); i++ {
					switch w := args[i]; {
					case npmValueFlags[w]:
						i++
					case strings.HasPrefix(w, "-w") || strings.HasPrefix(w, "--workspace") || strings.HasPrefix(w, "--filter") || w == "-r" || w == "--recursive" ||
						w == "-C" || strings.HasPrefix(w, "--dir") || strings.HasPrefix(w, "--cwd") || strings.HasPrefix(w, "--prefix"):
						return "", l.Pos, "the job publishes several packages or another package (" + w + "): the component's token is for one package"
					case !strings.HasPrefix(w, "-"):
						return "", l.Pos, "the job publishes " + w + ", not the package.json of its working directory"
					}
				}
				return m.readPackageName(dir, l.Pos)
			}
		}
	}
	return "", pipeline.Pos{}, "migrate finds no npm, pnpm or yarn publish command in the job's lines to read the package from (semantic-release, lerna and changesets choose the package themselves)"
}

// npmValueFlags are publish flags of npm, pnpm and yarn 1 that take the
// next word as their value.
var npmValueFlags = map[string]bool{"--access": true, "--tag": true, "--otp": true, "--registry": true,
	"--publish-branch": true, "--new-version": true, "--message": true, "-m": true}

// readPackageName is the "name" of dir/package.json in the project; with
// it, as why, the project .npmrc there when it sets an _authToken, which
// would override the component's npmrc.
func (m *migrator) readPackageName(dir string, at pipeline.Pos) (string, pipeline.Pos, string) {
	rel := path.Join(dir, "package.json")
	b, err := os.ReadFile(filepath.Join(m.p.Root, filepath.FromSlash(rel)))
	if errors.Is(err, fs.ErrNotExist) {
		return "", at, "the job publishes from " + dir + ", which has no package.json in the project"
	}
	if err != nil {
		return "", at, fmt.Sprintf("reading %s: %v", rel, err)
	}
	var pkg struct {
		Name any `json:"name"`
	}
	if err := json.Unmarshal(b, &pkg); err != nil {
		return "", at, fmt.Sprintf("%s is not JSON migrate can read: %v", rel, err)
	}
	name, _ := pkg.Name.(string)
	switch {
	case name == "":
		return "", at, rel + " has no \"name\""
	case !npmNameRe().MatchString(name):
		return "", at, fmt.Sprintf("the \"name\" in %s, %q, is not a package name (a variable or template filled in at build time?)", rel, name)
	}
	if b, err := os.ReadFile(filepath.Join(m.p.Root, filepath.FromSlash(path.Join(dir, ".npmrc")))); err == nil && strings.Contains(string(b), "_authToken") {
		return name, at, path.Join(dir, ".npmrc")
	}
	return name, at, ""
}

// npmNameRe is an npm package name: lowercase, URL-safe, optionally
// @scope/ (https://docs.npmjs.com/cli/configuring-npm/package-json#name).
var npmNameRe = lazyre.New(`^(?:@[a-z0-9][a-z0-9._~-]*/)?[a-z0-9][a-z0-9._~-]*$`)

// shellCommands splits a script line into its simple commands, at
// newlines, && , || and ;.
func shellCommands(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		for _, a := range strings.Split(l, "&&") {
			for _, b := range strings.Split(a, "||") {
				for _, c := range strings.Split(b, ";") {
					if c = strings.TrimSpace(c); c != "" {
						out = append(out, c)
					}
				}
			}
		}
	}
	return out
}
