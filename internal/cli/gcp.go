package cli

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"gitlab.com/keyless-ci/keyless/internal/exchange"
	"gitlab.com/keyless-ci/keyless/internal/exchange/gcp"
	"gitlab.com/keyless-ci/keyless/internal/idtoken"
)

func gcpFlags() []cli.Flag {
	return append(tokenFlags("GCP"),
		&cli.StringFlag{Name: "provider", Usage: "workload identity pool provider `NAME`, projects/NUMBER/locations/global/workloadIdentityPools/POOL/providers/ID", EnvVars: []string{"KEYLESS_GCP_PROVIDER"}},
		&cli.StringFlag{Name: "service-account", Usage: "impersonate this service account `EMAIL` (default: use the federated token directly)", EnvVars: []string{"KEYLESS_GCP_SERVICE_ACCOUNT"}},
		&cli.StringFlag{Name: "delegates", Usage: "comma-separated delegation chain of service account `EMAILS` to --service-account", EnvVars: []string{"KEYLESS_GCP_DELEGATES"}},
		&cli.StringFlag{Name: "lifetime", Usage: "impersonated token's `DURATION`, up to 1h (12h with the org policy), or seconds (default 1h)", EnvVars: []string{"KEYLESS_GCP_LIFETIME"}},
		&cli.StringFlag{Name: "scopes", Usage: "comma-separated OAuth `SCOPES` (default https://www.googleapis.com/auth/cloud-platform)", EnvVars: []string{"KEYLESS_GCP_SCOPES"}},
		&cli.StringFlag{Name: "project", Usage: "set CLOUDSDK_CORE_PROJECT and GOOGLE_CLOUD_PROJECT to this project `ID`", EnvVars: []string{"KEYLESS_GCP_PROJECT"}},
		&cli.StringFlag{Name: "universe", Usage: "Cloud universe `DOMAIN` (default googleapis.com)", EnvVars: []string{"KEYLESS_GCP_UNIVERSE"}},
		&cli.StringFlag{Name: "sts-endpoint", Usage: "STS base `URL` (Private Service Connect; https, http only to loopback); default https://sts.UNIVERSE", EnvVars: []string{"KEYLESS_GCP_STS_ENDPOINT"}},
		&cli.StringFlag{Name: "iamcredentials-endpoint", Usage: "IAM Credentials base `URL` (https, http only to loopback); default https://iamcredentials.UNIVERSE", EnvVars: []string{"KEYLESS_GCP_IAMCREDENTIALS_ENDPOINT"}},
		&cli.StringFlag{Name: "ca-file", Usage: "PEM `FILE` of extra CAs to trust (TLS-inspecting proxy, private endpoint)", EnvVars: []string{"KEYLESS_GCP_CA_FILE", "KEYLESS_CA_FILE"}},
		&cli.DurationFlag{Name: "timeout", Value: 60 * time.Second, Usage: "overall deadline for the exchange, retries included", EnvVars: []string{"KEYLESS_GCP_TIMEOUT", "KEYLESS_TIMEOUT"}},
		&cli.StringFlag{Name: "audience", Usage: "fail before calling STS unless the token's aud includes `AUD` (default //iam.googleapis.com/PROVIDER)", EnvVars: []string{"KEYLESS_GCP_AUDIENCE"}},
		&cli.StringFlag{Name: "format", Usage: "env or json (default: env without a command, exec with one)", EnvVars: []string{"KEYLESS_GCP_FORMAT"}},
		&cli.BoolFlag{Name: "refreshable", Usage: "hand gcloud and the SDKs an external_account credential file instead of a token, so they re-exchange", EnvVars: []string{"KEYLESS_GCP_REFRESHABLE"}},
		trustDocFlag("gcp", "provider-file", "the workload identity pool provider (gcloud iam workload-identity-pools providers describe --format json)"),
		keepIDTokenFlag("GCP"),
		quietFlag(),
		debugFlag(),
	)
}

// gcpOptions is everything `keyless gcp` needs, filled from flags and their
// environment fallbacks and validated in one place.
type gcpOptions struct {
	Token    tokenOptions
	Exchange gcp.Options
	Provider gcp.Provider
	// AudienceDefault is true when --audience was not given: the token may
	// then carry either form of the provider's name, as Google accepts both.
	AudienceDefault bool
	Project         string
	CAFile          string
	Timeout         time.Duration
	Format          string
	Refreshable     bool
	Quiet           bool
	TrustDoc        string
}

// gcpList splits a comma- or space-separated list, dropping empties (a
// component's empty input sets the variable to "").
func gcpList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\t' })
}

func readGCPOptions(c *cli.Context, env Env) (gcpOptions, error) {
	o := gcpOptions{
		Project:     strings.TrimSpace(c.String("project")),
		CAFile:      c.String("ca-file"),
		Timeout:     c.Duration("timeout"),
		Format:      c.String("format"),
		Refreshable: c.Bool("refreshable"),
		Quiet:       c.Bool("quiet"),
		TrustDoc:    c.String("provider-file"),
	}
	x := gcp.Options{
		Provider:       strings.TrimSpace(c.String("provider")),
		ServiceAccount: strings.TrimSpace(c.String("service-account")),
		Delegates:      gcpList(c.String("delegates")),
		Scopes:         gcpList(c.String("scopes")),
		Universe:       strings.TrimSpace(c.String("universe")),
		STSEndpoint:    c.String("sts-endpoint"),
		IAMEndpoint:    c.String("iamcredentials-endpoint"),
		UserAgent:      "keyless/" + Version,
	}
	if l := strings.TrimSpace(c.String("lifetime")); l != "" {
		d, err := parseDuration(l)
		if err != nil {
			return o, usagef("--lifetime %q: use a duration such as 30m or 1800 (seconds)", l)
		}
		x.Lifetime = d
	}
	if o.Timeout <= 0 {
		return o, usagef("--timeout must be positive")
	}
	x.InsecureHTTP = insecureHTTP(env)
	o.Exchange = x
	if err := x.Validate(); err != nil {
		return o, &UsageError{Err: err}
	}
	warnInsecureHTTP(env, x.InsecureHTTP, "--sts-endpoint", x.STSEndpoint, "--iamcredentials-endpoint", x.IAMEndpoint)
	o.Provider, _ = x.ParsedProvider()
	aud := c.String("audience")
	o.AudienceDefault = aud == ""
	if o.AudienceDefault {
		aud = o.Provider.Audience()
	}
	o.Token = readTokenOptions(c, env, aud)
	switch o.Format {
	case "", "env", "json":
	default:
		return o, usagef("--format %q: use env or json (or give a command after --)", o.Format)
	}
	if o.Refreshable {
		switch {
		case o.Format == "json":
			return o, usagef("--refreshable hands gcloud and the SDKs a credential file, it has no token for --format json; drop one of them")
		case len(x.Delegates) > 0:
			return o, usagef("--refreshable writes an external_account credential file, which has no field for --delegates; drop one of them, or impersonate the last account of the chain directly")
		case len(x.Scopes) > 0:
			return o, usagef("--scopes: with --refreshable each SDK asks for the scopes it needs; drop --scopes")
		case x.Lifetime != 0 && (x.Lifetime < gcp.RefreshableMinLifetime || x.Lifetime > gcp.RefreshableMaxLifetime):
			return o, usagef("--lifetime %s: with --refreshable the credential file's token_lifetime_seconds must be 10m to 12h (AIP-4117)", x.Lifetime)
		}
	}
	if err := checkFile("ca-file", o.CAFile); err != nil {
		return o, err
	}
	return o, nil
}

var gcpProvider = provider{
	name:        "gcp",
	configVar:   "KEYLESS_GCP_PROVIDER",
	tokenVarEnv: "KEYLESS_GCP_TOKEN_VAR",
	command:     gcpCommand,
	flags:       gcpFlags,
	run: func(c *cli.Context, env Env, _ mode, sw io.Writer) (*exchange.Credentials, error) {
		o, err := readGCPOptions(c, env)
		if err != nil {
			return nil, err
		}
		o.Quiet = o.Quiet || c.Bool("quiet")
		r, err := runGCP(c.Context, c, env, o)
		if err != nil {
			return nil, err
		}
		gcpSummary(env.withStderr(sw), o.Quiet, r)
		return r.env, nil
	},
}

func gcpCommand(env Env) *cli.Command {
	return &cli.Command{
		Name:      "gcp",
		Usage:     "exchange the ID token for a Google Cloud access token (Workload Identity Federation)",
		ArgsUsage: "[-- CMD ARGS...]",
		Description: "STS trades the ID token for a federated token, which is the access token, or, with\n" +
			"--service-account, is traded for the service account's token (generateAccessToken).\n" +
			"With a command after --, runs it with CLOUDSDK_AUTH_ACCESS_TOKEN and GOOGLE_OAUTH_ACCESS_TOKEN\n" +
			"in its environment only (inherited Google credential variables removed) and exits with its\n" +
			"code. Without one, prints them in --format env (export lines for eval) or json. With\n" +
			"--refreshable, writes an external_account credential file and sets GOOGLE_APPLICATION_CREDENTIALS\n" +
			"and CLOUDSDK_AUTH_CREDENTIAL_FILE_OVERRIDE instead, so gcloud and the SDKs re-exchange.\n\n" +
			"   keyless gcp --provider projects/123456789012/locations/global/workloadIdentityPools/gitlab/providers/gitlab-com \\\n" +
			"     --service-account deploy@my-project.iam.gserviceaccount.com -- gcloud storage ls\n" +
			"   eval \"$(keyless gcp --provider ... --project my-project)\"",
		Flags: gcpFlags(),
		Action: func(c *cli.Context) error {
			o, err := readGCPOptions(c, env)
			if err != nil {
				return err
			}
			args := c.Args().Slice()
			if len(args) > 0 && o.Format != "" {
				return usagef("--format %s prints credentials; it cannot also run %q (drop one)", o.Format, args[0])
			}
			r, err := runGCP(c.Context, c, env, o)
			if err != nil {
				return err
			}
			return deliverGCP(c.Context, env, r, o, args)
		},
	}
}

// gcpResult is a finished exchange with what the chosen mode delivers.
type gcpResult struct {
	creds       *gcp.Credentials
	env         *exchange.Credentials
	refreshable bool
}

// loadGCPToken is loadToken with Google's audience rule: without --audience
// the token may carry the provider's name in either form Google accepts.
func loadGCPToken(ctx context.Context, env Env, o gcpOptions, client *http.Client) (*idtoken.Token, error) {
	to := o.Token
	tok, err := idtoken.Load(idtoken.Source{Var: to.Var, File: to.File, Getenv: env.Getenv, Audience: to.Audience})
	if err != nil {
		return nil, err
	}
	if err := tok.CheckTime(env.Now()); err != nil {
		return nil, err
	}
	if o.AudienceDefault && tok.Claims.Audience.Contains(o.Provider.AudienceHTTPS()) {
		to.Audience = o.Provider.AudienceHTTPS()
	}
	if err := tok.CheckAudience(to.Audience, to.Var); err != nil {
		return nil, err
	}
	if to.Verify {
		v := idtoken.Verifier{Issuer: to.Issuer, Audience: to.Audience, Client: client, Now: env.Now}
		if err := v.Verify(ctx, tok); err != nil {
			return nil, err
		}
	}
	return tok, nil
}

// runGCP loads the token, exchanges it, and prepares the environment.
func runGCP(ctx context.Context, c *cli.Context, env Env, o gcpOptions) (*gcpResult, error) {
	log := logger(c, env)
	client, err := httpClient(env, o.CAFile, 10*time.Second)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	tok, err := loadGCPToken(ctx, env, o, client)
	if err != nil {
		return nil, err
	}
	if w := gcp.SubjectWarning(tok.Claims); w != "" && !o.Quiet {
		fmt.Fprintf(env.Stderr, "keyless: gcp: warning: %s", w)
	}
	x := o.Exchange
	x.HTTPClient = client
	x.Log = log
	x.Progress = env.Stderr // one line per retry, so a long loop is not silent
	x.Now = env.Now
	log.Debug("exchanging ID token", "provider", "gcp", "workload_provider", o.Provider.Masked(),
		"service_account", x.ServiceAccount, "sts", x.TokenURL(), "token_source", tok.Source)
	creds, err := gcp.Exchange(ctx, tok, x)
	if err != nil {
		if refusal(err, gcp.ErrAttributeCondition, gcp.ErrAudience, gcp.ErrIssuer, gcp.ErrSubjectTooLong, gcp.ErrInvalidToken) {
			err = explainRejection(err, "gcp", o.TrustDoc, tok)
		}
		return nil, err
	}
	log.Debug("exchange done", "attempts", creds.Attempts, "expires", creds.Expiration, "service_account", creds.ServiceAccount)
	r := &gcpResult{creds: creds, env: creds.Static(o.Project)}
	if o.Refreshable {
		dir, err := exchange.StateDir(env.Getenv)
		if err != nil {
			return nil, err
		}
		r.env, err = gcp.Refreshable(dir, tok.Raw, x, o.Project)
		if err != nil {
			return nil, err
		}
		r.env.Expiration = tok.Claims.ExpiresAt.Time
		r.refreshable = true
	}
	fix := "Use --refreshable (gcloud and the SDKs then re-exchange)."
	if x.ServiceAccount != "" {
		fix = "Use --refreshable (gcloud and the SDKs then re-exchange) or a longer --lifetime (above 1h with the " +
			"organization policy constraints/iam.allowServiceAccountCredentialLifetimeExtension)."
	}
	if o.Refreshable {
		fix = "GitLab gives ID tokens the job's timeout as their lifetime; check the runner's clock."
	}
	if w := lifetimeWarning("gcp", env.Getenv, r.env.Expiration, o.Refreshable, fix); w != "" && !o.Quiet {
		fmt.Fprint(env.Stderr, w)
	}
	return r, nil
}

func deliverGCP(ctx context.Context, env Env, r *gcpResult, o gcpOptions, args []string) error {
	switch {
	case len(args) > 0:
		gcpSummary(env, o.Quiet, r)
		defer r.env.Cleanup()
		return exchange.Exec(ctx, o.Token.command(env, args), r.env)
	case o.Format == "json":
		return r.creds.WriteJSON(env.Stdout)
	default:
		gcpSummary(env, o.Quiet, r)
		return exchange.WriteEnv(env.Stdout, r.env)
	}
}

// gcpSummary tells the job's log what was set, never the values.
func gcpSummary(env Env, quiet bool, r *gcpResult) {
	if quiet {
		return
	}
	names := make([]string, 0, len(r.env.Vars))
	for _, v := range r.env.Vars {
		names = append(names, v.Name)
	}
	what := "federated token of pool " + r.creds.Provider.Pool
	if r.creds.ServiceAccount != "" {
		what = "impersonated " + r.creds.ServiceAccount
	}
	var until string
	switch {
	case r.refreshable:
		// The exchange was a check; the tools make their own.
		until = "(checked); gcloud and the SDKs re-exchange until " + r.env.Expiration.UTC().Format(time.RFC3339)
	case r.creds.Expiration.IsZero():
		until = "for as long as STS allows"
	default:
		until = "until " + r.creds.Expiration.UTC().Format(time.RFC3339)
	}
	fmt.Fprintf(env.Stderr, "keyless: gcp: %s %s; set %s\n", what, until, strings.Join(names, " "))
}
