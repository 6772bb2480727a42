package aws

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gitlab.com/keyless-ci/keyless/internal/exchange"
	"gitlab.com/keyless-ci/keyless/internal/secret"
)

// competing lists the inherited variables that would take precedence over,
// or mix with, the credentials keyless sets. The AWS CLI and SDKs ignore the
// environment's keys when a profile is named, so AWS_PROFILE goes too.
var competing = []string{
	"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
	"AWS_CREDENTIAL_EXPIRATION", "AWS_PROFILE", "AWS_DEFAULT_PROFILE",
	"AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_SESSION_NAME",
	"AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
	"AWS_CONTAINER_AUTHORIZATION_TOKEN", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
}

func plain(name, value string) exchange.Var {
	return exchange.Var{Name: name, Value: secret.New(value)}
}

func regionVars(region string) []exchange.Var {
	if region == "" {
		return nil
	}
	return []exchange.Var{plain("AWS_REGION", region), plain("AWS_DEFAULT_REGION", region)}
}

func unsetExcept(vars []exchange.Var) []string {
	set := map[string]bool{}
	for _, v := range vars {
		set[v.Name] = true
	}
	var out []string
	for _, n := range competing {
		if !set[n] {
			out = append(out, n)
		}
	}
	return out
}

// Static returns the credentials as the environment variables every AWS SDK
// and the CLI read.
func (c *Credentials) Static() *exchange.Credentials {
	vars := []exchange.Var{
		{Name: "AWS_ACCESS_KEY_ID", Value: c.AccessKeyID},
		{Name: "AWS_SECRET_ACCESS_KEY", Value: c.SecretAccessKey},
		{Name: "AWS_SESSION_TOKEN", Value: c.SessionToken},
	}
	if !c.Expiration.IsZero() {
		vars = append(vars, plain("AWS_CREDENTIAL_EXPIRATION", c.Expiration.UTC().Format(time.RFC3339)))
	}
	vars = append(vars, regionVars(c.Region)...)
	return &exchange.Credentials{Provider: "aws", Vars: vars, Unset: unsetExcept(vars), Expiration: c.Expiration}
}

// Refreshable writes the ID token to a 0600 file in dir and returns the
// variables with which the SDKs and the CLI run AssumeRoleWithWebIdentity
// themselves whenever their credentials near expiry.
// https://docs.aws.amazon.com/sdkref/latest/guide/feature-assume-role-credentials.html
func Refreshable(dir string, token secret.Token, o Options, region string) (*exchange.Credentials, error) {
	path := filepath.Join(dir, "aws-web-identity-token")
	if err := exchange.WriteSecretFile(path, []byte(token.Reveal())); err != nil {
		return nil, err
	}
	vars := []exchange.Var{
		plain("AWS_ROLE_ARN", o.RoleARN),
		plain("AWS_WEB_IDENTITY_TOKEN_FILE", path),
		plain("AWS_ROLE_SESSION_NAME", o.SessionName),
	}
	if o.STSEndpoint != "" {
		vars = append(vars, plain("AWS_ENDPOINT_URL_STS", o.STSEndpoint))
	}
	vars = append(vars, regionVars(region)...)
	return &exchange.Credentials{Provider: "aws", Vars: vars, Unset: unsetExcept(vars), Files: []string{path}}, nil
}

// processOutput is the credential_process contract, version 1.
// https://docs.aws.amazon.com/cli/v1/userguide/cli-configure-sourcing-external.html
type processOutput struct {
	Version         int    `json:"Version"`
	AccessKeyID     string `json:"AccessKeyId"`
	SecretAccessKey string `json:"SecretAccessKey"`
	SessionToken    string `json:"SessionToken"`
	Expiration      string `json:"Expiration,omitempty"`
}

// WriteCredentialProcess prints the credential_process JSON.
func (c *Credentials) WriteCredentialProcess(w io.Writer) error {
	out := processOutput{
		Version:         1,
		AccessKeyID:     c.AccessKeyID.Reveal(),
		SecretAccessKey: c.SecretAccessKey.Reveal(),
		SessionToken:    c.SessionToken.Reveal(),
	}
	if !c.Expiration.IsZero() {
		out.Expiration = c.Expiration.UTC().Format(time.RFC3339)
	}
	return json.NewEncoder(w).Encode(out)
}

// WriteJSON prints the credentials with their expiration, role and region.
func (c *Credentials) WriteJSON(w io.Writer) error {
	out := struct {
		AccessKeyID     string `json:"AccessKeyId"`
		SecretAccessKey string `json:"SecretAccessKey"`
		SessionToken    string `json:"SessionToken"`
		Expiration      string `json:"Expiration"`
		AssumedRoleARN  string `json:"AssumedRoleArn,omitempty"`
		Region          string `json:"Region,omitempty"`
	}{c.AccessKeyID.Reveal(), c.SecretAccessKey.Reveal(), c.SessionToken.Reveal(),
		c.Expiration.UTC().Format(time.RFC3339), c.AssumedRoleARN, c.Region}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// ProfileFiles are the shared config and credentials files a profile is
// written to.
type ProfileFiles struct {
	Config      string
	Credentials string
}

// DefaultProfileFiles honours AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE,
// else uses ~/.aws.
func DefaultProfileFiles(getenv func(string) string) (ProfileFiles, error) {
	f := ProfileFiles{Config: getenv("AWS_CONFIG_FILE"), Credentials: getenv("AWS_SHARED_CREDENTIALS_FILE")}
	if f.Config == "" || f.Credentials == "" {
		home := getenv("HOME")
		if home == "" {
			h, err := os.UserHomeDir()
			if err != nil {
				return f, fmt.Errorf("no home directory for ~/.aws: set AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE")
			}
			home = h
		}
		if f.Config == "" {
			f.Config = filepath.Join(home, ".aws", "config")
		}
		if f.Credentials == "" {
			f.Credentials = filepath.Join(home, ".aws", "credentials")
		}
	}
	return f, nil
}

// WriteProfile writes the credentials as profile name into the shared
// credentials file and the region into the config file, keeping every other
// profile, each file 0600 in a 0700 directory, written atomically and never
// through a symlink.
func (c *Credentials) WriteProfile(files ProfileFiles, name string) error {
	if name == "" || strings.ContainsAny(name, "[]\n\r") {
		return fmt.Errorf("profile name %q is not valid: use letters, digits, '-', '_' or '.'", name)
	}
	creds := []kv{
		{"aws_access_key_id", c.AccessKeyID.Reveal()},
		{"aws_secret_access_key", c.SecretAccessKey.Reveal()},
		{"aws_session_token", c.SessionToken.Reveal()},
	}
	if err := upsertSection(files.Credentials, name, creds); err != nil {
		return err
	}
	section := "profile " + name
	if name == "default" {
		section = "default"
	}
	var cfg []kv
	if c.Region != "" {
		cfg = append(cfg, kv{"region", c.Region})
	}
	return upsertSection(files.Config, section, cfg)
}

type kv struct{ k, v string }

// upsertSection replaces (or appends) [section] in an INI file.
func upsertSection(path, section string, values []kv) error {
	old, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("read %q: %w", path, err)
	}
	var b strings.Builder
	skip := false
	for _, line := range strings.SplitAfter(string(old), "\n") {
		t := strings.TrimSpace(line)
		if strings.HasPrefix(t, "[") && strings.HasSuffix(t, "]") {
			skip = strings.TrimSpace(t[1:len(t)-1]) == section
		}
		if !skip && line != "" {
			b.WriteString(line)
		}
	}
	out := strings.TrimRight(b.String(), "\n")
	if out != "" {
		out += "\n\n"
	}
	out += "[" + section + "]\n"
	for _, p := range values {
		out += p.k + " = " + p.v + "\n"
	}
	return exchange.WriteSecretFile(path, []byte(out))
}
