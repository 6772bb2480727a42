package cli

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"gitlab.com/keyless-ci/keyless/internal/exchange"
	"gitlab.com/keyless-ci/keyless/internal/exchange/gcp"
	"gitlab.com/keyless-ci/keyless/internal/idtoken"
	"gitlab.com/keyless-ci/keyless/internal/option"
)

func gcpFlags() []cli.Flag {
	return exchangeFlags("GCP",
		&cli.StringFlag{Name: "provider", Usage: "workload identity pool provider `NAME`, projects/NUMBER/locations/global/workloadIdentityPools/POOL/providers/ID", EnvVars: []string{"KEYLESS_GCP_PROVIDER"}},
		&cli.StringFlag{Name: "service-account", Usage: "impersonate this service account `EMAIL` (default: use the federated token directly)", EnvVars: []string{"KEYLESS_GCP_SERVICE_ACCOUNT"}},
		&cli.StringFlag{Name: "delegates", Usage: "comma-separated delegation chain of service account `EMAILS` to --service-account", EnvVars: []string{"KEYLESS_GCP_DELEGATES"}},
		&cli.StringFlag{Name: "lifetime", Usage: "impersonated token's `DURATION`, up to 1h (12h with the org policy), or seconds (default 1h)", EnvVars: []string{"KEYLESS_GCP_LIFETIME"}},
		&cli.StringFlag{Name: "scopes", Usage: "comma-separated OAuth `SCOPES` (default https://www.googleapis.com/auth/cloud-platform)", EnvVars: []string{"KEYLESS_GCP_SCOPES"}},
		&cli.StringFlag{Name: "project", Usage: "set CLOUDSDK_CORE_PROJECT and GOOGLE_CLOUD_PROJECT to this project `ID`", EnvVars: []string{"KEYLESS_GCP_PROJECT"}},
		&cli.StringFlag{Name: "universe", Usage: "Cloud universe `DOMAIN` (default googleapis.com)", EnvVars: []string{"KEYLESS_GCP_UNIVERSE"}},
		&cli.StringFlag{Name: "sts-endpoint", Usage: "STS base `URL` (Private Service Connect; https, http only to loopback); default https://sts.UNIVERSE", EnvVars: []string{"KEYLESS_GCP_STS_ENDPOINT"}},
		&cli.StringFlag{Name: "iamcredentials-endpoint", Usage: "IAM Credentials base `URL` (https, http only to loopback); default https://iamcredentials.UNIVERSE", EnvVars: []string{"KEYLESS_GCP_IAMCREDENTIALS_ENDPOINT"}},
		caFileFlag("GCP", "TLS-inspecting proxy, private endpoint"),
		timeoutFlag("GCP", "the exchange"),
		&cli.StringFlag{Name: "audience", Usage: "fail before calling STS unless the token's aud includes `AUD` (default //iam.googleapis.com/PROVIDER)", EnvVars: []string{"KEYLESS_GCP_AUDIENCE"}},
		formatFlag("GCP", "env or json"),
		&cli.BoolFlag{Name: "refreshable", Usage: "hand gcloud and the SDKs an external_account credential file instead of a token, so they re-exchange", EnvVars: []string{"KEYLESS_GCP_REFRESHABLE"}},
		trustDocFlag("gcp", "the workload identity pool provider (gcloud iam workload-identity-pools providers describe --format json)"),
	)
}

// gcpOptions is everything `keyless gcp` needs, filled from flags and their
// environment fallbacks and validated in one place.
type gcpOptions struct {
	exchangeOptions
	Exchange    gcp.Options
	Provider    gcp.Provider
	Project     string
	Refreshable bool
}

func readGCPOptions(c *cli.Context, env Env) (exchanger, error) {
	// Without --audience the token may carry the provider's name in either
	// form Google accepts.
	pr, _ := gcp.ParseProvider(strings.TrimSpace(c.String("provider")))
	aud := c.String("audience")
	base, err := readExchangeOptions(c, env, cmp.Or(aud, pr.Audience()), documentFlags["gcp"], "env", "json")
	if aud == "" {
		base.Token.AltAudience = pr.AudienceHTTPS()
	}
	o := &gcpOptions{
		exchangeOptions: base,
		Project:         strings.TrimSpace(c.String("project")),
		Refreshable:     c.Bool("refreshable"),
	}
	if err != nil {
		return o, err
	}
	x := gcp.Options{
		Provider:       strings.TrimSpace(c.String("provider")),
		ServiceAccount: strings.TrimSpace(c.String("service-account")),
		Delegates:      splitList(c.String("delegates")),
		Scopes:         splitList(c.String("scopes")),
		Universe:       strings.TrimSpace(c.String("universe")),
		STSEndpoint:    c.String("sts-endpoint"),
		IAMEndpoint:    c.String("iamcredentials-endpoint"),
	}
	if l := strings.TrimSpace(c.String("lifetime")); l != "" {
		d, err := parseDuration(l)
		if err != nil {
			return o, &UsageError{Err: option.Invalid(gcp.OptLifetime, l, "use a duration such as 30m or 1800 (seconds)")}
		}
		x.Lifetime = d
	}
	x.InsecureHTTP = insecureHTTP(env)
	o.Exchange = x
	if err := x.Validate(); err != nil {
		return o, &UsageError{Err: err}
	}
	warnInsecureHTTP(env, x.InsecureHTTP, "--sts-endpoint", x.STSEndpoint, "--iamcredentials-endpoint", x.IAMEndpoint)
	o.Provider, _ = x.ParsedProvider()
	if o.Refreshable {
		refreshable := flagRef("refreshable")
		switch {
		case o.Format == "json":
			return o, usagef("%s hands gcloud and the SDKs a credential file, it has no token for %s json; drop one of them", refreshable, flagRef("format"))
		case len(x.Delegates) > 0:
			return o, usagef("%s writes an external_account credential file, which has no field for %s; drop one of them, or impersonate the last account of the chain directly",
				refreshable, option.Ref(gcp.OptDelegates))
		case len(x.Scopes) > 0:
			scopes := option.Ref(gcp.OptScopes)
			return o, usagef("%s: with %s each SDK asks for the scopes it needs; drop %s", scopes, refreshable, scopes)
		case x.Lifetime != 0 && (x.Lifetime < gcp.RefreshableMinLifetime || x.Lifetime > gcp.RefreshableMaxLifetime):
			return o, usagef("%s %s: with %s the credential file's token_lifetime_seconds must be 10m to 12h (AIP-4117)", option.Ref(gcp.OptLifetime), x.Lifetime, refreshable)
		}
	}
	return o, nil
}

var gcpProvider = provider{
	name:        "gcp",
	configVar:   "KEYLESS_GCP_PROVIDER",
	tokenVarEnv: "KEYLESS_GCP_TOKEN_VAR",
	flags:       gcpFlags,
	read:        readGCPOptions,
	refusals:    []error{gcp.ErrAttributeCondition, gcp.ErrAudience, gcp.ErrIssuer, gcp.ErrSubjectTooLong, gcp.ErrInvalidToken},
	usage:       "exchange the ID token for a Google Cloud access token (Workload Identity Federation)",
	prints:      "prints credentials",
	description: "STS trades the ID token for a federated token, which is the access token, or, with\n" +
		"--service-account, is traded for the service account's token (generateAccessToken).\n" +
		"With a command after --, runs it with CLOUDSDK_AUTH_ACCESS_TOKEN and GOOGLE_OAUTH_ACCESS_TOKEN\n" +
		"in its environment only (inherited Google credential variables removed) and exits with its\n" +
		"code. Without one, prints them in --format env (export lines for eval) or json. With\n" +
		"--refreshable, writes an external_account credential file and sets GOOGLE_APPLICATION_CREDENTIALS\n" +
		"and CLOUDSDK_AUTH_CREDENTIAL_FILE_OVERRIDE instead, so gcloud and the SDKs re-exchange.\n\n" +
		"   keyless gcp --provider projects/123456789012/locations/global/workloadIdentityPools/gitlab/providers/gitlab-com \\\n" +
		"     --service-account deploy@my-project.iam.gserviceaccount.com -- gcloud storage ls\n" +
		"   eval \"$(keyless gcp --provider ... --project my-project)\"",
	options: optionFlags{
		gcp.OptProvider:       "provider",
		gcp.OptServiceAccount: "service-account",
		gcp.OptDelegates:      "delegates",
		gcp.OptLifetime:       "lifetime",
		gcp.OptScopes:         "scopes",
		gcp.OptUniverse:       "universe",
		gcp.OptSTSEndpoint:    "sts-endpoint",
		gcp.OptIAMEndpoint:    "iamcredentials-endpoint",
		gcp.OptCAFile:         "ca-file",
	},
}

// exchange trades the token at STS (and impersonates the service account)
// and prepares the environment or, with --refreshable, the credential file.
func (o *gcpOptions) exchange(ctx context.Context, call exchangeCall, tok *idtoken.Token) (*issued, error) {
	env := call.Env
	if w := gcp.SubjectWarning(tok.Claims); w != "" && !o.Quiet {
		fmt.Fprintf(env.Stderr, "keyless: gcp: warning: %s", w)
	}
	x := o.Exchange
	x.Seams = call.Seams
	call.Log.Debug("exchanging ID token", "provider", "gcp", "workload_provider", o.Provider.Masked(),
		"service_account", x.ServiceAccount, "sts", x.TokenURL(), "token_source", tok.Source)
	creds, err := gcp.Exchange(ctx, tok, x)
	if err != nil {
		return nil, err
	}
	call.Log.Debug("exchange done", "attempts", creds.Attempts, "expires", creds.Expiration, "service_account", creds.ServiceAccount)
	r := &issued{env: creds.Static(o.Project), reexchanged: o.Refreshable, fix: "Use --refreshable (gcloud and the SDKs then re-exchange)."}
	if x.ServiceAccount != "" {
		r.fix = "Use --refreshable (gcloud and the SDKs then re-exchange) or a longer --lifetime (above 1h with the " +
			"organization policy constraints/iam.allowServiceAccountCredentialLifetimeExtension)."
	}
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
		r.fix = "GitLab gives ID tokens the job's timeout as their lifetime; check the runner's clock."
	}
	r.expires = r.env.Expiration
	r.summary = func(w io.Writer, _ mode) {
		what := "federated token of pool " + creds.Provider.Pool
		if creds.ServiceAccount != "" {
			what = "impersonated " + creds.ServiceAccount
		}
		var until string
		switch {
		case o.Refreshable:
			// The exchange was a check; the tools make their own.
			until = "(checked); gcloud and the SDKs re-exchange until " + r.env.Expiration.UTC().Format(time.RFC3339)
		case creds.Expiration.IsZero():
			until = "for as long as STS allows"
		default:
			until = "until " + creds.Expiration.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(w, "keyless: gcp: %s %s; set %s\n", what, until, setNames(r.env))
	}
	if o.Format == "json" {
		r.print = func(env Env) error { return creds.WriteJSON(env.Stdout) }
	}
	return r, nil
}
