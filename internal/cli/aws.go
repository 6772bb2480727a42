package cli

import (
	"bytes"
	"cmp"
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
	"gitlab.com/keyless-ci/keyless/internal/idtoken"
	"gitlab.com/keyless-ci/keyless/internal/option"
)

func awsFlags() []cli.Flag {
	return exchangeFlags("AWS",
		&cli.StringFlag{Name: "role-arn", Usage: "IAM role to assume, arn:aws:iam::ACCOUNT:role/NAME", EnvVars: []string{"KEYLESS_AWS_ROLE_ARN"}},
		&cli.StringFlag{Name: "region", Usage: "AWS region for STS and the job (default: the role's partition's, us-east-1 for aws)", EnvVars: []string{"KEYLESS_AWS_REGION"}},
		&cli.StringFlag{Name: "sts-endpoint", Usage: "STS endpoint `URL` (a VPC endpoint, MinIO; https, http only to loopback); default: the region's", EnvVars: []string{"KEYLESS_AWS_STS_ENDPOINT"}},
		&cli.StringFlag{Name: "session-name", Usage: "role session name (default gitlab-$CI_PROJECT_ID-$CI_JOB_ID)", EnvVars: []string{"KEYLESS_AWS_SESSION_NAME"}},
		&cli.StringFlag{Name: "duration", Usage: "session `DURATION`, 15m to 12h, or seconds (default 1h, STS's)", EnvVars: []string{"KEYLESS_AWS_DURATION"}},
		&cli.StringFlag{Name: "policy-file", Usage: "inline session policy `FILE` (JSON) that narrows the role", EnvVars: []string{"KEYLESS_AWS_POLICY_FILE"}},
		&cli.StringSliceFlag{Name: "policy-arn", Usage: "managed session policy `ARN` that narrows the role (repeatable)", EnvVars: []string{"KEYLESS_AWS_POLICY_ARNS"}},
		&cli.StringFlag{Name: "chain-role-arn", Usage: "then assume this role with the first role's credentials", EnvVars: []string{"KEYLESS_AWS_CHAIN_ROLE_ARN"}},
		&cli.StringFlag{Name: "chain-external-id", Usage: "external id for --chain-role-arn", EnvVars: []string{"KEYLESS_AWS_CHAIN_EXTERNAL_ID"}},
		caFileFlag("AWS", "TLS-inspecting proxy, private STS endpoint"),
		timeoutFlag("AWS", "the exchange"),
		&cli.StringFlag{Name: "audience", Usage: "fail before calling STS unless the token's aud includes `AUD` (components set it)", EnvVars: []string{"KEYLESS_AWS_AUDIENCE"}},
		formatFlag("AWS", "env, json or credential-process"),
		&cli.StringFlag{Name: "profile", Usage: "write the credentials as profile `NAME` to the shared config and credentials files", EnvVars: []string{"KEYLESS_AWS_PROFILE"}},
		&cli.BoolFlag{Name: "allow-project-dir", Usage: "with --profile, allow the files inside $CI_PROJECT_DIR (they could be uploaded as artifacts)", EnvVars: []string{"KEYLESS_AWS_ALLOW_PROJECT_DIR"}},
		&cli.BoolFlag{Name: "refreshable", Usage: "hand the SDKs a token file and role instead of keys, so they re-exchange for the whole job", EnvVars: []string{"KEYLESS_AWS_REFRESHABLE"}},
		trustDocFlag("aws", "the role's trust policy"),
	)
}

// awsOptions is everything `keyless aws` needs, filled from flags and their
// environment fallbacks and validated in one place.
type awsOptions struct {
	exchangeOptions
	Exchange    aws.Options
	Profile     string
	AllowInProj bool
	Refreshable bool
}

func readAWSOptions(c *cli.Context, env Env) (exchanger, error) {
	base, err := readExchangeOptions(c, env, c.String("audience"), documentFlags["aws"], "env", "json", "credential-process")
	o := &awsOptions{
		exchangeOptions: base,
		Profile:         c.String("profile"),
		AllowInProj:     c.Bool("allow-project-dir"),
		Refreshable:     c.Bool("refreshable"),
	}
	if err != nil {
		return o, err
	}
	if o.Profile != "" {
		o.Sink = "--profile writes files"
	}
	x := aws.Options{
		RoleARN: strings.TrimSpace(c.String("role-arn")),
		// An empty KEYLESS_AWS_REGION (a component's empty input) falls
		// through to the job's own region variables.
		Region:          cmp.Or(c.String("region"), env.Getenv("AWS_REGION"), env.Getenv("AWS_DEFAULT_REGION")),
		STSEndpoint:     c.String("sts-endpoint"),
		PolicyARNs:      splitList(c.StringSlice("policy-arn")...),
		ChainRoleARN:    c.String("chain-role-arn"),
		ChainExternalID: c.String("chain-external-id"),
	}
	if d := c.String("duration"); d != "" {
		dur, err := parseDuration(d)
		if err != nil {
			return o, &UsageError{Err: option.Invalid(aws.OptDuration, d, "use a duration such as 1h or 900 (seconds)")}
		}
		x.Duration = dur
	}
	x.SessionName = c.String("session-name")
	if x.SessionName == "" {
		x.SessionName = fmt.Sprintf("gitlab-%s-%s", cmp.Or(env.Getenv("CI_PROJECT_ID"), "local"), cmp.Or(env.Getenv("CI_JOB_ID"), strconv.FormatInt(env.Now().Unix(), 10)))
	}
	x.SessionName = aws.SanitizeSessionName(x.SessionName)
	if f := c.String("policy-file"); f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return o, &UsageError{Err: &option.Error{Option: aws.OptPolicyFile, Err: err}}
		}
		if !json.Valid(b) {
			return o, usagef("%s %q is not valid JSON; it must be an IAM policy document", option.Ref(aws.OptPolicyFile), f)
		}
		var compact bytes.Buffer
		_ = json.Compact(&compact, b)
		x.Policy = compact.String()
	}
	x.InsecureHTTP = insecureHTTP(env)
	o.Exchange = x
	if err := x.Validate(); err != nil {
		return o, &UsageError{Err: err}
	}
	warnInsecureHTTP(env, x.InsecureHTTP, "--sts-endpoint", x.STSEndpoint)
	if o.Refreshable && (o.Format == "json" || o.Format == "credential-process" || o.Profile != "") {
		return o, usagef("%s hands the SDKs a token file, it has no keys for %s %s or %s; drop one of them",
			flagRef("refreshable"), flagRef("format"), cmp.Or(o.Format, "profile"), flagRef("profile"))
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
	flags:       awsFlags,
	read:        readAWSOptions,
	refusals:    []error{aws.ErrAccessDenied, aws.ErrNoProvider, aws.ErrAudience},
	usage:       "exchange the ID token for AWS credentials (STS AssumeRoleWithWebIdentity)",
	prints:      "prints credentials",
	description: "With a command after --, runs it with the credentials in its environment only\n" +
		"(inherited AWS credential variables and AWS_PROFILE removed) and exits with its code.\n" +
		"Without one, prints them in --format env (export lines for eval), json or\n" +
		"credential-process (the AWS CLI/SDK credential_process contract), or writes --profile.\n\n" +
		"   keyless aws --role-arn arn:aws:iam::123456789012:role/deploy -- terraform apply\n" +
		"   eval \"$(keyless aws --role-arn arn:aws:iam::123456789012:role/deploy)\"\n" +
		"   credential_process = keyless aws --format credential-process --role-arn ...",
	options: optionFlags{
		aws.OptRoleARN:         "role-arn",
		aws.OptRegion:          "region",
		aws.OptSTSEndpoint:     "sts-endpoint",
		aws.OptSessionName:     "session-name",
		aws.OptDuration:        "duration",
		aws.OptPolicyFile:      "policy-file",
		aws.OptPolicyARN:       "policy-arn",
		aws.OptChainRoleARN:    "chain-role-arn",
		aws.OptChainExternalID: "chain-external-id",
		aws.OptCAFile:          "ca-file",
	},
}

// exchange assumes the role and prepares the environment or, with
// --refreshable, the token file the SDKs re-exchange.
func (o *awsOptions) exchange(ctx context.Context, call exchangeCall, tok *idtoken.Token) (*issued, error) {
	env := call.Env
	x := o.Exchange
	x.Seams = call.Seams
	call.Log.Debug("exchanging ID token", "provider", "aws", "role", aws.MaskARN(x.RoleARN), "session", x.SessionName, "endpoint", x.STSEndpoint, "token_source", tok.Source)
	creds, err := aws.Exchange(ctx, tok, x)
	if err != nil {
		return nil, err
	}
	call.Log.Debug("exchange done", "attempts", creds.Attempts, "expires", creds.Expiration, "assumed", aws.MaskARN(creds.AssumedRoleARN))
	r := &issued{env: creds.Static(), reexchanged: o.Refreshable,
		fix: "Use --refreshable (the SDKs then re-exchange) or a longer --duration, within the role's maximum session duration."}
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
		r.fix = "GitLab gives ID tokens the job's timeout as their lifetime; check the runner's clock."
	}
	r.expires = r.env.Expiration
	r.summary = func(w io.Writer, _ mode) {
		fmt.Fprintf(w, "keyless: aws: assumed %s until %s; set %s\n",
			cmp.Or(aws.MaskARN(creds.AssumedRoleARN), "the role"), creds.Expiration.UTC().Format(time.RFC3339), setNames(r.env))
	}
	switch {
	case o.Profile != "":
		r.print = func(env Env) error { return o.writeProfile(env, creds) }
	case o.Format == "json":
		r.print = func(env Env) error { return creds.WriteJSON(env.Stdout) }
	case o.Format == "credential-process":
		r.print = func(env Env) error { return creds.WriteCredentialProcess(env.Stdout) }
	}
	return r, nil
}

// writeProfile writes the credentials as --profile to the shared config
// and credentials files, and records them for keyless cleanup.
func (o *awsOptions) writeProfile(env Env, creds *aws.Credentials) error {
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
	rec, err := creds.WriteProfile(files, o.Profile)
	if err != nil {
		return fmt.Errorf("aws: --profile: %w", err)
	}
	if _, err := aws.SaveProfile(dir, *rec); err != nil {
		return errors.Join(fmt.Errorf("aws: --profile: recording the profile for keyless cleanup: %w; it was not written", err), aws.RemoveProfile(*rec))
	}
	if !o.Quiet {
		fmt.Fprintf(env.Stderr, "keyless: aws: wrote profile %q to %s and %s, valid until %s (keyless cleanup removes it); use AWS_PROFILE=%s\n",
			o.Profile, files.Credentials, files.Config, creds.Expiration.UTC().Format(time.RFC3339), o.Profile)
	}
	return nil
}
