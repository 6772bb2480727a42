package cli

import (
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/urfave/cli/v2"
)

// urfave/cli v2 reads the process's environment and keeps a flag and a
// command in package variables that every app writes to as it runs. What
// follows gives each app of newApp its Env alone and nothing shared with
// another app, so that the CLI runs in-process in tests, several at once.
//
// A flag's environment fallbacks (EnvVars): urfave/cli reads them with
// syscall.Getenv when it applies the flag to a command's flag set. envFlag
// applies the flag without them, then sets what Env has for them, the way
// urfave/cli would have (flagFromEnvOrFile and each type's Apply, v2.27).
// --help still lists the variables: they stay on the flag.

// readFallbacksFrom makes each flag of c and of its subcommands read its
// environment fallbacks from env.
func readFallbacksFrom(env Env, c *cli.Command) {
	for i, f := range c.Flags {
		if d, ok := f.(cli.DocGenerationFlag); ok && len(d.GetEnvVars()) > 0 {
			c.Flags[i] = envFlag{d, env.LookupEnv}
		}
	}
	for _, sub := range c.Subcommands {
		readFallbacksFrom(env, sub)
	}
}

// envFlag is a flag whose environment fallbacks are read with lookup. Help
// shows the flag as declared: String and the rest are the flag's own.
type envFlag struct {
	cli.DocGenerationFlag
	lookup func(string) (string, bool)
}

func (f envFlag) Apply(set *flag.FlagSet) error { return applyFlag(f.DocGenerationFlag, set, f.lookup) }

// IsVisible and GetCategory are the flag's, for help (cli.VisibleFlag,
// cli.CategorizableFlag), which lists only visible flags.
func (f envFlag) IsVisible() bool {
	v, ok := f.DocGenerationFlag.(cli.VisibleFlag)
	return !ok || v.IsVisible()
}

func (f envFlag) GetCategory() string {
	if c, ok := f.DocGenerationFlag.(cli.CategorizableFlag); ok {
		return c.GetCategory()
	}
	return ""
}

// applyFlag adds f to set with the value of the first of its environment
// variables that lookup finds, even empty (which hides the default, as in
// urfave/cli), else its default. An unparsable value is the error
// urfave/cli gives. f records that the environment set it (IsSet); the
// copy applied takes the value, so that help still shows the default.
func applyFlag(f cli.Flag, set *flag.FlagSet, lookup func(string) (string, bool)) error {
	var envs []string
	if d, ok := f.(cli.DocGenerationFlag); ok {
		envs = d.GetEnvVars()
	}
	if lookup == nil {
		lookup = func(string) (string, bool) { return "", false }
	}
	var val, source string
	found := false
	for _, e := range envs {
		e = strings.TrimSpace(e)
		if v, ok := lookup(e); ok {
			val, source, found = v, fmt.Sprintf("environment variable %q", e), true
			break
		}
	}
	// A duration or a number set empty keeps the default.
	number := found && val != ""
	var err error
	bad := func(kind string) error {
		return fmt.Errorf("could not parse %q as %s value from %s for flag %s: %s", val, kind, source, f.Names()[0], err)
	}
	switch f := f.(type) {
	case *cli.StringFlag:
		g := *f
		if g.EnvVars = nil; found {
			g.Value, f.HasBeenSet = val, true
		}
		return g.Apply(set)
	case *cli.BoolFlag:
		g := *f
		if g.EnvVars = nil; found {
			g.Value, f.HasBeenSet = false, true // set but empty is false
			if val != "" {
				if g.Value, err = strconv.ParseBool(val); err != nil {
					return bad("bool")
				}
			}
		}
		return g.Apply(set)
	case *cli.DurationFlag:
		g := *f
		if g.EnvVars = nil; number {
			if g.Value, err = time.ParseDuration(val); err != nil {
				return bad("duration")
			}
			f.HasBeenSet = true
		}
		return g.Apply(set)
	case *cli.IntFlag:
		g := *f
		if g.EnvVars = nil; number {
			var n int64
			if n, err = strconv.ParseInt(val, f.Base, 64); err != nil {
				return bad("int")
			}
			g.Value, f.HasBeenSet = int(n), true
		}
		return g.Apply(set)
	case *cli.Float64Flag:
		g := *f
		if g.EnvVars = nil; number {
			if g.Value, err = strconv.ParseFloat(val, 64); err != nil {
				return bad("float64")
			}
			f.HasBeenSet = true
		}
		return g.Apply(set)
	case *cli.StringSliceFlag:
		g := *f
		if g.EnvVars = nil; found {
			// Split on commas and trimmed as urfave/cli does; values given
			// on the command line then replace these.
			items := strings.Split(val, ",")
			for i := range items {
				items[i] = strings.TrimSpace(items[i])
			}
			g.Value, f.HasBeenSet = cli.NewStringSlice(items...), true
		}
		return g.Apply(set)
	}
	if len(envs) > 0 {
		// urfave/cli would read them from the process.
		return fmt.Errorf("flag %s: a %T cannot read its environment variables through Env", f.Names()[0], f)
	}
	return f.Apply(set)
}

// setHelpFlag sets urfave/cli's --help, a package variable that every app
// applies, once.
var setHelpFlag = sync.OnceFunc(func() {
	cli.HelpFlag = helpFlag{&cli.BoolFlag{Name: "help", Aliases: []string{"h"}, Usage: "show help"}}
})

// helpFlag is --help applied as a copy: BoolFlag.Apply writes to the flag,
// which all apps share.
type helpFlag struct{ *cli.BoolFlag }

func (f helpFlag) Apply(set *flag.FlagSet) error {
	g := *f.BoolFlag
	return g.Apply(set)
}

// helpCommandProto is urfave/cli's help command. urfave/cli adds that one
// command, a package variable, to each command it runs and writes to it
// each time; each command gets a copy of its own instead (addHelpCommands),
// and urfave/cli then adds none. (The app's own help command stays
// urfave/cli's: it is written to only when `keyless help` runs.)
var helpCommandProto = sync.OnceValue(func() cli.Command {
	a := &cli.App{Name: "keyless", Writer: io.Discard, ErrWriter: io.Discard}
	a.Setup()
	h := a.Command("help")
	return cli.Command{Name: h.Name, Aliases: h.Aliases, Usage: h.Usage, ArgsUsage: h.ArgsUsage, Action: h.Action}
})

// addHelpCommands gives c and its subcommands the help subcommand
// urfave/cli would give them when they run. A command without a help
// template of its own gets the one urfave/cli would show for it without
// that subcommand (ShowCommandHelp chooses by the number of subcommands).
func addHelpCommands(c *cli.Command) {
	if c.CustomHelpTemplate == "" {
		c.CustomHelpTemplate = cli.CommandHelpTemplate
		if len(c.Subcommands) > 0 {
			c.CustomHelpTemplate = cli.SubcommandHelpTemplate
		}
	}
	for _, sub := range c.Subcommands {
		addHelpCommands(sub)
	}
	if !c.HideHelp && !c.HideHelpCommand && c.Command("help") == nil {
		h := helpCommandProto()
		c.Subcommands = append(c.Subcommands, &h)
	}
}
