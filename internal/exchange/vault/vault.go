// Package vault exchanges a GitLab ID token for a HashiCorp Vault (or
// OpenBao) token with the JWT auth method, reads KV secrets with it, and
// revokes it, through the official client (github.com/hashicorp/vault/api).
// It retries only what is transient, under the caller's one deadline, and
// explains refusals with the token's claims.
//
// https://developer.hashicorp.com/vault/api-docs/auth/jwt#jwt-login
package vault

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/vault/api"

	"gitlab.com/keyless-ci/keyless/internal/exchange"
	"gitlab.com/keyless-ci/keyless/internal/idtoken"
	"gitlab.com/keyless-ci/keyless/internal/option"
	"gitlab.com/keyless-ci/keyless/internal/secret"
)

// DefaultMount is where `vault auth enable jwt` puts the method.
const DefaultMount = "jwt"

// TLS names the PEM files for talking to Vault, as VAULT_CACERT,
// VAULT_CLIENT_CERT, VAULT_CLIENT_KEY and VAULT_TLS_SERVER_NAME do for the
// vault CLI.
type TLS struct {
	CACert     string `json:"ca_cert,omitempty"`
	ClientCert string `json:"client_cert,omitempty"`
	ClientKey  string `json:"client_key,omitempty"`
	ServerName string `json:"server_name,omitempty"`
}

// Options configure one login.
type Options struct {
	Addr      string // https://vault.example.com:8200
	Mount     string // the JWT auth method's path under auth/; DefaultMount when empty
	Role      string
	Namespace string // X-Vault-Namespace (Vault Enterprise, OpenBao)
	TLS       TLS
	// Secrets are read after the login.
	Secrets []SecretRef

	// Seams are the transport, retry waits, log, progress and clock.
	exchange.Seams
}

func (o Options) mount() string {
	if m := strings.Trim(o.Mount, "/"); m != "" {
		return m
	}
	return DefaultMount
}

// The options an exchange's messages name (package option): the CLI says
// them in the words the user typed.
const (
	OptAddr        option.Name = "addr"
	OptRole        option.Name = "role"
	OptMount       option.Name = "mount"
	OptNamespace   option.Name = "namespace"
	OptSecret      option.Name = "secret"
	OptSecretFile  option.Name = "secret-file"
	OptExportToken option.Name = "export-token"
	OptCACert      option.Name = "ca-cert"
	OptClientCert  option.Name = "client-cert"
	OptClientKey   option.Name = "client-key"
	OptAudience    option.Name = "audience"
)

// checkAddr validates a Vault address.
func checkAddr(addr string) error {
	if addr == "" {
		return option.Errorf("no Vault address: pass %s, e.g. https://vault.example.com:8200", option.RefOrSet(OptAddr))
	}
	err := exchange.CheckEndpoint(OptAddr, addr, "the ID token", nil)
	var insecure *exchange.InsecureEndpointError
	switch {
	case err == nil, errors.As(err, &insecure):
		// Plain http is only warned about (PlainHTTPWarning): Vault's dev
		// server listens on it.
		return nil
	case errors.Is(err, exchange.ErrUserInfo):
		return err
	}
	return option.Errorf("%s %q is not a Vault address; it looks like https://vault.example.com:8200", option.Ref(OptAddr), exchange.DisplayURL(addr))
}

// PlainHTTPWarning is a warning for an address on plain http to a host
// other than loopback, by exchange.CheckEndpoint's rule, and "" for https or
// loopback. Such an address is not refused, as other providers' endpoints
// are, because `vault server -dev` and many test servers listen on plain
// http. The warning names the option with a reference (package option).
func PlainHTTPWarning(addr string) string {
	var insecure *exchange.InsecureEndpointError
	if !errors.As(exchange.CheckEndpoint(OptAddr, addr, "the ID token", nil), &insecure) {
		return ""
	}
	return fmt.Sprintf("%s %q is plain http: the ID token and the Vault token it returns cross the network unencrypted; "+
		"use https (VAULT_ADDR=https://...)", option.Ref(OptAddr), insecure.URL)
}

// Validate checks the options that do not need the network.
func (o Options) Validate() error {
	if err := checkAddr(o.Addr); err != nil {
		return err
	}
	if o.Role == "" {
		return option.Errorf("no role: pass %s, the JWT auth role that admits this job", option.RefOrSet(OptRole))
	}
	if strings.HasPrefix(strings.Trim(o.Mount, "/"), "auth/") {
		return &option.Error{Option: OptMount, Value: o.Mount, Err: fmt.Errorf("give the path under auth/, e.g. %q", strings.TrimPrefix(strings.Trim(o.Mount, "/"), "auth/"))}
	}
	if (o.TLS.ClientCert == "") != (o.TLS.ClientKey == "") {
		return option.Errorf("%s and %s go together: pass both or neither", option.Ref(OptClientCert), option.Ref(OptClientKey))
	}
	return checkRefs(o.Secrets)
}

// Credentials are the result of a login and the secrets read with it.
type Credentials struct {
	Addr       string
	Namespace  string
	TLS        TLS
	Token      secret.Token
	Accessor   string
	Policies   []string
	Renewable  bool
	Expiration time.Time // zero for a token that does not expire
	Values     []Value
	// Files lists the --secret-file files written (WriteFiles), Dirs the
	// directories created for them.
	Files    []string
	Dirs     []string
	Attempts int
}

// Value is one secret read.
type Value struct {
	Ref       SecretRef
	Value     secret.Token
	APIPath   string
	KVVersion int // 1 or 2; 1 also for engines that are not KV
}

// client is a Vault API client for one run, with its caches.
type client struct {
	api      *api.Client
	o        Options
	tok      *idtoken.Token
	policies []string
	secrets  []secret.Token // values to scrub from messages
	mounts   map[string]int
	legacy   bool // sys/internal/ui/mounts answered 404: KV v1 everywhere
	reads    map[string]*api.Secret
}

// newClient builds the official client with exactly the options given:
// nothing is taken from VAULT_* variables, which the library reads on its
// own (the token, the namespace, headers, a wrapping TTL are reset here).
func newClient(o Options) (*client, error) {
	base := o.HTTPClient
	if base == nil {
		base = &http.Client{Transport: http.DefaultTransport}
	}
	rt := base.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	// vault/api follows one 301, 302 or 307 to any host (it refuses only a
	// downgrade to http), re-sending the login's body with the ID token; it
	// is told not to, and net/http follows the redirects within the
	// address's scheme and host, the one policy of exchange.SameOriginRedirects.
	hc := exchange.SameOriginRedirects(&http.Client{Transport: rt}, OptAddr)
	cfg := &api.Config{Address: o.Addr, HttpClient: hc, MaxRetries: 0, Timeout: 0, DisableRedirects: true}
	if t, ok := rt.(*http.Transport); ok {
		t = t.Clone()
		if t.TLSClientConfig == nil {
			t.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		hc.Transport = t
	} else if o.TLS != (TLS{}) {
		return nil, errors.New("vault: the HTTP transport cannot take TLS options")
	}
	if o.TLS != (TLS{}) {
		if err := cfg.ConfigureTLS(&api.TLSConfig{CACert: o.TLS.CACert, ClientCert: o.TLS.ClientCert, ClientKey: o.TLS.ClientKey, TLSServerName: o.TLS.ServerName}); err != nil {
			return nil, &ConfigError{Err: fmt.Errorf("TLS options: %w", err)}
		}
	}
	c, err := api.NewClient(cfg)
	if err != nil {
		return nil, &ConfigError{Err: fmt.Errorf("client: %w (a VAULT_* variable in the environment may be unreadable)", err)}
	}
	c.ClearToken()
	headers := http.Header{}
	headers.Set(api.RequestHeaderName, "true")
	if o.UserAgent != "" {
		headers.Set("User-Agent", o.UserAgent)
	}
	c.SetHeaders(headers)
	if ns := strings.Trim(o.Namespace, "/"); ns != "" {
		c.SetNamespace(ns)
	}
	c.SetWrappingLookupFunc(func(string, string) string { return "" })
	return &client{api: c, o: o, mounts: map[string]int{}, reads: map[string]*api.Secret{}}, nil
}

// ConfigError is a local configuration the client cannot use (an
// unreadable CA file, a key that does not match its certificate).
type ConfigError struct{ Err error }

func (e *ConfigError) Error() string { return "vault: " + e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }

// call describes one call, for retries, logs and errors.
type call struct {
	o        Options
	tok      *idtoken.Token
	path     string
	secret   SecretRef
	version  int
	policies []string
	secrets  []secret.Token
	attempts int
}

func (c *client) call(path string) *call {
	return &call{o: c.o, tok: c.tok, path: path, policies: c.policies, secrets: c.secrets}
}

// Exchange logs in with tok and reads o.Secrets. The context's deadline
// bounds every attempt and every wait. When a read fails after the login,
// the new token is revoked before the error is returned.
func Exchange(ctx context.Context, tok *idtoken.Token, o Options) (*Credentials, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	c, err := newClient(o)
	if err != nil {
		return nil, err
	}
	c.tok = tok
	c.secrets = []secret.Token{tok.Raw}
	creds, err := c.login(ctx)
	if err != nil {
		return nil, err
	}
	vals, attempts, err := c.readAll(ctx, o.Secrets)
	creds.Attempts += attempts
	if err != nil {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		if rerr := c.api.Auth().Token().RevokeSelfWithContext(rctx, ""); rerr != nil {
			c.o.Logger().Debug("revoking the token after a failed read failed", "error", statusClass(rerr))
		}
		cancel()
		return nil, err
	}
	creds.Values = vals
	return creds, nil
}

func (c *client) login(ctx context.Context) (*Credentials, error) {
	path := "auth/" + c.o.mount() + "/login"
	log := c.o.Logger()
	log.Debug("vault login", "addr", c.o.Addr, "namespace", c.o.Namespace, "path", path, "role", c.o.Role)
	body := map[string]any{"role": c.o.Role, "jwt": c.tok.Raw.Reveal()}
	cl := c.call(path)
	var s *api.Secret
	err := c.retry(ctx, cl, func(ctx context.Context) error {
		var err error
		s, err = c.api.Logical().WriteWithContext(ctx, path, body)
		return err
	})
	if err != nil {
		return nil, newError(err, OpLogin, cl)
	}
	if s == nil || s.Auth == nil || s.Auth.ClientToken == "" {
		e := newError(errors.New("no token in the answer"), OpLogin, cl)
		e.Kind, e.Message = ErrInvalidRequest, "Vault answered the login without a token"
		return nil, e
	}
	a := s.Auth
	c.api.SetToken(a.ClientToken)
	c.secrets = append(c.secrets, secret.New(a.ClientToken))
	policies := append([]string(nil), a.Policies...)
	sort.Strings(policies)
	c.policies = policies
	creds := &Credentials{
		Addr:      c.o.Addr,
		Namespace: strings.Trim(c.o.Namespace, "/"),
		TLS:       c.o.TLS,
		Token:     secret.New(a.ClientToken),
		Accessor:  a.Accessor,
		Policies:  policies,
		Renewable: a.Renewable,
		Attempts:  cl.attempts,
	}
	if a.LeaseDuration > 0 {
		creds.Expiration = c.o.Clock()().Add(time.Duration(a.LeaseDuration) * time.Second).UTC().Truncate(time.Second)
	}
	log.Debug("vault login done", "attempts", cl.attempts, "accessor", Mask(a.Accessor), "policies", strings.Join(policies, ","), "expires", creds.Expiration)
	return creds, nil
}

// readAll reads every secret, each API path once: two fields of one
// dynamic secret (a database's username and password) come from one read.
func (c *client) readAll(ctx context.Context, refs []SecretRef) ([]Value, int, error) {
	var out []Value
	attempts := 0
	for _, ref := range refs {
		v, n, err := c.read(ctx, ref)
		attempts += n
		if err != nil {
			return nil, attempts, err
		}
		out = append(out, v)
		c.secrets = append(c.secrets, v.Value)
	}
	return out, attempts, nil
}

func (c *client) read(ctx context.Context, ref SecretRef) (Value, int, error) {
	apiPath, version, attempts, err := c.resolve(ctx, ref)
	if err != nil {
		return Value{}, attempts, err
	}
	cl := c.call(apiPath)
	cl.secret, cl.version = ref, version
	s, ok := c.reads[apiPath]
	if !ok {
		err := c.retry(ctx, cl, func(ctx context.Context) error {
			var err error
			s, err = c.api.Logical().ReadWithContext(ctx, apiPath)
			return err
		})
		attempts += cl.attempts
		if err != nil {
			return Value{}, attempts, newError(err, OpRead, cl)
		}
		c.reads[apiPath] = s
		c.o.Logger().Debug("vault read", "path", apiPath, "kv_version", version, "found", s != nil)
	}
	notFound := func(msg string) error {
		e := newError(errors.New("not found"), OpRead, cl)
		e.Kind, e.Status, e.Message = ErrNotFound, 404, msg
		return e
	}
	if s == nil {
		return Value{}, attempts, notFound("")
	}
	data := s.Data
	if version == 2 {
		inner, _ := s.Data["data"].(map[string]any)
		if inner == nil {
			if len(s.Warnings) > 0 {
				return Value{}, attempts, notFound(scrub(strings.Join(s.Warnings, "; "), c.secrets))
			}
			return Value{}, attempts, notFound(deletedMessage(s.Data["metadata"]))
		}
		data = inner
	}
	raw, ok := data[ref.Field]
	if !ok {
		names := make([]string, 0, len(data))
		for k := range data {
			names = append(names, k)
		}
		sort.Strings(names)
		e := newError(errors.New("no field"), OpRead, cl)
		e.Kind, e.Status, e.missingField, e.fieldNames = ErrNotFound, 0, true, names
		e.Message = fmt.Sprintf("the secret has no field %q", ref.Field)
		return Value{}, attempts, e
	}
	val, err := fieldString(raw)
	if err != nil {
		e := newError(errors.New("bad field"), OpRead, cl)
		e.Kind, e.Status, e.Message = ErrNotFound, 0, fmt.Sprintf("field %q %v", ref.Field, err)
		return Value{}, attempts, e
	}
	return Value{Ref: ref, Value: secret.New(val), APIPath: apiPath, KVVersion: version}, attempts, nil
}

func deletedMessage(meta any) string {
	m, _ := meta.(map[string]any)
	if m == nil {
		return "the secret has no data"
	}
	if d, _ := m["destroyed"].(bool); d {
		return "its current version is destroyed"
	}
	if t, _ := m["deletion_time"].(string); t != "" {
		return "its current version was deleted at " + t + " (vault kv undelete restores it)"
	}
	return "the secret has no data"
}

// fieldString renders a field's value: strings as they are, numbers and
// booleans as JSON writes them, objects and lists as JSON.
func fieldString(v any) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case json.Number:
		return x.String(), nil
	case bool:
		return strconv.FormatBool(x), nil
	case nil:
		return "", errors.New("is null")
	}
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("cannot be written as text: %v", err)
	}
	return string(b), nil
}

// resolve finds the API path of ref the way `vault kv get` does: it asks
// sys/internal/ui/mounts/PATH for the engine that serves PATH and its KV
// version, and for KV v2 puts data/ after the mount. A path that already
// has data/ after a v2 mount is taken as the API path. A Vault that does not
// know the endpoint (404, before 0.10) has only KV v1.
func (c *client) resolve(ctx context.Context, ref SecretRef) (string, int, int, error) {
	p := strings.Trim(ref.Path, "/")
	if c.legacy {
		return p, 1, 0, nil
	}
	best := ""
	for mp := range c.mounts {
		if strings.HasPrefix(p+"/", mp) && len(mp) > len(best) {
			best = mp
		}
	}
	attempts := 0
	if best == "" {
		cl := c.call("sys/internal/ui/mounts/" + p)
		cl.secret = ref
		var s *api.Secret
		err := c.retry(ctx, cl, func(ctx context.Context) error {
			var err error
			s, err = c.api.Logical().ReadWithContext(ctx, "sys/internal/ui/mounts/"+p)
			return err
		})
		attempts = cl.attempts
		if err != nil {
			return "", 0, attempts, newError(err, OpDetect, cl)
		}
		if s == nil {
			c.legacy = true
			c.o.Logger().Debug("vault has no sys/internal/ui/mounts; assuming KV version 1")
			return p, 1, attempts, nil
		}
		mp, _ := s.Data["path"].(string)
		version := 1
		if typ, _ := s.Data["type"].(string); typ == "kv" || typ == "generic" {
			if opts, ok := s.Data["options"].(map[string]any); ok && opts["version"] == "2" {
				version = 2
			}
		}
		mp = mountPrefix(p, mp)
		if mp == "" {
			return p, 1, attempts, nil
		}
		c.mounts[mp] = version
		best = mp
		c.o.Logger().Debug("vault secrets engine", "mount", mp, "kv_version", version)
	}
	version := c.mounts[best]
	if version != 2 {
		return p, version, attempts, nil
	}
	rest := strings.TrimPrefix(p+"/", best)
	rest = strings.TrimSuffix(rest, "/")
	if rest == "data" || strings.HasPrefix(rest, "data/") {
		return p, 2, attempts, nil
	}
	return best + "data/" + rest, 2, attempts, nil
}

// mountPrefix returns the part of p that is the mount mp: the mount path
// Vault reports can start with namespaces the request's path leaves out,
// which are dropped as the vault CLI does.
func mountPrefix(p, mp string) string {
	mp = strings.Trim(mp, "/") + "/"
	for mp != "/" {
		if strings.HasPrefix(p+"/", mp) {
			return mp
		}
		i := strings.IndexByte(mp, '/')
		if i < 0 || i == len(mp)-1 {
			break
		}
		mp = mp[i+1:]
	}
	return ""
}

// Revoke revokes token with auth/token/revoke-self at o.Addr. A token that
// is already revoked or has expired answers 403: the error is then
// errors.Is ErrPermissionDenied.
func Revoke(ctx context.Context, token secret.Token, o Options) error {
	if err := checkAddr(o.Addr); err != nil {
		return err
	}
	c, err := newClient(o)
	if err != nil {
		return err
	}
	c.api.SetToken(token.Reveal())
	c.secrets = []secret.Token{token}
	cl := c.call("auth/token/revoke-self")
	err = c.retry(ctx, cl, func(ctx context.Context) error {
		return c.api.Auth().Token().RevokeSelfWithContext(ctx, "")
	})
	if err != nil {
		return newError(err, OpRevoke, cl)
	}
	c.o.Logger().Debug("vault token revoked", "attempts", cl.attempts)
	return nil
}

// retry runs f under the shared policy with Vault's transient errors.
func (c *client) retry(ctx context.Context, cl *call, f func(context.Context) error) error {
	n, err := c.o.Retry(exchange.Retry{
		Transient: transient,
		Name:      "vault: " + cl.path,
		Describe:  statusClass,
		LogMsg:    "vault attempt failed, retrying",
		LogAttrs:  []any{"path", cl.path},
	}).Do(ctx, f)
	cl.attempts = n
	return err
}

// Mask shows the last four characters of an identifier (a token
// accessor) for logs and messages.
func Mask(s string) string {
	if len(s) <= 4 {
		return s
	}
	return strings.Repeat("*", min(len(s)-4, 8)) + s[len(s)-4:]
}
