package cli

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/urfave/cli/v2"

	"gitlab.com/keyless-ci/keyless/internal/exchange"
	"gitlab.com/keyless-ci/keyless/internal/idtoken"
	"gitlab.com/keyless-ci/keyless/internal/option"
	"gitlab.com/keyless-ci/keyless/internal/policy"
)

// refusedError ends keyless explain with exit code 1 once the explanation
// is printed: the trust refuses the token.
type refusedError struct{}

func (refusedError) Error() string { return "the trust refuses the token" }
func (refusedError) ExitCode() int { return ExitFindings }

func explainCommand(env Env) *cli.Command {
	cmd := &cli.Command{
		Name:  "explain",
		Usage: "evaluate a cloud's trust document, or a registry's trusted publisher (pypi, npm, crates), against the job's token, condition by condition",
		Description: "Says, for each condition of an AWS role trust policy, Azure federated identity credential,\n" +
			"Google workload identity pool provider or Vault JWT role, the claim it compared and whether it\n" +
			"held; then the verdict and the smallest change that would admit the job. Reads the job's ID\n" +
			"token (never printing it), or with --claims a JSON file of claims, so it runs outside CI too.\n" +
			"Exit code 0: the trust admits the token; 1: it refuses it.\n\n" +
			"   keyless explain aws --trust-policy trust.json\n" +
			"   aws iam get-role --role-name deploy --query Role.AssumeRolePolicyDocument > trust.json\n" +
			"   az ad app federated-credential list --id $APP_ID > fic.json && keyless explain azure --federated-credential fic.json\n" +
			"   gcloud iam workload-identity-pools providers describe gitlab --location global \\\n" +
			"     --workload-identity-pool ci --format json > provider.json && keyless explain gcp --provider-file provider.json\n" +
			"   vault read -format=json auth/jwt/role/deploy > role.json && keyless explain vault --role-file role.json --claims claims.json",
		Action: func(c *cli.Context) error { return needsProvider("explain", c) },
	}
	for _, p := range policyProviders() {
		cmd.Subcommands = append(cmd.Subcommands, explainSubcommand(env, p))
	}
	cmd.Subcommands = append(cmd.Subcommands, publisherExplainCommands(env)...)
	return cmd
}

// explainOptionFlags maps the options keyless explain's messages name to
// the flags of `keyless explain NAME` for p.
func explainOptionFlags(p policy.Provider) optionFlags {
	return optionFlags{p.Document(): documentFlags[p.Name()], idtoken.OptTokenVar: "token-var"}
}

func explainSubcommand(env Env, p policy.Provider) *cli.Command {
	docFlag := documentFlags[p.Name()]
	flags := append(claimsFlags(),
		&cli.StringFlag{Name: docFlag, Usage: "the trust document `FILE` (JSON)", EnvVars: []string{"KEYLESS_" + strings.ToUpper(p.Name()) + "_" + strings.ToUpper(strings.ReplaceAll(docFlag, "-", "_"))}},
		&cli.StringFlag{Name: "format", Value: "text", Usage: "text or json"},
	)
	say := onTerminal(explainOptionFlags(p), flags, nil)
	return speaks(&cli.Command{
		Name:  p.Name(),
		Usage: "evaluate " + p.Name() + " trust (--" + docFlag + " FILE) against the job's token or --claims",
		Flags: flags,
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef("explain %s takes no arguments, got %q", p.Name(), c.Args().First())
			}
			format := c.String("format")
			if format != "text" && format != "json" {
				return usagef("--format %q: use text or json", format)
			}
			path := c.String(docFlag)
			if path == "" {
				return usagef("explain %s needs --%s FILE: the trust document to evaluate", p.Name(), docFlag)
			}
			doc, err := readSmallFile(path, 1<<20)
			if err != nil {
				return &UsageError{Err: fmt.Errorf("--%s: %w", docFlag, err)}
			}
			claims, source, err := readClaims(c, env)
			if err != nil {
				return err
			}
			res, err := p.Explain(doc, claims)
			if err != nil {
				return &UsageError{Err: fmt.Errorf("--%s %s: %w", docFlag, path, err)}
			}
			if format == "json" {
				for i, w := range res.Warnings {
					res.Warnings[i].Message = option.Render(w.Message, say)
				}
				if err := exchange.WriteJSON(env.Stdout, res); err != nil {
					return err
				}
			} else {
				var b strings.Builder
				fmt.Fprintf(&b, "%s trust %s against the claims of %s\n\n", p.Name(), path, source)
				writeResult(&b, res)
				fmt.Fprint(env.Stdout, option.Render(b.String(), say))
			}
			if !res.Admitted {
				return refusedError{}
			}
			return nil
		},
	}, explainOptionFlags(p), nil)
}

// writeResult prints an evaluation for a person: each condition, the
// claim it compared and whether it held; the verdict; the fix. Its
// warnings may name options (package option): the caller renders them.
func writeResult(w io.Writer, res *policy.Result) {
	for _, ch := range res.Checks {
		mark := "held  "
		if !ch.Held {
			mark = "FAILED"
		}
		fmt.Fprintf(w, "  %s  %s: %s\n", mark, ch.Where, ch.Test)
		if ch.Claim != "" {
			fmt.Fprintf(w, "          %s = %s\n", ch.Claim, ch.Value)
		} else if ch.Value != "" {
			fmt.Fprintf(w, "          got %s\n", ch.Value)
		}
		if ch.Note != "" {
			fmt.Fprintf(w, "          note: %s\n", ch.Note)
		}
	}
	if len(res.Checks) > 0 {
		fmt.Fprintln(w)
	}
	if res.Admitted {
		fmt.Fprintf(w, "admitted: %s\n", res.Verdict)
	} else {
		fmt.Fprintf(w, "refused: %s\n", res.Verdict)
	}
	if res.Fix != "" {
		fmt.Fprintf(w, "fix: %s\n", res.Fix)
	}
	for _, warn := range res.Warnings {
		fmt.Fprintf(w, "warning: %s [%s]\n", warn.Message, warn.ID)
	}
}

// documentFlags are the flags that give each trust provider's document
// (policy.Provider.Document): to keyless explain, and to the provider's
// exchange command, which explains its refusal with it (trustDocFlag).
var documentFlags = map[string]string{"aws": "trust-policy", "azure": "federated-credential", "gcp": "provider-file", "vault": "role-file"}

// trustDocFlag is the flag an exchange command takes to explain its own
// rejection, documentFlags[provider]: --trust-policy for aws, ...
func trustDocFlag(provider, what string) cli.Flag {
	docFlag := documentFlags[provider]
	return &cli.StringFlag{
		Name:    docFlag,
		Usage:   "when the exchange is refused, evaluate " + what + " `FILE` (JSON) against the token and say which condition failed",
		EnvVars: []string{"KEYLESS_" + strings.ToUpper(provider) + "_" + strings.ToUpper(strings.ReplaceAll(docFlag, "-", "_"))},
	}
}

// explainedError is an exchange's refusal followed by the evaluation of
// the trust document the job was given: the condition that failed and the
// fix. It keeps the refusal's exit code.
type explainedError struct {
	err         error
	explanation string
}

func (e *explainedError) Error() string { return option.Plain(e.Text()) }
func (e *explainedError) Unwrap() error { return e.err }

// Text is the message with its options as references (package option):
// the document's option, and those of the refusal and the evaluation.
func (e *explainedError) Text() string { return option.Text(e.err) + "\n\n" + e.explanation }

// explainRejection evaluates the trust document at path against tok after
// the exchange failed with err, a refusal of the token. It never hides err:
// when the document cannot be read or evaluated, it says so after err.
func explainRejection(err error, name, path string, tok *idtoken.Token) error {
	if path == "" || tok == nil {
		return err
	}
	p := policyByName(name)
	if p == nil {
		return &explainedError{err, "keyless could not explain the refusal: " + policySlimNote}
	}
	doc, rerr := readSmallFile(path, 1<<20)
	if rerr != nil {
		return &explainedError{err, fmt.Sprintf("keyless could not explain the refusal: %s: %v", option.Ref(p.Document()), rerr)}
	}
	res, eerr := p.Explain(doc, tokenClaims(tok))
	if eerr != nil {
		return &explainedError{err, fmt.Sprintf("keyless could not explain the refusal: %s %s: %s", option.Ref(p.Document()), path, option.Text(eerr))}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s against the token's claims:\n", path)
	writeResult(&b, res)
	if res.Admitted {
		b.WriteString("The document admits the token, so the trust the cloud evaluated is not this one (another role, an older version, a different provider), or the refusal has another cause above.\n")
	}
	return &explainedError{err, strings.TrimRight(b.String(), "\n")}
}

// refusal reports whether err is an exchange refused for the token's
// claims (as opposed to a network or configuration failure), for the
// sentinel kinds given.
func refusal(err error, kinds ...error) bool {
	for _, k := range kinds {
		if errors.Is(err, k) {
			return true
		}
	}
	return false
}
