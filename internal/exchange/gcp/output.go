package gcp

import (
	"encoding/json"
	"io"
	"path/filepath"
	"time"

	"gitlab.com/keyless-ci/keyless/internal/exchange"
	"gitlab.com/keyless-ci/keyless/internal/secret"
)

// Variables keyless sets. gcloud reads CLOUDSDK_AUTH_ACCESS_TOKEN, the
// Terraform google provider GOOGLE_OAUTH_ACCESS_TOKEN; the client libraries
// (Application Default Credentials) read GOOGLE_APPLICATION_CREDENTIALS,
// which only --refreshable sets, and gcloud CLOUDSDK_AUTH_CREDENTIAL_FILE_OVERRIDE.
const (
	VarAccessToken        = "CLOUDSDK_AUTH_ACCESS_TOKEN"
	VarOAuthAccessToken   = "GOOGLE_OAUTH_ACCESS_TOKEN"
	VarCredentials        = "GOOGLE_APPLICATION_CREDENTIALS"
	VarCredentialOverride = "CLOUDSDK_AUTH_CREDENTIAL_FILE_OVERRIDE"
	VarProject            = "CLOUDSDK_CORE_PROJECT"
	VarCloudProject       = "GOOGLE_CLOUD_PROJECT"
)

// competing lists the inherited variables that would take precedence over,
// or mix with, the credentials keyless sets: another credential file or key
// (ADC, gcloud's override, Terraform's GOOGLE_CREDENTIALS and its old
// names), another token, or an impersonation the tools would add on top.
var competing = []string{
	VarAccessToken, "CLOUDSDK_AUTH_ACCESS_TOKEN_FILE", VarOAuthAccessToken,
	VarCredentials, VarCredentialOverride,
	"GOOGLE_CREDENTIALS", "GOOGLE_CLOUD_KEYFILE_JSON", "GCLOUD_KEYFILE_JSON",
	"CLOUDSDK_AUTH_IMPERSONATE_SERVICE_ACCOUNT", "GOOGLE_IMPERSONATE_SERVICE_ACCOUNT",
}

func projectVars(project string) []exchange.Var {
	if project == "" {
		return nil
	}
	return []exchange.Var{exchange.Plain(VarProject, project), exchange.Plain(VarCloudProject, project)}
}

// Static returns the access token as the variables gcloud and Terraform
// read, with the project when one is given.
func (c *Credentials) Static(project string) *exchange.Credentials {
	vars := []exchange.Var{
		{Name: VarAccessToken, Value: c.AccessToken},
		{Name: VarOAuthAccessToken, Value: c.AccessToken},
	}
	vars = append(vars, projectVars(project)...)
	return &exchange.Credentials{Provider: "gcp", Vars: vars, Unset: exchange.UnsetExcept(competing, vars), Expiration: c.Expiration}
}

// File names in the state directory.
const (
	TokenFileName       = "gcp-id-token"
	CredentialsFileName = "gcp-credentials.json"
)

// CredentialConfig is an external_account credential configuration.
// https://google.aip.dev/auth/4117 ("file-sourced credentials")
type CredentialConfig struct {
	Type                           string                 `json:"type"`
	Audience                       string                 `json:"audience"`
	SubjectTokenType               string                 `json:"subject_token_type"`
	TokenURL                       string                 `json:"token_url"`
	ServiceAccountImpersonationURL string                 `json:"service_account_impersonation_url,omitempty"`
	ServiceAccountImpersonation    *ImpersonationSettings `json:"service_account_impersonation,omitempty"`
	CredentialSource               CredentialSource       `json:"credential_source"`
	UniverseDomain                 string                 `json:"universe_domain"`
}

// ImpersonationSettings holds the one option AIP-4117 defines.
type ImpersonationSettings struct {
	TokenLifetimeSeconds int64 `json:"token_lifetime_seconds"`
}

// CredentialSource is a file holding the subject token as plain text.
type CredentialSource struct {
	File   string       `json:"file"`
	Format SourceFormat `json:"format"`
}

// SourceFormat says how the file holds the token.
type SourceFormat struct {
	Type string `json:"type"`
}

// RefreshableMinLifetime and RefreshableMaxLifetime bound the file's
// token_lifetime_seconds (AIP-4117: 600 to 43200).
const (
	RefreshableMinLifetime = 10 * time.Minute
	RefreshableMaxLifetime = 12 * time.Hour
)

// Config is the credential configuration for o, with the token in
// tokenFile.
func Config(o Options, tokenFile string) (CredentialConfig, error) {
	p, err := o.ParsedProvider()
	if err != nil {
		return CredentialConfig{}, err
	}
	cfg := CredentialConfig{
		Type:                           "external_account",
		Audience:                       p.Audience(),
		SubjectTokenType:               SubjectTokenType,
		TokenURL:                       o.TokenURL(),
		ServiceAccountImpersonationURL: o.ImpersonationURL(),
		CredentialSource:               CredentialSource{File: tokenFile, Format: SourceFormat{Type: "text"}},
		UniverseDomain:                 o.universe(),
	}
	if o.ServiceAccount != "" && o.Lifetime != 0 {
		cfg.ServiceAccountImpersonation = &ImpersonationSettings{TokenLifetimeSeconds: int64(o.Lifetime / time.Second)}
	}
	return cfg, nil
}

// Refreshable writes the ID token and an external_account credential
// configuration that reads it, each 0600 in the state directory dir, and returns the variables
// with which gcloud and every Google client library exchange the token
// themselves whenever their access token nears expiry.
func Refreshable(dir string, token secret.Token, o Options, project string) (*exchange.Credentials, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	cfg, err := Config(o, filepath.Join(dir, TokenFileName))
	if err != nil {
		return nil, err
	}
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return nil, err
	}
	tokenPath, err := exchange.WriteStateFile(dir, TokenFileName, []byte(token.Reveal()))
	if err != nil {
		return nil, err
	}
	files := []string{tokenPath}
	cfgPath, err := exchange.WriteStateFile(dir, CredentialsFileName, append(b, '\n'))
	if err != nil {
		(&exchange.Credentials{Files: files}).Cleanup()
		return nil, err
	}
	files = append(files, cfgPath)
	vars := []exchange.Var{exchange.Plain(VarCredentials, cfgPath), exchange.Plain(VarCredentialOverride, cfgPath)}
	vars = append(vars, projectVars(project)...)
	return &exchange.Credentials{Provider: "gcp", Vars: vars, Unset: exchange.UnsetExcept(competing, vars), Files: files}, nil
}

// WriteJSON prints the access token in the JSON shape of oauth2.Token
// (golang.org/x/oauth2), with the impersonated account.
func (c *Credentials) WriteJSON(w io.Writer) error {
	out := struct {
		AccessToken    string `json:"access_token"`
		TokenType      string `json:"token_type"`
		Expiry         string `json:"expiry,omitempty"`
		ServiceAccount string `json:"service_account,omitempty"`
	}{AccessToken: c.AccessToken.Reveal(), TokenType: "Bearer", ServiceAccount: c.ServiceAccount}
	if !c.Expiration.IsZero() {
		out.Expiry = c.Expiration.UTC().Format(time.RFC3339)
	}
	return exchange.WriteJSON(w, out)
}
