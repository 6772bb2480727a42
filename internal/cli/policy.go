package cli

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"

	"gitlab.com/keyless-ci/keyless/internal/idtoken"
	"gitlab.com/keyless-ci/keyless/internal/option"
	"gitlab.com/keyless-ci/keyless/internal/policy"
	"gitlab.com/keyless-ci/keyless/internal/policy/aws"
	"gitlab.com/keyless-ci/keyless/internal/policy/azure"
	"gitlab.com/keyless-ci/keyless/internal/policy/vault"
)

// policyProviders are the trust providers of keyless policy and keyless
// explain, in the order help lists them. gcp's evaluator needs CEL, which
// only the full build links (policy_gcp.go).
func policyProviders() []policy.Provider {
	ps := []policy.Provider{aws.New(), azure.New()}
	if gcpPolicy != nil {
		ps = append(ps, gcpPolicy())
	}
	return append(ps, vault.New())
}

// policySlimNote is what the helper-only build says of gcp, whose CEL
// evaluator it leaves out.
const policySlimNote = "this helper-only build (make build-slim) leaves out gcp, whose evaluator needs CEL: use the full keyless binary or image"

func policyCommand(env Env) *cli.Command {
	cmd := &cli.Command{
		Name:  "policy",
		Usage: "generate the least-privilege cloud-side trust for a project's jobs (aws, azure, gcp, vault), or the trusted publisher PyPI, npm or crates.io asks for (pypi, npm, crates)",
		Description: "Prints what to create on the cloud side so that exactly the jobs you name, and no others, can\n" +
			"exchange their ID token: the AWS OIDC provider and role trust policy, the Azure federated identity\n" +
			"credential, the Google workload identity pool provider and its attribute condition, or the Vault\n" +
			"JWT role, with the command (or Terraform) that creates it. Warnings about trust that is too broad\n" +
			"go to stderr.\n\n" +
			"   keyless policy aws --project acme/web --ref main --ref-type branch\n" +
			"   keyless policy gcp --group acme --namespace-id 1234 --protected-only --format terraform\n" +
			"   keyless policy vault --from-token     (in a job: the tightest role that admits this job)",
		Action: func(c *cli.Context) error { return needsProvider("policy", c) },
	}
	for _, p := range policyProviders() {
		cmd.Subcommands = append(cmd.Subcommands, policySubcommand(env, p))
	}
	cmd.Subcommands = append(cmd.Subcommands, publisherCommands(env)...)
	return cmd
}

// needsProvider is the usage error of `keyless policy` or `keyless explain`
// (cmd) run without one of its providers; gcp, which a slim build leaves
// out, says so.
func needsProvider(cmd string, c *cli.Context) error {
	if c.NArg() == 0 {
		return usagef("%s needs a provider: keyless %s %s [flags]", cmd, cmd, strings.Join(policyNames(), "|"))
	}
	if c.Args().First() == "gcp" {
		return usagef("keyless %s gcp: %s", cmd, policySlimNote)
	}
	return usagef("%s: unknown provider %q: use %s", cmd, c.Args().First(), strings.Join(policyNames(), ", "))
}

// policyByName is the provider named name, nil when this build has none.
func policyByName(name string) policy.Provider {
	for _, p := range policyProviders() {
		if p.Name() == name {
			return p
		}
	}
	return nil
}

func policyNames() []string {
	var names []string
	for _, p := range policyProviders() {
		names = append(names, p.Name())
	}
	return names
}

// policyOptionFlags maps the options of a policy.Spec (and of the token
// --from-token reads) to the flags of `keyless policy NAME`.
var policyOptionFlags = optionFlags{
	policy.OptIssuer:        "issuer",
	policy.OptProject:       "project",
	policy.OptProjectID:     "project-id",
	policy.OptGroup:         "group",
	policy.OptNamespaceID:   "namespace-id",
	policy.OptRef:           "ref",
	policy.OptRefType:       "ref-type",
	policy.OptProtectedOnly: "protected-only",
	policy.OptEnvironment:   "environment",
	policy.OptAudience:      "aud",
	policy.OptSubComponents: "sub-components",
	policy.OptFormat:        "format",
	idtoken.OptTokenVar:     "token-var",
}

func policySubcommand(env Env, p policy.Provider) *cli.Command {
	var say words // the flags of cmd, once it is built
	cmd := &cli.Command{
		Name:  p.Name(),
		Usage: "generate " + p.Name() + " trust (formats: " + strings.Join(p.Formats(), ", ") + ")",
		Flags: append(claimsFlags(),
			&cli.StringFlag{Name: "issuer", Usage: "the instance's issuer `URL` (default $CI_SERVER_URL, else https://gitlab.com)", EnvVars: []string{"KEYLESS_POLICY_ISSUER"}},
			&cli.StringFlag{Name: "project", Usage: "admit the jobs of project `PATH` (group/subgroup/project)", EnvVars: []string{"KEYLESS_POLICY_PROJECT"}},
			&cli.StringFlag{Name: "project-id", Usage: "the project's numeric `ID`, pinned where the cloud allows (a path can be taken over after a rename)", EnvVars: []string{"KEYLESS_POLICY_PROJECT_ID"}},
			&cli.StringFlag{Name: "group", Usage: "admit the jobs of every project under group `PATH`", EnvVars: []string{"KEYLESS_POLICY_GROUP"}},
			&cli.StringFlag{Name: "namespace-id", Usage: "the group's numeric `ID` (Google's attribute condition pins it)", EnvVars: []string{"KEYLESS_POLICY_NAMESPACE_ID"}},
			&cli.StringFlag{Name: "ref", Usage: "admit only branch or tag `REF` (* is a wildcard)", EnvVars: []string{"KEYLESS_POLICY_REF"}},
			&cli.StringFlag{Name: "ref-type", Usage: "admit only a `branch` or a tag", EnvVars: []string{"KEYLESS_POLICY_REF_TYPE"}},
			&cli.BoolFlag{Name: "protected-only", Usage: "admit only jobs on protected branches and tags", EnvVars: []string{"KEYLESS_POLICY_PROTECTED_ONLY"}},
			&cli.StringFlag{Name: "environment", Usage: "admit only jobs deploying to environment `NAME`", EnvVars: []string{"KEYLESS_POLICY_ENVIRONMENT"}},
			&cli.StringFlag{Name: "aud", Usage: "the `AUDIENCE` the jobs' id_tokens: ask for (default: the provider's usual one)", EnvVars: []string{"KEYLESS_POLICY_AUD"}},
			&cli.StringFlag{Name: "sub-components", Usage: "the project's ci_id_token_sub_claim_components, comma-separated (default project_path,ref_type,ref)", EnvVars: []string{"KEYLESS_POLICY_SUB_COMPONENTS"}},
			&cli.BoolFlag{Name: "production", Usage: "the trust is for a production role: warn about group-wide trust", EnvVars: []string{"KEYLESS_POLICY_PRODUCTION"}},
			&cli.BoolFlag{Name: "from-token", Usage: "take project, ids, ref, ref type, protection, environment, audience and issuer from the job's ID token (or --claims)", EnvVars: []string{"KEYLESS_POLICY_FROM_TOKEN"}},
			&cli.StringFlag{Name: "format", Value: p.Formats()[0], Usage: "`FORMAT`: " + strings.Join(p.Formats(), ", "), EnvVars: []string{"KEYLESS_POLICY_FORMAT"}},
			&cli.StringFlag{Name: "output-dir", Usage: "write each document to a file in `DIR` instead of stdout", EnvVars: []string{"KEYLESS_POLICY_OUTPUT_DIR"}},
		),
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef("policy %s takes no arguments, got %q: everything it needs is a flag (keyless policy %s --help)", p.Name(), c.Args().First(), p.Name())
			}
			format := c.String("format")
			if !slices.Contains(p.Formats(), format) {
				return usagef("--format %q: keyless policy %s writes %s", format, p.Name(), strings.Join(p.Formats(), ", "))
			}
			spec, err := readSpec(c, env)
			if err != nil {
				return err
			}
			spec.ChooseAudience(p, policyProviders())
			docs, warnings, err := p.Generate(spec, format)
			if err != nil {
				return &UsageError{Err: err}
			}
			for _, w := range warnings {
				fmt.Fprintf(env.Stderr, "keyless: warning: %s [%s]\n", option.Render(w.Message, say), w.ID)
			}
			if len(docs) == 0 {
				// A spec the cloud cannot express (an Azure flexible
				// credential it would refuse) is a usage error, not a success.
				return usagef("keyless policy %s wrote no trust: %s cannot express what was asked; follow the warnings above", p.Name(), p.Name())
			}
			if dir := c.String("output-dir"); dir != "" {
				return writeDocuments(env.Stderr, dir, docs)
			}
			for i, d := range docs {
				if len(docs) > 1 {
					if i > 0 {
						fmt.Fprintln(env.Stdout)
					}
					fmt.Fprintf(env.Stdout, "==> %s <==\n", d.Name)
				}
				fmt.Fprint(env.Stdout, ensureNewline(d.Body))
			}
			return nil
		},
	}
	say = onTerminal(policyOptionFlags, cmd.Flags, nil)
	return speaks(cmd, policyOptionFlags, nil)
}

// claimsFlags say where the claims come from: the job's ID token, or a
// claims file outside CI.
func claimsFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "token-var", Value: idtoken.DefaultVar, Usage: "`NAME` of the variable holding the job's ID token", EnvVars: []string{"KEYLESS_TOKEN_VAR"}},
		&cli.StringFlag{Name: "token-file", Usage: "read the ID token from `FILE`", EnvVars: []string{"KEYLESS_TOKEN_FILE"}},
		&cli.StringFlag{Name: "claims", Usage: "read the claims from `FILE` (JSON, as keyless token --format json or a JWT decoder shows them) instead of a token", EnvVars: []string{"KEYLESS_CLAIMS_FILE"}},
	}
}

// readSpec fills a Spec from the flags, or from the token with --from-token
// (flags given as well narrow or override what the token says).
func readSpec(c *cli.Context, env Env) (policy.Spec, error) {
	var spec policy.Spec
	if c.Bool("from-token") {
		claims, _, err := readClaims(c, env)
		if err != nil {
			return spec, err
		}
		var comps []string
		if c.IsSet("sub-components") {
			comps = splitList(c.String("sub-components"))
		}
		if spec, err = policy.SpecFromClaims(claims, comps); err != nil {
			return spec, &UsageError{Err: fmt.Errorf("--from-token: %w", err)}
		}
	} else {
		spec.Issuer = cmp.Or(env.Getenv("CI_SERVER_URL"), "https://gitlab.com")
		if comps := c.String("sub-components"); comps != "" {
			spec.SubComponents = splitList(comps)
		}
	}
	set := func(flag string, dst *string) {
		if c.IsSet(flag) {
			*dst = strings.TrimSpace(c.String(flag))
		}
	}
	set("issuer", &spec.Issuer)
	set("project-id", &spec.ProjectID)
	set("namespace-id", &spec.NamespaceID)
	set("ref", &spec.Ref)
	set("ref-type", &spec.RefType)
	set("environment", &spec.Environment)
	set("aud", &spec.Audience)
	if c.IsSet("project") {
		spec.ProjectPath, spec.Group = strings.TrimSpace(c.String("project")), ""
	}
	if c.IsSet("group") {
		spec.Group = strings.TrimSpace(c.String("group"))
		if c.Bool("from-token") && !c.IsSet("project") {
			spec.ProjectPath, spec.ProjectID = "", ""
		}
	}
	if c.IsSet("protected-only") {
		spec.ProtectedOnly = c.Bool("protected-only")
	}
	spec.Production = c.Bool("production")
	spec.Issuer = strings.TrimSuffix(spec.Issuer, "/")
	if err := spec.Validate(); err != nil {
		return spec, &UsageError{Err: err}
	}
	return spec, nil
}

func ensureNewline(s string) string {
	if s != "" && !strings.HasSuffix(s, "\n") {
		return s + "\n"
	}
	return s
}

// writeDocuments writes each document to dir, atomically; they hold no
// secret. A document whose name is not a plain file name is refused
// before anything is written.
func writeDocuments(stderr io.Writer, dir string, docs []policy.Document) error {
	for _, d := range docs {
		if d.Name != filepath.Base(d.Name) || d.Name == "." || d.Name == ".." {
			return fmt.Errorf("document name %q is not a file name", d.Name)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return &UsageError{Err: fmt.Errorf("--output-dir %q: %w", dir, err)}
	}
	for _, d := range docs {
		path := filepath.Join(dir, d.Name)
		if err := writeAtomic(path, []byte(ensureNewline(d.Body))); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
		fmt.Fprintf(stderr, "keyless: wrote %s\n", path)
	}
	return nil
}

// readClaims returns the claims to evaluate: --claims FILE when given, else
// the job's ID token (decoded, not verified: explain must also work on a
// token a cloud refused, expired or not). source says which.
func readClaims(c *cli.Context, env Env) (policy.Claims, string, error) {
	if path := c.String("claims"); path != "" {
		b, err := readSmallFile(path, 1<<20)
		if err != nil {
			return nil, "", &UsageError{Err: fmt.Errorf("--claims: %w", err)}
		}
		claims, err := policy.ParseClaims(b)
		if err != nil {
			return nil, "", &UsageError{Err: fmt.Errorf("--claims %s: %w", path, err)}
		}
		return claims, path, nil
	}
	tok, err := idtoken.Load(idtoken.Source{Var: c.String("token-var"), File: c.String("token-file"), Getenv: env.Getenv})
	if err != nil {
		var nt *idtoken.NoTokenError
		if errors.As(err, &nt) {
			return nil, "", &UsageError{Err: option.Errorf("%w\n(outside a job, pass --claims FILE with the token's claims as JSON; keyless token --format json prints them in a job)", err)}
		}
		return nil, "", err
	}
	return tokenClaims(tok), tok.Source, nil
}

// tokenClaims are tok's claims as policy evaluates them.
func tokenClaims(tok *idtoken.Token) policy.Claims {
	if tok.Set != nil {
		return policy.Claims(tok.Set)
	}
	b, _ := json.Marshal(tok.Claims)
	c, _ := policy.ParseClaims(b)
	return c
}

func readSmallFile(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, limit)
	}
	return b, nil
}
