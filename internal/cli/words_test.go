//go:build !keyless_slim

package cli

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"gitlab.com/keyless-ci/keyless/internal/exchange"
	"gitlab.com/keyless-ci/keyless/internal/exchange/aws"
	"gitlab.com/keyless-ci/keyless/internal/exchange/azure"
	"gitlab.com/keyless-ci/keyless/internal/exchange/gcp"
	"gitlab.com/keyless-ci/keyless/internal/exchange/vault"
	"gitlab.com/keyless-ci/keyless/internal/option"
)

// declaredOption is a constant of type option.Name in a domain package.
type declaredOption struct {
	pkg, name string // "exchange/aws", "OptDuration"
	value     option.Name
}

// declaredOptions reads every package under internal/ but this one and
// option itself for the option names it declares.
func declaredOptions(t *testing.T) []declaredOption {
	t.Helper()
	var out []declaredOption
	root := filepath.Join("..")
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		pkg := filepath.ToSlash(filepath.Dir(path))[len("../"):]
		if pkg == "cli" || pkg == "option" {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
		if err != nil {
			return err
		}
		for _, decl := range f.Decls {
			g, ok := decl.(*ast.GenDecl)
			if !ok || g.Tok != token.CONST {
				continue
			}
			for _, spec := range g.Specs {
				vs := spec.(*ast.ValueSpec)
				if !isOptionName(vs.Type) {
					continue
				}
				for i, n := range vs.Names {
					lit, ok := vs.Values[i].(*ast.BasicLit)
					if !ok {
						t.Errorf("%s: %s is not a string literal", path, n.Name)
						continue
					}
					v, _ := strconv.Unquote(lit.Value)
					out = append(out, declaredOption{pkg, n.Name, option.Name(v)})
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) == 0 {
		t.Fatal("no option.Name constants found under internal/")
	}
	return out
}

func isOptionName(e ast.Expr) bool {
	s, ok := e.(*ast.SelectorExpr)
	if !ok {
		return false
	}
	x, ok := s.X.(*ast.Ident)
	return ok && x.Name == "option" && s.Sel.Name == "Name"
}

// commandFlags are the flags of the command at path ("policy aws").
func commandFlags(t *testing.T, app *cli.App, path string) []cli.Flag {
	t.Helper()
	cmds := app.Commands
	var cmd *cli.Command
	for _, name := range strings.Fields(path) {
		i := slices.IndexFunc(cmds, func(c *cli.Command) bool { return c.Name == name })
		if i < 0 {
			t.Fatalf("no command %q", path)
		}
		cmd = cmds[i]
		cmds = cmd.Subcommands
	}
	return cmd.Flags
}

func hasFlag(flags []cli.Flag, name string) bool {
	for _, f := range flags {
		if slices.Contains(f.Names(), name) {
			return true
		}
	}
	return false
}

// Every option a domain package declares maps to a flag of each command
// that reads it, and every entry of the CLI's maps names a flag of its
// command: renaming a flag without its map fails here, not in front of a
// user (issue 14).
func TestOptionFlags(t *testing.T) {
	app := newApp(Env{})
	maps := map[string]optionFlags{"token": tokenOptionFlags, "report": reportOptionFlags}
	var providerNames, policyCommands []string
	for _, p := range providers {
		maps[p.name] = p.optionFlags()
		providerNames = append(providerNames, p.name)
	}
	for _, p := range policyProviders() {
		maps["policy "+p.Name()] = policyOptionFlags
		maps["explain "+p.Name()] = explainOptionFlags(p)
		policyCommands = append(policyCommands, "policy "+p.Name())
	}
	// Which commands read the options of each package.
	readers := map[string][]string{
		"exchange": providerNames,
		"idtoken":  append(slices.Clone(providerNames), "token"),
		"policy":   policyCommands,
		"report":   {"report"},
	}
	for _, p := range providerNames {
		readers["exchange/"+p] = []string{p}
	}
	for _, p := range policyProviders() {
		readers["policy/"+p.Name()] = []string{p.Name(), "explain " + p.Name()}
	}
	// keyless policy pypi|npm (issue 18): npm reads every option of
	// policy/publisher, pypi all but --package.
	maps["policy pypi"], maps["policy npm"] = pypiPolicyFlags, npmPolicyFlags
	readers["policy/publisher"] = []string{"policy npm"}

	name := regexp.MustCompile(`^[a-z][a-z0-9-]*$`)
	for _, d := range declaredOptions(t) {
		if !name.MatchString(string(d.value)) {
			t.Errorf("%s.%s = %q: an option's name is lowercase words joined by -", d.pkg, d.name, d.value)
		}
		cmds, ok := readers[d.pkg]
		if !ok {
			t.Errorf("%s declares %s, and no command is known to read %s's options: add it to readers", d.pkg, d.name, d.pkg)
		}
		for _, c := range cmds {
			flag, ok := maps[c][d.value]
			switch {
			case !ok:
				t.Errorf("keyless %s reads %s.%s (%q), and its map has no flag for it", c, d.pkg, d.name, d.value)
			case !hasFlag(commandFlags(t, app, c), flag):
				t.Errorf("keyless %s maps %s.%s to --%s, which it does not have", c, d.pkg, d.name, flag)
			}
		}
	}
	for c, m := range maps {
		flags := commandFlags(t, app, c)
		for n, flag := range m {
			if !hasFlag(flags, flag) {
				t.Errorf("keyless %s maps %q to --%s, which it does not have", c, n, flag)
			}
		}
	}
}

// What the CLI names by its own flags (flagRef) is a flag of some command.
func TestFlagRefsNameFlags(t *testing.T) {
	app := newApp(Env{})
	var all []cli.Flag
	var walk func([]*cli.Command)
	walk = func(cmds []*cli.Command) {
		for _, c := range cmds {
			all = append(all, c.Flags...)
			walk(c.Subcommands)
		}
	}
	walk(app.Commands)
	files, _ := filepath.Glob("*.go")
	n := 0
	for _, path := range files {
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(x ast.Node) bool {
			call, ok := x.(*ast.CallExpr)
			if id, isID := callee(call); !ok || !isID || id != "flagRef" || len(call.Args) != 1 {
				return true
			}
			lit, ok := call.Args[0].(*ast.BasicLit)
			if !ok {
				return true
			}
			flag, _ := strconv.Unquote(lit.Value)
			n++
			if !hasFlag(all, flag) {
				t.Errorf("%s: flagRef(%q) names no flag of keyless", path, flag)
			}
			return true
		})
	}
	if n == 0 {
		t.Error("found no flagRef call")
	}
}

func callee(call *ast.CallExpr) (string, bool) {
	if call == nil {
		return "", false
	}
	id, ok := call.Fun.(*ast.Ident)
	if !ok {
		return "", false
	}
	return id.Name, true
}

// On a terminal an option is its flag; a remedy adds the variable (a
// cloud tool's own first) and the component's input; a missing option
// lists every variable that sets it.
func TestOnTerminal(t *testing.T) {
	for _, tc := range []struct {
		p        provider
		in, want string
	}{
		{awsProvider, "raise " + option.Ref(exchange.OptTimeout), "raise --timeout"},
		{awsProvider, "with " + option.RefSources(aws.OptCAFile), "with --ca-file (KEYLESS_AWS_CA_FILE)"},
		{awsProvider, "pass " + option.RefOrSet(aws.OptRoleARN), "pass --role-arn (or set KEYLESS_AWS_ROLE_ARN)"},
		{vaultProvider, "with " + option.RefSources(vault.OptRole), "with --role (KEYLESS_VAULT_ROLE, the component's role input)"},
		{vaultProvider, "with " + option.RefSources(vault.OptCACert), "with --ca-cert (VAULT_CACERT)"},
		{vaultProvider, "pass " + option.RefOrSet(vault.OptAddr), "pass --addr (or set VAULT_ADDR or KEYLESS_VAULT_ADDR)"},
		{vaultProvider, "check " + option.RefSources(vault.OptAddr), "check --addr (VAULT_ADDR, the component's addr input)"},
		{azureProvider, "pass " + option.RefOrSet(azure.OptClientID), "pass --client-id (or set AZURE_CLIENT_ID or KEYLESS_AZURE_CLIENT_ID)"},
		{azureProvider, "set it with " + option.RefSources(azure.OptScope), "set it with --scope (KEYLESS_AZURE_SCOPE, the component's scope input)"},
		{gcpProvider, "drop " + flagRef("refreshable"), "drop --refreshable"},
	} {
		if got := option.Render(tc.in, tc.p.onTerminal()); got != tc.want {
			t.Errorf("%s: %q\n got %q\nwant %q", tc.p.name, tc.in, got, tc.want)
		}
	}
}

// A command line in advice names no option: in a component's job it keeps
// its flags, also where a flag shares a name with one of the provider's
// (gcloud's --project and keyless gcp's --project, which the component's
// project input sets).
func TestInJobWordsLeaveCommandLines(t *testing.T) {
	env := Env{Getenv: func(k string) string {
		return map[string]string{"KEYLESS_GCP_COMPONENT": ".keyless-gcp"}[k]
	}}
	in := option.Errorf("Check the email (%s) with\ngcloud iam service-accounts list --project=PROJECT_ID --format json", option.Ref(gcp.OptServiceAccount))
	want := "Check the email (service_account) with\ngcloud iam service-accounts list --project=PROJECT_ID --format json"
	if got := gcpProvider.inJobWords(env, in).Error(); got != want {
		t.Errorf("\n got %q\nwant %q", got, want)
	}
}

// A keyless command line that a domain package gives as advice stays
// literal text (it names another command's flags, which no reference of
// the command at hand could render): each of its flags is one the command
// has, so a renamed flag fails here too.
func TestCommandLinesInAdviceNameFlags(t *testing.T) {
	app := newApp(Env{})
	line := regexp.MustCompile("keyless ([a-z]+)(?: (%s|[a-z]+))?([^\\n;)`\"]*)")
	flag := regexp.MustCompile(`(?:^|\s)--([a-z][a-z0-9-]*)`)
	n := 0
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") ||
			strings.HasPrefix(filepath.ToSlash(path), "../cli/") {
			return err
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(x ast.Node) bool {
			lit, ok := x.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			s, _ := strconv.Unquote(lit.Value)
			for _, m := range line.FindAllStringSubmatch(s, -1) {
				i := slices.IndexFunc(app.Commands, func(c *cli.Command) bool { return c.Name == m[1] })
				if i < 0 {
					continue // prose: "keyless reads ..."
				}
				// The command, or each subcommand the line may name.
				cmds := []*cli.Command{app.Commands[i]}
				rest := m[3]
				switch j := slices.IndexFunc(cmds[0].Subcommands, func(c *cli.Command) bool { return c.Name == m[2] }); {
				case j >= 0:
					cmds = []*cli.Command{cmds[0].Subcommands[j]}
				case m[2] == "%s" && len(cmds[0].Subcommands) > 0:
					// "keyless policy %s" is formatted with a cloud's name:
					// policy pypi and policy npm (issue 18) take other flags.
					parent := cmds[0].Name
					cmds = slices.DeleteFunc(slices.Clone(cmds[0].Subcommands), func(c *cli.Command) bool {
						return c.Name == "help" || (parent == "policy" && policyByName(c.Name) == nil)
					})
				default:
					rest = " " + m[2] + rest
				}
				for _, fm := range flag.FindAllStringSubmatch(rest, -1) {
					n++
					for _, c := range cmds {
						if !hasFlag(c.Flags, fm[1]) {
							t.Errorf("%s: %q: keyless %s has no --%s", path, m[0], c.Name, fm[1])
						}
					}
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Error("found no keyless command line in the domain packages")
	}
}
