package cli

import (
	"slices"
	"strings"

	"github.com/urfave/cli/v2"
)

// Flags go anywhere on the command line, as people type them: `keyless lint
// . --format sarif` is `keyless lint --format sarif .`. urfave/cli v2 stops
// reading flags at the first argument, so before it parses, interspersed
// moves each command's flags (with their values) in front of its arguments,
// once for the whole app (issue 15).
//
// Two things end the moving: `--`, after which everything is an argument; and,
// for a command that runs a command of its own (`keyless aws -- CMD`, `keyless
// exec CMD`: its ArgsUsage names CMD), its first argument, where CMD starts:
// `keyless aws aws s3 ls --recursive` gives --recursive to aws, as sudo and env
// would.
//
// --help anywhere among a command's flags is that command's help (urfave
// would read an argument after it as a help topic). A flag that takes a value
// but ends the line is an error here, as it would be before the arguments:
// moved, it would take an argument for its value.
func interspersed(app *cli.App, args []string) ([]string, error) {
	if len(args) < 2 {
		return args, nil
	}
	out := []string{args[0]}
	rest := args[1:]

	// The app's own flags, then the command and any subcommands, each
	// after its parent's flags.
	flags := app.Flags
	cmds := app.Commands
	var leaf *cli.Command
	for len(rest) > 0 {
		a := rest[0]
		if a == "--" {
			return append(out, rest...), nil
		}
		if isFlag(a) {
			n := 1
			if takesValue(flags, a) && len(rest) > 1 {
				n = 2
			}
			out = append(out, rest[:n]...)
			rest = rest[n:]
			continue
		}
		c := findCommand(cmds, a)
		if c == nil {
			break // an argument of the command found so far
		}
		out = append(out, a)
		rest = rest[1:]
		leaf, flags, cmds = c, c.Flags, c.Subcommands
	}
	if leaf == nil {
		return append(out, rest...), nil
	}
	runsCommand := strings.Contains(leaf.ArgsUsage, "CMD")

	var moved, positional []string
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		if a == "--" {
			if runsCommand {
				positional = append(positional, rest[i:]...) // -- CMD, as typed
			} else {
				positional = append(positional, rest[i+1:]...)
			}
			break
		}
		if isFlag(a) {
			if isHelp(a) {
				return append(out, "--help"), nil
			}
			moved = append(moved, a)
			if takesValue(flags, a) {
				if i+1 == len(rest) {
					if len(positional) == 0 {
						break // where urfave reports it itself
					}
					return nil, usagef("flag needs an argument: %s", a)
				}
				i++
				moved = append(moved, rest[i])
			}
			continue
		}
		if runsCommand {
			positional = append(positional, rest[i:]...) // CMD and its own flags
			break
		}
		positional = append(positional, a)
	}
	out = append(out, moved...)
	if !runsCommand && hasFlagLike(positional) {
		out = append(out, "--") // a file named -x stays an argument
	}
	return append(out, positional...), nil
}

// isHelp reports whether a is the help flag, -h or --help.
func isHelp(a string) bool {
	name := strings.TrimLeft(a, "-")
	return slices.Contains(cli.HelpFlag.Names(), name)
}

// isFlag reports whether a looks like a flag: "-x", "--name", "--name=v";
// "-" alone is an argument (standard input).
func isFlag(a string) bool { return len(a) > 1 && a[0] == '-' }

// hasFlagLike reports whether any argument looks like a flag, so that
// urfave needs a -- in front of them.
func hasFlagLike(args []string) bool {
	for _, a := range args {
		if isFlag(a) {
			return true
		}
	}
	return false
}

// takesValue reports whether flag a (as typed: --name, -n, without =value)
// is one of flags that reads the next argument as its value.
func takesValue(flags []cli.Flag, a string) bool {
	if strings.Contains(a, "=") {
		return false
	}
	name := strings.TrimLeft(a, "-")
	for _, f := range flags {
		for _, n := range f.Names() {
			if n != name {
				continue
			}
			d, ok := f.(cli.DocGenerationFlag)
			return ok && d.TakesValue()
		}
	}
	return false
}

// findCommand is the command of cmds named or aliased name.
func findCommand(cmds []*cli.Command, name string) *cli.Command {
	for _, c := range cmds {
		if c.HasName(name) {
			return c
		}
	}
	return nil
}
