package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"gitlab.com/keyless-ci/keyless/internal/exchange"
	"gitlab.com/keyless-ci/keyless/internal/idtoken"
	"gitlab.com/keyless-ci/keyless/internal/option"
)

// The exchange path, once (issue 14). `keyless aws`, `keyless gcp`, …, and
// `keyless env` and `keyless exec` for each configured provider, all run
// provider.exchange: HTTP client, deadline, token, the provider's exchange,
// the explained refusal, the lifetime warning, then delivery (exec, export
// lines or a --format). A provider supplies only what differs: its flags,
// how they map to its Options (read), its exchange call and the output
// formats it has beyond env.

// provider is one credential exchange. Each has its own command
// (`keyless aws`), and `keyless env` and `keyless exec` run every provider
// whose configVar is set. Components set those variables, so several
// components combine in one job through `extends:`, which merges variables.
// A provider lives in its own file (aws.go, ...); providers is the registry.
type provider struct {
	name string
	// configVar, when set, makes `keyless env` and `keyless exec` run the
	// provider, e.g. KEYLESS_AWS_ROLE_ARN.
	configVar string
	// tokenVarEnv names the variable that names the provider's token
	// variable, as its component sets it.
	tokenVarEnv string
	flags       func() []cli.Flag
	// options maps the options of p's exchange package (aws.OptDuration)
	// to p's flags; optionFlags adds the ones every exchange shares.
	options optionFlags
	// read fills the provider's options from c, its flags and their
	// environment fallbacks, and validates them (readOptions adds the
	// shared checks).
	read func(c *cli.Context, env Env) (exchanger, error)
	// refusals are the errors of an exchange refused for the token's
	// claims: with a trust document set (documentFlags), the refusal is
	// explained.
	refusals []error

	// The command: usage and description for help; prints completes
	// "--format X ..., it cannot also run CMD".
	usage, description, prints string
	subcommands                func(env Env) []*cli.Command
}

// exchanger is one provider's options, read from its flags: the settings
// every exchange shares, and its own exchange.
type exchanger interface {
	options() *exchangeOptions
	// exchange trades tok for credentials; call has the client, logger
	// and clock to use, and ctx the deadline.
	exchange(ctx context.Context, call exchangeCall, tok *idtoken.Token) (*issued, error)
}

// exchangeOptions are the settings every exchange command reads the same
// way; each provider's options embed them.
type exchangeOptions struct {
	Token    tokenOptions
	CAFile   string
	Timeout  time.Duration
	Format   string // "" is env without a command, exec with one
	Quiet    bool
	TrustDoc string // the trust document that explains a refusal
	// Sink, when set, says the credentials go somewhere other than stdout
	// ("--profile writes files"), which a command after -- conflicts with.
	Sink string
	// Warnings are printed before the exchange, even with --quiet: they
	// say a risk (plain http), not a result.
	Warnings []string
}

// readExchangeOptions reads the shared flags: the token flags with the
// expected audience, --ca-file, --timeout, --format, --quiet and the trust
// document flag trustFlag (none when ""). formats are the --format values
// the provider accepts. Its errors name the options with references, so
// that keyless env and exec say them in a job's words.
func readExchangeOptions(c *cli.Context, env Env, audience, trustFlag string, formats ...string) (exchangeOptions, error) {
	o := exchangeOptions{
		Token:   readTokenOptions(c, env, audience),
		CAFile:  c.String("ca-file"),
		Timeout: c.Duration("timeout"),
		Format:  c.String("format"),
		Quiet:   c.Bool("quiet"),
	}
	if trustFlag != "" {
		o.TrustDoc = c.String(trustFlag)
	}
	if o.Timeout <= 0 {
		return o, usagef("%s must be positive", option.Ref(exchange.OptTimeout))
	}
	if o.Format == "" {
		return o, nil
	}
	for _, f := range formats {
		if o.Format == f {
			return o, nil
		}
	}
	return o, usagef("%s %q: use %s or %s (or give a command after --)", flagRef("format"), o.Format, strings.Join(formats[:len(formats)-1], ", "), formats[len(formats)-1])
}

func (o *exchangeOptions) options() *exchangeOptions { return o }

// readOptions is p.read with the checks every provider's options share,
// made last, after the provider's own.
func (p provider) readOptions(c *cli.Context, env Env) (exchanger, error) {
	x, err := p.read(c, env)
	if err != nil {
		return nil, err
	}
	if err := checkFile(flagRef("ca-file"), x.options().CAFile); err != nil {
		return nil, err
	}
	return x, nil
}

// exchangeCall is what an exchange uses from the path that runs it: the
// seams its provider's Options take, and the environment.
type exchangeCall struct {
	exchange.Seams
	Env Env
}

// seams are the provider's client, User-Agent, retry waits (env.Backoff;
// nil: the provider's own), log, progress (the job's stderr: one line per
// retry, so a long loop is not silent) and clock.
func seams(env Env, client *http.Client, log *slog.Logger) exchange.Seams {
	return exchange.Seams{HTTPClient: client, UserAgent: "keyless/" + Version, Backoff: env.Backoff,
		Log: log, Progress: env.Stderr, Now: env.Now}
}

// issued is a finished exchange: what it hands over and how it is told.
type issued struct {
	env *exchange.Credentials // for the command after --, or as export lines
	// expires is when the credentials expire or, when reexchanged, the ID
	// token the tools re-exchange; fix is what to change when that is
	// before the job's timeout (lifetimeWarning).
	expires     time.Time
	reexchanged bool
	fix         string
	// summary writes the one line of what was set, never the values; it
	// is not called with --quiet.
	summary func(w io.Writer, m mode)
	// print is the chosen --format other than env (json, ...); nil prints
	// export lines.
	print func(env Env) error
	// hold, if set, keeps credentials that outlive the exchange (a Vault
	// token) as m needs: for after_script, or to close after the command.
	hold func(ctx context.Context, m mode) error
}

// exchange is the one path: client, deadline, token, the provider's
// exchange, explained refusal, lifetime warning.
func (p provider) exchange(c *cli.Context, env Env, x exchanger, m mode) (*issued, error) {
	o := x.options()
	for _, w := range o.Warnings {
		fmt.Fprintf(env.Stderr, "keyless: %s: warning: %s\n", p.name, option.Render(w, p.onTerminal()))
	}
	client, err := httpClient(env, o.CAFile, 10*time.Second)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(c.Context, o.Timeout)
	defer cancel()
	tok, err := loadToken(ctx, env, o.Token, client)
	if err != nil {
		return nil, err
	}
	r, err := x.exchange(ctx, exchangeCall{Seams: seams(env, client, logger(c, env)), Env: env}, tok)
	if err != nil {
		var ue *UsageError
		if !errors.As(err, &ue) && refusal(err, p.refusals...) {
			err = explainRejection(err, p.name, o.TrustDoc, tok)
		}
		return nil, err
	}
	if w := lifetimeWarning(p.name, env.Getenv, r.expires, r.reexchanged, r.fix); w != "" && !o.Quiet {
		fmt.Fprint(env.Stderr, w)
	}
	if r.hold != nil {
		if err := r.hold(c.Context, m); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// run is p as `keyless env` and `keyless exec` run it: x read by fromEnv
// from c (the environment alone), environment variables only, the summary
// to summary unless quiet. m says who gets the credentials.
func (p provider) run(c *cli.Context, env Env, x exchanger, m mode, summary io.Writer) (*exchange.Credentials, error) {
	o := x.options()
	o.Quiet = o.Quiet || c.Bool("quiet")
	o.Format = "" // keyless env and exec deliver environment variables only
	r, err := p.exchange(c, env, x, m)
	if err != nil {
		return nil, err
	}
	if !o.Quiet {
		r.summary(summary, m)
	}
	return r.env, nil
}

// command is `keyless NAME [-- CMD ARGS...]`.
func (p provider) command(env Env) *cli.Command {
	cmd := &cli.Command{
		Name:        p.name,
		Usage:       p.usage,
		ArgsUsage:   "[-- CMD ARGS...]",
		Description: p.description,
		Flags:       p.flags(),
		Action: func(c *cli.Context) error {
			x, err := p.readOptions(c, env)
			if err != nil {
				return err
			}
			o := x.options()
			args := c.Args().Slice()
			if len(args) > 0 && o.Format != "" {
				return usagef("--format %s %s; it cannot also run %q (drop one)", o.Format, p.prints, args[0])
			}
			if len(args) > 0 && o.Sink != "" {
				return usagef("%s; it cannot also run %q (drop one)", o.Sink, args[0])
			}
			m := modeEnv
			if len(args) > 0 {
				m = modeExec
			}
			r, err := p.exchange(c, env, x, m)
			if err != nil {
				return err
			}
			return deliver(c.Context, env, o, r, args)
		},
	}
	if p.subcommands != nil {
		cmd.Subcommands = p.subcommands(env)
	}
	return speaks(cmd, p.optionFlags(), componentInputs[p.name])
}

// optionFlags maps the options p's messages name to p's flags: its own,
// every exchange's, and its trust document's.
func (p provider) optionFlags() optionFlags {
	m := exchangeOptionFlags.with(p.options)
	if pol := policyByName(p.name); pol != nil {
		m[pol.Document()] = documentFlags[p.name]
	}
	return m
}

// onTerminal says p's options as `keyless NAME` takes them.
func (p provider) onTerminal() words {
	return onTerminal(p.optionFlags(), p.flags(), componentInputs[p.name])
}

// deliver hands r over: to the command after --, which gets the
// credentials in its environment only and after which they are closed and
// their files removed; else as the chosen --format, export lines by default.
func deliver(ctx context.Context, env Env, o *exchangeOptions, r *issued, args []string) error {
	if len(args) > 0 {
		if !o.Quiet {
			r.summary(env.Stderr, modeExec)
		}
		err := exchange.Exec(ctx, o.Token.command(env, args), r.env)
		if cerr := r.env.CloseAll(ctx); cerr != nil {
			fmt.Fprintf(env.Stderr, "keyless: warning: %v\n", cerr)
		}
		return err
	}
	if r.print != nil {
		return r.print(env)
	}
	if !o.Quiet {
		r.summary(env.Stderr, modeEnv)
	}
	return exchange.WriteEnv(env.Stdout, r.env)
}

// setNames is the names of the variables c sets, for a summary.
func setNames(c *exchange.Credentials) string {
	names := make([]string, 0, len(c.Vars))
	for _, v := range c.Vars {
		names = append(names, v.Name)
	}
	return strings.Join(names, " ")
}

// splitList is the one syntax of every flag and KEYLESS_* variable that
// takes a list: items separated by commas or newlines (a component input
// written as a YAML | block), whitespace around each trimmed, empty items
// dropped (a component's empty input sets the variable to ""). Repeated
// flags are flattened in order.
func splitList(values ...string) []string {
	var out []string
	for _, v := range values {
		for _, s := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == '\n' }) {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
	}
	return out
}
