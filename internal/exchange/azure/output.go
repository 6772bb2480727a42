package azure

import (
	"fmt"
	"io"
	"strings"
	"time"

	"gitlab.com/keyless-ci/keyless/internal/exchange"
	"gitlab.com/keyless-ci/keyless/internal/secret"
)

// TokenFileName is the ID token file in the job's state directory, for
// --refreshable and --format az-login.
const TokenFileName = "azure-federated-token"

// competing lists inherited variables that hold another credential, which
// the SDKs, the Azure CLI or Terraform's azurerm provider would use instead
// of (or mix with) what keyless sets: azidentity's EnvironmentCredential
// comes before its WorkloadIdentityCredential, and azurerm prefers a client
// certificate or secret to OIDC.
var competing = []string{
	"AZURE_ACCESS_TOKEN",
	"AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PATH", "AZURE_CLIENT_CERTIFICATE_PASSWORD",
	"AZURE_USERNAME", "AZURE_PASSWORD", "AZURE_FEDERATED_TOKEN_FILE",
	"ARM_CLIENT_SECRET", "ARM_CLIENT_SECRET_FILE_PATH", "ARM_CLIENT_CERTIFICATE", "ARM_CLIENT_CERTIFICATE_PATH",
	"ARM_CLIENT_CERTIFICATE_PASSWORD", "ARM_OIDC_TOKEN", "ARM_OIDC_TOKEN_FILE_PATH",
}

// Static returns the access token as AZURE_ACCESS_TOKEN, for a command that
// sends it itself (curl -H "Authorization: Bearer $AZURE_ACCESS_TOKEN").
// The Azure SDKs, the Azure CLI and Terraform cannot take an access token
// from the environment; they need Refreshable.
func (c *Credentials) Static() *exchange.Credentials {
	vars := []exchange.Var{{Name: "AZURE_ACCESS_TOKEN", Value: c.AccessToken}}
	return &exchange.Credentials{Provider: "azure", Vars: vars, Unset: exchange.UnsetExcept(competing, vars), Expiration: c.ExpiresOn}
}

// WriteTokenFile writes the ID token to a 0600 file in the state directory
// dir (exchange.WriteStateFile) and returns its path.
func WriteTokenFile(dir string, token secret.Token) (string, error) {
	return exchange.WriteStateFile(dir, TokenFileName, []byte(token.Reveal()))
}

// Refreshable writes the ID token to a 0600 file in dir and returns the
// variables with which the Azure SDKs' workload identity credential and
// Terraform's azurerm provider (and its backend) exchange it themselves,
// whenever their access token nears expiry, for as long as the ID token is
// valid.
//
// azidentity: AZURE_CLIENT_ID, AZURE_TENANT_ID, AZURE_FEDERATED_TOKEN_FILE,
// AZURE_AUTHORITY_HOST (WorkloadIdentityCredential, in DefaultAzureCredential)
// https://learn.microsoft.com/azure/aks/workload-identity-overview
// azurerm: ARM_USE_OIDC, ARM_CLIENT_ID, ARM_TENANT_ID, ARM_OIDC_TOKEN_FILE_PATH
// and ARM_ENVIRONMENT for a sovereign cloud
// https://registry.terraform.io/providers/hashicorp/azurerm/latest/docs/guides/service_principal_oidc
func Refreshable(dir string, token secret.Token, o Options) (*exchange.Credentials, error) {
	path, err := WriteTokenFile(dir, token)
	if err != nil {
		return nil, err
	}
	vars := []exchange.Var{
		exchange.Plain("AZURE_CLIENT_ID", o.ClientID),
		exchange.Plain("AZURE_TENANT_ID", o.TenantID),
		exchange.Plain("AZURE_FEDERATED_TOKEN_FILE", path),
		exchange.Plain("AZURE_AUTHORITY_HOST", o.Authority()),
		exchange.Plain("ARM_USE_OIDC", "true"),
		exchange.Plain("ARM_CLIENT_ID", o.ClientID),
		exchange.Plain("ARM_TENANT_ID", o.TenantID),
		exchange.Plain("ARM_OIDC_TOKEN_FILE_PATH", path),
	}
	if c, ok := cloudOf(o.Authority()); ok && c.ARMEnv != "public" {
		vars = append(vars, exchange.Plain("ARM_ENVIRONMENT", c.ARMEnv))
	}
	return &exchange.Credentials{Provider: "azure", Vars: vars, Unset: exchange.UnsetExcept(competing, vars), Files: []string{path}}, nil
}

// WriteJSON prints the access token with its expiry: expires_on in Unix
// seconds, as `az account get-access-token` and the managed identity
// endpoint give it, and expiration in RFC 3339.
func (c *Credentials) WriteJSON(w io.Writer) error {
	out := struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		ExpiresOn   int64  `json:"expires_on"`
		Expiration  string `json:"expiration"`
		Scope       string `json:"scope"`
		ClientID    string `json:"client_id"`
		TenantID    string `json:"tenant_id"`
	}{c.AccessToken.Reveal(), c.TokenType, c.ExpiresOn.Unix(), c.ExpiresOn.UTC().Format(time.RFC3339), c.Scope, c.ClientID, c.TenantID}
	return exchange.WriteJSON(w, out)
}

// WriteAzLogin prints the shell commands that sign the Azure CLI in with the
// ID token in tokenFile. A sovereign cloud gets `az cloud set` first.
// https://learn.microsoft.com/cli/azure/reference-index#az-login
//
// Neither the token nor a $(cat) of its file is on a command line, where
// every local user reads it (/proc/PID/cmdline) and set -x prints it:
// --federated-token takes the token only as a value, but the Azure CLI
// reads any argument written @FILE from that file before it parses the
// command line (its "@<file> convention", doc/use_cli_effectively.md;
// _expand_file_prefixed_files in azure-cli-core's commands/__init__.py), so
// az's arguments hold the path alone. Issue 13, item 4.
func WriteAzLogin(w io.Writer, o Options, tokenFile string) error {
	if strings.Contains(tokenFile, "=") {
		// The Azure CLI reads the file after the first "=" of an argument
		// (--name=@FILE), and would send "@path" to Entra as the token.
		return fmt.Errorf("az login: the ID token file's path %q has \"=\", and the Azure CLI reads --federated-token @FILE only from a path without one; set KEYLESS_STATE_DIR to a directory whose path has none", tokenFile)
	}
	if c, ok := cloudOf(o.Authority()); ok && c.CLIName != "AzureCloud" {
		if _, err := fmt.Fprintf(w, "az cloud set --name %s\n", c.CLIName); err != nil {
			return err
		}
	}
	_, err := fmt.Fprintf(w, "az login --service-principal -u %s --tenant %s --federated-token %s\n",
		exchange.ShellQuote(o.ClientID), exchange.ShellQuote(o.TenantID), exchange.ShellQuote("@"+tokenFile))
	return err
}
