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
	"gitlab.com/keyless-ci/keyless/internal/exchange/azure"
	"gitlab.com/keyless-ci/keyless/internal/idtoken"
)

func azureFlags() []cli.Flag {
	return exchangeFlags("AZURE",
		&cli.StringFlag{Name: "client-id", Usage: "Application (client) `ID` of the app registration or user-assigned managed identity that trusts the job", EnvVars: []string{"KEYLESS_AZURE_CLIENT_ID", "AZURE_CLIENT_ID"}},
		&cli.StringFlag{Name: "tenant-id", Usage: "Directory (tenant) `ID`, or a verified domain such as contoso.onmicrosoft.com", EnvVars: []string{"KEYLESS_AZURE_TENANT_ID", "AZURE_TENANT_ID"}},
		&cli.StringFlag{Name: "authority-host", Value: azure.DefaultAuthorityHost, Usage: "Entra ID's `URL` (https, http only to loopback): https://login.microsoftonline.us/ for Azure Government, https://login.chinacloudapi.cn/ for Azure China", EnvVars: []string{"KEYLESS_AZURE_AUTHORITY_HOST", "AZURE_AUTHORITY_HOST"}},
		&cli.StringFlag{Name: "scope", Usage: "the resource's .default `SCOPE` (default " + azure.DefaultScope + ", Resource Manager; a sovereign cloud's own)", EnvVars: []string{"KEYLESS_AZURE_SCOPE"}},
		&cli.StringFlag{Name: "audience", Value: azure.DefaultAudience, Usage: "fail before calling Entra unless the token's aud includes `AUD` (the federated credential's audience)", EnvVars: []string{"KEYLESS_AZURE_AUDIENCE"}},
		caFileFlag("AZURE", "TLS-inspecting proxy"),
		timeoutFlag("AZURE", "the exchange"),
		formatFlag("AZURE", "env, json or az-login"),
		&cli.BoolFlag{Name: "refreshable", Usage: "hand the SDKs and Terraform a token file instead of an access token, so they re-exchange for the whole job", EnvVars: []string{"KEYLESS_AZURE_REFRESHABLE"}},
		trustDocFlag("azure", "the app's federated identity credentials (az ad app federated-credential list)"),
	)
}

// azureOptions is everything `keyless azure` needs, filled from flags and
// their environment fallbacks and validated in one place.
type azureOptions struct {
	exchangeOptions
	Exchange    azure.Options
	Refreshable bool
}

func readAzureOptions(c *cli.Context, env Env) (exchanger, error) {
	// An empty KEYLESS_AZURE_* variable (a component's empty input) hides
	// the flag's default and the Azure variable after it, so both are
	// applied again here.
	authority := cmp.Or(strings.TrimSpace(c.String("authority-host")), env.Getenv("AZURE_AUTHORITY_HOST"), azure.DefaultAuthorityHost)
	base, err := readExchangeOptions(c, env, cmp.Or(strings.TrimSpace(c.String("audience")), azure.DefaultAudience), documentFlags["azure"], "env", "json", "az-login")
	o := &azureOptions{
		exchangeOptions: base,
		Refreshable:     c.Bool("refreshable"),
		Exchange: azure.Options{
			ClientID:      cmp.Or(strings.TrimSpace(c.String("client-id")), env.Getenv("AZURE_CLIENT_ID")),
			TenantID:      cmp.Or(strings.TrimSpace(c.String("tenant-id")), env.Getenv("AZURE_TENANT_ID")),
			AuthorityHost: authority,
			Scope:         cmp.Or(strings.TrimSpace(c.String("scope")), azure.DefaultScopeFor(authority)),
		},
	}
	if err != nil {
		return o, err
	}
	o.Exchange.InsecureHTTP = insecureHTTP(env)
	if err := o.Exchange.Validate(); err != nil {
		return o, &UsageError{Err: err}
	}
	warnInsecureHTTP(env, o.Exchange.InsecureHTTP, "--authority-host", o.Exchange.AuthorityHost)
	if o.Refreshable && (o.Format == "json" || o.Format == "az-login") {
		return o, usagef("%s hands the SDKs a token file, it has no access token for %s %s; drop one of them", flagRef("refreshable"), flagRef("format"), o.Format)
	}
	return o, nil
}

var azureProvider = provider{
	name:        "azure",
	configVar:   "KEYLESS_AZURE_CLIENT_ID",
	tokenVarEnv: "KEYLESS_AZURE_TOKEN_VAR",
	flags:       azureFlags,
	read:        readAzureOptions,
	refusals:    []error{azure.ErrNoMatch, azure.ErrInvalidToken},
	usage:       "exchange the ID token for a Microsoft Entra ID access token (workload identity federation)",
	prints:      "prints",
	description: "With a command after --, runs it with AZURE_ACCESS_TOKEN in its environment only (or, with\n" +
		"--refreshable, the workload identity variables) and exits with its code. Without one, prints\n" +
		"--format env (export lines for eval), json (the access token and expires_on) or az-login (the\n" +
		"az login command that reads the ID token from a 0600 file as --federated-token @FILE: the token\n" +
		"is neither printed nor on az's command line; az keeps it in $AZURE_CONFIG_DIR until az logout).\n\n" +
		"--refreshable writes the ID token to a 0600 file outside the project and sets AZURE_CLIENT_ID,\n" +
		"AZURE_TENANT_ID, AZURE_FEDERATED_TOKEN_FILE and AZURE_AUTHORITY_HOST for the Azure SDKs'\n" +
		"workload identity credential, and ARM_USE_OIDC, ARM_CLIENT_ID, ARM_TENANT_ID and\n" +
		"ARM_OIDC_TOKEN_FILE_PATH for Terraform's azurerm provider; they exchange the token themselves.\n" +
		"keyless exchanges once first, so a federation problem fails here, explained.\n\n" +
		"   keyless azure --client-id ID --tenant-id TENANT --refreshable -- terraform apply\n" +
		"   eval \"$(keyless azure --client-id ID --tenant-id TENANT --format az-login)\"\n" +
		"   curl -H \"Authorization: Bearer $(keyless azure --format json | jq -r .access_token)\" ...",
	options: optionFlags{
		azure.OptClientID:      "client-id",
		azure.OptTenantID:      "tenant-id",
		azure.OptScope:         "scope",
		azure.OptAuthorityHost: "authority-host",
		azure.OptAudience:      "audience",
		azure.OptCAFile:        "ca-file",
	},
}

// exchange trades the token at Entra ID and prepares the environment or
// the ID token file of --refreshable and az-login.
func (o *azureOptions) exchange(ctx context.Context, call exchangeCall, tok *idtoken.Token) (*issued, error) {
	env := call.Env
	x := o.Exchange
	x.Seams = call.Seams
	call.Log.Debug("exchanging ID token", "provider", "azure", "client", azure.MaskID(x.ClientID), "tenant", azure.MaskID(x.TenantID),
		"authority", x.Authority(), "scope", x.Scope, "token_source", tok.Source)
	creds, err := azure.Exchange(ctx, tok, x)
	if err != nil {
		return nil, err
	}
	call.Log.Debug("exchange done", "attempts", creds.Attempts, "expires", creds.ExpiresOn)
	r := &issued{env: creds.Static(), expires: creds.ExpiresOn,
		fix: "Use --refreshable (KEYLESS_AZURE_REFRESHABLE): the Azure SDKs and Terraform then re-exchange the ID token for new access tokens."}
	var tokenFile string // the ID token file of --refreshable and az-login
	if o.Refreshable || o.Format == "az-login" {
		dir, err := exchange.StateDir(env.Getenv)
		if err != nil {
			return nil, err
		}
		if o.Refreshable {
			if r.env, err = azure.Refreshable(dir, tok.Raw, x); err != nil {
				return nil, err
			}
			r.env.Expiration = tok.Claims.ExpiresAt.Time
			tokenFile = r.env.Files[0]
		} else if tokenFile, err = azure.WriteTokenFile(dir, tok.Raw); err != nil {
			return nil, err
		}
		call.Log.Debug("wrote the ID token file", "path", tokenFile)
		r.expires, r.reexchanged = tok.Claims.ExpiresAt.Time, true
		r.fix = "GitLab gives ID tokens the job's timeout as their lifetime; check the runner's clock."
	}
	who := fmt.Sprintf("client %s in tenant %s", azure.MaskID(creds.ClientID), azure.MaskID(creds.TenantID))
	r.summary = func(w io.Writer, _ mode) {
		if o.Refreshable {
			fmt.Fprintf(w, "keyless: azure: Entra accepted the ID token for %s; set %s (the SDKs and Terraform re-exchange it until %s)\n",
				who, setNames(r.env), r.env.Expiration.UTC().Format(time.RFC3339))
			return
		}
		fmt.Fprintf(w, "keyless: azure: access token for %s (scope %s) until %s; set %s\n",
			who, creds.Scope, creds.ExpiresOn.UTC().Format(time.RFC3339), setNames(r.env))
	}
	switch o.Format {
	case "json":
		r.print = func(env Env) error { return creds.WriteJSON(env.Stdout) }
	case "az-login":
		r.print = func(env Env) error {
			if !o.Quiet {
				// Say what the command exposes, and where the token stays
				// (issue 13, item 4).
				fmt.Fprintf(env.Stderr, "keyless: azure: Entra accepted the ID token for %s; wrote it to %s for az login (keyless cleanup removes it); "+
					"run the command printed on stdout, or eval it. az reads the token from that file (--federated-token @FILE), so its command line, "+
					"which other users of this machine can read, holds only the path; az then keeps the token in its configuration directory "+
					"($AZURE_CONFIG_DIR, default ~/.azure) until az logout\n", who, tokenFile)
			}
			return azure.WriteAzLogin(env.Stdout, x, tokenFile)
		}
	}
	return r, nil
}
