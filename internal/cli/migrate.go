//go:build !keyless_slim

package cli

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"gitlab.com/keyless-ci/keyless/internal/migrate"
)

func migrateFlags() []cli.Flag {
	flags := []cli.Flag{
		&cli.StringFlag{Name: "aws-role-arn", Usage: "`ARN` of the IAM role that replaces the stored AWS keys", EnvVars: []string{"KEYLESS_MIGRATE_AWS_ROLE_ARN"}},
		&cli.StringFlag{Name: "gcp-provider", Usage: "workload identity pool provider `NAME` (projects/NUMBER/locations/global/workloadIdentityPools/POOL/providers/PROVIDER) that replaces the stored Google Cloud keys", EnvVars: []string{"KEYLESS_MIGRATE_GCP_PROVIDER"}},
		&cli.StringFlag{Name: "gcp-service-account", Usage: "service account `EMAIL` to impersonate (the one the key belonged to)", EnvVars: []string{"KEYLESS_MIGRATE_GCP_SERVICE_ACCOUNT"}},
		&cli.StringFlag{Name: "azure-client-id", Usage: "application (client) `ID` that replaces the stored Azure client secret (with --azure-tenant-id)", EnvVars: []string{"KEYLESS_MIGRATE_AZURE_CLIENT_ID"}},
		&cli.StringFlag{Name: "azure-tenant-id", Usage: "directory (tenant) `ID` of the app", EnvVars: []string{"KEYLESS_MIGRATE_AZURE_TENANT_ID"}},
		&cli.StringFlag{Name: "vault-addr", Usage: "Vault or OpenBao `URL` (also the ID token's audience) that replaces the stored Vault token or password (with --vault-role)", EnvVars: []string{"KEYLESS_MIGRATE_VAULT_ADDR"}},
		&cli.StringFlag{Name: "vault-role", Usage: "JWT auth `ROLE` to log in with", EnvVars: []string{"KEYLESS_MIGRATE_VAULT_ROLE"}},
		&cli.StringFlag{Name: "npm-package", Usage: "npm package `NAME` (@scope/name) of the jobs publishing with a stored npm token whose package.json migrate cannot read (a job whose package.json it reads publishes that package's name)", EnvVars: []string{"KEYLESS_MIGRATE_NPM_PACKAGE"}},
		&cli.StringFlag{Name: "map", Usage: "mapping `FILE`: each stored credential variable to the component inputs of its identity, for a project with several (docs/migrate.md)", EnvVars: []string{"KEYLESS_MIGRATE_MAP"}},
		&cli.StringFlag{Name: "install", Usage: "install `MODE` of every include written: artifact, path or download (default: the component's own, artifact)", EnvVars: []string{"KEYLESS_MIGRATE_INSTALL"}},
		&cli.StringFlag{Name: "component", Value: migrate.DefaultComponent, Usage: "component `PATH` the includes name, before /aws@VERSION", EnvVars: []string{"KEYLESS_MIGRATE_COMPONENT"}},
		&cli.StringFlag{Name: "component-version", Value: migrate.DefaultVersion, Usage: "component `VERSION` the includes name", EnvVars: []string{"KEYLESS_MIGRATE_COMPONENT_VERSION"}},
		&cli.StringFlag{Name: "from-report", Usage: "JSON `FILE` of keyless report: the stored credentials each job of the project uses (a job it shows using one is migrated even where lint alone is not sure)", EnvVars: []string{"KEYLESS_MIGRATE_FROM_REPORT"}},
		&cli.BoolFlag{Name: "implicit", Usage: "also migrate jobs lint reports with low confidence (a tool that reads keys from the environment, none in sight)", EnvVars: []string{"KEYLESS_MIGRATE_IMPLICIT"}},
		&cli.BoolFlag{Name: "write", Aliases: []string{"w"}, Usage: "apply the change to the files (default: print it)", EnvVars: []string{"KEYLESS_MIGRATE_WRITE"}},
		&cli.StringFlag{Name: "format", Value: "diff", Usage: "`FORMAT` of the output: diff (unified) or json (the plan)", EnvVars: []string{"KEYLESS_MIGRATE_FORMAT"}},
		&cli.BoolFlag{Name: "open-mr", Usage: "push the change to a branch of the GitLab project and open (or update) its merge request, with the trust to create and the retirement checklist (--project, --gitlab-url, --token-env: a token with the api scope)", EnvVars: []string{"KEYLESS_MIGRATE_OPEN_MR"}},
		&cli.StringFlag{Name: "project", Usage: "GitLab project `PATH` of --open-mr (default $CI_PROJECT_PATH)", EnvVars: []string{"KEYLESS_MIGRATE_PROJECT", "CI_PROJECT_PATH"}},
		&cli.StringFlag{Name: "branch", Value: "keyless/migrate", Usage: "`BRANCH` --open-mr commits to", EnvVars: []string{"KEYLESS_MIGRATE_BRANCH"}},
		&cli.StringFlag{Name: "target", Usage: "`BRANCH` the merge request merges into, and the protected branch the trust admits (default: the project's default branch)", EnvVars: []string{"KEYLESS_MIGRATE_TARGET"}},
		ciConfigFlag("KEYLESS_MIGRATE_"),
		inputFlag("KEYLESS_MIGRATE_"),
		quietFlag(),
		&cli.BoolFlag{Name: "online", Usage: "read project:, remote:, template: and component: includes through the GitLab API (needs --token-env)", EnvVars: []string{"KEYLESS_MIGRATE_ONLINE"}},
		&cli.StringFlag{Name: "gitlab-url", Usage: "GitLab instance `URL` for --online and --open-mr (default $CI_SERVER_URL, else https://gitlab.com)", EnvVars: []string{"KEYLESS_GITLAB_URL", "CI_SERVER_URL"}},
		&cli.StringFlag{Name: "token-env", Usage: "`NAME` of the variable holding a GitLab token: read_api for --online, api for --open-mr", EnvVars: []string{"KEYLESS_GITLAB_TOKEN_ENV"}, Value: "GITLAB_TOKEN"},
	}
	return flags
}

// migrateOptions is everything `keyless migrate` needs, validated in one
// place.
type migrateOptions struct {
	Path   string
	Format string
	Write  bool
	Quiet  bool
	migrate.Options
	// MR is set by --open-mr.
	MR *mrOptions
}

func readMigrateOptions(c *cli.Context, env Env, args []string) (migrateOptions, error) {
	o := migrateOptions{Path: ".", Format: c.String("format"), Write: c.Bool("write"), Quiet: c.Bool("quiet")}
	switch len(args) {
	case 0:
	case 1:
		o.Path = args[0]
	default:
		return o, usagef("migrate takes one PATH, not %d: migrate each project on its own", len(args))
	}
	if o.Format != "diff" && o.Format != "json" {
		return o, usagef("--format %q: use diff or json", o.Format)
	}
	o.Component = strings.TrimSuffix(c.String("component"), "/")
	o.Version = c.String("component-version")
	if o.Component == "" || o.Version == "" || strings.ContainsAny(o.Version, " /@") {
		return o, usagef("--component %q --component-version %q: name the components' path and a version, e.g. --component %s --component-version 1", o.Component, o.Version, migrate.DefaultComponent)
	}
	o.Implicit = c.Bool("implicit")
	def := map[string]migrate.Identity{}
	pair := func(cloud string, flags ...string) error {
		in := map[string]string{}
		var set, unset []string
		for _, f := range flags {
			v := strings.TrimSpace(c.String(f))
			if v == "" {
				unset = append(unset, "--"+f)
				continue
			}
			set = append(set, "--"+f)
			in[strings.ReplaceAll(strings.TrimPrefix(f, cloud+"-"), "-", "_")] = v
		}
		if len(set) == 0 {
			return nil
		}
		if len(unset) > 0 {
			return usagef("%s needs %s too: both name the %s identity", strings.Join(set, " and "), strings.Join(unset, " and "), cloud)
		}
		def[cloud] = migrate.Identity{Cloud: cloud, Inputs: in}
		return nil
	}
	if err := pair("aws", "aws-role-arn"); err != nil {
		return o, err
	}
	if err := pair("gcp", "gcp-provider"); err != nil {
		return o, err
	}
	if sa := strings.TrimSpace(c.String("gcp-service-account")); sa != "" {
		id, ok := def["gcp"]
		if !ok {
			return o, usagef("--gcp-service-account needs --gcp-provider too: the provider is what trusts the job's ID token")
		}
		id.Inputs["service_account"] = sa
	}
	if err := pair("azure", "azure-client-id", "azure-tenant-id"); err != nil {
		return o, err
	}
	if err := pair("vault", "vault-addr", "vault-role"); err != nil {
		return o, err
	}
	if err := pair("npm", "npm-package"); err != nil {
		return o, err
	}
	if id, ok := def["npm"]; ok {
		if _, err := id.Complete(); err != nil {
			return o, usagef("--npm-package %q: %v", id.Inputs["package"], err)
		}
	}
	if f := c.String("map"); f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return o, pathUsage("--map "+f, err)
		}
		vars, err := migrate.ParseMap(b)
		if err != nil {
			return o, usagef("--map %s: %v", f, err)
		}
		o.Identities.Vars = vars
	}
	if f := c.String("from-report"); f != "" {
		stored, err := readReportUses(f, strings.Trim(c.String("project"), "/"))
		if err != nil {
			return o, err
		}
		o.Stored = stored
	}
	if in := c.String("install"); in != "" {
		if in != "artifact" && in != "path" && in != "download" {
			return o, usagef("--install %q: use artifact, path or download", in)
		}
		// The pypi, npm and crates components need no flag (npm's package
		// comes from package.json): --install reaches them through an
		// identity of their own.
		for _, k := range []string{"pypi", "npm", "crates"} {
			if _, ok := def[k]; !ok {
				def[k] = migrate.Identity{Cloud: k, Inputs: map[string]string{}}
			}
		}
		for k, id := range def {
			id.Inputs["install"] = in
			def[k] = id
		}
		for k, id := range o.Identities.Vars {
			if _, ok := id.Inputs["install"]; !ok {
				id.Inputs["install"] = in
			}
			o.Identities.Vars[k] = id
		}
	}
	o.Identities.Default = def
	co, err := readConfigOptions(c, env)
	o.CIConfig, o.Inputs, o.Fetcher = co.CIConfig, co.Inputs, co.Fetcher
	if err != nil {
		return o, err
	}
	if c.Bool("open-mr") {
		o.MR, err = readMROptions(c, env)
	}
	return o, err
}

func migrateCommand(env Env) *cli.Command {
	return &cli.Command{
		Name:      "migrate",
		Usage:     "move the jobs that use stored cloud credentials to the keyless components",
		ArgsUsage: "[PATH]",
		Description: "Reads the project's CI/CD configuration as lint resolves it and rewrites each job that uses a\n" +
			"stored AWS key, Google Cloud service account key, Azure client secret, Vault token or\n" +
			"password, or PyPI, npm or crates.io publish token (the stored-* findings) to get the same access through the\n" +
			"keyless component: it adds the component include, once per identity; makes the job extend\n" +
			"the component's hidden job (keeping its own before_script and after_script after a\n" +
			"!reference to the component's); and removes the lines and variables the stored credential\n" +
			"needed. Everything else stays byte for byte. What it cannot rewrite safely it refuses, with\n" +
			"the reason and the step to take by hand. Values are never printed: names and positions only.\n\n" +
			"The identity comes from --aws-role-arn, --gcp-provider, --azure-client-id/--azure-tenant-id\n" +
			"and --vault-addr/--vault-role, or for a project with several from --map FILE (docs/migrate.md);\n" +
			"npm's package from the job's package.json, else --npm-package.\n" +
			"PATH is a project directory (its .gitlab-ci.yml, or --ci-config) or a YAML file.\n\n" +
			"--open-mr commits the change to --branch of the GitLab project (--project) and opens or updates\n" +
			"one merge request whose description holds the trust to create (keyless policy, as Terraform and\n" +
			"as the cloud's CLI), lint before and after, and the retirement checklist of each key.\n\n" +
			"Exit 0: every job with a stored cloud credential is migrated (or there is none). Exit 1: some\n" +
			"jobs are refused (listed on stderr, or in the plan). Exit 2: bad flags, no such PATH, a bad\n" +
			"mapping file. Exit 3: the configuration cannot be read, or the files not written.\n\n" +
			"   keyless migrate --aws-role-arn arn:aws:iam::123456789012:role/deploy      print the diff\n" +
			"   keyless migrate --map identities.yml --write                           apply it\n" +
			"   keyless migrate --vault-addr https://vault.example.com --vault-role ci --format json",
		Flags: migrateFlags(),
		Action: func(c *cli.Context) error {
			o, err := readMigrateOptions(c, env, c.Args().Slice())
			if err != nil {
				return err
			}
			return runMigrate(c.Context, env, o)
		},
	}
}

// migrateRefusedError ends keyless migrate with exit code 1 once the
// refusals are listed.
type migrateRefusedError struct{ n int }

func (e *migrateRefusedError) Error() string {
	n := fmt.Sprintf("%d jobs", e.n)
	if e.n == 1 {
		n = "1 job"
	}
	return "migrate: " + n + " refused (listed above): migrate them by hand as each says, then run keyless migrate again"
}
func (e *migrateRefusedError) ExitCode() int { return ExitFindings }

func runMigrate(ctx context.Context, env Env, o migrateOptions) error {
	if _, err := statConfig("migrate", o.Path, cmp.Or(o.CIConfig, ".gitlab-ci.yml")); err != nil {
		return err
	}
	r, err := migrate.Migrate(o.Path, o.Options)
	if err != nil {
		return err
	}
	switch o.Format {
	case "json":
		b, err := json.MarshalIndent(r.Plan, "", "  ")
		if err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		if _, err := env.Stdout.Write(append(b, '\n')); err != nil {
			return fmt.Errorf("migrate: writing the plan: %w", err)
		}
	default:
		if _, err := fmt.Fprint(env.Stdout, r.Diff()); err != nil {
			return fmt.Errorf("migrate: writing the diff: %w", err)
		}
	}
	if o.Write {
		for _, ch := range r.Changes {
			if err := writeAtomic(ch.Disk, ch.After); err != nil {
				return fmt.Errorf("migrate: writing %s: %w", ch.Path, err)
			}
		}
	}
	if !o.Quiet || len(r.Plan.Refused) > 0 {
		fmt.Fprint(env.Stderr, r.Plan.Summary())
	}
	if o.MR != nil {
		if err := openMR(ctx, env, o, r); err != nil {
			return err
		}
	}
	if len(r.Plan.Refused) > 0 {
		return &migrateRefusedError{n: len(r.Plan.Refused)}
	}
	return nil
}
