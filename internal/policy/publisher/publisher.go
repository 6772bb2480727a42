// Package publisher prints the trusted publisher a package registry asks
// for to accept a GitLab project's jobs (issue 18): PyPI's GitLab publisher
// (warehouse/oidc/models/gitlab.py: namespace, project, workflow_filepath,
// environment) and npm's GitLab CI/CD trusted publisher
// (https://docs.npmjs.com/trusted-publishers: namespace, project name,
// top-level CI file path, environment), with the `npm trust gitlab`
// command (npm 11.10.0 or later, https://docs.npmjs.com/cli/v11/commands/npm-trust),
// and crates.io's GitLab trusted publishing config (rust-lang/crates.io
// GitLabConfig: namespace, project, workflow_filepath, environment;
// https://crates.io/docs/trusted-publishing).
package publisher

import (
	"fmt"
	"path"
	"strings"

	"gitlab.com/keyless-ci/keyless/internal/idtoken"
	"gitlab.com/keyless-ci/keyless/internal/option"
	"gitlab.com/keyless-ci/keyless/internal/policy"
)

// OptCIConfig is the top-level pipeline file; OptPackage npm's package.
const (
	OptCIConfig option.Name = "ci-config"
	OptPackage  option.Name = "package"
)

// DefaultCIConfig is GitLab's default CI/CD configuration file.
const DefaultCIConfig = ".gitlab-ci.yml"

// Spec is the job a publisher admits.
type Spec struct {
	ProjectPath string // group/sub/project
	Environment string // "" admits jobs with any or no environment
	CIConfig    string // the project's top-level pipeline file
	Package     string // npm: the package name; "" uses package.json's
}

// Validate checks the spec; its messages name the options.
func (s Spec) Validate() error {
	if strings.Count(s.ProjectPath, "/") < 1 || strings.HasPrefix(s.ProjectPath, "/") || strings.HasSuffix(s.ProjectPath, "/") || strings.Contains(s.ProjectPath, "//") {
		return option.Invalid(policy.OptProject, s.ProjectPath, "give the project's full path, group/project or group/subgroup/project")
	}
	c := s.CIConfig
	if c == "" || path.IsAbs(c) || strings.Contains(c, "://") || strings.Contains(c, "@") || path.Clean(c) != c || strings.HasPrefix(c, "../") {
		return option.Invalid(OptCIConfig, c, "give the top-level pipeline file's path in the repository, as the project's CI/CD settings name it (default .gitlab-ci.yml); registries match a file of the project itself")
	}
	return nil
}

func (s Spec) fields(ciName string) string {
	i := strings.LastIndexByte(s.ProjectPath, '/')
	env := s.Environment
	if env == "" {
		env = "(empty: any job of the pipeline file may publish)"
	}
	return idtoken.FormatFields("  ", []idtoken.Field{
		{Name: "Namespace", Value: s.ProjectPath[:i]},
		{Name: "Project name", Value: s.ProjectPath[i+1:]},
		{Name: ciName, Value: s.CIConfig},
		{Name: "Environment name", Value: env},
	})
}

// Warnings are what makes the trust broader than it needs to be.
func (s Spec) Warnings(registry string) []string {
	if s.Environment != "" {
		return nil
	}
	return []string{fmt.Sprintf("no %s: every job that %s's %s runs, merge request pipelines included, can publish to %s; "+
		"give the publishing job an environment: that is protected (Settings > CI/CD > Protected environments) and pass it",
		option.Ref(policy.OptEnvironment), s.ProjectPath, s.CIConfig, registry)}
}

// PyPI is the GitLab publisher to add on PyPI (or TestPyPI), and the job
// that matches it.
func PyPI(s Spec) string {
	var b strings.Builder
	b.WriteString("On PyPI, add a GitLab trusted publisher: the project's Settings > Publishing\n" +
		"(https://pypi.org/manage/project/NAME/settings/publishing/), or, for a project that does not exist yet,\n" +
		"a pending publisher (https://pypi.org/manage/account/publishing/). TestPyPI: https://test.pypi.org.\n\n")
	b.WriteString(s.fields("Top-level pipeline file path"))
	b.WriteString("\nThe publishing job, in " + s.CIConfig + " itself or a file it includes (or extend the pypi component's\n" +
		".keyless-pypi, which declares the ID token and exports the token):\n\n")
	b.WriteString(job(s, "pypi", "PYPI_ID_TOKEN", "pypi", "keyless pypi --token-var PYPI_ID_TOKEN -- twine upload dist/*"))
	return b.String()
}

// Npm is the GitLab CI/CD trusted publisher to add on npmjs.com, the
// `npm trust` command that adds it, and the job that matches it.
func Npm(s Spec) string {
	pkg := s.Package
	if pkg == "" {
		pkg = "PACKAGE"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "On npmjs.com, add a GitLab CI/CD trusted publisher to the package (it must exist):\n"+
		"https://www.npmjs.com/package/%s/access, Trusted Publisher.\n\n", pkg)
	b.WriteString(s.fields("Top-level CI file path"))
	b.WriteString("\nOr, with npm 11.10.0 or later, logged in with write access and 2FA:\n\n  ")
	cmd := []string{"npm", "trust", "gitlab"}
	if s.Package != "" {
		cmd = append(cmd, shellWord(s.Package))
	}
	cmd = append(cmd, "--project", shellWord(s.ProjectPath), "--file", shellWord(s.CIConfig))
	if s.Environment != "" {
		cmd = append(cmd, "--environment", shellWord(s.Environment))
	}
	b.WriteString(strings.Join(cmd, " ") + "\n")
	if s.Package == "" {
		b.WriteString("  (in the package's directory: npm takes the name from package.json)\n")
	}
	b.WriteString("\nThe publishing job, in " + s.CIConfig + " itself or a file it includes (npm 11.5.1 or later exchanges\n" +
		"NPM_ID_TOKEN itself; for pnpm or yarn extend the npm component's .keyless-npm instead):\n\n")
	b.WriteString(job(s, "npm", "NPM_ID_TOKEN", "npm:registry.npmjs.org", "npm publish"))
	return b.String()
}

// Crates is the GitLab trusted publishing config to add to a crate on
// crates.io, and the job that matches it.
func Crates(s Spec) string {
	i := strings.LastIndexByte(s.ProjectPath, '/')
	env := s.Environment
	if env == "" {
		env = "(empty: any job of the pipeline file may publish)"
	}
	var b strings.Builder
	b.WriteString("On crates.io, add a GitLab trusted publishing config to the crate (it must exist: publish its first\n" +
		"version with an API token): https://crates.io/crates/NAME/settings, Trusted Publishing, Add, GitLab.\n\n")
	b.WriteString(idtoken.FormatFields("  ", []idtoken.Field{
		{Name: "Namespace", Value: s.ProjectPath[:i]},
		{Name: "Project", Value: s.ProjectPath[i+1:]},
		{Name: "Workflow filepath", Value: s.CIConfig},
		{Name: "Environment", Value: env},
	}))
	b.WriteString("\ncrates.io trusts ID tokens of GitLab.com only. The publishing job, in " + s.CIConfig + " itself or a file it\n" +
		"includes (or extend the crates component's .keyless-crates, which declares the ID token, exports the\n" +
		"token and revokes it in after_script):\n\n")
	b.WriteString(job(s, "crates", "CRATES_ID_TOKEN", "crates.io", "keyless crates --token-var CRATES_ID_TOKEN -- cargo publish"))
	return b.String()
}

func job(s Spec, name, tokenVar, aud, cmd string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "  publish-%s:\n", name)
	if s.Environment != "" {
		fmt.Fprintf(&b, "    environment: %s\n", yamlWord(s.Environment))
	}
	fmt.Fprintf(&b, "    id_tokens:\n      %s:\n        aud: %q\n    script:\n      - %s\n", tokenVar, aud, cmd)
	return b.String()
}

// shellWord quotes s for a POSIX shell unless it is plain.
func shellWord(s string) string {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("@%+=:,./_-", r)) {
			return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
		}
	}
	return s
}

func yamlWord(s string) string {
	if shellWord(s) == s && !strings.ContainsAny(s[:1], "@%:,-") {
		return s
	}
	return fmt.Sprintf("%q", s)
}
