package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"gitlab.com/keyless-ci/keyless/internal/exchange"
	"gitlab.com/keyless-ci/keyless/internal/exchange/aws"
)

func awsFlags() []cli.Flag {
	return append(tokenFlags("AWS"),
		&cli.StringFlag{Name: "role-arn", Usage: "IAM role to assume, arn:aws:iam::ACCOUNT:role/NAME", EnvVars: []string{"KEYLESS_AWS_ROLE_ARN"}},
		&cli.StringFlag{Name: "region", Usage: "AWS region for STS and the job (default: the role's partition's, us-east-1 for aws)", EnvVars: []string{"KEYLESS_AWS_REGION"}},
		&cli.StringFlag{Name: "sts-endpoint", Usage: "STS endpoint `URL` (a VPC endpoint, MinIO; https, http only to loopback); default: the region's", EnvVars: []string{"KEYLESS_AWS_STS_ENDPOINT"}},
		&cli.StringFlag{Name: "session-name", Usage: "role session name (default gitlab-$CI_PROJECT_ID-$CI_JOB_ID)", EnvVars: []string{"KEYLESS_AWS_SESSION_NAME"}},
		&cli.StringFlag{Name: "duration", Usage: "session `DURATION`, 15m to 12h, or seconds (default 1h, STS's)", EnvVars: []string{"KEYLESS_AWS_DURATION"}},
		&cli.StringFlag{Name: "policy-file", Usage: "inline session policy `FILE` (JSON) that narrows the role", EnvVars: []string{"KEYLESS_AWS_POLICY_FILE"}},
		&cli.StringSliceFlag{Name: "policy-arn", Usage: "managed session policy `ARN` that narrows the role (repeatable)", EnvVars: []string{"KEYLESS_AWS_POLICY_ARNS"}},
		&cli.StringFlag{Name: "chain-role-arn", Usage: "then assume this role with the first role's credentials", EnvVars: []string{"KEYLESS_AWS_CHAIN_ROLE_ARN"}},
		&cli.StringFlag{Name: "chain-external-id", Usage: "external id for --chain-role-arn", EnvVars: []string{"KEYLESS_AWS_CHAIN_EXTERNAL_ID"}},
		&cli.StringFlag{Name: "ca-file", Usage: "PEM `FILE` of extra CAs to trust (TLS-inspecting proxy, private STS endpoint)", EnvVars: []string{"KEYLESS_AWS_CA_FILE", "KEYLESS_CA_FILE"}},
		&cli.DurationFlag{Name: "timeout", Value: 60 * time.Second, Usage: "overall deadline for the exchange, retries included", EnvVars: []string{"KEYLESS_AWS_TIMEOUT", "KEYLESS_TIMEOUT"}},
		&cli.StringFlag{Name: "audience", Usage: "fail before calling STS unless the token's aud includes `AUD` (components set it)", EnvVars: []string{"KEYLESS_AWS_AUDIENCE"}},
		&cli.StringFlag{Name: "format", Usage: "env, json or credential-process (default: env without a command, exec with one)", EnvVars: []string{"KEYLESS_AWS_FORMAT"}},
		&cli.StringFlag{Name: "profile", Usage: "write the credentials as profile `NAME` to the shared config and credentials files", EnvVars: []string{"KEYLESS_AWS_PROFILE"}},
		&cli.BoolFlag{Name: "allow-project-dir", Usage: "with --profile, allow the files inside $CI_PROJECT_DIR (they could be uploaded as artifacts)", EnvVars: []string{"KEYLESS_AWS_ALLOW_PROJECT_DIR"}},
		&cli.BoolFlag{Name: "refreshable", Usage: "hand the SDKs a token file and role instead of keys, so they re-exchange for the whole job", EnvVars: []string{"KEYLESS_AWS_REFRESHABLE"}},
		trustDocFlag("aws", "trust-policy", "the role's trust policy"),
		keepIDTokenFlag("AWS"),
		quietFlag(),
		debugFlag(),
	)
}

// awsOptions is everything `keyless aws` needs, filled from flags and their
// environment fallbacks and validated in one place.
type awsOptions struct {
	Token       tokenOptions
	Exchange    aws.Options
	CAFile      string
	Timeout     time.Duration
	Format      string
	Profile     string
	AllowInProj bool
	Refreshable bool
	Quiet       bool
	TrustPolicy string
}

func readAWSOptions(c *cli.Context, env Env) (awsOptions, error) {
	o := awsOptions{
		Token:       readTokenOptions(c, env, c.String("audience")),
		CAFile:      c.String("ca-file"),
		Timeout:     c.Duration("timeout"),
		Format:      c.String("format"),
		Profile:     c.String("profile"),
		AllowInProj: c.Bool("allow-project-dir"),
		Refreshable: c.Bool("refreshable"),
		Quiet:       c.Bool("quiet"),
		TrustPolicy: c.String("trust-policy"),
	}
	x := aws.Options{
		RoleARN: strings.TrimSpace(c.String("role-arn")),
		// An empty KEYLESS_AWS_REGION (a component's empty input) falls
		// through to the job's own region variables.
		Region:          firstNonEmpty(c.String("region"), env.Getenv("AWS_REGION"), env.Getenv("AWS_DEFAULT_REGION")),
		STSEndpoint:     c.String("sts-endpoint"),
		ChainRoleARN:    c.String("chain-role-arn"),
		ChainExternalID: c.String("chain-external-id"),
		AppID:           "keyless/" + Version,
	}
	for _, a := range c.StringSlice("policy-arn") {
		for _, p := range strings.Split(a, ",") {
			if p = strings.TrimSpace(p); p != "" {
				x.PolicyARNs = append(x.PolicyARNs, p)
			}
		}
	}
	if d := c.String("duration"); d != "" {
		dur, err := parseDuration(d)
		if err != nil {
			return o, usagef("--duration %q: use a duration such as 1h or 900 (seconds)", d)
		}
		x.Duration = dur
	}
	x.SessionName = c.String("session-name")
	if x.SessionName == "" {
		x.SessionName = fmt.Sprintf("gitlab-%s-%s", firstNonEmpty(env.Getenv("CI_PROJECT_ID"), "local"), firstNonEmpty(env.Getenv("CI_JOB_ID"), strconv.FormatInt(env.Now().Unix(), 10)))
	}
	x.SessionName = aws.SanitizeSessionName(x.SessionName)
	if f := c.String("policy-file"); f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return o, usagef("--policy-file: %w", err)
		}
		if !json.Valid(b) {
			return o, usagef("--policy-file %q is not valid JSON; it must be an IAM policy document", f)
		}
		var compact bytes.Buffer
		_ = json.Compact(&compact, b)
		x.Policy = compact.String()
	}
	if o.Timeout <= 0 {
		return o, usagef("--timeout must be positive")
	}
	x.InsecureHTTP = insecureHTTP(env)
	o.Exchange = x
	if err := x.Validate(); err != nil {
		return o, &UsageError{Err: err}
	}
	warnInsecureHTTP(env, x.InsecureHTTP, "--sts-endpoint", x.STSEndpoint)
	switch o.Format {
	case "", "env", "json", "credential-process":
	default:
		return o, usagef("--format %q: use env, json or credential-process (or give a command after --)", o.Format)
	}
	if o.Refreshable && (o.Format == "json" || o.Format == "credential-process" || o.Profile != "") {
		return o, usagef("--refreshable hands the SDKs a token file, it has no keys for --format %s or --profile; drop one of them", firstNonEmpty(o.Format, "profile"))
	}
	if err := checkFile("ca-file", o.CAFile); err != nil {
		return o, err
	}
	return o, nil
}

func parseDuration(s string) (time.Duration, error) {
	if n, err := strconv.Atoi(s); err == nil {
		return time.Duration(n) * time.Second, nil
	}
	return time.ParseDuration(s)
}

var awsProvider = provider{
	name:        "aws",
	configVar:   "KEYLESS_AWS_ROLE_ARN",
	tokenVarEnv: "KEYLESS_AWS_TOKEN_VAR",
	command:     awsCommand,
	flags:       awsFlags,
	run: func(c *cli.Context, env Env, _ mode, sw io.Writer) (*exchange.Credentials, error) {
		o, err := readAWSOptions(c, env)
		if err != nil {
			return nil, err
		}
		o.Quiet = o.Quiet || c.Bool("quiet")
		r, err := runAWS(c.Context, c, env, o)
		if err != nil {
			return nil, err
		}
		summary(env.withStderr(sw), o.Quiet, r)
		return r.env, nil
	},
}

func awsCommand(env Env) *cli.Command {
	return &cli.Command{
		Name:      "aws",
		Usage:     "exchange the ID token for AWS credentials (STS AssumeRoleWithWebIdentity)",
		ArgsUsage: "[-- CMD ARGS...]",
		Description: "With a command after --, runs it with the credentials in its environment only\n" +
			"(inherited AWS credential variables and AWS_PROFILE removed) and exits with its code.\n" +
			"Without one, prints them in --format env (export lines for eval), json or\n" +
			"credential-process (the AWS CLI/SDK credential_process contract), or writes --profile.\n\n" +
			"   keyless aws --role-arn arn:aws:iam::123456789012:role/deploy -- terraform apply\n" +
			"   eval \"$(keyless aws --role-arn arn:aws:iam::123456789012:role/deploy)\"\n" +
			"   credential_process = keyless aws --format credential-process --role-arn ...",
		Flags: awsFlags(),
		Action: func(c *cli.Context) error {
			o, err := readAWSOptions(c, env)
			if err != nil {
				return err
			}
			args := c.Args().Slice()
			if len(args) > 0 && o.Format != "" {
				return usagef("--format %s prints credentials; it cannot also run %q (drop one)", o.Format, args[0])
			}
			if len(args) > 0 && o.Profile != "" {
				return usagef("--profile writes files; it cannot also run %q (drop one)", args[0])
			}
			creds, err := runAWS(c.Context, c, env, o)
			if err != nil {
				return err
			}
			return deliver(c.Context, env, creds, o, args)
		},
	}
}

// awsResult is a finished exchange with what the chosen mode delivers.
type awsResult struct {
	creds *aws.Credentials
	env   *exchange.Credentials
}

// runAWS loads the token, exchanges it, and prepares the environment.
func runAWS(ctx context.Context, c *cli.Context, env Env, o awsOptions) (*awsResult, error) {
	log := logger(c, env)
	client, err := httpClient(env, o.CAFile, 10*time.Second)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	tok, err := loadToken(ctx, env, o.Token, client)
	if err != nil {
		return nil, err
	}
	x := o.Exchange
	x.HTTPClient = client
	x.Log = log
	x.Progress = env.Stderr // one line per retry, so a long loop is not silent
	log.Debug("exchanging ID token", "provider", "aws", "role", aws.MaskARN(x.RoleARN), "session", x.SessionName, "endpoint", x.STSEndpoint, "token_source", tok.Source)
	creds, err := aws.Exchange(ctx, tok, x)
	if err != nil {
		if refusal(err, aws.ErrAccessDenied, aws.ErrNoProvider, aws.ErrAudience) {
			err = explainRejection(err, "aws", o.TrustPolicy, tok)
		}
		return nil, err
	}
	log.Debug("exchange done", "attempts", creds.Attempts, "expires", creds.Expiration, "assumed", aws.MaskARN(creds.AssumedRoleARN))
	r := &awsResult{creds: creds, env: creds.Static()}
	if o.Refreshable {
		dir, err := exchange.StateDir(env.Getenv)
		if err != nil {
			return nil, err
		}
		region, _ := x.ResolvedRegion()
		r.env, err = aws.Refreshable(dir, tok.Raw, x, region)
		if err != nil {
			return nil, err
		}
		r.env.Expiration = tok.Claims.ExpiresAt.Time
	}
	fix := "Use --refreshable (the SDKs then re-exchange) or a longer --duration, within the role's maximum session duration."
	if o.Refreshable {
		fix = "GitLab gives ID tokens the job's timeout as their lifetime; check the runner's clock."
	}
	if w := lifetimeWarning("aws", env.Getenv, r.env.Expiration, o.Refreshable, fix); w != "" && !o.Quiet {
		fmt.Fprint(env.Stderr, w)
	}
	return r, nil
}

func deliver(ctx context.Context, env Env, r *awsResult, o awsOptions, args []string) error {
	switch {
	case len(args) > 0:
		summary(env, o.Quiet, r)
		defer r.env.Cleanup()
		return exchange.Exec(ctx, o.Token.command(env, args), r.env)
	case o.Profile != "":
		files, err := aws.DefaultProfileFiles(env.Getenv)
		if err != nil {
			return err
		}
		if !o.AllowInProj {
			for _, f := range []string{files.Config, files.Credentials} {
				if err := exchange.CheckOutsideProject(f, env.Getenv("CI_PROJECT_DIR")); err != nil {
					return &UsageError{Err: fmt.Errorf("--profile: %w (or pass --allow-project-dir)", err)}
				}
			}
		}
		// The profile outlives the job in a home directory that a shell
		// runner's jobs share: keyless cleanup removes what the record
		// says was written (issue 13). The state directory is checked
		// before anything is written.
		dir, err := exchange.StateDir(env.Getenv)
		if err != nil {
			return err
		}
		if err := exchange.MakeStateDir(dir); err != nil {
			return fmt.Errorf("aws: --profile: %w", err)
		}
		rec, err := r.creds.WriteProfile(files, o.Profile)
		if err != nil {
			return fmt.Errorf("aws: --profile: %w", err)
		}
		if _, err := aws.SaveProfile(dir, *rec); err != nil {
			return errors.Join(fmt.Errorf("aws: --profile: recording the profile for keyless cleanup: %w; it was not written", err), aws.RemoveProfile(*rec))
		}
		if !o.Quiet {
			fmt.Fprintf(env.Stderr, "keyless: aws: wrote profile %q to %s and %s, valid until %s (keyless cleanup removes it); use AWS_PROFILE=%s\n",
				o.Profile, files.Credentials, files.Config, r.creds.Expiration.UTC().Format(time.RFC3339), o.Profile)
		}
		return nil
	case o.Format == "json":
		return r.creds.WriteJSON(env.Stdout)
	case o.Format == "credential-process":
		return r.creds.WriteCredentialProcess(env.Stdout)
	default:
		summary(env, o.Quiet, r)
		return exchange.WriteEnv(env.Stdout, r.env)
	}
}

// summary tells the job's log what was set, never the values.
func summary(env Env, quiet bool, r *awsResult) {
	if quiet {
		return
	}
	names := make([]string, 0, len(r.env.Vars))
	for _, v := range r.env.Vars {
		names = append(names, v.Name)
	}
	fmt.Fprintf(env.Stderr, "keyless: aws: assumed %s until %s; set %s\n",
		firstNonEmpty(aws.MaskARN(r.creds.AssumedRoleARN), "the role"), r.creds.Expiration.UTC().Format(time.RFC3339), strings.Join(names, " "))
}
