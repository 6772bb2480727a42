package cli

import (
	"errors"
	"strings"

	"github.com/urfave/cli/v2"
)

// errHelpAfterArgs is --help (or -h) written after an argument.
var errHelpAfterArgs = errors.New("help")

// flagsAfterArgs returns a command's arguments with the flags written among
// or after them applied to c, as if written before them: urfave/cli v2
// stops reading flags at the first argument, so `keyless compile ci.yml
// --format json` would otherwise take --format for a second path. flags
// are the command's; "--" ends the flags, and what follows is arguments.
func flagsAfterArgs(c *cli.Context, flags []cli.Flag) ([]string, error) {
	tail := c.Args().Slice()
	var args []string
	for i := 0; i < len(tail); i++ {
		a := tail[i]
		if a == "--" {
			return append(args, tail[i+1:]...), nil
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			args = append(args, a)
			continue
		}
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if name == "help" || name == "h" {
			return nil, errHelpAfterArgs
		}
		f := findFlag(flags, name)
		if f == nil {
			return nil, usagef("flag provided but not defined: %s", a)
		}
		if _, ok := f.(*cli.BoolFlag); ok {
			if !hasVal {
				val = "true"
			}
		} else if !hasVal {
			if i+1 >= len(tail) {
				return nil, usagef("flag needs an argument: %s", a)
			}
			i++
			val = tail[i]
		}
		if err := c.Set(f.Names()[0], val); err != nil {
			return nil, usagef("invalid value %q for flag %s: %v", val, a, err)
		}
	}
	return args, nil
}

func findFlag(flags []cli.Flag, name string) cli.Flag {
	for _, f := range flags {
		for _, n := range f.Names() {
			if n == name {
				return f
			}
		}
	}
	return nil
}
