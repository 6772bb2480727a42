package cli

import (
	"maps"
	"strings"

	"github.com/urfave/cli/v2"

	"gitlab.com/keyless-ci/keyless/internal/exchange"
	"gitlab.com/keyless-ci/keyless/internal/idtoken"
	"gitlab.com/keyless-ci/keyless/internal/option"
)

// The domain packages name options with references (package option), and
// the CLI says them in the words the user typed: on a terminal the flag
// (onTerminal), in a job that configured keyless through variables the
// component's input or the variable (provider.inJobWords, component.go).
// A command renders its errors, and the warnings it prints, before they
// reach the user (issue 14; STYLE.md habit 22).

// optionFlags maps the options that domain packages name to the flags of
// one command: the CLI's spelling, in one place. A renamed flag changes
// here, and TestOptionFlags fails until it does. A name the map does not
// hold is a flag's own name: the references the CLI writes itself (flagRef).
type optionFlags map[option.Name]string

// flag is the name of the flag that gives option n.
func (m optionFlags) flag(n option.Name) string {
	if f, ok := m[n]; ok {
		return f
	}
	return string(n)
}

// with is m and more, for a command that reads options of several packages.
func (m optionFlags) with(more ...optionFlags) optionFlags {
	out := maps.Clone(m)
	for _, o := range more {
		maps.Copy(out, o)
	}
	return out
}

// tokenOptionFlags are the options of idtoken that tokenFlags give.
var tokenOptionFlags = optionFlags{
	idtoken.OptTokenVar: "token-var",
	idtoken.OptIssuer:   "issuer",
}

// exchangeOptionFlags are the options every exchange command gives: the
// token's and the deadline.
var exchangeOptionFlags = tokenOptionFlags.with(optionFlags{
	exchange.OptTimeout: "timeout",
})

// flagRef names the CLI's own flag in a message that keyless env or exec may
// show: in a job it reads as the input or variable that set it.
func flagRef(flag string) string { return option.Ref(option.Name(flag)) }

// words says an option, as option.Render asks.
type words func(option.Name, option.Form) string

// onTerminal says each option as the flag of a command that a person
// typed: m maps the options to flags, flags are the command's, inputs its
// component's (for a remedy that names every way to set an option).
func onTerminal(m optionFlags, flags []cli.Flag, inputs []componentInput) words {
	return func(n option.Name, f option.Form) string {
		name := m.flag(n)
		word := "--" + name
		set := envVars(flags, name)
		vars := toolsFirst(set)
		switch {
		case len(vars) == 0:
		case f == option.Sources:
			also := []string{vars[0]}
			if in := inputOf(inputs, set); in != "" {
				also = append(also, "the component's "+in+" input")
			}
			word += " (" + strings.Join(also, ", ") + ")"
		case f == option.OrSet:
			word += " (or set " + strings.Join(vars, " or ") + ")"
		}
		return word
	}
}

// envVars are the variables that set flag name, in the order the flag
// reads them; nil when flags have no such flag.
func envVars(flags []cli.Flag, name string) []string {
	for _, fl := range flags {
		d, ok := fl.(cli.DocGenerationFlag)
		if !ok {
			continue
		}
		for _, n := range fl.Names() {
			if n == name {
				return d.GetEnvVars()
			}
		}
	}
	return nil
}

// inputOf is the input of inputs that sets one of vars, "" when none does.
func inputOf(inputs []componentInput, vars []string) string {
	for _, in := range inputs {
		for _, v := range vars {
			if in.Var == v {
				return in.Name
			}
		}
	}
	return ""
}

// toolsFirst puts the variables a cloud's own tools read (VAULT_ADDR,
// AZURE_CLIENT_ID), which the job may set already, before keyless's.
func toolsFirst(vars []string) []string {
	var tools, own []string
	for _, v := range vars {
		if strings.HasPrefix(v, "KEYLESS_") {
			own = append(own, v)
		} else {
			tools = append(tools, v)
		}
	}
	return append(tools, own...)
}

// rendered is an error whose option references are said in the reader's
// words; its message is final.
type rendered struct {
	err error
	msg string
}

func (e *rendered) Error() string { return e.msg }
func (e *rendered) Unwrap() error { return e.err }

// render says the options of err in w; an error without references is
// returned as it is.
func render(err error, w words) error {
	if err == nil {
		return nil
	}
	t := option.Text(err)
	if !option.HasRef(t) {
		return err
	}
	return &rendered{err: err, msg: option.Render(t, w)}
}

// speaks makes cmd and its subcommands render the options in their errors
// as their own flags, m mapping the options to them; it returns cmd.
func speaks(cmd *cli.Command, m optionFlags, inputs []componentInput) *cli.Command {
	if action := cmd.Action; action != nil {
		w := onTerminal(m, cmd.Flags, inputs)
		cmd.Action = func(c *cli.Context) error { return render(action(c), w) }
	}
	for _, sub := range cmd.Subcommands {
		speaks(sub, m, inputs)
	}
	return cmd
}
